/*
 * test_concurrency.c - the public read, report, snapshot, hook and
 * lifecycle functions called on several threads at the same time as other
 * threads allocate, free, push scopes and create categories, with exact
 * assertions on what they return.
 *
 * tests/test_threads.c already runs every reader next to the writers, but
 * checks little of what the readers return (a name is not NULL, a count is
 * positive, a call returns 0). Here every concurrent read is compared with
 * numbers that cannot change while it runs:
 *
 *  - "!Quiet" (3 x 100 bytes) and "!Quiet::Kid" (1 x 50 bytes) are
 *    allocated once by the main thread and never touched again, so every
 *    view of them (category stats, walks, sites, snapshots, diffs, leak
 *    check, JSON reports, report files) must show exactly those numbers,
 *    whatever the other threads do. "!" sorts first, so "!Quiet" is the
 *    first category in tree order.
 *  - no statistic may ever show more frees than allocations.
 *  - a category walk is strictly in tree order (parents first, no name
 *    twice) and depth/parent agree with the name.
 *  - with two hook sets swapped back and forth, every allocation and free
 *    reaches exactly one of them, with that set's user pointer.
 *  - mt_shutdown raced from two threads runs the at-exit actions once;
 *    the first memtally calls of a process, raced from four threads, count
 *    exactly (both in child processes, so they start from nothing).
 *
 * Threads other than the one running the test report through fail_on()
 * and the test asserts on the main thread. Built to also run under
 * ThreadSanitizer (ctest -L threads); 4 threads at most, about 1 s each.
 */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define F __FILE__
#define RUN_SECONDS 0.5

/* ---- failures on any thread ------------------------------------------- */

static atomic_long g_fails;
static pthread_mutex_t g_fail_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_fail_msg[1024];

static void fail_on(const char *where, const char *fmt, ...) {
    if (atomic_fetch_add(&g_fails, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        char msg[900];
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        pthread_mutex_lock(&g_fail_mu);
        snprintf(g_fail_msg, sizeof g_fail_msg, "%s: %s", where, msg);
        pthread_mutex_unlock(&g_fail_mu);
    }
}

#define CHECK(cond, ...)                                                \
    do {                                                                \
        if (!(cond)) fail_on(__func__, "check failed: " #cond " -- " __VA_ARGS__); \
    } while (0)

static void fails_reset(void) {
    atomic_store(&g_fails, 0);
    g_fail_msg[0] = '\0';
}

static void assert_no_fails(void) {
    long n = atomic_load(&g_fails);
    if (n) {
        pthread_mutex_lock(&g_fail_mu);
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", g_fail_msg);
        pthread_mutex_unlock(&g_fail_mu);
        fail_msg("%ld failed checks; first: %s", n, msg);
    }
}

/* ---- the quiet categories ------------------------------------------------ */

#define QUIET_LINE 4242
#define KID_LINE 4243
static void *g_quiet[4];

static int quiet_setup(void **state) {
    (void)state;
    for (int i = 0; i < 3; i++) g_quiet[i] = mt_alloc(100, "!Quiet", F, QUIET_LINE);
    g_quiet[3] = mt_alloc(50, "!Quiet::Kid", F, KID_LINE);
    for (int i = 0; i < 4; i++)
        if (!g_quiet[i]) return -1;
    return 0;
}

static int quiet_teardown(void **state) {
    (void)state;
    for (int i = 0; i < 4; i++) mt_free(g_quiet[i]);
    return 0;
}

/* The counts (not the peak, which readers may estimate) of a quiet stats. */
static bool counts_are(const mt_stats *s, uint64_t bytes, uint64_t blocks) {
    return s->total_allocated == bytes && s->total_freed == 0 && s->current == bytes && s->alloc_count == blocks &&
           s->free_count == 0;
}

#define FMT_STATS "alloc %" PRIu64 " freed %" PRIu64 " cur %" PRIu64 " allocs %" PRIu64 " frees %" PRIu64
#define ARG_STATS(s) (s).total_allocated, (s).total_freed, (s).current, (s).alloc_count, (s).free_count

/* Never more frees than allocations, never more bytes freed than
 * allocated, current consistent. */
static void check_sane(const char *what, const mt_stats *s) {
    CHECK(s->free_count <= s->alloc_count, "%s: " FMT_STATS, what, ARG_STATS(*s));
    CHECK(s->total_freed <= s->total_allocated, "%s: " FMT_STATS, what, ARG_STATS(*s));
    CHECK(s->current == s->total_allocated - s->total_freed, "%s: " FMT_STATS, what, ARG_STATS(*s));
}

static void check_quiet_by_name(void) {
    mt_stats s;
    CHECK(mt_category_stats("!Quiet", 0, &s) == 0, "!Quiet missing");
    CHECK(counts_are(&s, 300, 3), "!Quiet self: " FMT_STATS, ARG_STATS(s));
    CHECK(mt_category_stats("!Quiet", 1, &s) == 0, "!Quiet missing");
    CHECK(counts_are(&s, 350, 4), "!Quiet total: " FMT_STATS, ARG_STATS(s));
    CHECK(mt_category_stats("!Quiet::Kid", 1, &s) == 0, "!Quiet::Kid missing");
    CHECK(counts_are(&s, 50, 1), "!Quiet::Kid total: " FMT_STATS, ARG_STATS(s));
}

/* ---- a category walk in tree order ---------------------------------------- */

/* memtally's tree order: names compared level by level ("A" < "A::B" <
 * "A::C" < "AB"); a parent before its children. */
static int tree_cmp(const char *p, const char *q) {
    const char *pe = p + strlen(p), *qe = q + strlen(q);
    for (;;) {
        const char *ps = strstr(p, "::"), *qs = strstr(q, "::");
        if (!ps) ps = pe;
        if (!qs) qs = qe;
        size_t pl = (size_t)(ps - p), ql = (size_t)(qs - q);
        int c = memcmp(p, q, pl < ql ? pl : ql);
        if (c) return c;
        if (pl != ql) return pl < ql ? -1 : 1;
        if (ps == pe || qs == qe) return ps == pe && qs == qe ? 0 : ps == pe ? -1 : 1;
        p = ps + 2;
        q = qs + 2;
    }
}

typedef struct walk {
    char prev[300];
    long n;
    int quiet_seen, kid_seen;
} walk;

static int walk_visit(const mt_category_info *info, void *user) {
    walk *w = user;
    CHECK(info->name != NULL, "NULL name");
    if (!info->name) return 1;
    if (w->n > 0) CHECK(tree_cmp(w->prev, info->name) < 0, "walk order: \"%s\" then \"%s\"", w->prev, info->name);
    snprintf(w->prev, sizeof w->prev, "%s", info->name);
    w->n++;
    /* depth and parent follow from the name */
    const char *last = NULL;
    int depth = 0;
    for (const char *p = strstr(info->name, "::"); p; p = strstr(p + 2, "::")) {
        depth++;
        last = p;
    }
    CHECK(info->depth == depth, "\"%s\" depth %d", info->name, info->depth);
    if (depth == 0) {
        CHECK(info->parent == NULL, "\"%s\" has a parent", info->name);
    } else {
        size_t plen = (size_t)(last - info->name);
        CHECK(info->parent && strlen(info->parent) == plen && memcmp(info->parent, info->name, plen) == 0,
              "\"%s\" parent \"%s\"", info->name, info->parent ? info->parent : "(null)");
    }
    CHECK(info->total.alloc_count >= info->self.alloc_count, "\"%s\" total below self", info->name);
    check_sane(info->name, &info->self);
    check_sane(info->name, &info->total);
    if (strcmp(info->name, "!Quiet") == 0) {
        w->quiet_seen++;
        CHECK(w->n == 1, "!Quiet is not first in the walk (%ld)", w->n);
        CHECK(counts_are(&info->self, 300, 3), "walk !Quiet self: " FMT_STATS, ARG_STATS(info->self));
        CHECK(counts_are(&info->total, 350, 4), "walk !Quiet total: " FMT_STATS, ARG_STATS(info->total));
    } else if (strcmp(info->name, "!Quiet::Kid") == 0) {
        w->kid_seen++;
        CHECK(counts_are(&info->self, 50, 1), "walk !Quiet::Kid self: " FMT_STATS, ARG_STATS(info->self));
        CHECK(counts_are(&info->total, 50, 1), "walk !Quiet::Kid total: " FMT_STATS, ARG_STATS(info->total));
    }
    return 0;
}

static void check_walk(void) {
    walk w;
    memset(&w, 0, sizeof w);
    CHECK(mt_foreach_category(walk_visit, &w) == 0, "walk stopped");
    CHECK(w.quiet_seen == 1 && w.kid_seen == 1, "!Quiet seen %d times, !Quiet::Kid %d times", w.quiet_seen, w.kid_seen);
}

typedef struct site_sum {
    mt_stats quiet, kid;
    int quiet_sites, kid_sites;
} site_sum;

static int site_visit(const mt_site_info *info, void *user) {
    site_sum *s = user;
    CHECK(info->category != NULL, "site without category");
    if (!info->category) return 1;
    check_sane("site", &info->stats);
    if (info->file && tu_same_file(info->file, F) && info->line == QUIET_LINE) {
        CHECK(strcmp(info->category, "!Quiet") == 0, "line %d in \"%s\"", QUIET_LINE, info->category);
        s->quiet = info->stats;
        s->quiet_sites++;
    } else if (info->file && tu_same_file(info->file, F) && info->line == KID_LINE) {
        CHECK(strcmp(info->category, "!Quiet::Kid") == 0, "line %d in \"%s\"", KID_LINE, info->category);
        s->kid = info->stats;
        s->kid_sites++;
    }
    return 0;
}

static void check_sites(void) {
    site_sum s;
    memset(&s, 0, sizeof s);
    CHECK(mt_foreach_site(site_visit, &s) == 0, "site walk stopped");
    CHECK(s.quiet_sites == 1 && s.kid_sites == 1, "quiet sites %d, kid sites %d", s.quiet_sites, s.kid_sites);
    CHECK(counts_are(&s.quiet, 300, 3), "site !Quiet: " FMT_STATS, ARG_STATS(s.quiet));
    CHECK(counts_are(&s.kid, 50, 1), "site !Quiet::Kid: " FMT_STATS, ARG_STATS(s.kid));
}

/* ---- churn: new categories through scopes, shared ones by name ----------- */

#define CHURN_THREADS 3
#define CHURN_MAX 300 /* new categories per thread and test, at most */

static atomic_int g_stop;
static pthread_barrier_t g_go;

typedef struct churner {
    int id;
    int tag;           /* test number, so names differ between tests */
    long created;      /* new categories made */
    uint64_t shared_bytes, shared_n;
} churner;

static size_t churn_size(long i) { return 24 + (size_t)(i % 8) * 8; }

static void churn_name(char *buf, size_t cap, int tag, int id, long i) {
    snprintf(buf, cap, "Conc::New%d::T%d::C%05ld", tag, id, i);
}

/* Each round: a new category named in a stack buffer that is rewritten
 * the next round, pushed as scope, one block allocated and freed in it;
 * then a block allocated by name in a shared category and freed. */
static void *churn_main(void *arg) {
    churner *c = arg;
    char name[96], shared[48];
    snprintf(shared, sizeof shared, "Conc::Shared%d", c->tag);
    pthread_barrier_wait(&g_go);
    for (long i = 0; !atomic_load(&g_stop); i++) {
        if (c->created < CHURN_MAX) {
            churn_name(name, sizeof name, c->tag, c->id, c->created);
            mt_scope_push(name);
            memset(name, 'x', 20); /* the scope must have copied it */
            void *p = mt_alloc(churn_size(c->created), NULL, F, 5000 + c->id);
            CHECK(p != NULL, "alloc");
            mt_free(p);
            mt_scope_pop();
            c->created++;
        }
        size_t n = (i & 1) ? (size_t)(i % 200) + 1 : 2;
        void *q = (i & 1) ? mt_calloc(1, n, shared, F, 5100) : mt_strdup("y", shared, F, 5101);
        CHECK(q != NULL, "shared alloc");
        mt_free(q);
        c->shared_bytes += n;
        c->shared_n++;
    }
    return NULL;
}

static churner g_churn[CHURN_THREADS];
static pthread_t g_churn_t[CHURN_THREADS];

/* Starts the churners and lines up with them (the barrier also counts
 * `extra` other threads). */
static void churn_start(int tag, int extra) {
    atomic_store(&g_stop, 0);
    pthread_barrier_init(&g_go, NULL, CHURN_THREADS + 1 + (unsigned)extra);
    for (int i = 0; i < CHURN_THREADS; i++) {
        memset(&g_churn[i], 0, sizeof g_churn[i]);
        g_churn[i].id = i;
        g_churn[i].tag = tag;
        assert_int_equal(pthread_create(&g_churn_t[i], NULL, churn_main, &g_churn[i]), 0);
    }
}

static void churn_stop(void) {
    atomic_store(&g_stop, 1);
    for (int i = 0; i < CHURN_THREADS; i++) pthread_join(g_churn_t[i], NULL);
    pthread_barrier_destroy(&g_go);
}

/* Once the churners are done: every category they made exists once with
 * exactly its one block, and the shared one adds up. */
static void churn_check_exact(int tag) {
    char name[96];
    uint64_t bytes = 0, n = 0, sb = 0, sn = 0;
    for (int t = 0; t < CHURN_THREADS; t++) {
        for (long i = 0; i < g_churn[t].created; i++) {
            churn_name(name, sizeof name, tag, t, i);
            mt_stats s;
            if (mt_category_stats(name, 0, &s) != 0) fail_msg("category %s missing", name);
            if (s.total_allocated != churn_size(i) || s.total_freed != churn_size(i) || s.alloc_count != 1 ||
                s.free_count != 1)
                fail_msg("%s: " FMT_STATS, name, ARG_STATS(s));
            bytes += churn_size(i);
            n++;
        }
        sb += g_churn[t].shared_bytes;
        sn += g_churn[t].shared_n;
    }
    char top[32];
    snprintf(top, sizeof top, "Conc::New%d", tag);
    mt_stats s;
    assert_int_equal(mt_category_stats(top, 1, &s), 0);
    tu_assert_stats(s, bytes, bytes, n, n);
    assert_int_equal(mt_category_stats(top, 0, &s), 0);
    tu_assert_stats(s, 0, 0, 0, 0);
    snprintf(top, sizeof top, "Conc::Shared%d", tag);
    assert_int_equal(mt_category_stats(top, 0, &s), 0);
    tu_assert_stats(s, sb, sb, sn, sn);
    /* the walk sees each of them exactly once */
    walk w;
    memset(&w, 0, sizeof w);
    assert_int_equal(mt_foreach_category(walk_visit, &w), 0);
    assert_no_fails();
}

/* ---- 1: walks, sites and category stats while categories appear ---------- */

static void *second_reader(void *arg) {
    (void)arg;
    pthread_barrier_wait(&g_go);
    while (!atomic_load(&g_stop)) {
        check_quiet_by_name();
        check_walk();
        check_sites();
        mt_stats g = mt_global_stats();
        check_sane("global", &g);
    }
    return NULL;
}

static void readers_exact_while_categories_appear(void **state) {
    (void)state;
    fails_reset();
    pthread_t r;
    churn_start(1, 1);
    assert_int_equal(pthread_create(&r, NULL, second_reader, NULL), 0);
    pthread_barrier_wait(&g_go);
    long rounds = 0;
    for (double end = tu_seconds() + RUN_SECONDS; tu_seconds() < end; rounds++) {
        check_walk();
        check_quiet_by_name();
        check_sites();
    }
    atomic_store(&g_stop, 1);
    pthread_join(r, NULL);
    churn_stop();
    assert_no_fails();
    assert_true(rounds > 0);
    long made = 0;
    for (int t = 0; t < CHURN_THREADS; t++) made += g_churn[t].created;
    assert_true(made > 0);
    churn_check_exact(1);
}

/* ---- 2: counts read while blocks are handed between threads -------------- */

#define RING 4
#define HBLOCK 1000
static _Atomic(void *) g_ring[RING];
static sem_t g_consumer_ready;
static atomic_long g_handed;

static void *handoff_consumer(void *arg) {
    (void)arg;
    /* memtally knows this thread before the producer: it is summed after it */
    mt_scope_push("Conc::Handoff");
    mt_scope_pop();
    sem_post(&g_consumer_ready);
    for (unsigned i = 0; !atomic_load(&g_stop);) {
        void *p = atomic_exchange(&g_ring[i % RING], NULL);
        if (p) {
            mt_free(p);
            i++;
        } else {
            sched_yield();
        }
    }
    return NULL;
}

static void *handoff_producer(void *arg) {
    (void)arg;
    for (unsigned i = 0; !atomic_load(&g_stop); i++) {
        void *p = mt_alloc(HBLOCK, "Conc::Handoff", F, 6001);
        CHECK(p != NULL, "alloc");
        void *expected = NULL;
        while (!atomic_compare_exchange_weak(&g_ring[i % RING], &expected, p)) {
            expected = NULL;
            if (atomic_load(&g_stop)) {
                mt_free(p);
                return NULL;
            }
            sched_yield();
        }
        atomic_fetch_add(&g_handed, 1);
    }
    return NULL;
}

static atomic_long g_over_live;

static void poll_handoff(void) {
    mt_stats s;
    CHECK(mt_category_stats("Conc::Handoff", 0, &s) == 0, "Conc::Handoff missing");
    check_sane("Conc::Handoff", &s);
    /* at most RING blocks wait in the ring and one is in each thread's hands */
    if (s.current > (RING + 2) * HBLOCK) atomic_fetch_add(&g_over_live, 1);
    mt_stats g = mt_global_stats();
    check_sane("global", &g);
}

static void *handoff_reader(void *arg) {
    (void)arg;
    while (!atomic_load(&g_stop)) poll_handoff();
    return NULL;
}

static void counts_never_negative_while_handed_over(void **state) {
    (void)state;
    fails_reset();
    atomic_store(&g_stop, 0);
    atomic_store(&g_over_live, 0);
    atomic_store(&g_handed, 0);
    mt_free(mt_alloc(HBLOCK, "Conc::Handoff", F, 6001)); /* exists before the first read */
    sem_init(&g_consumer_ready, 0, 0);
    pthread_t cons, prod, rd;
    assert_int_equal(pthread_create(&cons, NULL, handoff_consumer, NULL), 0);
    sem_wait(&g_consumer_ready);
    assert_int_equal(pthread_create(&prod, NULL, handoff_producer, NULL), 0);
    assert_int_equal(pthread_create(&rd, NULL, handoff_reader, NULL), 0);
    long reads = 0;
    for (double end = tu_seconds() + RUN_SECONDS; tu_seconds() < end; reads++) poll_handoff();
    atomic_store(&g_stop, 1);
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);
    pthread_join(rd, NULL);
    sem_destroy(&g_consumer_ready);
    for (int i = 0; i < RING; i++) mt_free(atomic_exchange(&g_ring[i], NULL));
    print_message("    %ld reads by main, %ld blocks handed over, %ld reads above %d live bytes\n", reads,
                  atomic_load(&g_handed), atomic_load(&g_over_live), (RING + 2) * HBLOCK);
    assert_no_fails();
    assert_true(atomic_load(&g_handed) > 100);
    mt_stats s = tu_cat_self("Conc::Handoff");
    assert_int_equal(s.current, 0);
    assert_int_equal(s.alloc_count, s.free_count);
    assert_int_equal(s.total_allocated, s.alloc_count * HBLOCK);
}

/* ---- 3: snapshots and diffs while others churn ----------------------------- */

typedef struct diff_seen {
    int global, mine, quiet, other;
    mt_delta mine_d;
} diff_seen;

static int diff_visit(const mt_delta *d, void *user) {
    diff_seen *s = user;
    if (!d->category) {
        s->global++;
        CHECK(s->global == 1 && s->mine + s->quiet + s->other == 0, "global line not first");
    } else if (strcmp(d->category, "Conc::Mine") == 0) {
        s->mine++;
        s->mine_d = *d;
    } else if (strncmp(d->category, "!Quiet", 6) == 0) {
        s->quiet++;
    } else {
        s->other++;
    }
    return 0;
}

static void snapshot_diff_exact_while_others_churn(void **state) {
    (void)state;
    fails_reset();
    mt_free(mt_alloc(1, "Conc::Mine", F, 7001)); /* exists in both snapshots */
    mt_stats mine0 = tu_cat_self("Conc::Mine");
    churn_start(3, 0);
    pthread_barrier_wait(&g_go);
    long rounds = 0;
    char *buf = NULL;
    size_t len = 0;
    for (double end = tu_seconds() + RUN_SECONDS; tu_seconds() < end; rounds++) {
        int k = (int)(rounds % 7) + 1;
        uint64_t bytes = 0;
        void *blocks[8];
        mt_snapshot *a = mt_snapshot_take("a");
        CHECK(a != NULL, "snapshot a");
        for (int i = 0; i < k; i++) {
            blocks[i] = mt_alloc((size_t)(16 * (i + 1)), "Conc::Mine", F, 7001);
            bytes += (uint64_t)(16 * (i + 1));
        }
        mt_snapshot *b = mt_snapshot_take(NULL);
        CHECK(b != NULL, "snapshot b");
        if (!a || !b) break;
        diff_seen s;
        memset(&s, 0, sizeof s);
        CHECK(mt_snapshot_diff(a, b, diff_visit, &s) == 0, "diff");
        CHECK(s.global == 1, "global lines %d", s.global);
        CHECK(s.quiet == 0, "a quiet category changed (%d lines)", s.quiet);
        CHECK(s.mine == 1, "Conc::Mine lines %d", s.mine);
        CHECK(s.mine_d.current == (int64_t)bytes && s.mine_d.total_allocated == (int64_t)bytes &&
                  s.mine_d.alloc_count == k && s.mine_d.free_count == 0 && s.mine_d.total_freed == 0,
              "Conc::Mine delta: current %" PRId64 " alloc %" PRId64 " allocs %" PRId64 " frees %" PRId64 " (want %" PRIu64
              ", %d blocks)",
              s.mine_d.current, s.mine_d.total_allocated, s.mine_d.alloc_count, s.mine_d.free_count, bytes, k);
        /* the same as text: one line for Conc::Mine with these numbers */
        FILE *m = open_memstream(&buf, &len);
        CHECK(mt_snapshot_diff_report(a, b, m) == 0, "diff report");
        fclose(m);
        char want[128];
        snprintf(want, sizeof want, ", allocs +%d, frees 0\n", k);
        const char *line = strstr(buf, "\n  Conc::Mine: current +");
        CHECK(line && strstr(line, want) && strchr(line + 1, '\n') == strstr(line, want) + strlen(want) - 1,
              "diff report has no right Conc::Mine line:\n%s", buf);
        CHECK(!strstr(buf, "!Quiet"), "diff report names a quiet category:\n%s", buf);
        CHECK(strncmp(buf, "memtally snapshot diff: \"a\" -> (no label)\n", 42) == 0, "diff report head:\n%.80s", buf);
        free(buf);
        buf = NULL;
        mt_snapshot_free(a);
        /* and the other way round, after freeing them */
        for (int i = 0; i < k; i++) mt_free(blocks[i]);
        mt_snapshot *c = mt_snapshot_take("c");
        memset(&s, 0, sizeof s);
        CHECK(c && mt_snapshot_diff(b, c, diff_visit, &s) == 0, "diff b c");
        CHECK(s.mine == 1 && s.quiet == 0, "b->c: mine %d quiet %d", s.mine, s.quiet);
        CHECK(s.mine_d.current == -(int64_t)bytes && s.mine_d.total_freed == (int64_t)bytes && s.mine_d.free_count == k &&
                  s.mine_d.alloc_count == 0 && s.mine_d.total_allocated == 0,
              "Conc::Mine delta b->c: current %" PRId64 " freed %" PRId64 " frees %" PRId64, s.mine_d.current,
              s.mine_d.total_freed, s.mine_d.free_count);
        mt_snapshot_free(b);
        mt_snapshot_free(c);
        if (atomic_load(&g_fails)) break;
    }
    churn_stop();
    assert_no_fails();
    assert_true(rounds > 0);
    mt_stats mine1 = tu_cat_self("Conc::Mine");
    assert_int_equal(mine1.current, mine0.current);
    churn_check_exact(3);
}

/* ---- 4: leak check and reports while others churn -------------------------- */

/* "  <w>300 bytes in 3 blocks: !Quiet" somewhere in a leak report */
static bool leak_line(const char *text, const char *name, uint64_t *bytes, uint64_t *blocks) {
    char tail[300];
    snprintf(tail, sizeof tail, ": %s\n", name);
    for (const char *p = strstr(text, tail); p; p = strstr(p + 1, tail)) {
        const char *bol = p;
        while (bol > text && bol[-1] != '\n') bol--;
        if (sscanf(bol, "memtally: %" SCNu64 " bytes in %" SCNu64, bytes, blocks) == 2) return true;
    }
    return false;
}

static void check_leak_check(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    uint64_t live = mt_leak_check(m);
    fclose(m);
    uint64_t hb = 0, hn = 0, b = 0, n = 0;
    CHECK(sscanf(buf, "memtally: leak check: %*s %*s (%" SCNu64 " bytes) in %" SCNu64, &hb, &hn) == 2,
          "headline: %.100s", buf);
    CHECK(hb == live, "returned %" PRIu64 ", headline %" PRIu64, live, hb);
    CHECK(hn < (1ull << 40), "headline says %" PRIu64 " blocks still live", hn);
    CHECK(leak_line(buf, "!Quiet", &b, &n) && b == 300 && n == 3, "!Quiet: %" PRIu64 " bytes in %" PRIu64, b, n);
    CHECK(leak_line(buf, "!Quiet::Kid", &b, &n) && b == 50 && n == 1, "!Quiet::Kid: %" PRIu64 " bytes in %" PRIu64, b, n);
    free(buf);
}

static int64_t jint(json_object *o, const char *key) {
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v)) return INT64_MIN;
    return json_object_get_int64(v);
}

/* The JSON report in text: it parses, the quiet categories are exact and
 * no count is negative. */
static void check_json_text(const char *text, const char *what) {
    json_object *root = json_tokener_parse(text);
    CHECK(root != NULL, "%s does not parse", what);
    if (!root) return;
    json_object *g = NULL, *cats = NULL, *q = NULL, *k = NULL;
    json_object_object_get_ex(root, "global", &g);
    json_object_object_get_ex(root, "categories", &cats);
    if (cats) json_object_object_get_ex(cats, "!Quiet", &q);
    if (cats) json_object_object_get_ex(cats, "!Quiet::Kid", &k);
    CHECK(g && q && k, "%s lacks global or a quiet category", what);
    if (g && q && k) {
        CHECK(jint(g, "allocs") >= jint(g, "frees"), "%s: global allocs %" PRId64 " frees %" PRId64, what,
              jint(g, "allocs"), jint(g, "frees"));
        CHECK(jint(q, "allocated") == 300 && jint(q, "freed") == 0 && jint(q, "current") == 300 && jint(q, "allocs") == 3 &&
                  jint(q, "frees") == 0 && jint(q, "blocks") == 3,
              "%s: !Quiet %" PRId64 "/%" PRId64 "/%" PRId64 " blocks %" PRId64, what, jint(q, "allocated"),
              jint(q, "current"), jint(q, "allocs"), jint(q, "blocks"));
        json_object *qt = NULL;
        json_object_object_get_ex(q, "total", &qt);
        CHECK(jint(qt, "allocated") == 350 && jint(qt, "allocs") == 4 && jint(qt, "blocks") == 4,
              "%s: !Quiet total %" PRId64 "/%" PRId64, what, jint(qt, "allocated"), jint(qt, "allocs"));
        CHECK(jint(k, "allocated") == 50 && jint(k, "allocs") == 1 && jint(k, "blocks") == 1, "%s: !Quiet::Kid", what);
    }
    json_object_put(root);
}

static void check_json_report(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    CHECK(mt_report(m, MT_FORMAT_JSON) == 0, "mt_report json");
    fclose(m);
    check_json_text(buf, "mt_report");
    free(buf);
}

static void *leak_reader(void *arg) {
    (void)arg;
    pthread_barrier_wait(&g_go);
    while (!atomic_load(&g_stop)) {
        check_leak_check();
        check_json_report();
    }
    return NULL;
}

static void leak_check_and_report_exact_while_churn(void **state) {
    (void)state;
    fails_reset();
    pthread_t r;
    churn_start(4, 1);
    assert_int_equal(pthread_create(&r, NULL, leak_reader, NULL), 0);
    pthread_barrier_wait(&g_go);
    long rounds = 0;
    for (double end = tu_seconds() + RUN_SECONDS; tu_seconds() < end; rounds++) {
        check_json_report();
        check_leak_check();
        /* the text report has the quiet lines too */
        char *buf = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&buf, &len);
        CHECK(mt_report(m, MT_FORMAT_TEXT) == 0, "text report");
        fclose(m);
        CHECK(strncmp(buf, "memtally 0.1.0 report\n", 22) == 0, "text report head");
        free(buf);
    }
    atomic_store(&g_stop, 1);
    pthread_join(r, NULL);
    churn_stop();
    assert_no_fails();
    assert_true(rounds > 0);
    churn_check_exact(4);
}

/* ---- 5: one report file rewritten by two threads, read by a third -------- */

static char g_dir[64], g_path[96];
static atomic_long g_file_reads, g_file_writes;

static void *file_writer(void *arg) {
    mt_format fmt = (mt_format)(intptr_t)arg;
    pthread_barrier_wait(&g_go);
    while (!atomic_load(&g_stop)) {
        int rc = mt_report_file(g_path, fmt);
        CHECK(rc == 0, "mt_report_file: %s", strerror(errno));
        atomic_fetch_add(&g_file_writes, 1);
    }
    return NULL;
}

static void report_file_whole_while_rewritten(void **state) {
    (void)state;
    fails_reset();
    atomic_store(&g_file_reads, 0);
    atomic_store(&g_file_writes, 0);
    snprintf(g_dir, sizeof g_dir, "/tmp/mt_conc_XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_path, sizeof g_path, "%s/report.json", g_dir);
    assert_int_equal(mt_report_file(g_path, MT_FORMAT_JSON), 0);
    churn_start(5, 2);
    pthread_t w[2];
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&w[i], NULL, file_writer, (void *)(intptr_t)MT_FORMAT_JSON), 0);
    pthread_barrier_wait(&g_go);
    for (double end = tu_seconds() + RUN_SECONDS; tu_seconds() < end;) {
        char *text = tu_read_file(g_path, NULL);
        CHECK(text != NULL, "report file missing while rewritten");
        if (text) check_json_text(text, "report file");
        free(text);
        atomic_fetch_add(&g_file_reads, 1);
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(w[i], NULL);
    churn_stop();
    /* only the report is left: no temporary file (all removed before asserting) */
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (strcmp(e->d_name, "report.json") != 0) print_error("left over: %s\n", e->d_name);
        char p[400];
        snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
        unlink(p);
        entries++;
    }
    closedir(d);
    rmdir(g_dir);
    assert_no_fails();
    assert_true(atomic_load(&g_file_writes) > 2);
    assert_int_equal(entries, 1);
    churn_check_exact(5);
}

/* ---- 6: two hook sets swapped while threads allocate ------------------------ */

#define HOOK_THREADS 3
#define HOOK_MIN_OPS 2000 /* per worker, and on until RUN_SECONDS have passed */
static int g_user_a, g_user_b;
static atomic_long g_ha, g_hb, g_fa, g_fb, g_hook_bad, g_swaps, g_hook_ops;

static void hook_alloc_a(void *p, size_t size, const char *cat, void *user) {
    if (user != &g_user_a || !p || !cat || strcmp(cat, "Conc::Hooked") != 0 || mt_block_size(p) != size)
        atomic_fetch_add(&g_hook_bad, 1);
    atomic_fetch_add(&g_ha, 1);
}
static void hook_free_a(void *p, size_t size, const char *cat, void *user) {
    (void)size;
    if (user != &g_user_a || !p || !cat || strcmp(cat, "Conc::Hooked") != 0) atomic_fetch_add(&g_hook_bad, 1);
    atomic_fetch_add(&g_fa, 1);
}
static void hook_alloc_b(void *p, size_t size, const char *cat, void *user) {
    if (user != &g_user_b || !p || !cat || strcmp(cat, "Conc::Hooked") != 0 || mt_block_size(p) != size)
        atomic_fetch_add(&g_hook_bad, 1);
    atomic_fetch_add(&g_hb, 1);
}
static void hook_free_b(void *p, size_t size, const char *cat, void *user) {
    (void)size;
    if (user != &g_user_b || !p || !cat || strcmp(cat, "Conc::Hooked") != 0) atomic_fetch_add(&g_hook_bad, 1);
    atomic_fetch_add(&g_fb, 1);
}

static void *hooked_worker(void *arg) {
    int id = (int)(intptr_t)arg;
    pthread_barrier_wait(&g_go);
    double end = tu_seconds() + RUN_SECONDS;
    long i = 0;
    for (; i < HOOK_MIN_OPS || tu_seconds() < end; i++) {
        size_t n = (size_t)(i % 97) + 1;
        void *p;
        switch ((i + id) % 4) {
        case 0: p = mt_alloc(n, "Conc::Hooked", F, 8001); break;
        case 1: p = mt_calloc(n, 1, "Conc::Hooked", F, 8002); break;
        case 2: p = mt_aligned_alloc(64, n, "Conc::Hooked", F, 8003); break;
        default: p = mt_realloc(NULL, n, "Conc::Hooked", F, 8004); break;
        }
        CHECK(p != NULL, "alloc");
        mt_free(p);
        if (i % 64 == 0) sched_yield(); /* let the swapper in, even on one core */
    }
    atomic_fetch_add(&g_hook_ops, i);
    return NULL;
}

static void *hook_swapper(void *arg) {
    (void)arg;
    const mt_hooks a = {hook_alloc_a, hook_free_a, &g_user_a}, b = {hook_alloc_b, hook_free_b, &g_user_b};
    pthread_barrier_wait(&g_go);
    for (long i = 0; !atomic_load(&g_stop); i++) {
        mt_hooks h = (i & 1) ? b : a; /* a copy on the stack, rewritten next round */
        mt_set_hooks(&h);
        memset(&h, 0, sizeof h);
        atomic_fetch_add(&g_swaps, 1);
        sched_yield();
    }
    return NULL;
}

static void hook_sets_swapped_never_torn(void **state) {
    (void)state;
    atomic_store(&g_ha, 0);
    atomic_store(&g_hb, 0);
    atomic_store(&g_fa, 0);
    atomic_store(&g_fb, 0);
    atomic_store(&g_hook_bad, 0);
    atomic_store(&g_swaps, 0);
    atomic_store(&g_hook_ops, 0);
    fails_reset();
    atomic_store(&g_stop, 0);
    mt_stats c0 = {0};
    if (mt_category_stats("Conc::Hooked", 0, &c0) != 0) memset(&c0, 0, sizeof c0);
    const mt_hooks a = {hook_alloc_a, hook_free_a, &g_user_a};
    mt_set_hooks(&a);
    pthread_barrier_init(&g_go, NULL, HOOK_THREADS + 1);
    pthread_t w[HOOK_THREADS], sw;
    assert_int_equal(pthread_create(&sw, NULL, hook_swapper, NULL), 0);
    for (int i = 0; i < HOOK_THREADS; i++) assert_int_equal(pthread_create(&w[i], NULL, hooked_worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < HOOK_THREADS; i++) pthread_join(w[i], NULL);
    atomic_store(&g_stop, 1);
    pthread_join(sw, NULL);
    pthread_barrier_destroy(&g_go);
    mt_set_hooks(NULL);
    assert_no_fails();
    long ha = atomic_load(&g_ha), hb = atomic_load(&g_hb), fa = atomic_load(&g_fa), fb = atomic_load(&g_fb);
    long ops = atomic_load(&g_hook_ops), swaps = atomic_load(&g_swaps);
    print_message("    %ld swaps; %ld allocs: seen by A %ld, by B %ld; frees by A %ld, by B %ld\n", swaps, ops, ha, hb, fa, fb);
    assert_int_equal(atomic_load(&g_hook_bad), 0);
    assert_int_equal(ha + hb, ops);
    assert_int_equal(fa + fb, ops);
    assert_true(swaps > 10);
    mt_stats c1 = tu_cat_self("Conc::Hooked");
    tu_assert_delta(c0, c1, c1.total_allocated - c0.total_allocated, c1.total_freed - c0.total_freed, ops, ops);
    assert_int_equal(c1.current, c0.current);
}

/* ---- 7: mt_shutdown raced, in a child with the at-exit actions on ---------- */

static pthread_barrier_t g_child_go;
static atomic_int g_child_stop;

static const char *g_child_report;
static atomic_int g_child_early; /* mt_shutdown returned before the report existed */

static void *child_shutdown(void *arg) {
    (void)arg;
    pthread_barrier_wait(&g_child_go);
    mt_shutdown();
    if (access(g_child_report, F_OK) != 0) atomic_fetch_add(&g_child_early, 1);
    return NULL;
}

static void *child_alloc(void *arg) {
    int id = (int)(intptr_t)arg;
    char cat[32];
    snprintf(cat, sizeof cat, "Conc::Busy::T%d", id);
    pthread_barrier_wait(&g_child_go);
    for (long i = 0; !atomic_load(&g_child_stop) || i < 2000; i++) mt_free(mt_alloc((size_t)(i % 300) + 1, cat, F, 9001));
    return NULL;
}

/* Exit codes: 0 fine, 10+ a check in the child failed. stdout says what
 * the child saw of the report file. */
static int shutdown_child_main(const char *report) {
    alarm(20);
    g_child_report = report;
    void *leak = mt_alloc(77, "Conc::Leak", F, 9000);
    if (!leak) return 10;
    pthread_barrier_init(&g_child_go, NULL, 4);
    pthread_t s[2], a[2];
    for (int i = 0; i < 2; i++) {
        if (pthread_create(&s[i], NULL, child_shutdown, NULL) != 0) return 11;
        if (pthread_create(&a[i], NULL, child_alloc, (void *)(intptr_t)i) != 0) return 11;
    }
    for (int i = 0; i < 2; i++) pthread_join(s[i], NULL);
    /* the report is whole once an mt_shutdown call has returned... */
    char *text = tu_read_file(report, NULL);
    if (!text) return 12;
    json_object *root = json_tokener_parse(text);
    free(text);
    if (!root) return 13;
    json_object *cats, *leakcat;
    int ok = json_object_object_get_ex(root, "categories", &cats) && json_object_object_get_ex(cats, "Conc::Leak", &leakcat) &&
             jint(leakcat, "current") == 77;
    json_object_put(root);
    if (!ok) return 14;
    /* ...and not written again: neither now nor at exit */
    unlink(report);
    mt_shutdown();
    atomic_store(&g_child_stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(a[i], NULL);
    if (access(report, F_OK) == 0) return 15;
    /* tracking goes on */
    mt_stats s1;
    if (mt_category_stats("Conc::Leak", 0, &s1) != 0 || s1.current != 77) return 16;
    printf("child done; early returns %d\n", atomic_load(&g_child_early));
    return 0;
}

/* One child: the report and leak check happen exactly once (none at exit);
 * returns how many of its two mt_shutdown calls returned before the report
 * file existed. */
static int run_shutdown_child(int round) {
    char dir[] = "/tmp/mt_conc_shutXXXXXX";
    assert_non_null(mkdtemp(dir));
    char report[96], env_report[128];
    snprintf(report, sizeof report, "%s/r.json", dir);
    snprintf(env_report, sizeof env_report, "MEMTALLY_REPORT=%s", report);
    const char *argv[] = {"/proc/self/exe", "--shutdown-child", report, NULL};
    const char *env[] = {"MEMTALLY_LEAK_CHECK=1", env_report, NULL};
    tu_child c;
    assert_int_equal(tu_run(argv, env, &c), 0);
    bool exists = access(report, F_OK) == 0;
    unlink(report);
    rmdir(dir);
    if (c.status != 0 || exists)
        fail_msg("round %d: child exited with %d (report file %s at exit); stdout: %s stderr: %s", round, c.status,
                 exists ? "rewritten" : "absent", c.out, c.err);
    /* one leak check, whichever thread ran it, none at exit */
    size_t heads = tu_count_substr(c.err, "memtally: leak check:");
    uint64_t b = 0, n = 0;
    bool line = leak_line(c.err, "Conc::Leak", &b, &n);
    if (heads != 1 || !line || b != 77 || n != 1) fail_msg("round %d: %zu leak checks; stderr:\n%s", round, heads, c.err);
    int early = -1;
    if (sscanf(c.out, "child done; early returns %d", &early) != 1) fail_msg("round %d: stdout %s", round, c.out);
    tu_child_free(&c);
    return early;
}

/* Two threads call mt_shutdown at once while two others allocate: the
 * leak check runs once, the report is written once, nothing again at exit. */
static void shutdown_once_when_raced(void **state) {
    (void)state;
    for (int round = 0; round < 4; round++) (void)run_shutdown_child(round);
}

/* "Runs the at-exit actions now": when mt_shutdown returns to a caller the
 * report file is there, even if another thread's call is the one that
 * writes it. */
static void shutdown_returns_after_actions_when_raced(void **state) {
    (void)state;
    int early = 0;
    for (int round = 0; round < 4; round++) early += run_shutdown_child(round);
    if (early) fail_msg("%d of 8 mt_shutdown calls returned before the report file existed", early);
}

/* ---- 8: the first memtally calls of a process, raced ------------------------ */

static void child_log(mt_log_level level, const char *message, void *user) {
    (void)level, (void)message, (void)user;
}

static void *first_call(void *arg) {
    int id = (int)(intptr_t)arg;
    void *p = NULL;
    mt_stats s;
    pthread_barrier_wait(&g_child_go);
    switch (id) {
    case 0: p = mt_alloc(10, "Conc::Init::A", F, 9101); break;
    case 1:
        mt_scope_push("Conc::Init::B");
        p = mt_alloc(20, NULL, F, 9102);
        mt_scope_pop();
        break;
    case 2:
        mt_set_log(child_log, NULL);
        p = mt_calloc(3, 10, "Conc::Init::C", F, 9103);
        break;
    default:
        (void)mt_category_stats("Conc::Init::A", 0, &s);
        s = mt_global_stats();
        if (s.free_count > s.alloc_count || mt_init() != 0) return (void *)1;
    {
        char text[100];
        memset(text, 'z', sizeof text - 1);
        text[sizeof text - 1] = '\0';
        p = mt_strdup(text, "Conc::Init::D", F, 9104); /* 100 bytes */
        break;
    }
    }
    if (!p) return (void *)1;
    mt_free(p);
    return NULL;
}

static int init_child_main(void) {
    alarm(20);
    pthread_barrier_init(&g_child_go, NULL, 4);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, first_call, (void *)(intptr_t)i) != 0) return 20;
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        bad += rv != NULL;
    }
    if (bad) return 21;
    mt_stats g = mt_global_stats();
    if (g.alloc_count != 4 || g.free_count != 4 || g.total_allocated != 160 || g.total_freed != 160) {
        printf("global " FMT_STATS "\n", ARG_STATS(g));
        return 22;
    }
    static const struct { const char *name; uint64_t bytes; } want[] = {
        {"Conc::Init::A", 10}, {"Conc::Init::B", 20}, {"Conc::Init::C", 30}, {"Conc::Init::D", 100}};
    for (int i = 0; i < 4; i++) {
        mt_stats s;
        if (mt_category_stats(want[i].name, 0, &s) != 0 || s.total_allocated != want[i].bytes || s.alloc_count != 1 ||
            s.free_count != 1) {
            printf("%s wrong\n", want[i].name);
            return 23;
        }
    }
    if (mt_category_stats("Uncategorized", 0, &g) != 0 || g.alloc_count != 0) return 24;
    return 0;
}

static void first_calls_raced_count_exactly(void **state) {
    (void)state;
    for (int round = 0; round < 6; round++) {
        const char *argv[] = {"/proc/self/exe", "--init-child", NULL};
        tu_child c;
        assert_int_equal(tu_run(argv, NULL, &c), 0);
        if (c.status != 0) fail_msg("round %d: child exited with %d; stdout: %s stderr: %s", round, c.status, c.out, c.err);
        tu_child_free(&c);
    }
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--shutdown-child") == 0) return shutdown_child_main(argv[2]);
    if (argc > 1 && strcmp(argv[1], "--init-child") == 0) return init_child_main();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_never_negative_while_handed_over),
        cmocka_unit_test(hook_sets_swapped_never_torn),
        cmocka_unit_test(readers_exact_while_categories_appear),
        cmocka_unit_test(snapshot_diff_exact_while_others_churn),
        cmocka_unit_test(leak_check_and_report_exact_while_churn),
        cmocka_unit_test(report_file_whole_while_rewritten),
        cmocka_unit_test(shutdown_once_when_raced),
        cmocka_unit_test(shutdown_returns_after_actions_when_raced),
        cmocka_unit_test(first_calls_raced_count_exactly),
    };
    return cmocka_run_group_tests(tests, quiet_setup, quiet_teardown);
}
