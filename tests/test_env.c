/*
 * test_env.c - the at-exit actions driven by the environment: a helper
 * program (helpers/env_child.c) runs with MEMTALLY_LEAK_CHECK and
 * MEMTALLY_REPORT set; its stderr and its report files are checked.
 */
#include "test_util.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64];

static int setup(void **state) {
    (void)state;
    strcpy(g_dir, "/tmp/mt_test_envXXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void run_child(const char *mode, const char *const env[], tu_child *c) {
    const char *argv[] = {MT_ENV_CHILD, mode, NULL};
    assert_int_equal(tu_run(argv, env, c), 0);
    if (c->status != 0) fail_msg("env_child %s exited with %d; stderr:\n%s", mode, c->status, c->err);
}

static char *path_in_dir(const char *name) {
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 256, "%s/%s", g_dir, name);
    return p;
}

static void leak_check_on_stderr(void **state) {
    (void)state;
    tu_child c;
    const char *env[] = {"MEMTALLY_LEAK_CHECK=1", NULL};
    run_child("", env, &c);
    assert_non_null(strstr(c.err, "Leak::Textures"));
    assert_non_null(strstr(c.err, "Leak::Audio"));
    assert_non_null(strstr(c.err, "env_child.c")); /* by site too */
    /* a category with nothing live is not a leak */
    assert_null(strstr(c.err, "Clean::Only"));
    assert_null(strstr(c.out, "Leak::Textures"));
    tu_child_free(&c);
}

static void no_leak_check_without_variable(void **state) {
    (void)state;
    tu_child c;
    run_child("", NULL, &c);
    assert_null(strstr(c.err, "Leak::"));
    assert_null(strstr(c.out, "Leak::"));
    tu_child_free(&c);
    const char *off[] = {"MEMTALLY_LEAK_CHECK=0", NULL};
    run_child("", off, &c);
    assert_null(strstr(c.err, "Leak::"));
    tu_child_free(&c);
}

static void leak_check_without_leaks(void **state) {
    (void)state;
    tu_child c;
    const char *env[] = {"MEMTALLY_LEAK_CHECK=1", NULL};
    run_child("noleak", env, &c);
    assert_null(strstr(c.err, "Leak::Textures"));
    assert_null(strstr(c.err, "Leak::Audio"));
    tu_child_free(&c);
}

/* ---- JSON report ------------------------------------------------------ */

static json_object *get(json_object *o, const char *key) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v)) fail_msg("JSON: no \"%s\"", key);
    return v;
}

static int64_t get_int(json_object *o, const char *key) {
    json_object *v = get(o, key);
    if (!json_object_is_type(v, json_type_int)) fail_msg("JSON: \"%s\" is not an integer", key);
    return json_object_get_int64(v);
}

static void check_numbers(json_object *o, int64_t allocated, int64_t freed, int64_t peak, int64_t allocs,
                          int64_t frees) {
    assert_int_equal(get_int(o, "allocated"), allocated);
    assert_int_equal(get_int(o, "freed"), freed);
    assert_int_equal(get_int(o, "current"), allocated - freed);
    if (peak >= 0) assert_int_equal(get_int(o, "peak"), peak);
    assert_int_equal(get_int(o, "allocs"), allocs);
    assert_int_equal(get_int(o, "frees"), frees);
}

static json_object *load_json(const char *path) {
    char *text = tu_read_file(path, NULL);
    if (!text) fail_msg("no report file %s", path);
    json_object *root = json_tokener_parse(text);
    if (!root) fail_msg("%s is not JSON:\n%s", path, text);
    free(text);
    return root;
}

/* the report of env_child's default run: 2000 + 500 live of 3210 */
static void check_default_report(json_object *root) {
    json_object *meta = get(root, "memtally");
    assert_string_equal(json_object_get_string(get(meta, "version")), "0.1.0");
    assert_int_equal(get_int(meta, "schema"), 1);
    check_numbers(get(root, "global"), 3210, 710, 3210, 5, 2);

    json_object *cats = get(root, "categories");
    json_object *tex = get(cats, "Leak::Textures");
    assert_string_equal(json_object_get_string(get(tex, "parent")), "Leak");
    check_numbers(tex, 2000, 0, 2000, 2, 0);
    check_numbers(get(tex, "total"), 2000, 0, 2000, 2, 0);
    json_object *audio = get(cats, "Leak::Audio");
    check_numbers(audio, 500, 0, 500, 1, 0);
    json_object *leak = get(cats, "Leak");
    json_object *parent = NULL;
    if (json_object_object_get_ex(leak, "parent", &parent)) assert_null(parent); /* top level */
    check_numbers(leak, 0, 0, 0, 0, 0);
    check_numbers(get(leak, "total"), 2500, 0, 2500, 3, 0);
    /* every category is listed, even at 0 bytes */
    json_object *clean = get(cats, "Clean::Only");
    check_numbers(clean, 710, 710, 710, 2, 2);
    json_object *after = NULL;
    assert_false(json_object_object_get_ex(cats, "After::Shutdown", &after));

    /* sites: two for Leak::Textures (two lines of 1000), one for Leak::Audio */
    json_object *sites = get(root, "sites");
    assert_true(json_object_is_type(sites, json_type_array));
    int tex_sites = 0, audio_sites = 0;
    int64_t tex_bytes = 0;
    for (size_t i = 0; i < json_object_array_length(sites); i++) {
        json_object *s = json_object_array_get_idx(sites, i);
        const char *cat = json_object_get_string(get(s, "category"));
        json_object *file = get(s, "file");
        if (strcmp(cat, "Leak::Textures") == 0) {
            tex_sites++;
            tex_bytes += get_int(s, "allocated");
            check_numbers(s, 1000, 0, 1000, 1, 0);
        } else if (strcmp(cat, "Leak::Audio") == 0) {
            audio_sites++;
            check_numbers(s, 500, 0, 500, 1, 0);
        } else {
            continue;
        }
        assert_non_null(file);
        assert_non_null(strstr(json_object_get_string(file), "env_child.c"));
        assert_true(get_int(s, "line") > 0);
        assert_null(get(s, "function"));
    }
    assert_int_equal(tex_sites, 2);
    assert_int_equal(audio_sites, 1);
    assert_int_equal(tex_bytes, 2000);
}

/* Runs the child in `mode` with MEMTALLY_REPORT=<dir>/<name> and checks
 * the JSON report it leaves behind. */
static void check_json_report_from_child(const char *mode, const char *name) {
    char *path = path_in_dir(name);
    char var[300];
    snprintf(var, sizeof var, "MEMTALLY_REPORT=%s", path);
    const char *env[] = {var, NULL};
    tu_child c;
    run_child(mode, env, &c);
    tu_child_free(&c);
    json_object *root = load_json(path);
    check_default_report(root);
    json_object_put(root);
    unlink(path);
}

static void json_report_at_exit(void **state) {
    (void)state;
    check_json_report_from_child("", "report.json");
}

static void json_report_after_exit_call(void **state) {
    (void)state;
    check_json_report_from_child("exit", "exit.json");
}

static void text_report_at_exit(void **state) {
    (void)state;
    const char *names[] = {"report.txt", "report", "report.log"};
    for (int i = 0; i < 3; i++) {
        char *path = path_in_dir(names[i]);
        char var[300];
        snprintf(var, sizeof var, "MEMTALLY_REPORT=%s", path);
        const char *env[] = {var, NULL};
        tu_child c;
        run_child("", env, &c);
        tu_child_free(&c);
        char *text = tu_read_file(path, NULL);
        if (!text) fail_msg("no text report at %s", path);
        size_t k = strspn(text, " \t\r\n");
        assert_true(text[k] != '{' && text[k] != '\0'); /* not JSON, not empty */
        assert_non_null(strstr(text, "Leak::Textures"));
        assert_non_null(strstr(text, "Leak::Audio"));
        assert_non_null(strstr(text, "Clean::Only"));
        assert_non_null(strstr(text, "env_child.c"));
        free(text);
    }
}

static void leak_check_and_report_together(void **state) {
    (void)state;
    char *path = path_in_dir("both.json");
    char var[300];
    snprintf(var, sizeof var, "MEMTALLY_REPORT=%s", path);
    const char *env[] = {"MEMTALLY_LEAK_CHECK=1", var, NULL};
    tu_child c;
    run_child("", env, &c);
    assert_non_null(strstr(c.err, "Leak::Textures"));
    tu_child_free(&c);
    json_object *root = load_json(path);
    check_default_report(root);
    json_object_put(root);
}

static void shutdown_runs_actions_once(void **state) {
    (void)state;
    tu_child plain, shut;
    const char *env1[] = {"MEMTALLY_LEAK_CHECK=1", NULL};
    run_child("", env1, &plain);
    char *path = path_in_dir("shutdown.json");
    char var[300];
    snprintf(var, sizeof var, "MEMTALLY_REPORT=%s", path);
    const char *env2[] = {"MEMTALLY_LEAK_CHECK=1", var, NULL};
    run_child("shutdown", env2, &shut);
    /* one leak report, written at mt_shutdown(): the same as at exit, and
     * without what was allocated afterwards */
    assert_int_equal(tu_count_substr(shut.err, "Leak::Textures"), tu_count_substr(plain.err, "Leak::Textures"));
    assert_true(tu_count_substr(shut.err, "Leak::Textures") > 0);
    assert_null(strstr(shut.err, "After::Shutdown"));
    tu_child_free(&plain);
    tu_child_free(&shut);
    json_object *root = load_json(path);
    check_default_report(root);
    json_object_put(root);
}

static void unwritable_report_path(void **state) {
    (void)state;
    const char *env[] = {"MEMTALLY_REPORT=/nonexistent-memtally-dir/sub/r.json", NULL};
    tu_child c;
    run_child("", env, &c); /* exits 0, no crash, and says why */
    assert_non_null(strstr(c.err, "cannot write the report to /nonexistent-memtally-dir/sub/r.json: No such file or directory"));
    tu_child_free(&c);
    struct stat st;
    assert_int_equal(stat("/nonexistent-memtally-dir/sub/r.json", &st), -1);
}

/* ---- the program's own at-exit clean-up ----------------------------------- */

static void *g_atexit_block;
static void atexit_cleanup(void) { mt_free(g_atexit_block); }

/* Run as a child: registers its clean-up with atexit before its first
 * memtally call, the usual order in a program. */
static int atexit_child_main(void) {
    atexit(atexit_cleanup);
    g_atexit_block = mt_alloc(1000, "Env::FreedByAtexit", __FILE__, __LINE__);
    return g_atexit_block ? 0 : 1;
}

/* A leak is what is still live after the program's own exit handlers (as
 * valgrind counts "in use at exit"): a block that a handler frees is not
 * one, even when the handler was registered before memtally started. */
static void leak_check_after_program_atexit(void **state) {
    (void)state;
    const char *argv[] = {"/proc/self/exe", "--atexit-child", NULL};
    const char *env[] = {"MEMTALLY_LEAK_CHECK=1", NULL};
    tu_child c;
    assert_int_equal(tu_run(argv, env, &c), 0);
    assert_int_equal(c.status, 0);
    if (strstr(c.err, "Env::FreedByAtexit")) fail_msg("reported as a leak:\n%s", c.err);
    tu_child_free(&c);
}

/* The same with a destructor of the program's own: it runs in _dl_fini,
 * where memtally's at-exit destructor (lifecycle.c) also runs. Linked
 * statically, memtally's object comes after the program's on the link
 * line, its .fini_array entry later, and .fini_array runs last entry
 * first: the leak check ran before the program's destructor and reported
 * the block it frees (the shared library runs after it, as a dependency). */
static void *g_dtor_block;
__attribute__((destructor)) static void dtor_cleanup(void) {
    if (g_dtor_block) mt_free(g_dtor_block);
}

static void leak_check_after_program_destructor(void **state) {
    (void)state;
    const char *argv[] = {"/proc/self/exe", "--dtor-child", NULL};
    const char *env[] = {"MEMTALLY_LEAK_CHECK=1", NULL};
    tu_child c;
    assert_int_equal(tu_run(argv, env, &c), 0);
    assert_int_equal(c.status, 0);
    if (strstr(c.err, "Env::FreedByDestructor")) fail_msg("reported as a leak:\n%s", c.err);
    tu_child_free(&c);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--atexit-child") == 0) return atexit_child_main();
    if (argc > 1 && strcmp(argv[1], "--dtor-child") == 0) {
        g_dtor_block = mt_alloc(1000, "Env::FreedByDestructor", __FILE__, __LINE__);
        return g_dtor_block ? 0 : 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(leak_check_on_stderr),
        cmocka_unit_test(no_leak_check_without_variable),
        cmocka_unit_test(leak_check_without_leaks),
        cmocka_unit_test(json_report_at_exit),
        cmocka_unit_test(json_report_after_exit_call),
        cmocka_unit_test(text_report_at_exit),
        cmocka_unit_test(leak_check_and_report_together),
        cmocka_unit_test(shutdown_runs_actions_once),
        cmocka_unit_test(unwritable_report_path),
        cmocka_unit_test(leak_check_after_program_atexit),
        cmocka_unit_test(leak_check_after_program_destructor),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
