/*
 * test_stats.c - exact statistics for known single-threaded sequences:
 * allocated, freed, current, peak and counts, globally, per category and per
 * site.
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#define F __FILE__

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* Runs first: nothing has been tracked yet in this process. */
static void starts_at_zero(void **state) {
    (void)state;
    mt_stats g = mt_global_stats();
    tu_assert_stats(g, 0, 0, 0, 0);
    assert_int_equal(g.peak, 0);
}

static void known_sequence(void **state) {
    (void)state;
    /* fresh process: the global peak is exactly the highest current */
    mt_stats g0 = mt_global_stats();
    assert_int_equal(g0.peak, 0);
    const int la = __LINE__; void *a = mt_alloc(1000, "Stats::Seq", F, la);      /* 1000 */
    const int lb = __LINE__; void *b = mt_alloc(2000, "Stats::Seq", F, lb);      /* 3000 */
    mt_free(a);                                                                 /* 2000 */
    const int lc = __LINE__; void *c = mt_alloc(5000, "Stats::Seq::Big", F, lc); /* 7000 */
    mt_stats g = mt_global_stats();
    tu_assert_stats(g, 8000, 1000, 3, 1);
    assert_int_equal(g.peak, 7000);
    mt_free(c);                                                                 /* 2000 */
    const int ld = __LINE__; void *d = mt_alloc(300, "Stats::Seq", F, ld);       /* 2300 */
    g = mt_global_stats();
    tu_assert_stats(g, 8300, 6000, 4, 2);
    assert_int_equal(g.peak, 7000); /* the peak stays */

    /* above the old peak, past the 64 KiB publishing step */
    const int le = __LINE__; void *e = mt_alloc(200000, "Stats::Seq::Big", F, le); /* 202300 */
    mt_free(e);                                                                     /* 2300 */
    void *f[10];
    for (int i = 0; i < 10; i++) f[i] = mt_alloc(10000, "Stats::Seq::Many", F, __LINE__); /* +100000 */
    for (int i = 0; i < 10; i++) mt_free(f[i]);
    g = mt_global_stats();
    tu_assert_stats(g, 308300, 306000, 15, 13);
    assert_int_equal(g.peak, 202300);
    /* many small steps that climb above it */
    void *h[300];
    for (int i = 0; i < 300; i++) h[i] = mt_alloc(1000, "Stats::Seq::Many", F, __LINE__); /* 302300 */
    for (int i = 0; i < 300; i++) mt_free(h[i]);
    g = mt_global_stats();
    tu_assert_stats(g, 608300, 606000, 315, 313);
    assert_int_equal(g.peak, 302300);

    /* per category, with their own peaks */
    mt_stats s = tu_cat_self("Stats::Seq");
    tu_assert_stats(s, 3300, 1000, 3, 1);
    assert_int_equal(s.peak, 3000);
    s = tu_cat_self("Stats::Seq::Big");
    tu_assert_stats(s, 205000, 205000, 2, 2);
    assert_int_equal(s.peak, 200000);
    s = tu_cat_self("Stats::Seq::Many");
    tu_assert_stats(s, 400000, 400000, 310, 310);
    assert_int_equal(s.peak, 300000);
    s = tu_cat_total("Stats::Seq");
    tu_assert_stats(s, 608300, 606000, 315, 313);
    assert_int_equal(s.peak, 302300);

    /* per site */
    assert_int_equal(tu_site_stats(F, la, "Stats::Seq", &s), 1);
    tu_assert_stats(s, 1000, 1000, 1, 1);
    assert_int_equal(s.peak, 1000);
    assert_int_equal(tu_site_stats(F, lb, "Stats::Seq", &s), 1);
    tu_assert_stats(s, 2000, 0, 1, 0);
    assert_int_equal(s.peak, 2000);
    assert_int_equal(tu_site_stats(F, lc, "Stats::Seq::Big", &s), 1);
    tu_assert_stats(s, 5000, 5000, 1, 1);
    assert_int_equal(tu_site_stats(F, ld, "Stats::Seq", &s), 1);
    tu_assert_stats(s, 300, 0, 1, 0);
    assert_int_equal(tu_site_stats(F, le, "Stats::Seq::Big", &s), 1);
    tu_assert_stats(s, 200000, 200000, 1, 1);
    assert_int_equal(s.peak, 200000);

    mt_free(b);
    mt_free(d);
    g = mt_global_stats();
    tu_assert_stats(g, 608300, 608300, 315, 315);
    assert_int_equal(g.current, 0);
    assert_int_equal(g.peak, 302300);
}

static void realloc_counts(void **state) {
    (void)state;
    mt_stats g0 = mt_global_stats();
    void *p = mt_alloc(100, "Stats::Realloc", F, __LINE__);
    for (size_t n = 200; n <= 12800; n *= 2) {
        p = mt_realloc(p, n, "Stats::Realloc", F, __LINE__);
        assert_non_null(p);
    }
    /* 100 + 200 + ... + 12800 allocated; all but the last freed */
    uint64_t allocated = 100 + 200 + 400 + 800 + 1600 + 3200 + 6400 + 12800;
    mt_stats g = mt_global_stats();
    tu_assert_delta(g0, g, allocated, allocated - 12800, 8, 7);
    assert_int_equal(g.current - g0.current, 12800);
    mt_stats c = tu_cat_self("Stats::Realloc");
    tu_assert_stats(c, allocated, allocated - 12800, 8, 7);
    assert_int_equal(g.alloc_count - g.free_count, g0.alloc_count - g0.free_count + 1);
    mt_free(p);
    tu_assert_delta(g0, mt_global_stats(), allocated, allocated, 8, 8);
}

static void peak_never_drops(void **state) {
    (void)state;
    mt_stats g0 = mt_global_stats();
    void *p = mt_alloc(g0.peak + 4096, "Stats::Peak", F, __LINE__);
    assert_non_null(p);
    mt_stats g1 = mt_global_stats();
    assert_int_equal(g1.peak, g0.current + g0.peak + 4096);
    mt_free(p);
    mt_stats g2 = mt_global_stats();
    assert_int_equal(g2.peak, g1.peak);
    assert_int_equal(g2.current, g0.current);
    mt_stats c = tu_cat_self("Stats::Peak");
    assert_int_equal(c.peak, g0.peak + 4096);
    assert_int_equal(c.current, 0);
    /* a smaller block later does not move it */
    p = mt_alloc(10, "Stats::Peak", F, __LINE__);
    mt_free(p);
    assert_int_equal(tu_cat_self("Stats::Peak").peak, g0.peak + 4096);
    assert_int_equal(mt_global_stats().peak, g1.peak);
}

static void live_blocks_invariant(void **state) {
    (void)state;
    mt_stats g0 = mt_global_stats();
    void *p[64];
    uint64_t bytes = 0;
    for (int i = 0; i < 64; i++) {
        p[i] = mt_alloc((size_t)(i * 3 + 1), "Stats::Live", F, __LINE__);
        bytes += (uint64_t)(i * 3 + 1);
    }
    mt_stats g = mt_global_stats();
    assert_int_equal((g.alloc_count - g.free_count) - (g0.alloc_count - g0.free_count), 64);
    assert_int_equal(g.current - g0.current, bytes);
    uint64_t freed = 0;
    for (int i = 0; i < 64; i += 3) {
        mt_free(p[i]);
        freed += (uint64_t)(i * 3 + 1);
        p[i] = NULL;
    }
    g = mt_global_stats();
    assert_int_equal((g.alloc_count - g.free_count) - (g0.alloc_count - g0.free_count), 64 - 22);
    tu_assert_delta(g0, g, bytes, freed, 64, 22);
    for (int i = 0; i < 64; i++) mt_free(p[i]);
    tu_assert_delta(g0, mt_global_stats(), bytes, bytes, 64, 64);
}

static void failed_calls_change_nothing(void **state) {
    (void)state;
    void *keep = mt_alloc(16, "Stats::Fail", F, __LINE__);
    mt_stats g0 = mt_global_stats();
    mt_stats c0 = tu_cat_self("Stats::Fail");
    mt_stats s0;
    const int line = __LINE__ + 1;
    assert_null(mt_alloc(SIZE_MAX, "Stats::Fail", F, line));
    assert_null(mt_calloc(SIZE_MAX, 2, "Stats::Fail", F, line));
    assert_null(mt_aligned_alloc(3, 8, "Stats::Fail", F, line));
    assert_null(mt_realloc(keep, SIZE_MAX, "Stats::Fail", F, line));
    tu_assert_stats_equal(g0, mt_global_stats());
    tu_assert_stats_equal(c0, tu_cat_self("Stats::Fail"));
    if (tu_site_stats(F, line, "Stats::Fail", &s0) > 0) tu_assert_stats(s0, 0, 0, 0, 0);
    mt_free(keep);
}

static void unknown_site(void **state) {
    (void)state;
    void *a = mt_alloc(33, "Stats::NoFile", NULL, 0);
    void *b = mt_alloc(44, "Stats::NoFile", NULL, 0);
    mt_stats s;
    assert_int_equal(tu_site_stats(NULL, 0, "Stats::NoFile", &s), 1);
    tu_assert_stats(s, 77, 0, 2, 0);
    mt_free(a);
    assert_int_equal(tu_site_stats(NULL, 0, "Stats::NoFile", &s), 1);
    tu_assert_stats(s, 77, 33, 2, 1);
    mt_free(b);
}

struct site_sum {
    mt_stats sum;
    int n;
};

static int sum_sites(const mt_site_info *info, void *user) {
    struct site_sum *s = user;
    s->n++;
    assert_true(info->stats.alloc_count > 0); /* as in the reports: sites that allocated */
    assert_string_not_equal(info->category, "Stats::Unused");
    s->sum.total_allocated += info->stats.total_allocated;
    s->sum.total_freed += info->stats.total_freed;
    s->sum.alloc_count += info->stats.alloc_count;
    s->sum.free_count += info->stats.free_count;
    s->sum.current += info->stats.current;
    assert_non_null(info->category);
    assert_null(info->function); /* linked mode: sites come from file:line */
    return 0;
}

static void sites_sum_to_global(void **state) {
    (void)state;
    void *p = mt_alloc(123, "Stats::Sites", F, __LINE__);
    mt_scope_push("Stats::Unused"); /* a category with no allocation has no site */
    mt_scope_pop();
    struct site_sum s;
    memset(&s, 0, sizeof s);
    assert_int_equal(mt_foreach_site(sum_sites, &s), 0);
    mt_stats g = mt_global_stats();
    assert_true(s.n > 0);
    assert_int_equal(s.sum.total_allocated, g.total_allocated);
    assert_int_equal(s.sum.total_freed, g.total_freed);
    assert_int_equal(s.sum.current, g.current);
    assert_int_equal(s.sum.alloc_count, g.alloc_count);
    assert_int_equal(s.sum.free_count, g.free_count);
    mt_free(p);
    assert_int_equal(mt_foreach_site(NULL, NULL), -1);
}

static int stop_site(const mt_site_info *info, void *user) {
    (void)info;
    return ++*(int *)user == 2 ? 5 : 0;
}

static void site_walk_stops(void **state) {
    (void)state;
    void *a = mt_alloc(1, "Stats::Stop", F, __LINE__);
    void *b = mt_alloc(1, "Stats::Stop", F, __LINE__);
    int calls = 0;
    assert_int_equal(mt_foreach_site(stop_site, &calls), 5);
    assert_int_equal(calls, 2);
    mt_free(a);
    mt_free(b);
}

static void categories_sum_to_global(void **state) {
    (void)state;
    tu_cat_list l;
    tu_cat_list_take(&l);
    mt_stats g = mt_global_stats();
    uint64_t alloc = 0, freed = 0, na = 0, nf = 0, peak = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (l.e[i].depth != 0) continue;
        alloc += l.e[i].total.total_allocated;
        freed += l.e[i].total.total_freed;
        na += l.e[i].total.alloc_count;
        nf += l.e[i].total.free_count;
        peak = max_u64(peak, l.e[i].total.peak);
    }
    tu_cat_list_free(&l);
    assert_int_equal(alloc, g.total_allocated);
    assert_int_equal(freed, g.total_freed);
    assert_int_equal(na, g.alloc_count);
    assert_int_equal(nf, g.free_count);
    assert_true(g.peak >= peak);
}

/* A realloc counts the old block freed, then the new one allocated, so a
 * realloc never raises a peak above max(before, after): the same for a
 * block from mt_aligned_alloc as for a plain one. */
/* ---- many sites: each counted on its own ------------------------------ */

/* 40,000 sites, more than a thread's site cache holds (16384), met in a
 * shuffled order over and over: however the cache places, finds and evicts
 * them, every site gets exactly its own blocks. Keys differ only in the
 * line, only in the file, and only in the category (a literal, the scope's
 * under NULL, and a name in a stack buffer). */
#define MS_FILES 8
#define MS_LINES 1250
#define MS_CATS  4
#define MS_SITES (MS_FILES * MS_LINES * MS_CATS)
static const char *const ms_files[MS_FILES] = {"ms/a.c", "ms/b.c", "ms/c.c", "ms/d.c",
                                                "ms/e.c", "ms/f.c", "ms/g.c", "ms/h.c"};
static const char *const ms_cats[MS_CATS] = {"Stats::Many::A", "Stats::Many::B", "Stats::Many::Scoped",
                                              "Stats::Many::Built"};
static uint32_t ms_allocs[MS_SITES];
static uint32_t ms_seen[MS_SITES];

static int ms_index(const char *file, int line, const char *cat) {
    int f = -1, c = -1;
    for (int i = 0; i < MS_FILES; i++)
        if (file && strcmp(file, ms_files[i]) == 0) f = i;
    for (int i = 0; i < MS_CATS; i++)
        if (cat && strcmp(cat, ms_cats[i]) == 0) c = i;
    if (f < 0 || c < 0 || line < 1 || line > MS_LINES) return -1;
    return (c * MS_FILES + f) * MS_LINES + (line - 1);
}

static int ms_check(const mt_site_info *info, void *user) {
    int i = ms_index(info->file, info->line, info->category);
    if (i < 0) return 0;
    ++*(int *)user;
    ms_seen[i]++;
    /* each allocation was freed at once; sizes are 1 + index % 64 */
    uint64_t size = 1 + (uint64_t)i % 64;
    if (info->stats.alloc_count != ms_allocs[i] || info->stats.free_count != ms_allocs[i] ||
        info->stats.total_allocated != size * ms_allocs[i] || info->stats.current != 0 ||
        info->stats.peak != (ms_allocs[i] ? size : 0))
        fail_msg("site %s:%d %s: %llu allocs, %llu bytes; expected %u", info->file, info->line, info->category,
                 (unsigned long long)info->stats.alloc_count, (unsigned long long)info->stats.total_allocated,
                 ms_allocs[i]);
    return 0;
}

static void many_sites_counted_apart(void **state) {
    (void)state;
    uint32_t *order = malloc(sizeof *order * MS_SITES);
    assert_non_null(order);
    for (uint32_t i = 0; i < MS_SITES; i++) order[i] = i;
    uint64_t x = 0x2545F4914F6CDD1Dull;
    for (int round = 0; round < 3; round++) {
        for (uint32_t i = MS_SITES - 1; i > 0; i--) { /* Fisher-Yates */
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint32_t j = (uint32_t)(x % (i + 1)), tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        for (uint32_t k = 0; k < MS_SITES; k++) {
            uint32_t i = order[k];
            if (round == 2 && i % 3 == 0) continue; /* some sites get fewer blocks */
            int c = (int)(i / (MS_FILES * MS_LINES)), f = (int)(i / MS_LINES % MS_FILES), line = (int)(i % MS_LINES) + 1;
            size_t size = 1 + i % 64;
            void *p;
            if (c == 2) {
                mt_scope_push(ms_cats[2]);
                p = mt_alloc(size, NULL, ms_files[f], line);
                mt_scope_pop();
            } else if (c == 3) {
                char name[32];
                snprintf(name, sizeof name, "Stats::Many::%s", "Built");
                p = mt_alloc(size, name, ms_files[f], line);
            } else {
                p = mt_alloc(size, ms_cats[c], ms_files[f], line);
            }
            assert_non_null(p);
            ms_allocs[i]++;
            mt_free(p);
        }
    }
    free(order);
    int found = 0;
    assert_int_equal(mt_foreach_site(ms_check, &found), 0);
    assert_int_equal(found, MS_SITES);
    for (uint32_t i = 0; i < MS_SITES; i++) assert_int_equal(ms_seen[i], 1);
}

static void realloc_peak_aligned_like_plain(void **state) {
    (void)state;
    void *p = mt_alloc(1000, "Stats::ReallocPeak::Plain", F, __LINE__);
    p = mt_realloc(p, 1000, NULL, F, __LINE__);
    assert_non_null(p);
    mt_stats plain = tu_cat_self("Stats::ReallocPeak::Plain");
    tu_assert_stats(plain, 2000, 1000, 2, 1);
    assert_int_equal(plain.peak, 1000);

    void *q = mt_aligned_alloc(64, 1000, "Stats::ReallocPeak::Aligned", F, __LINE__);
    q = mt_realloc(q, 1000, NULL, F, __LINE__);
    assert_non_null(q);
    mt_stats aligned = tu_cat_self("Stats::ReallocPeak::Aligned");
    tu_assert_stats(aligned, 2000, 1000, 2, 1);
    assert_int_equal(aligned.peak, 1000);
    assert_int_equal(tu_cat_total("Stats::ReallocPeak").peak, 1000 + 1000);
    mt_free(p);
    mt_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starts_at_zero),
        cmocka_unit_test(known_sequence),
        cmocka_unit_test(realloc_counts),
        cmocka_unit_test(peak_never_drops),
        cmocka_unit_test(live_blocks_invariant),
        cmocka_unit_test(failed_calls_change_nothing),
        cmocka_unit_test(unknown_site),
        cmocka_unit_test(sites_sum_to_global),
        cmocka_unit_test(site_walk_stops),
        cmocka_unit_test(categories_sum_to_global),
        cmocka_unit_test(realloc_peak_aligned_like_plain),
        cmocka_unit_test(many_sites_counted_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
