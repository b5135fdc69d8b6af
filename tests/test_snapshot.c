/*
 * test_snapshot.c - mt_snapshot_take/free/diff/diff_report: exact deltas for
 * a known sequence of allocations, the order of the lines, categories new in
 * the second snapshot, the stop value, NULL arguments and the text form.
 */
#include "test_util.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct recorded {
    int n;
    int stop_at;  /* return 7 on this call (1-based), 0 = never */
    char name[16][64];
    bool global[16];
    mt_delta d[16];
} recorded;

static int record(const mt_delta *d, void *user) {
    recorded *r = user;
    assert_true(r->n < 16);
    r->global[r->n] = d->category == NULL;
    snprintf(r->name[r->n], sizeof r->name[0], "%s", d->category ? d->category : "");
    r->d[r->n] = *d;
    r->n++;
    return r->n == r->stop_at ? 7 : 0;
}

/* mt_snapshot_diff_report(a, b) as a string (plain malloc). */
static char *diff_text(const mt_snapshot *a, const mt_snapshot *b) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    assert_non_null(m);
    assert_int_equal(mt_snapshot_diff_report(a, b, m), 0);
    assert_int_equal(fclose(m), 0);
    return buf;
}

static void assert_delta(const mt_delta *d, int64_t current, int64_t allocated, int64_t freed, int64_t allocs,
                         int64_t frees) {
    assert_int_equal(d->current, current);
    assert_int_equal(d->total_allocated, allocated);
    assert_int_equal(d->total_freed, freed);
    assert_int_equal(d->alloc_count, allocs);
    assert_int_equal(d->free_count, frees);
}

/* Known sequence, used by the tests below:
 *   before: Snap::Kept 1000 bytes live
 *   then:   Snap::New 1024 x2, free one; free the 1000; Snap::Kept 512,
 *           realloc'd to 2048 (one free of 512, one allocation of 2048) */
static void *kept_new;
static void *new_live;

static void run_sequence(mt_snapshot **before, mt_snapshot **after) {
    void *p0 = mt_alloc(1000, "Snap::Kept", "snap.c", 1);
    assert_non_null(p0);
    char label[32];
    strcpy(label, "before");
    *before = mt_snapshot_take(label);
    assert_non_null(*before);
    strcpy(label, "XXXXXX"); /* the snapshot keeps its own copy */

    void *p1 = mt_alloc(1024, "Snap::New", "snap.c", 2);
    new_live = mt_alloc(1024, "Snap::New", "snap.c", 2);
    mt_free(p1);
    mt_free(p0);
    void *p3 = mt_alloc(512, "Snap::Kept", "snap.c", 3);
    kept_new = mt_realloc(p3, 2048, NULL, "snap.c", 4);
    assert_non_null(kept_new);
    *after = mt_snapshot_take("after");
    assert_non_null(*after);
}

static void test_diff_values(void **state) {
    (void)state;
    mt_snapshot *before, *after;
    run_sequence(&before, &after);

    recorded r = {0};
    assert_int_equal(mt_snapshot_diff(before, after, record, &r), 0);
    assert_int_equal(r.n, 3);
    /* global first */
    assert_true(r.global[0]);
    assert_delta(&r.d[0], 2072, 4608, 2536, 4, 3);
    /* then changed categories in name order; "Snap" itself did not change */
    assert_string_equal(r.name[1], "Snap::Kept");
    assert_delta(&r.d[1], 1048, 2560, 1512, 2, 2);
    assert_string_equal(r.name[2], "Snap::New"); /* absent from `before`: counted from zero */
    assert_delta(&r.d[2], 1024, 2048, 1024, 2, 1);

    /* the other way round: the signs flip */
    recorded back = {0};
    assert_int_equal(mt_snapshot_diff(after, before, record, &back), 0);
    assert_int_equal(back.n, 3);
    assert_delta(&back.d[0], -2072, -4608, -2536, -4, -3);
    assert_string_equal(back.name[2], "Snap::New");
    assert_delta(&back.d[2], -1024, -2048, -1024, -2, -1);

    /* a snapshot against itself: only the global line, all zeros */
    recorded same = {0};
    assert_int_equal(mt_snapshot_diff(after, after, record, &same), 0);
    assert_int_equal(same.n, 1);
    assert_delta(&same.d[0], 0, 0, 0, 0, 0);

    /* a nonzero return stops the walk and is returned */
    recorded stop = {.stop_at = 2};
    assert_int_equal(mt_snapshot_diff(before, after, record, &stop), 7);
    assert_int_equal(stop.n, 2);
    recorded stop1 = {.stop_at = 1};
    assert_int_equal(mt_snapshot_diff(before, after, record, &stop1), 7);
    assert_int_equal(stop1.n, 1);

    /* the text form */
    char *buf = diff_text(before, after);
    assert_string_equal(buf,
                        "memtally snapshot diff: \"before\" -> \"after\"\n"
                        "global: current +2.02 KiB, allocated +4.50 KiB, freed +2.48 KiB, allocs +4, frees +3\n"
                        "  Snap::Kept: current +1.02 KiB, allocated +2.50 KiB, freed +1.48 KiB, allocs +2, frees +2\n"
                        "  Snap::New: current +1.00 KiB, allocated +2.00 KiB, freed +1.00 KiB, allocs +2, frees +1\n");
    free(buf);

    buf = diff_text(after, before);
    assert_non_null(strstr(buf, "global: current -2.02 KiB, allocated -4.50 KiB, freed -2.48 KiB, allocs -4, frees -3\n"));
    free(buf);

    mt_free(kept_new);
    mt_free(new_live);
    mt_snapshot_free(before);
    mt_snapshot_free(after);
}

static void test_diff_report_unchanged(void **state) {
    (void)state;
    mt_snapshot *a = mt_snapshot_take(NULL);
    void *p = mt_alloc(100, "Snap::Tmp", "snap.c", 9);
    mt_free(p);
    mt_snapshot *b = mt_snapshot_take("odd\nlabel");
    mt_snapshot *c = mt_snapshot_take("c");
    assert_true(a && b && c);

    char *buf = diff_text(b, c);
    assert_string_equal(buf,
                        "memtally snapshot diff: \"odd\\x0alabel\" -> \"c\"\n"
                        "global: current 0 B, allocated 0 B, freed 0 B, allocs 0, frees 0\n"
                        "  no category changed\n");
    free(buf);

    /* a category that came and went still shows its traffic */
    buf = diff_text(a, b);
    assert_string_equal(buf,
                        "memtally snapshot diff: (no label) -> \"odd\\x0alabel\"\n"
                        "global: current 0 B, allocated +100 B, freed +100 B, allocs +1, frees +1\n"
                        "  Snap::Tmp: current 0 B, allocated +100 B, freed +100 B, allocs +1, frees +1\n");
    free(buf);
    mt_snapshot_free(a);
    mt_snapshot_free(b);
    mt_snapshot_free(c);
}

static void test_null_arguments(void **state) {
    (void)state;
    mt_snapshot *s = mt_snapshot_take("s");
    assert_non_null(s);
    recorded r = {0};
    errno = 0;
    assert_int_equal(mt_snapshot_diff(NULL, s, record, &r), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(mt_snapshot_diff(s, NULL, record, &r), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(mt_snapshot_diff(s, s, NULL, &r), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(r.n, 0);
    errno = 0;
    assert_int_equal(mt_snapshot_diff_report(s, s, NULL), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(mt_snapshot_diff_report(NULL, s, stdout), -1);
    assert_int_equal(errno, EINVAL);

    /* a write error is reported */
    FILE *full = fopen("/dev/full", "w");
    assert_non_null(full);
    assert_int_equal(mt_snapshot_diff_report(s, s, full), -1);
    fclose(full);

    mt_snapshot_free(NULL);
    mt_snapshot_free(s);
}

/* Taking and freeing snapshots changes no statistic: their memory is not a
 * tracked allocation. */
static void test_snapshot_untracked(void **state) {
    (void)state;
    mt_stats g0 = mt_global_stats();
    for (int i = 0; i < 50; i++) mt_snapshot_free(mt_snapshot_take("x"));
    mt_stats g1 = mt_global_stats();
    tu_assert_stats_equal(g0, g1);
}

/* Snapshots, diffs and reports taken while other threads allocate, free
 * and create categories: every JSON report parses, and once the threads are
 * done the numbers add up exactly. */
static atomic_int stop_threads;
static atomic_int churn_failures; /* cmocka asserts belong on the main thread */

static void *churn(void *arg) {
    int id = (int)(intptr_t)arg;
    char cat[64];
    void *keep[16] = {0};
    for (unsigned i = 0; !atomic_load(&stop_threads) || i < 2000; i++) {
        snprintf(cat, sizeof cat, "Thr::%d::%u", id, i % 100);
        unsigned k = i % 16;
        mt_free(keep[k]);
        keep[k] = mt_alloc(16 + (i * 37) % 5000, cat, "churn.c", (int)(i % 7));
        if (!keep[k]) atomic_fetch_add(&churn_failures, 1);
    }
    for (int k = 0; k < 16; k++) mt_free(keep[k]);
    return NULL;
}

static int sum_current(const mt_delta *d, void *user) {
    if (!d->category) *(int64_t *)user = d->current;
    return 0;
}

static void test_concurrent(void **state) {
    (void)state;
    mt_snapshot *first = mt_snapshot_take("first");
    assert_non_null(first);
    pthread_t th[3];
    atomic_store(&stop_threads, 0);
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_create(&th[i], NULL, churn, (void *)(intptr_t)i), 0);
    mt_snapshot *prev = mt_snapshot_take("0");
    for (int round = 0; round < 20; round++) {
        char *buf = NULL;
        size_t n = 0;
        FILE *m = open_memstream(&buf, &n);
        assert_int_equal(mt_report(m, round % 2 ? MT_FORMAT_JSON : MT_FORMAT_TEXT), 0);
        fclose(m);
        if (round % 2) {
            json_object *root = json_tokener_parse(buf);
            assert_non_null(root);
            json_object_put(root);
        }
        free(buf);
        mt_snapshot *cur = mt_snapshot_take("n");
        assert_non_null(cur);
        free(diff_text(prev, cur));
        mt_snapshot_free(prev);
        prev = cur;
    }
    atomic_store(&stop_threads, 1);
    for (int i = 0; i < 3; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(atomic_load(&churn_failures), 0);
    mt_snapshot_free(prev);

    mt_snapshot *last = mt_snapshot_take("last");
    int64_t delta = -1;
    assert_int_equal(mt_snapshot_diff(first, last, sum_current, &delta), 0);
    assert_int_equal(delta, 0);
    mt_snapshot_free(first);
    mt_snapshot_free(last);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_diff_values),
        cmocka_unit_test(test_diff_report_unchanged),
        cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_snapshot_untracked),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
