/*
 * test_leak.c - mt_leak_check(): its return value (live bytes), what it
 * writes to a stream and what it sends through the log callback. The tests
 * run in order in one process: nothing is live at the start.
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

static char *leak_text(uint64_t *ret) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    assert_non_null(m);
    *ret = mt_leak_check(m);
    assert_int_equal(fclose(m), 0);
    return buf;
}

/* Nothing live: the check says so and returns 0. */
static void expect_no_leaks(void) {
    uint64_t live = 1;
    char *text = leak_text(&live);
    assert_int_equal(live, 0);
    assert_string_equal(text, "memtally: no leaks\n");
    free(text);
}

static void test_no_leaks_at_start(void **state) {
    (void)state;
    expect_no_leaks();

    tu_log_begin();
    assert_int_equal(mt_leak_check(NULL), 0);
    assert_int_equal(tu_log_count(-1), 1);
    int level = -1;
    assert_string_equal(tu_log_message(0, &level), "no leaks");
    assert_int_equal(level, MT_LOG_INFO);
    tu_log_end();
}

static void *a1, *a2, *b1;

static void test_leaks_listed(void **state) {
    (void)state;
    a1 = mt_alloc(300, "Leak::A", "a.c", 1);
    a2 = mt_alloc(300, "Leak::A", "a.c", 1);
    b1 = mt_alloc(1000, "Leak::B", "b.c", 2);
    void *gone = mt_alloc(5000, "Leak::Gone", "gone.c", 3);
    mt_free(gone);
    assert_true(a1 && a2 && b1);

    uint64_t live = 0;
    char *text = leak_text(&live);
    assert_int_equal(live, 1600);
    assert_int_equal(live, mt_global_stats().current);
    assert_string_equal(text,
                        "memtally: leak check: 1.56 KiB (1600 bytes) in 3 blocks still live\n"
                        "memtally: by category:\n"
                        "memtally:   1000 bytes in 1 block: Leak::B\n"
                        "memtally:    600 bytes in 2 blocks: Leak::A\n"
                        "memtally: by site:\n"
                        "memtally:   1000 bytes in 1 block: b.c:2 [Leak::B]\n"
                        "memtally:    600 bytes in 2 blocks: a.c:1 [Leak::A]\n");
    free(text);

    /* the same lines, one log message each: headline as an error */
    tu_log_begin();
    assert_int_equal(mt_leak_check(NULL), 1600);
    assert_int_equal(tu_log_count(-1), 7);
    assert_int_equal(tu_log_count(MT_LOG_ERROR), 1);
    assert_int_equal(tu_log_count(MT_LOG_WARN), 6);
    int level = -1;
    assert_string_equal(tu_log_message(0, &level), "leak check: 1.56 KiB (1600 bytes) in 3 blocks still live");
    assert_int_equal(level, MT_LOG_ERROR);
    assert_string_equal(tu_log_message(5, &level), "  1000 bytes in 1 block: b.c:2 [Leak::B]");
    assert_null(tu_log_find(-1, "Leak::Gone"));
    tu_log_end();
}

/* A live block of zero bytes is still a live block. */
static void test_zero_size_block(void **state) {
    (void)state;
    mt_free(a1);
    mt_free(a2);
    mt_free(b1);
    void *z = mt_alloc(0, "Leak::Zero", "z.c", 4);
    assert_non_null(z);
    uint64_t live = 1;
    char *text = leak_text(&live);
    assert_int_equal(live, 0);
    assert_non_null(strstr(text, "memtally: leak check: 0 B (0 bytes) in 1 block still live\n"));
    assert_non_null(strstr(text, "0 bytes in 1 block: Leak::Zero\n"));
    assert_non_null(strstr(text, "0 bytes in 1 block: z.c:4 [Leak::Zero]\n"));
    assert_null(strstr(text, "Leak::A"));
    free(text);
    mt_free(z);
}

static void test_no_leaks_after_free(void **state) {
    (void)state;
    expect_no_leaks();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_leaks_at_start),
        cmocka_unit_test(test_leaks_listed),
        cmocka_unit_test(test_zero_size_block),
        cmocka_unit_test(test_no_leaks_after_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
