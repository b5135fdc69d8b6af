/*
 * test_hooks_log.c - mt_set_hooks (every tracked allocation and free, no
 * re-entry), mt_set_log (levels, messages, the stderr default) and the
 * MEMTALLY_LARGE option (set to 4K before the first memtally call).
 */
#include "test_util.h"
#include "../src/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define F __FILE__
#define LARGE 4096

typedef struct event {
    int kind; /* 'a' or 'f' */
    void *ptr;
    size_t size;
    char category[128];
    void *user;
    uint64_t cat_allocs_seen; /* the category's alloc_count inside the hook */
} event;

static event g_ev[256];
static int g_nev;
static int g_user_tag;

static void record(int kind, void *ptr, size_t size, const char *category, void *user) {
    if (g_nev >= 256) return;
    event *e = &g_ev[g_nev++];
    e->kind = kind;
    e->ptr = ptr;
    e->size = size;
    snprintf(e->category, sizeof e->category, "%s", category ? category : "(null)");
    e->user = user;
    mt_stats s;
    e->cat_allocs_seen = category && mt_category_stats(category, 0, &s) == 0 ? s.alloc_count : 0;
}

static void on_alloc(void *ptr, size_t size, const char *category, void *user) {
    record('a', ptr, size, category, user);
}

static void on_free(void *ptr, size_t size, const char *category, void *user) {
    record('f', ptr, size, category, user);
}

static void expect_event(int i, int kind, void *ptr, size_t size, const char *category) {
    assert_true(i < g_nev);
    assert_int_equal(g_ev[i].kind, kind);
    assert_ptr_equal(g_ev[i].ptr, ptr);
    assert_int_equal(g_ev[i].size, size);
    assert_string_equal(g_ev[i].category, category);
    assert_ptr_equal(g_ev[i].user, &g_user_tag);
}

static void hooks_see_everything(void **state) {
    (void)state;
    mt_hooks h = {on_alloc, on_free, &g_user_tag};
    g_nev = 0;
    mt_set_hooks(&h);
    h.on_alloc = NULL; /* the struct was copied */
    h.user = NULL;

    void *a = mt_alloc(123, "Hook::A", F, __LINE__);
    expect_event(0, 'a', a, 123, "Hook::A");
    /* called after the statistics changed */
    assert_int_equal(g_ev[0].cat_allocs_seen, tu_cat_self("Hook::A").alloc_count);
    void *c = mt_calloc(3, 10, "Hook::C", F, __LINE__);
    expect_event(1, 'a', c, 30, "Hook::C");
    char *s = mt_strdup("hook", "Hook::S", F, __LINE__);
    expect_event(2, 'a', s, 5, "Hook::S");
    void *al = mt_aligned_alloc(256, 70, "Hook::Al", F, __LINE__);
    expect_event(3, 'a', al, 70, "Hook::Al");
    void *n = mt_alloc(9, NULL, F, __LINE__);
    expect_event(4, 'a', n, 9, "Uncategorized");
    mt_scope_push("Hook::Scoped");
    void *sc = mt_alloc(10, NULL, F, __LINE__);
    mt_scope_pop();
    expect_event(5, 'a', sc, 10, "Hook::Scoped");
    assert_int_equal(g_nev, 6);

    /* realloc: the old block's free, then the new block */
    void *r = mt_realloc(a, 1000, NULL, F, __LINE__);
    assert_int_equal(g_nev, 8);
    expect_event(6, 'f', a, 123, "Hook::A");
    expect_event(7, 'a', r, 1000, "Hook::A");
    void *r0 = mt_realloc(NULL, 12, "Hook::R", F, __LINE__);
    expect_event(8, 'a', r0, 12, "Hook::R");
    assert_null(mt_realloc(r0, 0, NULL, F, __LINE__));
    expect_event(9, 'f', r0, 12, "Hook::R");
    assert_int_equal(g_nev, 10);

    mt_free(r);
    expect_event(10, 'f', r, 1000, "Hook::A");
    mt_free(c);
    expect_event(11, 'f', c, 30, "Hook::C");
    mt_free(s);
    expect_event(12, 'f', s, 5, "Hook::S");
    mt_free(al);
    expect_event(13, 'f', al, 70, "Hook::Al");
    mt_free(n);
    mt_free(sc);
    expect_event(15, 'f', sc, 10, "Hook::Scoped");

    /* failures, bad frees, NULL and raw memory are not tracked events */
    tu_log_begin();
    char stack[64] = {0};
    assert_null(mt_alloc(SIZE_MAX, "Hook::A", F, __LINE__));
    assert_null(mt_calloc(SIZE_MAX, 4, "Hook::A", F, __LINE__));
    assert_null(mt_aligned_alloc(3, 4, "Hook::A", F, __LINE__));
    mt_free(NULL);
    mt_free(stack + 16);
    void *raw = mt_raw_alloc(10);
    mt_raw_free(raw);
    tu_log_end();
    assert_int_equal(g_nev, 16);

    /* NULL removes the hooks */
    mt_set_hooks(NULL);
    void *x = mt_alloc(1, "Hook::A", F, __LINE__);
    mt_free(x);
    assert_int_equal(g_nev, 16);
}

static void hooks_with_only_one_function(void **state) {
    (void)state;
    mt_hooks h = {NULL, on_free, &g_user_tag};
    g_nev = 0;
    mt_set_hooks(&h);
    void *p = mt_alloc(7, "Hook::OnlyFree", F, __LINE__);
    assert_int_equal(g_nev, 0);
    mt_free(p);
    assert_int_equal(g_nev, 1);
    expect_event(0, 'f', p, 7, "Hook::OnlyFree");
    mt_set_hooks(NULL);
}

/* a hook that allocates and frees through memtally */
static int g_depth, g_max_depth, g_outer_calls, g_inner_free_calls;
static void nested_alloc(void *ptr, size_t size, const char *category, void *user) {
    (void)ptr;
    (void)size;
    (void)user;
    g_depth++;
    if (g_depth > g_max_depth) g_max_depth = g_depth;
    g_outer_calls++;
    if (strcmp(category, "Hook::Inner") == 0) fail_msg("hook re-entered for its own allocation");
    void *q = mt_alloc(8, "Hook::Inner", F, __LINE__);
    char *d = mt_strdup("inner", "Hook::Inner", F, __LINE__);
    mt_free(q);
    mt_free(d);
    g_depth--;
}
static void nested_free(void *ptr, size_t size, const char *category, void *user) {
    (void)ptr;
    (void)size;
    (void)user;
    if (strcmp(category, "Hook::Inner") == 0) g_inner_free_calls++;
    void *q = mt_alloc(16, "Hook::Inner", F, __LINE__);
    mt_free(q);
}

static void hook_does_not_recurse(void **state) {
    (void)state;
    mt_hooks h = {nested_alloc, nested_free, NULL};
    g_depth = g_max_depth = g_outer_calls = g_inner_free_calls = 0;
    mt_set_hooks(&h);
    void *p[5];
    for (int i = 0; i < 5; i++) p[i] = mt_alloc(100, "Hook::Outer", F, __LINE__);
    for (int i = 0; i < 5; i++) mt_free(p[i]);
    mt_set_hooks(NULL);
    assert_int_equal(g_outer_calls, 5);
    assert_int_equal(g_max_depth, 1);
    assert_int_equal(g_inner_free_calls, 0);
    /* what the hooks allocated is tracked like anything else */
    tu_assert_stats(tu_cat_self("Hook::Outer"), 500, 500, 5, 5);
    tu_assert_stats(tu_cat_self("Hook::Inner"), 5 * (8 + 6) + 5 * 16, 5 * (8 + 6) + 5 * 16, 15, 15);
}

/* ---- logging ---------------------------------------------------------- */

static int g_log_calls;
static mt_log_level g_log_level;
static char g_log_msg[1024];
static void *g_log_user;
static void my_log(mt_log_level level, const char *message, void *user) {
    g_log_calls++;
    g_log_level = level;
    snprintf(g_log_msg, sizeof g_log_msg, "%s", message);
    g_log_user = user;
}

static void bad_free(void *arg) { mt_free(arg); }

static void log_levels_and_messages(void **state) {
    (void)state;
    int tag = 0;
    g_log_calls = 0;
    mt_set_log(my_log, &tag);

    /* error: a bad free */
    _Alignas(16) char stack[64] = {0};
    char text[32];
    tu_ptr_text(stack + 16, text);
    mt_free(stack + 16);
    assert_int_equal(g_log_calls, 1);
    assert_int_equal(g_log_level, MT_LOG_ERROR);
    assert_ptr_equal(g_log_user, &tag);
    assert_non_null(strstr(g_log_msg, text));
    size_t len = strlen(g_log_msg);
    assert_true(len > 0 && g_log_msg[len - 1] != '\n');

    /* warning: a category name cut at 255 bytes */
    char name[400];
    memset(name, 'w', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    void *p = mt_alloc(1, name, F, __LINE__);
    assert_int_equal(g_log_calls, 2);
    assert_int_equal(g_log_level, MT_LOG_WARN);
    len = strlen(g_log_msg);
    assert_true(len > 0 && g_log_msg[len - 1] != '\n');
    mt_free(p);

    /* error: popping an empty scope stack */
    mt_scope_pop();
    assert_int_equal(g_log_calls, 3);
    assert_int_equal(g_log_level, MT_LOG_ERROR);

    /* a good allocation below the threshold logs nothing */
    p = mt_alloc(LARGE - 1, "Log::Quiet", F, __LINE__);
    mt_free(p);
    assert_int_equal(g_log_calls, 3);

    /* NULL restores the default: stderr, "memtally: " lines */
    mt_set_log(NULL, NULL);
    char *err = tu_capture_stderr(bad_free, stack + 32);
    assert_int_equal(g_log_calls, 3);
    tu_ptr_text(stack + 32, text);
    assert_non_null(strstr(err, "memtally: "));
    assert_non_null(strstr(err, text));
    assert_int_equal(tu_count_substr(err, "\n"), 1);
    assert_true(err[strlen(err) - 1] == '\n');
    free(err);
}

static void log_callback_replaced(void **state) {
    (void)state;
    g_log_calls = 0;
    mt_set_log(my_log, NULL);
    tu_log_begin(); /* replaces my_log */
    _Alignas(16) char stack[64] = {0};
    mt_free(stack + 16);
    assert_int_equal(g_log_calls, 0);
    assert_int_equal(tu_log_count(MT_LOG_ERROR), 1);
    tu_log_end();
    char *err = tu_capture_stderr(bad_free, stack + 16);
    assert_int_equal(tu_log_count(-1), 1);
    assert_non_null(strstr(err, "memtally: "));
    free(err);
}

/* ---- MEMTALLY_LARGE=4K ------------------------------------------------- */

static void large_allocations_logged(void **state) {
    (void)state;
    const char *base = strrchr(F, '/') ? strrchr(F, '/') + 1 : F;
    char site[128];
    tu_log_begin();

    void *small = mt_alloc(LARGE - 1, "Large::Small", F, __LINE__);
    assert_int_equal(tu_log_count(-1), 0);

    const int l1 = __LINE__; void *at = mt_alloc(LARGE, "Large::At", F, l1);
    assert_int_equal(tu_log_count(-1), 1);
    snprintf(site, sizeof site, "%s:%d", base, l1);
    assert_non_null(tu_log_find(-1, site));

    const int l2 = __LINE__; void *big = MT_ALLOC(1 << 20, "Large::Big");
    assert_int_equal(tu_log_count(-1), 2);
    snprintf(site, sizeof site, "%s:%d", base, l2);
    assert_non_null(tu_log_find(-1, site));

    const int l3 = __LINE__; void *cz = mt_calloc(2, LARGE / 2, "Large::Calloc", F, l3);
    assert_int_equal(tu_log_count(-1), 3);
    snprintf(site, sizeof site, "%s:%d", base, l3);
    assert_non_null(tu_log_find(-1, site));

    const int l4 = __LINE__; void *grown = mt_realloc(small, 2 * LARGE, NULL, F, l4);
    assert_int_equal(tu_log_count(-1), 4);
    snprintf(site, sizeof site, "%s:%d", base, l4);
    assert_non_null(tu_log_find(-1, site));

    const int l5 = __LINE__; void *al = mt_aligned_alloc(4096, LARGE, "Large::Aligned", F, l5);
    assert_int_equal(tu_log_count(-1), 5);
    snprintf(site, sizeof site, "%s:%d", base, l5);
    assert_non_null(tu_log_find(-1, site));

    /* unknown site: still logged, without crashing */
    void *anon = mt_alloc(LARGE * 3, "Large::Anon", NULL, 0);
    assert_int_equal(tu_log_count(-1), 6);

    /* frees and small blocks are not logged; nor are failures */
    mt_free(at);
    mt_free(big);
    mt_free(cz);
    mt_free(grown);
    mt_free(al);
    mt_free(anon);
    void *tiny = mt_alloc(16, "Large::Small", F, __LINE__);
    mt_free(tiny);
    assert_int_equal(tu_log_count(-1), 6);
    assert_int_equal(tu_log_count(MT_LOG_ERROR), 0);
    tu_log_end();
}

/* ---- hooks fed to a profiler: an address is never live twice ---------- */

/* What a profiler fed by the hooks holds: the live addresses, under a lock,
 * with every event it would reject counted (an address announced while
 * live, a free of an address it does not hold). */
#define LIVE_SLOTS 65536u
static pthread_mutex_t g_live_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_live[LIVE_SLOTS];
static size_t g_live_count;
static uint64_t g_live_errors, g_live_events;

static size_t live_slot(const void *p) { return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 48); }

static void **live_find(const void *p) {
    for (size_t i = live_slot(p);; i = (i + 1) % LIVE_SLOTS)
        if (g_live[i] == p || !g_live[i]) return &g_live[i];
}

static void live_erase(void **e) {
    /* backward-shift deletion keeps every probe run unbroken */
    size_t i = (size_t)(e - g_live);
    for (size_t j = (i + 1) % LIVE_SLOTS; g_live[j]; j = (j + 1) % LIVE_SLOTS) {
        size_t home = live_slot(g_live[j]);
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            g_live[i] = g_live[j];
            i = j;
        }
    }
    g_live[i] = NULL;
}

static bool live_has(const void *p) {
    pthread_mutex_lock(&g_live_lock);
    bool has = *live_find(p) != NULL;
    pthread_mutex_unlock(&g_live_lock);
    return has;
}

static void live_alloc(void *ptr, size_t size, const char *category, void *user) {
    (void)size, (void)category, (void)user;
    pthread_mutex_lock(&g_live_lock);
    void **e = live_find(ptr);
    if (*e) g_live_errors++;
    else if (g_live_count < LIVE_SLOTS / 2) {
        *e = ptr;
        g_live_count++;
    }
    g_live_events++;
    pthread_mutex_unlock(&g_live_lock);
}

static void live_free(void *ptr, size_t size, const char *category, void *user) {
    (void)size, (void)category, (void)user;
    pthread_mutex_lock(&g_live_lock);
    void **e = live_find(ptr);
    if (!*e) g_live_errors++;
    else {
        live_erase(e);
        g_live_count--;
    }
    g_live_events++;
    pthread_mutex_unlock(&g_live_lock);
}

static void live_reset(void) {
    pthread_mutex_lock(&g_live_lock);
    memset(g_live, 0, sizeof g_live);
    g_live_count = 0;
    g_live_errors = g_live_events = 0;
    pthread_mutex_unlock(&g_live_lock);
}

/* A backend that fails the check if it gets back memory whose block the
 * hooks still hold (a plain block's user pointer is 16 bytes in). */
static atomic_int g_fail_realloc;
static atomic_ulong g_backend_errors;
static void *be_malloc(size_t n) { return malloc(n); }
static void *be_calloc(size_t c, size_t n) { return calloc(c, n); }
static void *be_realloc(void *p, size_t n) {
    if (live_has((char *)p + 16)) atomic_fetch_add(&g_backend_errors, 1);
    if (atomic_load(&g_fail_realloc)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}
static void be_free(void *p) {
    if (live_has((char *)p + 16)) atomic_fetch_add(&g_backend_errors, 1);
    free(p);
}
static const mt__backend g_checking = {be_malloc, be_calloc, be_realloc, be_free};

/* The hooks feed the live set and the backend checks against it. */
static void checking_start(void) {
    live_reset();
    atomic_store(&g_backend_errors, 0);
    mt__backend_set(&g_checking);
    mt_hooks h = {live_alloc, live_free, NULL};
    mt_set_hooks(&h);
}

/* on_free of a block comes before the allocator has it back; a realloc
 * the allocator cannot serve announces the old block again. */
static void hooks_free_before_the_allocator(void **state) {
    (void)state;
    checking_start();

    char *p = mt_alloc(100, "Hook::Order", F, __LINE__);
    assert_non_null(p);
    memset(p, 7, 100);
    for (size_t n = 200; n < LARGE; n *= 2) { /* grows in place and moves */
        p = mt_realloc(p, n, NULL, F, __LINE__);
        assert_non_null(p);
        assert_true(live_has(p));
    }
    assert_int_equal(p[99], 7);

    atomic_store(&g_fail_realloc, 1);
    errno = 0;
    assert_null(mt_realloc(p, 1 << 20, NULL, F, __LINE__));
    assert_int_equal(errno, ENOMEM);
    atomic_store(&g_fail_realloc, 0);
    assert_true(live_has(p)); /* announced again: the caller still owns it */
    assert_int_equal(mt_block_size(p), 3200);
    mt_free(p);
    assert_false(live_has(p));

    mt_set_hooks(NULL);
    mt__backend_set(NULL);
    assert_int_equal(atomic_load(&g_backend_errors), 0);
    assert_int_equal(g_live_errors, 0);
    assert_int_equal(g_live_count, 0);
    /* alloc, 5 reallocs (free + alloc), the failed one (free + alloc), free */
    assert_int_equal(g_live_events, 1 + 2 * 5 + 2 + 1);
}

#define HOOK_THREADS 4
#define HOOK_OPS     40000
#define HOOK_BLOCKS  64

static void *hook_worker(void *arg) {
    uint64_t x = 0x9E3779B97F4A7C15ull * (uintptr_t)arg + 1;
    void *blocks[HOOK_BLOCKS] = {0};
    for (int i = 0; i < HOOK_OPS; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        void **b = &blocks[x % HOOK_BLOCKS];
        size_t size = 16 + (size_t)(x >> 40) % 3000;
        switch ((x >> 20) % 3) {
        case 0:
            mt_free(*b);
            *b = mt_alloc(size, "Hook::Threads", F, __LINE__);
            break;
        case 1:
            *b = mt_realloc(*b, size, "Hook::Threads", F, __LINE__);
            break;
        default:
            mt_free(*b);
            *b = NULL;
        }
    }
    for (int i = 0; i < HOOK_BLOCKS; i++) mt_free(blocks[i]);
    return NULL;
}

/* Threads allocating, reallocating and freeing while the hooks feed one
 * profiler: it never sees an address announced twice or freed unknown,
 * which it would if a hook ran after another thread got the address. */
static void hooks_from_threads(void **state) {
    (void)state;
    checking_start();
    mt_stats before;
    if (mt_category_stats("Hook::Threads", 0, &before) != 0) memset(&before, 0, sizeof before);

    pthread_t th[HOOK_THREADS];
    for (uintptr_t i = 0; i < HOOK_THREADS; i++) assert_int_equal(pthread_create(&th[i], NULL, hook_worker, (void *)(i + 1)), 0);
    for (int i = 0; i < HOOK_THREADS; i++) pthread_join(th[i], NULL);

    mt_set_hooks(NULL);
    mt__backend_set(NULL);
    mt_stats after = tu_cat_self("Hook::Threads");
    assert_int_equal(atomic_load(&g_backend_errors), 0);
    assert_int_equal(g_live_errors, 0);
    assert_int_equal(g_live_count, 0);
    assert_int_equal(after.current, 0);
    /* every allocation and free the statistics counted, the hooks saw */
    assert_int_equal(g_live_events, (after.alloc_count - before.alloc_count) + (after.free_count - before.free_count));
}

/* ---- calling memtally from a hook or a log callback, anywhere ---------- */

/* Runs fn in a child process that gets 10 seconds; returns its exit status
 * (128 + the signal that killed it, SIGALRM when it hung). */
static int in_child(int (*fn)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        _exit(fn());
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int g_late_hook_calls;
static pthread_key_t g_late_key;

static void late_hook_alloc(void *ptr, size_t size, const char *category, void *user) {
    (void)ptr, (void)size, (void)category, (void)user;
    g_late_hook_calls++;
    mt_free(mt_alloc(4, "Hook::Late::Inner", F, __LINE__)); /* allowed: the hook is not re-entered */
}

/* A thread-specific destructor that runs after memtally's own (its key was
 * created later) allocates: memtally counts it on a shared record. */
static void late_destructor(void *value) {
    (void)value;
    mt_free(mt_alloc(32, "Hook::Late::Destructor", F, __LINE__));
}

static void *late_thread(void *arg) {
    (void)arg;
    pthread_setspecific(g_late_key, &g_late_key);
    mt_free(mt_alloc(8, "Hook::Late::Thread", F, __LINE__));
    return NULL;
}

static int late_child(void) {
    if (mt_init() != 0 || pthread_key_create(&g_late_key, late_destructor) != 0) return 3;
    mt_hooks h = {late_hook_alloc, NULL, NULL};
    mt_set_hooks(&h);
    pthread_t t;
    if (pthread_create(&t, NULL, late_thread, NULL) != 0) return 3;
    pthread_join(t, NULL);
    mt_set_hooks(NULL);
    mt_stats s;
    if (mt_category_stats("Hook::Late::Destructor", 0, &s) != 0 || s.alloc_count != 1 || s.free_count != 1) return 4;
    return g_late_hook_calls == 2 ? 0 : 5;
}

/* A hook that allocates must not hang a thread past its exit destructor. */
static void hook_allocating_after_thread_exit(void **state) {
    (void)state;
    assert_int_equal(in_child(late_child), 0);
}

/* A log callback that keeps its own copy of each message through memtally. */
static int g_init_log_msgs;
static void copying_log(mt_log_level level, const char *message, void *user) {
    (void)level, (void)user;
    char *copy = mt_strdup(message, "Log::Copies", F, __LINE__);
    if (copy && strstr(copy, "MEMTALLY_LARGE")) g_init_log_msgs++;
    mt_free(copy);
}

/* Run by init_warning_child below: the log callback is set before any
 * other memtally call, then mt_init warns about MEMTALLY_LARGE=lots. */
static int init_log_child_main(void) {
    alarm(10);
    mt_set_log(copying_log, NULL);
    void *p = mt_alloc(10, "Log::First", F, __LINE__);
    mt_free(p);
    printf("init warnings seen by the callback: %d\n", g_init_log_msgs);
    return p && g_init_log_msgs == 1 ? 0 : 6;
}

/* A log callback may use memtally even for the warnings mt_init gives. */
static void log_callback_during_init(void **state) {
    (void)state;
    const char *argv[] = {"/proc/self/exe", "--init-log-child", NULL};
    const char *env[] = {"MEMTALLY_LARGE=lots", NULL};
    tu_child c;
    assert_int_equal(tu_run(argv, env, &c), 0);
    if (c.status != 0) fail_msg("child exited with %d (142 = hung); stdout: %s stderr: %s", c.status, c.out, c.err);
    tu_child_free(&c);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--init-log-child") == 0) return init_log_child_main();
    /* before any memtally call, so that mt_init reads it */
    setenv("MEMTALLY_LARGE", "4K", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(large_allocations_logged),
        cmocka_unit_test(hooks_see_everything),
        cmocka_unit_test(hooks_with_only_one_function),
        cmocka_unit_test(hook_does_not_recurse),
        cmocka_unit_test(hooks_free_before_the_allocator),
        cmocka_unit_test(hooks_from_threads),
        cmocka_unit_test(log_levels_and_messages),
        cmocka_unit_test(log_callback_replaced),
        cmocka_unit_test(hook_allocating_after_thread_exit),
        cmocka_unit_test(log_callback_during_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
