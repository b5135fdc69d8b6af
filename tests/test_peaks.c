/*
 * test_peaks.c - peaks are exact when one thread does all the allocating
 * and freeing: a model check.
 *
 * A seeded random program allocates (malloc, calloc and aligned blocks),
 * frees and reallocates blocks in a tree of categories, in runs of one
 * category, alternating siblings, jumping across the tree, some of it with
 * category NULL under a scope and some with the backend failing now and
 * then, with sizes that now and then pass memtally's publishing step. A model keeps every peak the way the API defines it (the highest
 * `current` reached): the program's, each category's alone and with its
 * descendants, and each site's. memtally's figures must equal the model's
 * exactly, checked while the program runs (a rotating category every step,
 * everything at the end of each phase).
 */
#include "test_util.h"

#include "../src/internal.h"

#include <stdlib.h>
#include <string.h>

#define F "peaks.c"
#define NSITE_LINES 3
#define MAX_LIVE 3000

/* The tree: parents come before their children. */
static const char *const cat_name[] = {
    "Pk",          "Pk::A",        "Pk::A::X", "Pk::A::Y", "Pk::A::Y::Deep",
    "Pk::B",       "Pk2",          "Pk2::C",   "Pk2::C::D", "Uncategorized",
};
static const int cat_parent[] = {-1, 0, 1, 1, 3, 0, -1, 6, 7, -1};
#define NCAT ((int)(sizeof cat_name / sizeof *cat_name))
#define UNCAT (NCAT - 1)

typedef struct level {
    int64_t cur, peak;
} level;

static level g_all, g_self[NCAT], g_total[NCAT], g_site[NCAT][NSITE_LINES];

typedef struct block {
    void *p;
    int cat, line;
    size_t size;
} block;
static block live[MAX_LIVE];
static int nlive;

static uint64_t rng;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void level_add(level *l, int64_t d) {
    l->cur += d;
    if (l->cur > l->peak) l->peak = l->cur;
}

/* The model: every level a block counts in moves by d, in that order. */
static void model_move(int cat, int line, int64_t d) {
    level_add(&g_all, d);
    level_add(&g_self[cat], d);
    level_add(&g_site[cat][line], d);
    for (int c = cat; c >= 0; c = cat_parent[c]) level_add(&g_total[c], d);
}

static const char *api_cat(int cat) { return cat == UNCAT ? NULL : cat_name[cat]; }

/* The scope pushed for the phase (-1: none): where category NULL goes. */
static int g_scope = -1;
static int null_cat(void) { return g_scope >= 0 ? g_scope : UNCAT; }

/* A backend that fails one request in g_fail_every (0: never). */
static unsigned g_fail_every;
static int backend_fails(void) { return g_fail_every && rnd() % g_fail_every == 0; }
static void *be_malloc(size_t n) { return backend_fails() ? NULL : malloc(n); }
static void *be_calloc(size_t c, size_t n) { return backend_fails() ? NULL : calloc(c, n); }
static void *be_realloc(void *p, size_t n) { return backend_fails() ? NULL : realloc(p, n); }
static void be_free(void *p) { free(p); }
static const mt__backend g_backend = {be_malloc, be_calloc, be_realloc, be_free};

static size_t pick_size(void) {
    uint32_t r = rnd() % 1000;
    if (r < 900) return 1 + rnd() % 4096;
    if (r < 990) return 4096 + rnd() % 40000;
    return 40000 + rnd() % 160000;
}

static void do_alloc(int cat) {
    if (nlive == MAX_LIVE) return;
    int line = (int)(rnd() % NSITE_LINES);
    size_t size = pick_size();
    const char *name = api_cat(cat);
    if (g_scope >= 0 && rnd() % 4 == 0) name = NULL; /* the scope's category */
    int counted = name ? cat : null_cat();
    void *p;
    switch (rnd() % 8) {
    case 0: p = mt_aligned_alloc((size_t)32 << (rnd() % 8), size, name, F, 100 + line); break;
    case 1: p = mt_calloc(1, size, name, F, 100 + line); break;
    default: p = mt_alloc(size, name, F, 100 + line); break;
    }
    if (!p) {
        assert_true(g_fail_every != 0);
        return;
    }
    live[nlive++] = (block){p, counted, line, size};
    model_move(counted, line, (int64_t)size);
}

static void do_free(int i) {
    block b = live[i];
    live[i] = live[--nlive];
    mt_free(b.p);
    model_move(b.cat, b.line, -(int64_t)b.size);
}

/* A realloc counts as a free of the old block, then an allocation at the
 * realloc's site in the category given (the old one for NULL). */
/* A realloc counts as a free of the old block, then an allocation at the
 * realloc's site in the category given (the old one for NULL, scope or
 * not); a failed one changes nothing. */
static void do_realloc(int i, int cat) {
    block *b = &live[i];
    int keep = rnd() % 2 || cat == UNCAT; /* category NULL keeps the old one */
    int new_cat = keep ? b->cat : cat;
    int line = (int)(rnd() % NSITE_LINES);
    size_t size = pick_size();
    void *p = mt_realloc(b->p, size, keep ? NULL : api_cat(cat), F, 100 + line);
    if (!p) {
        assert_true(g_fail_every != 0);
        return;
    }
    model_move(b->cat, b->line, -(int64_t)b->size);
    model_move(new_cat, line, (int64_t)size);
    *b = (block){p, new_cat, line, size};
}

static void check_cat(int c) {
    mt_stats self, total;
    assert_int_equal(mt_category_stats(cat_name[c], 0, &self), 0);
    assert_int_equal(mt_category_stats(cat_name[c], 1, &total), 0);
    assert_int_equal(self.current, g_self[c].cur);
    assert_int_equal(total.current, g_total[c].cur);
    assert_int_equal(self.peak, g_self[c].peak);
    assert_int_equal(total.peak, g_total[c].peak);
}

static void check_all(void) {
    mt_stats g = mt_global_stats();
    assert_int_equal(g.current, g_all.cur);
    assert_int_equal(g.peak, g_all.peak);
    for (int c = 0; c < NCAT; c++) {
        check_cat(c);
        for (int l = 0; l < NSITE_LINES; l++) {
            mt_stats s;
            if (tu_site_stats(F, 100 + l, cat_name[c], &s) == 0) {
                assert_int_equal(g_site[c][l].peak, 0);
                continue;
            }
            assert_int_equal(s.current, g_site[c][l].cur);
            assert_int_equal(s.peak, g_site[c][l].peak);
        }
    }
}

/* How a phase picks the next block's category. */
enum { RUNS, SIBLINGS, ANYWHERE, MIXED, NPATTERN };

static int next_cat(int pattern, int prev) {
    static const int siblings[] = {2, 3, 4}; /* under Pk::A */
    switch (pattern) {
    case RUNS:
        return rnd() % 20 == 0 ? (int)(rnd() % NCAT) : prev;
    case SIBLINGS:
        return siblings[rnd() % 3];
    case ANYWHERE:
        return (int)(rnd() % NCAT);
    default:
        return rnd() % 3 ? next_cat(rnd() % 2 ? RUNS : SIBLINGS, prev) : next_cat(ANYWHERE, prev);
    }
}

static void one_phase(int pattern, int steps) {
    int cat = (int)(rnd() % NCAT);
    g_scope = rnd() % 3 == 0 ? (int)(rnd() % (NCAT - 1)) : -1;
    if (g_scope >= 0) mt_scope_push(cat_name[g_scope]);
    g_fail_every = rnd() % 3 == 0 ? 20 : 0;
    for (int s = 0; s < steps; s++) {
        cat = next_cat(pattern, cat);
        uint32_t r = rnd() % 100;
        /* grow early in a phase, shrink late, so peaks move both ways */
        int grow = s < steps / 2 ? 60 : 40;
        if (nlive == 0 || (int)r < grow) do_alloc(cat);
        else if (r < 95) do_free(rnd() % 4 ? nlive - 1 : (int)(rnd() % (uint32_t)nlive));
        else do_realloc((int)(rnd() % (uint32_t)nlive), cat);
        check_cat(s % NCAT);
        if (s % 97 == 0) {
            mt_stats g = mt_global_stats();
            assert_int_equal(g.peak, g_all.peak);
        }
    }
    g_fail_every = 0;
    if (g_scope >= 0) mt_scope_pop();
    g_scope = -1;
    check_all();
}

static void peaks_match_the_model(void **state) {
    (void)state;
    mt__backend_set(&g_backend);
    /* every category exists before the first check */
    for (int c = 0; c < NCAT; c++) mt_free(mt_alloc(1, api_cat(c), F, 99));
    /* those 1-byte blocks raised peaks by one byte each, one at a time */
    g_all.peak = 1;
    for (int c = 0; c < NCAT; c++) {
        g_self[c].peak = 1;
        for (int p = c; p >= 0; p = cat_parent[p]) g_total[p].peak = 1;
    }
    for (int seed = 1; seed <= 60; seed++) {
        rng = 0x9E3779B97F4A7C15ull * (uint64_t)seed;
        one_phase(seed % NPATTERN, 1500 + (int)(rnd() % 1500));
    }
    while (nlive) do_free(nlive - 1);
    check_all();
    mt__backend_set(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(peaks_match_the_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
