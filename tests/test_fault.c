/*
 * test_fault.c - fault injection through a replaceable backend: whichever
 * backend allocation fails, the memtally call that needed it returns NULL
 * with ENOMEM, the statistics do not move, hooks see nothing (a failed
 * realloc: the old block freed and announced again), and no block is lost
 * or leaked.
 */
#include "test_util.h"

#include "../src/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define F __FILE__

/* ---- the failing backend ---------------------------------------------- */

static long g_calls;     /* allocation requests seen (malloc, calloc, realloc) */
static long g_fail_at;   /* fail the request with this number; 0 = never */
static int g_fail_all;
static long g_live;      /* blocks the backend holds for memtally */
static long g_failed;

static int should_fail(void) {
    g_calls++;
    if (g_fail_all || g_calls == g_fail_at) {
        g_failed++;
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

static void *be_malloc(size_t n) {
    if (should_fail()) return NULL;
    void *p = malloc(n);
    if (p) g_live++;
    return p;
}

static void *be_calloc(size_t c, size_t n) {
    if (should_fail()) return NULL;
    void *p = calloc(c, n);
    if (p) g_live++;
    return p;
}

static void *be_realloc(void *p, size_t n) {
    if (p && n == 0) { /* glibc frees */
        g_live--;
        return realloc(p, 0);
    }
    if (should_fail()) return NULL;
    void *q = realloc(p, n);
    if (q && !p) g_live++;
    return q;
}

static void be_free(void *p) {
    if (p) g_live--;
    free(p);
}

static const mt__backend g_failing = {be_malloc, be_calloc, be_realloc, be_free};

/* The hooks see a realloc the backend fails as the old block's free and
 * its allocation again (the free is announced before the backend is
 * asked); anything else that fails, they do not see at all. */
static long g_hook_events, g_hook_net, g_hook_net_bytes;
static void *g_hook_last;
static void hook_a(void *p, size_t s, const char *c, void *u) {
    (void)c, (void)u;
    g_hook_events++;
    g_hook_net++;
    g_hook_net_bytes += (long)s;
    if (p != g_hook_last) g_hook_last = NULL; /* not the block just freed */
}
static void hook_f(void *p, size_t s, const char *c, void *u) {
    (void)c, (void)u;
    g_hook_events++;
    g_hook_net--;
    g_hook_net_bytes -= (long)s;
    g_hook_last = p;
}

static int setup(void **state) {
    (void)state;
    mt_init();
    mt__backend_set(&g_failing);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mt__backend_set(NULL);
    return 0;
}

/* ---- every function, failing on its first backend request ------------- */

static void every_function_fails_cleanly(void **state) {
    (void)state;
    mt_hooks h = {hook_a, hook_f, NULL};
    mt_set_hooks(&h);
    unsigned char *old = mt_alloc(50, "Fault::Old", F, __LINE__);
    assert_non_null(old);
    memset(old, 0x5f, 50);
    long live0 = g_live;
    mt_stats g0 = mt_global_stats();
    mt_stats c0 = tu_cat_self("Fault::Old");
    long events0 = g_hook_events, net0 = g_hook_net, bytes0 = g_hook_net_bytes;

    g_fail_all = 1;
    const int line = __LINE__ + 2;
    errno = 0;
    assert_null(mt_alloc(10, "Fault::F", F, line));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(mt_calloc(2, 10, "Fault::F", F, line));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(mt_realloc(NULL, 10, "Fault::F", F, line));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(mt_strdup("abc", "Fault::F", F, line));
    assert_int_equal(errno, ENOMEM);
    for (size_t a = 1; a <= 4096; a *= 2) {
        errno = 0;
        assert_null(mt_aligned_alloc(a, 24, "Fault::F", F, line));
        assert_int_equal(errno, ENOMEM);
    }
    errno = 0;
    assert_null(MT_ALLOC(10, "Fault::F"));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(MT_NEW(double, "Fault::F"));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(mt_alloc(10, NULL, NULL, 0));
    assert_int_equal(errno, ENOMEM);
    /* realloc of a live block, to a larger and to a smaller size */
    assert_int_equal(g_hook_events, events0);
    errno = 0;
    assert_null(mt_realloc(old, 5000, "Fault::F", F, line));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(mt_realloc(old, 5000, NULL, F, line));
    assert_int_equal(errno, ENOMEM);
    /* each: the old block freed, then the same block announced again */
    assert_int_equal(g_hook_events, events0 + 4);
    assert_ptr_equal(g_hook_last, old);
    errno = 0;
    void *shrunk = mt_realloc(old, 20, NULL, F, line);
    /* shrinking may be done in place without the backend; if it needed the
     * backend it must have failed cleanly */
    if (shrunk == NULL) assert_int_equal(errno, ENOMEM);
    /* raw allocations come from the same backend */
    assert_null(mt_raw_alloc(10));
    g_fail_all = 0;
    assert_true(g_failed > 0);

    if (shrunk == NULL) {
        tu_assert_stats_equal(g0, mt_global_stats());
        tu_assert_stats_equal(c0, tu_cat_self("Fault::Old"));
        assert_int_equal(g_hook_events, events0 + 6);
        assert_ptr_equal(g_hook_last, old);
        assert_int_equal(g_hook_net, net0);
        assert_int_equal(g_hook_net_bytes, bytes0);
        /* the old block is untouched and still freeable */
        assert_int_equal(mt_block_size(old), 50);
        for (int i = 0; i < 50; i++) assert_int_equal(old[i], 0x5f);
    } else {
        tu_assert_delta(g0, mt_global_stats(), 20, 50, 1, 1);
        assert_int_equal(mt_block_size(shrunk), 20);
        for (int i = 0; i < 20; i++) assert_int_equal(((unsigned char *)shrunk)[i], 0x5f);
        old = shrunk;
    }
    assert_int_equal(g_live, live0);
    mt_stats s;
    if (tu_site_stats(F, line, "Fault::F", &s) > 0) tu_assert_stats(s, 0, 0, 0, 0);
    mt_stats fc;
    if (mt_category_stats("Fault::F", 0, &fc) == 0) tu_assert_stats(fc, 0, 0, 0, 0);

    mt_free(old);
    mt_set_hooks(NULL);
    assert_int_equal(g_live, live0 - 1);
}

/* ---- the Nth request fails, for every N of a mixed workload ----------- */

typedef struct expect {
    uint64_t alloc_bytes, free_bytes, allocs, frees;
} expect;

/* A fixed workload; each step checks its own result. Returns how many
 * steps saw a failure. */
static int workload(expect *e) {
    int failures = 0;
    void *live[16];
    size_t sizes[16];
    int n = 0;
    for (int step = 0; step < 40; step++) {
        void *p = NULL;
        size_t size = (size_t)(step * 37 % 500 + 1);
        errno = 0;
        switch (step % 6) {
        case 0: p = mt_alloc(size, "Fault::Work", F, __LINE__); break;
        case 1: p = mt_calloc(1, size, "Fault::Work", F, __LINE__); break;
        case 2: p = mt_aligned_alloc(64, size, "Fault::Work", F, __LINE__); break;
        case 3: {
            char s[512];
            memset(s, 'q', size - 1);
            s[size - 1] = '\0';
            p = mt_strdup(s, "Fault::Work", F, __LINE__);
            break;
        }
        case 4: p = mt_realloc(NULL, size, "Fault::Work", F, __LINE__); break;
        case 5:
            if (n > 0) { /* grow a live block */
                size_t ns = sizes[n - 1] * 3 + 100;
                void *q = mt_realloc(live[n - 1], ns, NULL, F, __LINE__);
                if (q) {
                    e->free_bytes += sizes[n - 1];
                    e->frees++;
                    e->alloc_bytes += ns;
                    e->allocs++;
                    live[n - 1] = q;
                    sizes[n - 1] = ns;
                } else {
                    assert_int_equal(errno, ENOMEM);
                    assert_int_equal(mt_block_size(live[n - 1]), sizes[n - 1]);
                    failures++;
                }
            }
            continue;
        }
        if (!p) {
            assert_int_equal(errno, ENOMEM);
            failures++;
            continue;
        }
        assert_int_equal(mt_block_size(p), size);
        e->alloc_bytes += size;
        e->allocs++;
        if (n < 16) {
            live[n] = p;
            sizes[n++] = size;
        } else {
            mt_free(p);
            e->free_bytes += size;
            e->frees++;
        }
        if (step % 5 == 4 && n > 0) {
            n--;
            mt_free(live[n]);
            e->free_bytes += sizes[n];
            e->frees++;
        }
    }
    while (n > 0) {
        n--;
        mt_free(live[n]);
        e->free_bytes += sizes[n];
        e->frees++;
    }
    return failures;
}

static void nth_request_fails(void **state) {
    (void)state;
    /* count the requests of one clean run */
    expect clean = {0, 0, 0, 0};
    long live0 = g_live;
    g_calls = 0;
    g_fail_at = 0;
    mt_stats g0 = mt_global_stats();
    assert_int_equal(workload(&clean), 0);
    long requests = g_calls;
    assert_true(requests >= 30);
    tu_assert_delta(g0, mt_global_stats(), clean.alloc_bytes, clean.free_bytes, clean.allocs, clean.frees);
    assert_int_equal(g_live, live0);

    for (long nth = 1; nth <= requests; nth++) {
        expect e = {0, 0, 0, 0};
        g_calls = 0;
        g_fail_at = nth;
        long failed0 = g_failed;
        mt_stats before = mt_global_stats();
        mt_stats cat_before = tu_cat_self("Fault::Work");
        int failures = workload(&e);
        g_fail_at = 0;
        /* exactly one request failed, and exactly one call reported it */
        assert_int_equal(g_failed - failed0, 1);
        assert_int_equal(failures, 1);
        /* the statistics hold exactly what succeeded */
        tu_assert_delta(before, mt_global_stats(), e.alloc_bytes, e.free_bytes, e.allocs, e.frees);
        mt_stats cat_after = tu_cat_self("Fault::Work");
        tu_assert_delta(cat_before, cat_after, e.alloc_bytes, e.free_bytes, e.allocs, e.frees);
        assert_int_equal(cat_after.current, cat_before.current);
        /* nothing lost: every backend block came back */
        assert_int_equal(g_live, live0);
    }
}

static void raw_alloc_fails(void **state) {
    (void)state;
    mt_stats g0 = mt_global_stats();
    g_fail_all = 1;
    assert_null(mt_raw_alloc(100));
    g_fail_all = 0;
    void *r = mt_raw_alloc(100);
    assert_non_null(r);
    mt_raw_free(r);
    tu_assert_stats_equal(g0, mt_global_stats());
}

static void recovers_after_failure(void **state) {
    (void)state;
    g_fail_all = 1;
    assert_null(mt_alloc(64, "Fault::Recover", F, __LINE__));
    g_fail_all = 0;
    mt_stats g0 = mt_global_stats();
    void *p = mt_alloc(64, "Fault::Recover", F, __LINE__);
    assert_non_null(p);
    tu_assert_delta(g0, mt_global_stats(), 64, 0, 1, 0);
    tu_assert_stats(tu_cat_self("Fault::Recover"), 64, 0, 1, 0);
    mt_free(p);
    tu_assert_stats(tu_cat_self("Fault::Recover"), 64, 64, 1, 1);
}

/* In a run of one category the hot path counts a block before the backend
 * is asked for it; a failure then takes everything back, peaks included. */
static void failure_in_a_run_changes_no_peak(void **state) {
    (void)state;
    mt_set_hooks(NULL);
    const int line = __LINE__ + 3;
    void *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = mt_alloc(100, "Fault::Run", F, line);
        assert_non_null(p[i]);
    }
    mt_stats g0 = mt_global_stats(), c0 = tu_cat_total("Fault"), r0 = tu_cat_self("Fault::Run"), s0;
    assert_int_equal(r0.peak, 800);
    assert_int_equal(tu_site_stats(F, line, "Fault::Run", &s0), 1);
    for (int round = 0; round < 2; round++) {
        g_fail_all = 1;
        errno = 0;
        assert_null(mt_alloc(1000, "Fault::Run", F, line)); /* each peak would rise by 1000 */
        assert_int_equal(errno, ENOMEM);
        g_fail_all = 0;
        mt_stats s1;
        assert_int_equal(tu_site_stats(F, line, "Fault::Run", &s1), 1);
        tu_assert_stats_equal(s0, s1);
        tu_assert_stats_equal(c0, tu_cat_total("Fault"));
        tu_assert_stats_equal(r0, tu_cat_self("Fault::Run"));
        tu_assert_stats_equal(r0, tu_cat_total("Fault::Run"));
        tu_assert_stats_equal(g0, mt_global_stats());
        assert_int_equal(mt_global_stats().peak, g0.peak);
    }
    /* and the run goes on counting exactly */
    void *q = mt_alloc(1000, "Fault::Run", F, line);
    assert_non_null(q);
    mt_stats s2;
    assert_int_equal(tu_site_stats(F, line, "Fault::Run", &s2), 1);
    assert_int_equal(s2.current, s0.current + 1000);
    assert_int_equal(s2.peak, s0.current + 1000);
    assert_int_equal(tu_cat_total("Fault").peak, c0.current + 1000 > c0.peak ? c0.current + 1000 : c0.peak);
    mt_free(q);
    for (int i = 0; i < 8; i++) mt_free(p[i]);
}

/* ---- failures on one thread while another reads ------------------------ */

static _Atomic int g_mt_fail, g_mt_stop;
static void *mt_be_malloc(size_t n) {
    if (atomic_load_explicit(&g_mt_fail, memory_order_relaxed)) return NULL;
    return malloc(n);
}
static void *mt_be_calloc(size_t c, size_t n) { return calloc(c, n); }
static void *mt_be_realloc(void *p, size_t n) { return realloc(p, n); }
static void mt_be_free(void *p) { free(p); }
static const mt__backend g_mt_failing = {mt_be_malloc, mt_be_calloc, mt_be_realloc, mt_be_free};

static void *failing_writer(void *arg) {
    (void)arg;
    void *keep[8];
    for (int i = 0; i < 8; i++) keep[i] = mt_alloc(100, "Fault::Undo", F, 1); /* the category goes pending */
    atomic_store(&g_mt_fail, 1);
    while (!atomic_load(&g_mt_stop)) assert_null(mt_alloc(100, "Fault::Undo", F, 1));
    atomic_store(&g_mt_fail, 0);
    for (int i = 0; i < 8; i++) mt_free(keep[i]);
    return NULL;
}

/* The hot path moves a block's peak pairs before the backend call and
 * back when it fails; a reader meanwhile must never see a count or a
 * byte total go down. */
static void counts_never_go_down_on_failure(void **state) {
    (void)state;
    mt_set_hooks(NULL);
    mt__backend_set(&g_mt_failing); /* no other thread runs yet */
    atomic_store(&g_mt_fail, 0);
    atomic_store(&g_mt_stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, failing_writer, NULL), 0);
    while (!atomic_load(&g_mt_fail)) {
    }
    uint64_t last_count = 0, last_bytes = 0;
    long drops = 0, reads = 0;
    for (long i = 0; i < 2000000 && drops == 0; i++) {
        mt_stats c;
        if (mt_category_stats("Fault::Undo", 0, &c) != 0) continue;
        reads++;
        if (c.alloc_count < last_count || c.total_allocated < last_bytes) drops++;
        last_count = c.alloc_count;
        last_bytes = c.total_allocated;
    }
    atomic_store(&g_mt_stop, 1);
    assert_int_equal(pthread_join(th, NULL), 0);
    mt__backend_set(&g_failing);
    assert_true(reads > 0);
    assert_int_equal(drops, 0);
    tu_assert_stats(tu_cat_self("Fault::Undo"), 800, 800, 8, 8);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_function_fails_cleanly),
        cmocka_unit_test(nth_request_fails),
        cmocka_unit_test(raw_alloc_fails),
        cmocka_unit_test(recovers_after_failure),
        cmocka_unit_test(failure_in_a_run_changes_no_peak),
        cmocka_unit_test(counts_never_go_down_on_failure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
