/*
 * test_unwind.c - the preload library's stack walker (preload/unwind.c),
 * compiled into this test: the return addresses it finds are the ones
 * libgcc's _Unwind_Backtrace finds, through frames of every shape the
 * compiler makes here (alloca, a large frame, recursion), on several
 * threads at once; it stops when told; it gives up on a signal frame and
 * in code without unwind information.
 */
#include "test_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <unwind.h>

#include "internal.h"

#define MAX_FRAMES 128

typedef struct frames {
    const void *ip[MAX_FRAMES];
    int n;
    int stop_after; /* 0: never */
} frames;

static bool take(const void *ret, void *arg) {
    frames *f = arg;
    if (f->n < MAX_FRAMES) f->ip[f->n++] = ret;
    return !(f->stop_after && f->n >= f->stop_after) && f->n < MAX_FRAMES;
}

static _Unwind_Reason_Code take_libgcc(struct _Unwind_Context *ctx, void *arg) {
    frames *f = arg;
    const void *ip = (const void *)_Unwind_GetIP(ctx);
    if (!ip || f->n >= MAX_FRAMES) return _URC_END_OF_STACK;
    f->ip[f->n++] = ip;
    return _URC_NO_REASON;
}

/* Both walks from the same function. Their first frames are the calls
 * themselves (two return addresses in this function); from there on the
 * callers must match one for one. */
static __attribute__((noinline)) void walk_both(frames *mine, frames *gcc, int *rc, unsigned closes) {
    *rc = mt__unwind(take, mine, closes);
    _Unwind_Backtrace(take_libgcc, gcc);
    __asm__ volatile("" ::: "memory");
}

static void assert_same_callers(const frames *mine, const frames *gcc, int at_least) {
    assert_true(mine->n >= at_least);
    /* libgcc also reports the outermost frame's null return address */
    int n = gcc->n;
    assert_true(n >= at_least);
    assert_int_equal(mine->n, n);
    for (int i = 1; i < n; i++) assert_ptr_equal(mine->ip[i], gcc->ip[i]);
}

typedef struct walk_job {
    frames mine, gcc;
    int rc;
    unsigned closes; /* the dlclose count handed to the walker */
} walk_job;

static __attribute__((noinline)) int leaf(walk_job *j) {
    walk_both(&j->mine, &j->gcc, &j->rc, j->closes);
    __asm__ volatile("" ::: "memory");
    return j->rc;
}

/* alloca: an rbp-based frame */
static __attribute__((noinline)) int with_alloca(walk_job *j, size_t n) {
    volatile char *p = __builtin_alloca(n);
    p[0] = 1;
    int r = leaf(j);
    return r + p[0] - 1;
}

/* a large frame: the CFA offset does not fit a byte */
static __attribute__((noinline)) int with_big_frame(walk_job *j) {
    volatile char big[64 << 10];
    big[0] = 1;
    int r = with_alloca(j, 100);
    return r + big[0] - 1;
}

static __attribute__((noinline)) int recurse(walk_job *j, int depth) {
    if (depth == 0) return with_big_frame(j);
    int r = recurse(j, depth - 1);
    __asm__ volatile("" : "+r"(r));
    return r;
}

static void agrees_with_libgcc(void **state) {
    (void)state;
    static walk_job j;
    for (int depth = 0; depth < 40; depth += 13) {
        memset(&j, 0, sizeof j);
        assert_int_equal(recurse(&j, depth), 0);
#if defined(__x86_64__)
        assert_int_equal(j.rc, 0);
        /* walk_both, leaf, with_alloca, with_big_frame, recurse x (depth + 1), this test... */
        assert_same_callers(&j.mine, &j.gcc, depth + 6);
#else
        assert_int_equal(j.rc, -1); /* libgcc walks everything elsewhere */
#endif
    }
}

static void stops_when_told(void **state) {
    (void)state;
    static walk_job j;
    memset(&j, 0, sizeof j);
    j.mine.stop_after = 3;
    recurse(&j, 5);
#if defined(__x86_64__)
    assert_int_equal(j.rc, 0);
    assert_int_equal(j.mine.n, 3);
    for (int i = 1; i < 3; i++) assert_ptr_equal(j.mine.ip[i], j.gcc.ip[i]);
#endif
}

/* A new dlclose count empties the thread's rules: decoded again, the
 * walk is still libgcc's. */
static void closes_empty_the_cache(void **state) {
    (void)state;
    static walk_job j;
    for (unsigned closes = 1; closes <= 3; closes++) {
        memset(&j, 0, sizeof j);
        j.closes = closes;
        recurse(&j, 4);
#if defined(__x86_64__)
        assert_int_equal(j.rc, 0);
        assert_same_callers(&j.mine, &j.gcc, 10);
#endif
    }
}

static walk_job signal_job;
static void on_signal(int sig) {
    (void)sig;
    signal_job.rc = mt__unwind(take, &signal_job.mine, 0);
}

/* glibc's signal trampoline is described by a DWARF expression: the walker
 * gives up there (its caller asks libgcc), after the handler's frames. */
static void gives_up_at_a_signal_frame(void **state) {
    (void)state;
    memset(&signal_job, 0, sizeof signal_job);
    signal_job.rc = 99;
    signal(SIGUSR1, on_signal);
    raise(SIGUSR1);
    signal(SIGUSR1, SIG_DFL);
    assert_int_equal(signal_job.rc, -1);
#if defined(__x86_64__)
    assert_true(signal_job.mine.n >= 1);
#endif
}

/* Code without unwind information: the walker gives up in its frame
 * after the same callers libgcc found, and again on the next walk, when
 * it knows that address already (its failed search is kept). */
int tu_call_without_unwind_info(int (*fn)(void *), void *arg);

static int leaf_cb(void *arg) { return leaf(arg); }

static void gives_up_without_unwind_info(void **state) {
    (void)state;
    static walk_job j[2];
    for (int i = 0; i < 2; i++) {
        memset(&j[i], 0, sizeof j[i]);
        j[i].rc = 99;
        tu_call_without_unwind_info(leaf_cb, &j[i]);
        assert_int_equal(j[i].rc, -1);
#if defined(__x86_64__)
        /* walk_both, leaf, leaf_cb and the return into the caller */
        assert_true(j[i].mine.n >= 4);
        assert_true(j[i].mine.n <= j[i].gcc.n);
        for (int k = 1; k < j[i].mine.n; k++) assert_ptr_equal(j[i].mine.ip[k], j[i].gcc.ip[k]);
#endif
    }
    assert_int_equal(j[0].mine.n, j[1].mine.n);
}

/* Each thread has its own rules: walks on four threads at once. */
static void *thread_walks(void *arg) {
    int *failures = arg;
    for (int i = 0; i < 300; i++) {
        walk_job j;
        memset(&j, 0, sizeof j);
        recurse(&j, i % 20);
#if defined(__x86_64__)
        if (j.rc != 0 || j.mine.n != j.gcc.n) (*failures)++;
        else
            for (int k = 1; k < j.gcc.n; k++)
                if (j.mine.ip[k] != j.gcc.ip[k]) (*failures)++;
#endif
    }
    return NULL;
}

static void agrees_on_threads(void **state) {
    (void)state;
    pthread_t t[4];
    int failures[4] = {0};
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, thread_walks, &failures[i]), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(failures[i], 0);
}

/* A walk from a thread-exit destructor that runs after the walker's own
 * (which unmaps the thread's rules) is left to libgcc, and does not touch
 * the unmapped rules. */
static pthread_key_t late_key;
static int late_rc[2];

static void late_destructor(void *arg) {
    int *rc = arg;
    frames f = {.n = 0};
    *rc = mt__unwind(take, &f, 0);
}

static void *walks_then_exits(void *arg) {
    frames f = {.n = 0};
    int *rc = arg;
    rc[0] = mt__unwind(take, &f, 0); /* maps the thread's rules */
    pthread_setspecific(late_key, &rc[1]);
    return NULL;
}

static void walk_after_thread_exit(void **state) {
    (void)state;
    /* created after the walker's key (its constructor ran first), so its
     * destructor runs after the walker's */
    assert_int_equal(pthread_key_create(&late_key, late_destructor), 0);
    late_rc[0] = late_rc[1] = 99;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, walks_then_exits, late_rc), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
#if defined(__x86_64__)
    assert_int_equal(late_rc[0], 0);
#endif
    assert_int_equal(late_rc[1], -1);
    pthread_key_delete(late_key);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(agrees_with_libgcc),
        cmocka_unit_test(stops_when_told),
        cmocka_unit_test(closes_empty_the_cache),
        cmocka_unit_test(gives_up_at_a_signal_frame),
        cmocka_unit_test(gives_up_without_unwind_info),
        cmocka_unit_test(agrees_on_threads),
        cmocka_unit_test(walk_after_thread_exit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
