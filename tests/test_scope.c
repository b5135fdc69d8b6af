/*
 * test_scope.c - scoped categories: mt_scope_push/pop and MT_SCOPE, nesting,
 * explicit categories, per-thread independence and popping an empty stack.
 */
#include "test_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define F __FILE__

static void push_pop_nesting(void **state) {
    (void)state;
    void *p[8];
    mt_scope_push("Scope::Outer");
    p[0] = mt_alloc(10, NULL, F, __LINE__);
    mt_scope_push("Scope::Outer::Inner");
    p[1] = mt_alloc(20, NULL, F, __LINE__);
    p[2] = mt_calloc(3, 10, NULL, F, __LINE__);
    p[3] = mt_strdup("abc", NULL, F, __LINE__);
    p[4] = mt_aligned_alloc(64, 40, NULL, F, __LINE__);
    p[5] = mt_realloc(NULL, 50, NULL, F, __LINE__);
    mt_scope_pop();
    p[6] = mt_alloc(60, NULL, F, __LINE__);
    mt_scope_pop();
    mt_stats u0 = {0};
    if (mt_category_stats("Uncategorized", 0, &u0) != 0) memset(&u0, 0, sizeof u0);
    p[7] = mt_alloc(70, NULL, F, __LINE__);
    for (int i = 0; i < 8; i++) assert_non_null(p[i]);

    tu_assert_stats(tu_cat_self("Scope::Outer"), 70, 0, 2, 0);
    tu_assert_stats(tu_cat_self("Scope::Outer::Inner"), 20 + 30 + 4 + 40 + 50, 0, 5, 0);
    tu_assert_delta(u0, tu_cat_self("Uncategorized"), 70, 0, 1, 0);
    for (int i = 0; i < 8; i++) mt_free(p[i]);
    tu_assert_stats(tu_cat_total("Scope"), 70 + 144, 70 + 144, 7, 7);
}

static void macro_scope(void **state) {
    (void)state;
    void *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    int runs = 0;
    MT_SCOPE("Scope::Macro") {
        runs++;
        a = MT_ALLOC(11, NULL);
        MT_SCOPE("Scope::Macro::Nested") {
            b = MT_ALLOC(22, NULL);
            c = MT_NEW_ARRAY(char, 33, NULL);
        }
        d = MT_STRDUP("back in the outer scope", NULL);
    }
    assert_int_equal(runs, 1);
    mt_stats u0 = {0};
    if (mt_category_stats("Uncategorized", 0, &u0) != 0) memset(&u0, 0, sizeof u0);
    void *e = MT_ALLOC(44, NULL);
    tu_assert_stats(tu_cat_self("Scope::Macro"), 11 + 24, 0, 2, 0);
    tu_assert_stats(tu_cat_self("Scope::Macro::Nested"), 55, 0, 2, 0);
    tu_assert_delta(u0, tu_cat_self("Uncategorized"), 44, 0, 1, 0);
    MT_FREE(a);
    MT_FREE(b);
    MT_FREE(c);
    MT_FREE(d);
    MT_FREE(e);
}

static void explicit_category_wins(void **state) {
    (void)state;
    mt_scope_push("Scope::Ignored");
    void *a = mt_alloc(5, "Scope::Explicit", F, __LINE__);
    void *b = mt_calloc(2, 3, "Scope::Explicit", F, __LINE__);
    void *c = mt_strdup("x", "Scope::Explicit", F, __LINE__);
    void *d = mt_aligned_alloc(32, 9, "Scope::Explicit", F, __LINE__);
    mt_scope_pop();
    tu_assert_stats(tu_cat_self("Scope::Explicit"), 5 + 6 + 2 + 9, 0, 4, 0);
    mt_stats s;
    /* the scope was named, so it exists, but nothing went to it */
    assert_int_equal(mt_category_stats("Scope::Ignored", 0, &s), 0);
    tu_assert_stats(s, 0, 0, 0, 0);
    mt_free(a);
    mt_free(b);
    mt_free(c);
    mt_free(d);
}

static void push_null_is_uncategorized(void **state) {
    (void)state;
    mt_scope_push("Scope::Around");
    mt_scope_push(NULL);
    mt_stats u0 = {0};
    if (mt_category_stats("Uncategorized", 0, &u0) != 0) memset(&u0, 0, sizeof u0);
    void *a = mt_alloc(8, NULL, F, __LINE__);
    mt_scope_pop();
    mt_scope_push("");
    void *b = mt_alloc(8, NULL, F, __LINE__);
    mt_scope_pop();
    void *c = mt_alloc(8, NULL, F, __LINE__);
    mt_scope_pop();
    tu_assert_delta(u0, tu_cat_self("Uncategorized"), 16, 0, 2, 0);
    tu_assert_stats(tu_cat_self("Scope::Around"), 8, 0, 1, 0);
    mt_free(a);
    mt_free(b);
    mt_free(c);
}

static void scope_name_copied(void **state) {
    (void)state;
    char buf[32];
    strcpy(buf, "Scope::Temp");
    mt_scope_push(buf);
    strcpy(buf, "Scope::Clobbered");
    void *a = mt_alloc(12, NULL, F, __LINE__);
    mt_scope_pop();
    tu_assert_stats(tu_cat_self("Scope::Temp"), 12, 0, 1, 0);
    mt_stats s;
    assert_int_equal(mt_category_stats("Scope::Clobbered", 0, &s), -1);
    mt_free(a);
}

static void deep_nesting(void **state) {
    (void)state;
    char name[32];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "Scope::Deep::L%02d", i);
        mt_scope_push(name);
    }
    void *a = mt_alloc(1, NULL, F, __LINE__);
    for (int i = 0; i < 20; i++) mt_scope_pop();
    void *b = mt_alloc(2, NULL, F, __LINE__);
    for (int i = 0; i < 20; i++) mt_scope_pop();
    tu_assert_stats(tu_cat_self("Scope::Deep::L39"), 1, 0, 1, 0);
    tu_assert_stats(tu_cat_self("Scope::Deep::L19"), 2, 0, 1, 0);
    tu_log_begin();
    mt_stats u0 = {0};
    if (mt_category_stats("Uncategorized", 0, &u0) != 0) memset(&u0, 0, sizeof u0);
    void *c = mt_alloc(3, NULL, F, __LINE__);
    tu_assert_delta(u0, tu_cat_self("Uncategorized"), 3, 0, 1, 0);
    assert_int_equal(tu_log_count(-1), 0); /* balanced: no complaint */
    tu_log_end();
    mt_free(a);
    mt_free(b);
    mt_free(c);
}

static void pop_empty_logs_error(void **state) {
    (void)state;
    tu_log_begin();
    mt_stats g0 = mt_global_stats();
    mt_scope_pop();
    assert_int_equal(tu_log_count(MT_LOG_ERROR), 1);
    assert_int_equal(tu_log_count(-1), 1);
    tu_assert_stats_equal(g0, mt_global_stats());
    /* the stack still works afterwards */
    mt_scope_push("Scope::AfterEmptyPop");
    void *a = mt_alloc(4, NULL, F, __LINE__);
    mt_scope_pop();
    assert_int_equal(tu_log_count(-1), 1);
    mt_scope_pop();
    assert_int_equal(tu_log_count(MT_LOG_ERROR), 2);
    tu_log_end();
    tu_assert_stats(tu_cat_self("Scope::AfterEmptyPop"), 4, 0, 1, 0);
    mt_free(a);
}

/* ---- threads ---------------------------------------------------------- */

static pthread_barrier_t g_bar;
static void *g_thread_block;

static void *other_thread(void *arg) {
    (void)arg;
    /* main has pushed "Scope::Main": that is not this thread's scope */
    pthread_barrier_wait(&g_bar);
    g_thread_block = mt_alloc(100, NULL, F, __LINE__);
    mt_scope_push("Scope::Thread");
    pthread_barrier_wait(&g_bar); /* main allocates now, with our scope pushed */
    pthread_barrier_wait(&g_bar);
    void *p = mt_alloc(200, NULL, F, __LINE__);
    mt_free(p);
    mt_scope_pop();
    return NULL;
}

static void scopes_are_per_thread(void **state) {
    (void)state;
    mt_stats u0 = {0};
    if (mt_category_stats("Uncategorized", 0, &u0) != 0) memset(&u0, 0, sizeof u0);
    pthread_barrier_init(&g_bar, NULL, 2);
    pthread_t t;
    mt_scope_push("Scope::Main");
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_barrier_wait(&g_bar);
    pthread_barrier_wait(&g_bar);
    void *m = mt_alloc(300, NULL, F, __LINE__);
    pthread_barrier_wait(&g_bar);
    pthread_join(t, NULL);
    mt_scope_pop();

    tu_assert_stats(tu_cat_self("Scope::Main"), 300, 0, 1, 0);
    tu_assert_stats(tu_cat_self("Scope::Thread"), 200, 200, 1, 1);
    tu_assert_delta(u0, tu_cat_self("Uncategorized"), 100, 0, 1, 0);
    /* a block freed on another thread than the one that allocated it and
     * outside any scope still counts against its own category */
    mt_free(g_thread_block);
    tu_assert_delta(u0, tu_cat_self("Uncategorized"), 100, 100, 1, 1);
    mt_free(m);
    pthread_barrier_destroy(&g_bar);
}

#define SCOPE_THREADS 4
#define SCOPE_ROUNDS 20000

static void *scope_worker(void *arg) {
    int id = (int)(intptr_t)arg;
    char outer[32], inner[40];
    snprintf(outer, sizeof outer, "Scope::Par::T%d", id);
    snprintf(inner, sizeof inner, "%s::In", outer);
    for (int i = 0; i < SCOPE_ROUNDS; i++) {
        mt_scope_push(outer);
        void *a = mt_alloc(8, NULL, F, __LINE__);
        MT_SCOPE(inner) {
            void *b = mt_alloc(16, NULL, F, __LINE__);
            mt_free(b);
        }
        void *c = mt_alloc(24, NULL, F, __LINE__);
        mt_scope_pop();
        mt_free(a);
        mt_free(c);
    }
    return NULL;
}

static void scopes_concurrent(void **state) {
    (void)state;
    pthread_t t[SCOPE_THREADS];
    for (int i = 0; i < SCOPE_THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, scope_worker, (void *)(intptr_t)i), 0);
    for (int i = 0; i < SCOPE_THREADS; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < SCOPE_THREADS; i++) {
        char outer[32], inner[40];
        snprintf(outer, sizeof outer, "Scope::Par::T%d", i);
        snprintf(inner, sizeof inner, "%s::In", outer);
        tu_assert_stats(tu_cat_self(outer), 32ull * SCOPE_ROUNDS, 32ull * SCOPE_ROUNDS, 2ull * SCOPE_ROUNDS,
                        2ull * SCOPE_ROUNDS);
        tu_assert_stats(tu_cat_self(inner), 16ull * SCOPE_ROUNDS, 16ull * SCOPE_ROUNDS, 1ull * SCOPE_ROUNDS,
                        1ull * SCOPE_ROUNDS);
    }
    tu_assert_stats(tu_cat_total("Scope::Par"), 48ull * SCOPE_ROUNDS * SCOPE_THREADS,
                    48ull * SCOPE_ROUNDS * SCOPE_THREADS, 3ull * SCOPE_ROUNDS * SCOPE_THREADS,
                    3ull * SCOPE_ROUNDS * SCOPE_THREADS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(push_pop_nesting),
        cmocka_unit_test(macro_scope),
        cmocka_unit_test(explicit_category_wins),
        cmocka_unit_test(push_null_is_uncategorized),
        cmocka_unit_test(scope_name_copied),
        cmocka_unit_test(deep_nesting),
        cmocka_unit_test(pop_empty_logs_error),
        cmocka_unit_test(scopes_are_per_thread),
        cmocka_unit_test(scopes_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
