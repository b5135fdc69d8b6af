/*
 * test_auto.c - a translation unit that includes <memtally/auto.h>: its
 * malloc, calloc, realloc, strdup and free are tracked with file:line and
 * the thread's scope, while memory from getline(), asprintf() or another
 * file goes to the system free unchanged and without a complaint.
 */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *plain_malloc(size_t n); /* helpers/auto_plain.c, not an auto.h file */
void plain_free(void *p);

#include <memtally/auto.h>

#define F __FILE__

static mt_stats uncategorized(void) {
    mt_stats s;
    if (mt_category_stats("Uncategorized", 0, &s) != 0) memset(&s, 0, sizeof s);
    return s;
}

static void malloc_family_tracked(void **state) {
    (void)state;
    mt_stats g0 = mt_global_stats();
    mt_stats u0 = uncategorized();
    mt_stats s;

    const int lm = __LINE__; char *m = malloc(100);
    assert_non_null(m);
    assert_int_equal(mt_block_size(m), 100);
    assert_int_equal(tu_site_stats(F, lm, "Uncategorized", &s), 1);
    tu_assert_stats(s, 100, 0, 1, 0);

    const int lc = __LINE__; int *c = calloc(10, sizeof(int));
    assert_non_null(c);
    for (int i = 0; i < 10; i++) assert_int_equal(c[i], 0);
    assert_int_equal(tu_site_stats(F, lc, "Uncategorized", &s), 1);
    tu_assert_stats(s, 10 * sizeof(int), 0, 1, 0);

    memcpy(m, "auto.h!", 8);
    const int lr = __LINE__; char *r = realloc(m, 5000);
    assert_non_null(r);
    assert_string_equal(r, "auto.h!");
    assert_int_equal(tu_site_stats(F, lr, "Uncategorized", &s), 1);
    tu_assert_stats(s, 5000, 0, 1, 0);
    assert_int_equal(tu_site_stats(F, lm, "Uncategorized", &s), 1);
    tu_assert_stats(s, 100, 100, 1, 1);

    const int ld = __LINE__; char *d = strdup("tracked copy");
    assert_non_null(d);
    assert_string_equal(d, "tracked copy");
    assert_int_equal(tu_site_stats(F, ld, "Uncategorized", &s), 1);
    tu_assert_stats(s, 13, 0, 1, 0);

    const int ln = __LINE__; void *n = realloc(NULL, 77);
    assert_non_null(n);
    assert_int_equal(tu_site_stats(F, ln, "Uncategorized", &s), 1);
    tu_assert_stats(s, 77, 0, 1, 0);

    uint64_t total = 100 + 10 * sizeof(int) + 5000 + 13 + 77;
    tu_assert_delta(g0, mt_global_stats(), total, 100, 5, 1);
    tu_assert_delta(u0, uncategorized(), total, 100, 5, 1);

    tu_log_begin();
    free(c);
    free(r);
    free(d);
    free(n);
    free(NULL);
    assert_int_equal(tu_log_count(-1), 0);
    tu_log_end();
    tu_assert_delta(g0, mt_global_stats(), total, total, 5, 5);
}

static void scope_applies(void **state) {
    (void)state;
    mt_scope_push("Auto::Scoped");
    const int line = __LINE__; void *p = malloc(64);
    void *q = calloc(4, 4);
    char *d = strdup("x");
    mt_scope_pop();
    mt_stats s;
    assert_int_equal(tu_site_stats(F, line, "Auto::Scoped", &s), 1);
    tu_assert_stats(s, 64, 0, 1, 0);
    tu_assert_stats(tu_cat_self("Auto::Scoped"), 64 + 16 + 2, 0, 3, 0);
    MT_SCOPE("Auto::Other") {
        p = realloc(p, 128); /* keeps the old block's category */
    }
    tu_assert_stats(tu_cat_self("Auto::Scoped"), 64 + 16 + 2 + 128, 64, 4, 1);
    free(p);
    free(q);
    free(d);
    tu_assert_stats(tu_cat_self("Auto::Scoped"), 210, 210, 4, 4);
}

static void foreign_pointers_go_to_system_free(void **state) {
    (void)state;
    mt_stats g0 = mt_global_stats();
    tu_log_begin();

    /* getline allocates inside libc */
    FILE *f = tmpfile();
    assert_non_null(f);
    fputs("first line\nsecond line\n", f);
    rewind(f);
    char *line = NULL;
    size_t cap = 0;
    assert_true(getline(&line, &cap, f) > 0);
    assert_string_equal(line, "first line\n");
    assert_int_equal(mt_block_size(line), 0); /* not ours (logged at most) */
    tu_log_clear();
    free(line);
    fclose(f);

    /* asprintf too */
    char *msg = NULL;
    assert_true(asprintf(&msg, "%s-%d", "asprintf", 42) > 0);
    assert_string_equal(msg, "asprintf-42");
    free(msg);

    /* a block from a file that does not include auto.h */
    char *plain = plain_malloc(300);
    assert_non_null(plain);
    assert_int_equal((unsigned char)plain[299], 0x21);
    free(plain);

    /* realloc of a foreign block: the system realloc, result untracked */
    char *other = plain_malloc(40);
    char *grown = realloc(other, 400000);
    assert_non_null(grown);
    assert_int_equal((unsigned char)grown[39], 0x21);
    free(grown);

    assert_int_equal(tu_log_count(-1), 0);
    tu_log_end();
    tu_assert_stats_equal(g0, mt_global_stats());
}

static void many_rounds(void **state) {
    (void)state;
    /* a loop mixing both kinds of memory stays correct and exact */
    mt_stats g0 = mt_global_stats();
    uint64_t bytes = 0;
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(i % 300 + 1);
        char *t = malloc(n);
        char *p = plain_malloc(n);
        memset(t, 1, n);
        bytes += n;
        free(p);
        free(t);
    }
    tu_assert_delta(g0, mt_global_stats(), bytes, bytes, 2000, 2000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(malloc_family_tracked),
        cmocka_unit_test(scope_applies),
        cmocka_unit_test(foreign_pointers_go_to_system_free),
        cmocka_unit_test(many_rounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
