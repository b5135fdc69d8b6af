/*
 * test_disable.c - -DMEMTALLY_DISABLE: a program using every MT_* macro,
 * built without memtally, runs correctly (helpers/disable_prog.c), and
 * neither its object file nor its executable references an mt_ symbol.
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

static void disabled_program_runs(void **state) {
    (void)state;
    const char *argv[] = {MT_DISABLE_PROG, NULL};
    tu_child c;
    assert_int_equal(tu_run(argv, NULL, &c), 0);
    if (c.status != 0) fail_msg("disable_prog exited with %d:\n%s%s", c.status, c.out, c.err);
    assert_null(strstr(c.out, "FAIL"));
    assert_true(tu_count_substr(c.out, "ok ") >= 11);
    assert_non_null(strstr(c.out, "ok MT_SCOPE runs its block once"));
    assert_non_null(strstr(c.out, "done\n"));
    tu_child_free(&c);
}

/* runs `nm` on a file and returns its output */
static char *nm_output(const char *opts, const char *file) {
    const char *argv[] = {MT_NM, opts, file, NULL};
    tu_child c;
    assert_int_equal(tu_run(argv, NULL, &c), 0);
    if (c.status != 0) fail_msg("%s %s %s failed: %s", MT_NM, opts, file, c.err);
    free(c.err);
    return c.out;
}

/* true when some symbol name in nm's output starts with "mt_" */
static int has_mt_symbol(const char *out, char *which, size_t cap) {
    const char *line = out;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        /* the name is the last field */
        const char *name = line + len;
        while (name > line && name[-1] != ' ' && name[-1] != '\t') name--;
        if ((size_t)(line + len - name) >= 3 && strncmp(name, "mt_", 3) == 0) {
            snprintf(which, cap, "%.*s", (int)(line + len - name), name);
            return 1;
        }
        line += len + (end ? 1 : 0);
    }
    return 0;
}

static void object_references_no_mt_symbol(void **state) {
    (void)state;
    char which[256];
    char *undef = nm_output("-u", MT_DISABLE_OBJ);
    /* nm really read it: the libc calls are there */
    assert_non_null(strstr(undef, "malloc"));
    assert_non_null(strstr(undef, "free"));
    if (has_mt_symbol(undef, which, sizeof which)) fail_msg("the object references %s", which);
    free(undef);
    char *all = nm_output("-a", MT_DISABLE_OBJ);
    if (has_mt_symbol(all, which, sizeof which)) fail_msg("the object has the symbol %s", which);
    free(all);
}

static void executable_has_no_mt_symbol(void **state) {
    (void)state;
    char which[256];
    char *all = nm_output("-a", MT_DISABLE_PROG);
    assert_non_null(strstr(all, "main"));
    if (has_mt_symbol(all, which, sizeof which)) fail_msg("the executable has the symbol %s", which);
    free(all);
    char *dyn = nm_output("-D", MT_DISABLE_PROG);
    assert_non_null(strstr(dyn, "malloc"));
    if (has_mt_symbol(dyn, which, sizeof which)) fail_msg("the executable imports %s", which);
    free(dyn);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(disabled_program_runs),
        cmocka_unit_test(object_references_no_mt_symbol),
        cmocka_unit_test(executable_has_no_mt_symbol),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
