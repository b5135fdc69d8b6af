/*
 * test_tracy.c - libmemtally built with MEMTALLY_WITH_TRACY, against
 * Tracy's own C header (tests/tracy/), with Tracy's memory functions
 * recorded and checked as Tracy's server checks them (tests/tracy/
 * recorder.c): each category is one pool named by a stable pointer, every
 * block is announced with the pointer and size the caller got, freed in
 * the pool it was allocated in, and announced freed before the backend
 * can give its address to anyone else.
 */
#include <memtally.h>

#include "../src/internal.h"
#include "tracy/recorder.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#define F __FILE__

/* ---- a backend that checks the order against the recorder ------------- */

/* A plain block's user pointer is 16 bytes into what the backend gave. */
static int in_child; /* a forked child: the recorder's lock may be held for good */

/* Where memtally can have put the user pointer of a block the backend gave
 * at raw: 16 bytes in (a plain block), or past 24 bytes rounded up to the
 * alignment asked for or to a page (an aligned block, src/alloc.c). */
static void check_released(void *raw, const char *what) {
    if (!raw || in_child) return;
    uintptr_t r = (uintptr_t)raw, end = r + malloc_usable_size(raw);
    if (tr_is_live((void *)(r + 16), NULL)) tr_error(what, (void *)(r + 16));
    for (uintptr_t a = 32; a <= 65536; a *= 2) {
        uintptr_t u = (r + 24 + a - 1) & ~(a - 1);
        if (u < end && tr_is_live((void *)u, NULL)) tr_error(what, (void *)u);
    }
}

static atomic_int fail_realloc, fail_malloc;

static void *be_malloc(size_t n) {
    if (atomic_load(&fail_malloc)) {
        errno = ENOMEM;
        return NULL;
    }
    return malloc(n);
}
static void *be_calloc(size_t c, size_t n) { return calloc(c, n); }
static void *be_realloc(void *p, size_t n) {
    check_released(p, "backend realloc of a block Tracy still holds");
    if (atomic_load(&fail_realloc)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}
static void be_free(void *p) {
    check_released(p, "backend free of a block Tracy still holds");
    free(p);
}
static const mt__backend checking = {be_malloc, be_calloc, be_realloc, be_free};

static int group_setup(void **state) {
    (void)state;
    mt_init();
    mt__backend_set(&checking);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    mt__backend_set(NULL);
    return 0;
}

static int setup(void **state) {
    (void)state;
    tr_reset();
    return 0;
}

static void assert_no_errors(void) {
    tr_counts c = tr_counts_get();
    if (c.errors) fail_msg("%llu Tracy errors, first: %s", (unsigned long long)c.errors, tr_first_error());
}

/* The last event, which must be of the kind and pointer given. */
static tr_event last_event(int alloc, const void *ptr) {
    tr_event e;
    assert_int_equal(tr_last_events(&e, 1), 1);
    assert_int_equal(e.alloc, alloc);
    assert_ptr_equal(e.ptr, ptr);
    return e;
}

/* ---- tests ------------------------------------------------------------ */

static void pools_are_categories(void **state) {
    (void)state;
    char buf[64];
    snprintf(buf, sizeof buf, "Tracy::Temp%d", 0);
    void *a = mt_alloc(100, buf, F, __LINE__);
    tr_event ea = last_event(1, a);
    assert_int_equal(ea.size, 100);
    assert_string_equal(ea.pool, "Tracy::Temp0");
    assert_ptr_not_equal(ea.pool, buf); /* the interned copy, not the caller's buffer */
    strcpy(buf, "Tracy::Overwritten");

    void *b = mt_alloc(200, "Tracy::Temp0", F, __LINE__);
    tr_event eb = last_event(1, b);
    assert_ptr_equal(eb.pool, ea.pool); /* same text: same pool, whatever the pointer */
    void *c = mt_alloc(50, "Tracy::Other", F, __LINE__);
    tr_event ec = last_event(1, c);
    assert_ptr_not_equal(ec.pool, ea.pool);
    assert_string_equal(ec.pool, "Tracy::Other");

    uint64_t bytes;
    assert_int_equal(tr_live_blocks(ea.pool, &bytes), 2);
    assert_int_equal(bytes, 300);
    mt_stats s;
    assert_int_equal(mt_category_stats("Tracy::Temp0", 0, &s), 0);
    assert_int_equal(s.current, bytes);
    assert_int_equal(s.alloc_count - s.free_count, 2);

    mt_free(a);
    assert_ptr_equal(last_event(0, a).pool, ea.pool);
    mt_free(b);
    mt_free(c);
    assert_ptr_equal(last_event(0, c).pool, ec.pool);
    assert_int_equal(tr_live_blocks(ea.pool, NULL), 0);
    assert_int_equal(tr_live_blocks(ec.pool, NULL), 0);
    assert_no_errors();
}

static void every_entry_point(void **state) {
    (void)state;
    void *u = mt_alloc(10, NULL, F, __LINE__);
    assert_string_equal(last_event(1, u).pool, "Uncategorized");

    mt_scope_push("Tracy::Scoped");
    void *s = mt_alloc(11, NULL, F, __LINE__);
    assert_string_equal(last_event(1, s).pool, "Tracy::Scoped");
    mt_scope_pop();

    int *z = MT_CALLOC(4, sizeof(int), "Tracy::Calloc");
    tr_event ez = last_event(1, z);
    assert_int_equal(ez.size, 4 * sizeof(int));
    assert_string_equal(ez.pool, "Tracy::Calloc");

    char *d = mt_strdup("seven", "Tracy::Strdup", F, __LINE__);
    assert_int_equal(last_event(1, d).size, 6);

    void *al = mt_aligned_alloc(256, 1000, "Tracy::Aligned", F, __LINE__);
    assert_int_equal((uintptr_t)al % 256, 0);
    assert_int_equal(last_event(1, al).size, 1000);

    void *big = mt_alloc(1 << 20, "Tracy::Big", F, __LINE__); /* its own mapping in glibc */
    assert_int_equal(last_event(1, big).size, 1 << 20);

    void *blocks[] = {u, s, z, d, al, big};
    for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++) {
        const char *pool;
        assert_true(tr_is_live(blocks[i], &pool));
        mt_free(blocks[i]);
        assert_ptr_equal(last_event(0, blocks[i]).pool, pool);
    }
    tr_counts c = tr_counts_get();
    assert_int_equal(c.allocs, 6);
    assert_int_equal(c.frees, 6);
    assert_no_errors();
}

static void realloc_moves_between_pools(void **state) {
    (void)state;
    char *p = mt_alloc(16, "Tracy::R1", F, __LINE__);
    const char *r1 = last_event(1, p).pool;
    memset(p, 'x', 16);
    char *q = mt_realloc(p, 64 << 10, "Tracy::R2", F, __LINE__);
    assert_non_null(q);
    tr_event ev[2];
    assert_int_equal(tr_last_events(ev, 2), 2);
    assert_int_equal(ev[0].alloc, 0); /* the old block leaves its pool first */
    assert_ptr_equal(ev[0].ptr, p);
    assert_ptr_equal(ev[0].pool, r1);
    assert_int_equal(ev[1].alloc, 1);
    assert_ptr_equal(ev[1].ptr, q);
    assert_int_equal(ev[1].size, 64 << 10);
    assert_string_equal(ev[1].pool, "Tracy::R2");

    /* no category: the block keeps its pool */
    const char *r2 = ev[1].pool;
    char *r = mt_realloc(q, 8, NULL, F, __LINE__);
    assert_ptr_equal(last_event(1, r).pool, r2);
    assert_int_equal(r[0], 'x');

    /* an aligned block is moved through a new block */
    void *a = mt_aligned_alloc(128, 32, "Tracy::R1", F, __LINE__);
    void *b = mt_realloc(a, 4000, NULL, F, __LINE__);
    assert_int_equal(tr_last_events(ev, 2), 2);
    assert_int_equal(ev[0].alloc, 0);
    assert_ptr_equal(ev[0].ptr, a);
    assert_int_equal(ev[1].alloc, 1);
    assert_ptr_equal(ev[1].ptr, b);
    assert_ptr_equal(ev[1].pool, r1);

    mt_free(r);
    mt_free(b);
    assert_int_equal(tr_live_blocks(r1, NULL), 0);
    assert_int_equal(tr_live_blocks(r2, NULL), 0);
    assert_no_errors();
}

/* When the backend cannot grow a block, the block stays where it was and
 * Tracy holds it again, in its pool, at its old size. */
static void realloc_failure_keeps_the_block(void **state) {
    (void)state;
    char *p = mt_alloc(24, "Tracy::Keep", F, __LINE__);
    const char *pool = last_event(1, p).pool;
    atomic_store(&fail_realloc, 1);
    errno = 0;
    assert_null(mt_realloc(p, 4096, NULL, F, __LINE__));
    atomic_store(&fail_realloc, 0);
    assert_int_equal(errno, ENOMEM);
    tr_event e = last_event(1, p);
    assert_int_equal(e.size, 24);
    assert_ptr_equal(e.pool, pool);
    uint64_t bytes;
    assert_int_equal(tr_live_blocks(pool, &bytes), 1);
    assert_int_equal(bytes, 24);
    mt_free(p);
    assert_int_equal(tr_live_blocks(pool, NULL), 0);
    assert_no_errors();
}

/* What memtally does not hand out, or fails to, is never announced; what
 * it takes back by realloc is withdrawn. */
static void only_tracked_blocks(void **state) {
    (void)state;
    void *raw = mt_raw_alloc(100);
    mt_raw_free(raw);
    errno = 0;
    assert_null(mt_calloc(SIZE_MAX / 2, 4, "Tracy::None", F, __LINE__));
    assert_int_equal(errno, ENOMEM);
    void *foreign = malloc(40);
    mt_free_or_system(foreign); /* auto.h's free of a block memtally did not make */
    atomic_store(&fail_malloc, 1);
    assert_null(mt_alloc(50, "Tracy::None", F, __LINE__));
    assert_null(mt_aligned_alloc(64, 50, "Tracy::None", F, __LINE__));
    atomic_store(&fail_malloc, 0);
    tr_counts c = tr_counts_get();
    assert_int_equal(c.allocs, 0);
    assert_int_equal(c.frees, 0);

    void *n = mt_realloc(NULL, 30, "Tracy::FromNull", F, __LINE__);
    assert_string_equal(last_event(1, n).pool, "Tracy::FromNull");
    assert_null(mt_realloc(n, 0, NULL, F, __LINE__)); /* frees */
    last_event(0, n);

    /* an aligned block the backend cannot move stays, still announced */
    void *al = mt_aligned_alloc(512, 100, "Tracy::AlignedKeep", F, __LINE__);
    const char *pool = last_event(1, al).pool;
    atomic_store(&fail_malloc, 1);
    assert_null(mt_realloc(al, 5000, NULL, F, __LINE__));
    atomic_store(&fail_malloc, 0);
    assert_true(tr_is_live(al, NULL));
    mt_free(al);
    last_event(0, al);
    assert_int_equal(tr_live_blocks(pool, NULL), 0);
    c = tr_counts_get();
    assert_int_equal(c.allocs, 2);
    assert_int_equal(c.frees, 2);
    assert_no_errors();
}

/* A thread-exit destructor that runs after memtally's own counts through
 * the shared orphan record: its blocks are announced and withdrawn too. */
static pthread_key_t late_key;
static void late_destructor(void *arg) {
    void *p = mt_alloc(70, "Tracy::Late", F, __LINE__);
    p = mt_realloc(p, 700, NULL, F, __LINE__);
    mt_free(p);
    mt_free(arg);
}
static void *late_thread(void *arg) {
    (void)arg;
    pthread_setspecific(late_key, mt_alloc(10, "Tracy::Late", F, __LINE__));
    return NULL;
}

static void blocks_of_exit_destructors(void **state) {
    (void)state;
    assert_int_equal(pthread_key_create(&late_key, late_destructor), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, late_thread, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    pthread_key_delete(late_key);
    tr_counts c = tr_counts_get();
    assert_int_equal(c.allocs, 3); /* the key's block, the destructor's, its realloc */
    assert_int_equal(c.frees, 3);
    assert_no_errors();
}

static int hook_allocs, hook_frees;
static void on_alloc(void *p, size_t n, const char *cat, void *user) {
    (void)p, (void)n, (void)cat, (void)user;
    hook_allocs++;
    mt_free(mt_alloc(8, "Tracy::FromHook", F, __LINE__)); /* not hooked again; still in Tracy */
}
static void on_free(void *p, size_t n, const char *cat, void *user) {
    (void)p, (void)n, (void)cat, (void)user;
    hook_frees++;
}

static void hooks_alongside(void **state) {
    (void)state;
    mt_hooks h = {on_alloc, on_free, NULL};
    mt_set_hooks(&h);
    void *p = mt_alloc(40, "Tracy::Hooked", F, __LINE__);
    mt_free(p);
    mt_set_hooks(NULL);
    assert_int_equal(hook_allocs, 1);
    assert_int_equal(hook_frees, 1);
    tr_counts c = tr_counts_get();
    assert_int_equal(c.allocs, 2); /* the block and the hook's own */
    assert_int_equal(c.frees, 2);

    /* no hooks: a Tracy build still announces every block */
    void *q = mt_alloc(41, "Tracy::Hooked", F, __LINE__);
    last_event(1, q);
    mt_free(q);
    last_event(0, q);
    assert_no_errors();
}

/* ---- threads: blocks freed by another thread than their allocator ------- */

#define THREADS 4
#define OPS 20000
#define SLOTS 64
static _Atomic(void *) slots[SLOTS];
static const char *const cats[] = {"Tracy::T::A", "Tracy::T::B", "Tracy::T::C"};

static void *worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    for (int i = 0; i < OPS; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t size = 8 + (seed >> 16) % 2000;
        void *p = (seed & 1) ? mt_alloc(size, cats[(seed >> 8) % 3], F, __LINE__)
                             : mt_realloc(NULL, size, cats[(seed >> 8) % 3], F, __LINE__);
        void *old = atomic_exchange(&slots[(seed >> 4) % SLOTS], p);
        if (old && (seed & 6) == 6) old = mt_realloc(old, size / 2 + 1, NULL, F, __LINE__);
        mt_free(old);
    }
    return NULL;
}

static void threads_hand_blocks_across(void **state) {
    (void)state;
    mt_stats before = mt_global_stats();
    pthread_t th[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++) assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)i), 0);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    tr_counts mid = tr_counts_get();
    mt_stats after = mt_global_stats();
    /* every block memtally counted, Tracy saw: live ones are in the slots */
    assert_int_equal(mid.allocs - mid.frees, after.alloc_count - after.free_count - (before.alloc_count - before.free_count));
    uint64_t live = 0;
    for (size_t i = 0; i < sizeof cats / sizeof *cats; i++) {
        /* the pool pointer of a category: the one its blocks were announced with */
        for (int s = 0; s < SLOTS; s++) {
            const char *pool;
            void *p = atomic_load(&slots[s]);
            if (p && tr_is_live(p, &pool) && strcmp(pool, cats[i]) == 0) {
                uint64_t b;
                uint64_t n = tr_live_blocks(pool, &b);
                mt_stats cs;
                assert_int_equal(mt_category_stats(cats[i], 0, &cs), 0);
                assert_int_equal(n, cs.alloc_count - cs.free_count);
                assert_int_equal(b, cs.current);
                live += n;
                break;
            }
        }
    }
    int held = 0;
    for (int s = 0; s < SLOTS; s++) {
        void *p = atomic_exchange(&slots[s], NULL);
        if (p) held++;
        mt_free(p);
    }
    assert_int_equal(live, held);
    tr_counts c = tr_counts_get();
    assert_int_equal(c.allocs, c.frees);
    assert_true(c.allocs >= THREADS * OPS);
    assert_no_errors();
}

/* ---- fork: the child stays out of Tracy ------------------------------ */

static atomic_int spin_stop;
static void *spinner(void *arg) {
    (void)arg;
    while (!atomic_load(&spin_stop)) mt_free(mt_alloc(32, "Tracy::Spin", F, __LINE__));
    return NULL;
}

/* Another thread keeps Tracy (here the recorder's lock) busy while the
 * main thread forks: each child allocates and frees and must neither
 * wait on a lock held by a thread it does not have nor send an event
 * (no Tracy profiler thread came along). */
static void forked_child_stays_out(void **state) {
    (void)state;
    atomic_store(&spin_stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, spinner, NULL), 0);
    int hung = 0, sent = 0;
    for (int i = 0; i < 50; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(10); /* a child that waits forever dies of SIGALRM */
            in_child = 1;
            tr_counts before = tr_counts_peek();
            void *p = mt_alloc(64, "Tracy::Child", F, __LINE__);
            p = mt_realloc(p, 128, NULL, F, __LINE__);
            mt_free(p);
            tr_counts after = tr_counts_peek();
            _exit(after.allocs == before.allocs && after.frees == before.frees ? 0 : 3);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (WIFSIGNALED(st)) hung++;
        else if (WEXITSTATUS(st) != 0) sent++;
    }
    atomic_store(&spin_stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(hung, 0);
    assert_int_equal(sent, 0);
    assert_no_errors();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(pools_are_categories, setup),
        cmocka_unit_test_setup(every_entry_point, setup),
        cmocka_unit_test_setup(realloc_moves_between_pools, setup),
        cmocka_unit_test_setup(realloc_failure_keeps_the_block, setup),
        cmocka_unit_test_setup(hooks_alongside, setup),
        cmocka_unit_test_setup(only_tracked_blocks, setup),
        cmocka_unit_test_setup(blocks_of_exit_destructors, setup),
        cmocka_unit_test_setup(threads_hand_blocks_across, setup),
        cmocka_unit_test_setup(forked_child_stays_out, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
