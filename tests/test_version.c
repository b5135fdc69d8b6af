/* test_version.c - mt_version(), the version macros and mt_init(). */
#include "test_util.h"

#include <string.h>

static void version_string(void **state) {
    (void)state;
    const char *v = mt_version();
    assert_non_null(v);
    assert_string_equal(v, "0.1.0");
    /* a static string: the same pointer every time */
    assert_ptr_equal(v, mt_version());
}

static void version_macros(void **state) {
    (void)state;
    assert_int_equal(MT_VERSION_MAJOR, 0);
    assert_int_equal(MT_VERSION_MINOR, 1);
    assert_int_equal(MT_VERSION_PATCH, 0);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", MT_VERSION_MAJOR, MT_VERSION_MINOR, MT_VERSION_PATCH);
    assert_string_equal(buf, mt_version());
}

static void init_idempotent(void **state) {
    (void)state;
    assert_int_equal(mt_init(), 0);
    assert_int_equal(mt_init(), 0);
    mt_stats before = mt_global_stats();
    assert_int_equal(mt_init(), 0);
    void *p = mt_alloc(10, "Version::Init", __FILE__, __LINE__);
    assert_non_null(p);
    assert_int_equal(mt_init(), 0); /* init again must not reset anything */
    mt_stats after = mt_global_stats();
    tu_assert_delta(before, after, 10, 0, 1, 0);
    mt_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_string),
        cmocka_unit_test(version_macros),
        cmocka_unit_test(init_idempotent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
