/*
 * test_report.c - the text and JSON reports, mt_report() and
 * mt_report_file().
 *
 * The group setup builds one fixed program state through the public API
 * (fixed categories, sizes and sites, no threads), so the reports are the
 * same on every run; the reports hold no clock and no pid. They are compared
 * byte for byte with tests/golden/report.txt and tests/golden/report.json.
 * After an intended format change, rewrite the golden files with
 *     MEMTALLY_UPDATE_GOLDEN=1 ctest -R test_report
 * (or run the test binary with that variable) and review `git diff`.
 * On a mismatch the report that was produced is left next to the test
 * binary as report.txt.actual / report.json.actual.
 *
 * No test here creates a category or allocates after the setup, so the
 * order in which the tests run does not change what the reports contain.
 */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MT_GOLDEN_DIR
#error "MT_GOLDEN_DIR must name tests/golden"
#endif

/* Names with bytes a report has to escape. */
#define NAME_QUOTE "Net::\"quoted\" \\ back"
#define NAME_UTF8 "Net::\xc3\x9cn\xc3\xaf" "code \xf0\x9f\x98\x80"
#define NAME_CTL "Net::ctl\x01\t\x1b\x7f \xc2\x85"
#define NAME_BAD "Net::bad\xff\xc3(\xc0\xaf)\xed\xa0\x80"
/* NAME_BAD as json-c reads it: the report writes each byte that is not
 * UTF-8 as the lone surrogate \udcXX, and json-c, knowing nothing of that
 * convention, reads every lone surrogate as U+FFFD. (`memtally report`
 * gets the bytes back: tests/tools/tools_test.sh, case report_text.) */
#define FFFD "\xef\xbf\xbd"
#define NAME_BAD_JSON "Net::bad" FFFD FFFD "(" FFFD FFFD ")" FFFD FFFD FFFD
#define FILE_ODD "dir/we\"ird\n.c"

/* ---- the fixed state ----------------------------------------------------- */

/* The blocks the state keeps live, freed by the group teardown. */
static void *live[32];
static int nlive;

static void *keep(void *p) {
    assert_non_null(p);
    assert_true(nlive < 32);
    return live[nlive++] = p;
}

static int setup_state(void **state) {
    (void)state;
    void *t[3];
    for (int i = 0; i < 3; i++) t[i] = mt_alloc(4096, "Renderer::Textures::Diffuse", "renderer.c", 42);
    mt_free(t[1]);
    keep(t[0]);
    keep(t[2]);
    keep(mt_alloc(2 * 1024 * 1024, "Renderer::Textures::Normal", "renderer.c", 57));
    void *m = mt_alloc(1536, "Renderer::Meshes", "mesh.c", 10);
    keep(mt_realloc(m, 3000, NULL, "mesh.c", 12));
    keep(mt_calloc(10, 16, "Renderer::Meshes", "mesh.c", 30));
    keep(mt_alloc(512, "Audio", "audio.c", 7));
    keep(mt_alloc(100, "Audio", NULL, 0));
    void *a = mt_alloc(100000, "Audio::Music", "audio.c", 20);
    void *b = mt_alloc(100000, "Audio::Music", "audio.c", 20);
    mt_free(a);
    mt_free(b);
    mt_scope_push("Physics");
    keep(mt_alloc(64, NULL, "physics.c", 5));
    mt_scope_pop();
    keep(mt_alloc(10, NULL, "main.c", 1));
    keep(mt_strdup("hello", "Strings", "str.c", 3));
    keep(mt_alloc(8, NAME_QUOTE, FILE_ODD, 9));
    keep(mt_alloc(16, NAME_UTF8, "net.c", 2));
    keep(mt_alloc(24, NAME_CTL, "net.c", 3));
    keep(mt_alloc(32, NAME_BAD, "net.c", 4));
    umask(027); /* not the usual 022, so the report's mode shows it was read */
    return 0;
}

static int teardown_state(void **state) {
    (void)state;
    while (nlive > 0) mt_free(live[--nlive]);
    return 0;
}

static char *report_string(mt_format f, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    assert_non_null(m);
    assert_int_equal(mt_report(m, f), 0);
    assert_int_equal(fclose(m), 0);
    if (len) *len = n;
    return buf;
}

static void write_whole(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void check_golden(const char *name, const char *text, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", MT_GOLDEN_DIR, name);
    const char *upd = getenv("MEMTALLY_UPDATE_GOLDEN");
    if (upd && strcmp(upd, "1") == 0) {
        write_whole(path, text, len);
        print_message("rewrote %s\n", path);
        return;
    }
    size_t glen = 0;
    char *want = tu_read_file(path, &glen);
    if (!want) fail_msg("cannot read %s (MEMTALLY_UPDATE_GOLDEN=1 writes it)", path);
    if (glen != len || memcmp(want, text, len) != 0) {
        char actual[4200];
        snprintf(actual, sizeof actual, "%s.actual", name);
        write_whole(actual, text, len);
        print_error("the report differs from %s; what was produced is in %s\n", path, actual);
        free(want);
        fail();
    }
    free(want);
}

/* ---- golden files ------------------------------------------------------- */

static void test_golden_text(void **state) {
    (void)state;
    size_t len;
    char *text = report_string(MT_FORMAT_TEXT, &len);
    check_golden("report.txt", text, len);
    /* A second report of the same state is the same. */
    size_t len2;
    char *again = report_string(MT_FORMAT_TEXT, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(text, again, len);
    free(again);
    free(text);
}

static void test_golden_json(void **state) {
    (void)state;
    size_t len;
    char *text = report_string(MT_FORMAT_JSON, &len);
    check_golden("report.json", text, len);
    free(text);
}

/* ---- JSON structure ----------------------------------------------------- */

static json_object *get(json_object *o, const char *key, json_type type) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v)) fail_msg("JSON field \"%s\" missing", key);
    if (!json_object_is_type(v, type)) fail_msg("JSON field \"%s\" has type %d", key, (int)json_object_get_type(v));
    return v;
}

static uint64_t get_u64(json_object *o, const char *key) {
    return json_object_get_uint64(get(o, key, json_type_int));
}

static void check_stats(json_object *o, const mt_stats *s) {
    assert_int_equal(get_u64(o, "allocated"), s->total_allocated);
    assert_int_equal(get_u64(o, "freed"), s->total_freed);
    assert_int_equal(get_u64(o, "current"), s->current);
    assert_int_equal(get_u64(o, "peak"), s->peak);
    assert_int_equal(get_u64(o, "allocs"), s->alloc_count);
    assert_int_equal(get_u64(o, "frees"), s->free_count);
}

/* The text a JSON reader gets back for a category name. */
static const char *json_name(const char *name) {
    return strcmp(name, NAME_BAD) == 0 ? NAME_BAD_JSON : name;
}

static json_object *parse_report(void) {
    size_t len;
    char *text = report_string(MT_FORMAT_JSON, &len);
    json_tokener *tok = json_tokener_new();
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error err = json_tokener_get_error(tok);
    if (!root || err != json_tokener_success)
        fail_msg("the JSON report does not parse: %s", json_tokener_error_desc(err));
    /* nothing after the top-level object but white space */
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) assert_true(text[i] == '\n' || text[i] == ' ');
    assert_int_equal(text[len - 1], '\n');
    json_tokener_free(tok);
    free(text);
    return root;
}

static int count_live_sites(const mt_site_info *s, void *user) {
    if (s->stats.alloc_count > 0) ++*(size_t *)user;
    return 0;
}

static void test_json_structure(void **state) {
    (void)state;
    json_object *root = parse_report();
    assert_true(json_object_is_type(root, json_type_object));

    json_object *meta = get(root, "memtally", json_type_object);
    assert_string_equal(json_object_get_string(get(meta, "version", json_type_string)), mt_version());
    assert_int_equal(json_object_get_int(get(meta, "schema", json_type_int)), 1);

    mt_stats g = mt_global_stats();
    check_stats(get(root, "global", json_type_object), &g);

    /* every category, with its parent and both sets of numbers */
    tu_cat_list cl;
    tu_cat_list_take(&cl);
    json_object *cats = get(root, "categories", json_type_object);
    assert_int_equal((size_t)json_object_object_length(cats), cl.n);
    assert_true(cl.n >= 14);
    for (size_t i = 0; i < cl.n; i++) {
        const tu_cat_entry *e = &cl.e[i];
        json_object *c = get(cats, json_name(e->name), json_type_object);
        json_object *p = NULL;
        assert_true(json_object_object_get_ex(c, "parent", &p));
        if (e->parent) assert_string_equal(json_object_get_string(p), json_name(e->parent));
        else assert_true(json_object_is_type(p, json_type_null));
        check_stats(c, &e->self);
        check_stats(get(c, "total", json_type_object), &e->total);
    }
    tu_cat_list_free(&cl);
    /* the zero category is listed too */
    json_object *music = get(cats, "Audio::Music", json_type_object);
    assert_int_equal(get_u64(music, "current"), 0);
    assert_int_equal(get_u64(music, "peak"), 200000);

    /* every site that allocated, its numbers matching mt_foreach_site */
    json_object *sites = get(root, "sites", json_type_array);
    size_t live = 0;
    mt_foreach_site(count_live_sites, &live);
    assert_int_equal(json_object_array_length(sites), live);
    uint64_t sum_current = 0, sum_allocs = 0;
    int unknown_files = 0;
    for (size_t i = 0; i < live; i++) {
        json_object *s = json_object_array_get_idx(sites, i);
        json_object *file = NULL, *fn = NULL;
        assert_true(json_object_object_get_ex(s, "file", &file));
        assert_true(json_object_object_get_ex(s, "function", &fn));
        assert_true(json_object_is_type(fn, json_type_null));
        int line = json_object_get_int(get(s, "line", json_type_int));
        const char *cat = json_object_get_string(get(s, "category", json_type_string));
        if (strcmp(cat, NAME_BAD_JSON) == 0) cat = NAME_BAD;
        const char *fname = NULL;
        if (json_object_is_type(file, json_type_null)) unknown_files++;
        else fname = json_object_get_string(file);
        mt_stats want = {0};
        assert_int_equal(tu_site_stats(fname, line, cat, &want), 1);
        check_stats(s, &want);
        sum_current += get_u64(s, "current");
        sum_allocs += get_u64(s, "allocs");
    }
    assert_int_equal(unknown_files, 1); /* the 100 bytes of "Audio" */
    assert_int_equal(sum_current, g.current);
    assert_int_equal(sum_allocs, g.alloc_count);
    json_object_put(root);
}

/* src/report.c: length of a well-formed UTF-8 sequence of 2..4 bytes, or 0 */
size_t mt__utf8_len(const unsigned char *s);

/* Names with quotes, backslashes, control bytes and UTF-8 come back from a
 * JSON parser as what they were; bytes that are not UTF-8 are \udcXX. */
static void test_json_escaping(void **state) {
    (void)state;
    json_object *root = parse_report();
    json_object *cats = get(root, "categories", json_type_object);
    static const char *const names[] = {NAME_QUOTE, NAME_UTF8, NAME_CTL};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_object *c = get(cats, names[i], json_type_object);
        assert_string_equal(json_object_get_string(get(c, "parent", json_type_string)), "Net");
    }
    json_object *bad = get(cats, NAME_BAD_JSON, json_type_object);
    assert_int_equal(get_u64(bad, "current"), 32);

    /* the odd file name round-trips as well */
    json_object *sites = get(root, "sites", json_type_array);
    int found = 0;
    for (size_t i = 0; i < json_object_array_length(sites); i++) {
        json_object *s = json_object_array_get_idx(sites, i), *file = NULL;
        json_object_object_get_ex(s, "file", &file);
        if (json_object_is_type(file, json_type_string) && tu_same_file(json_object_get_string(file), FILE_ODD)) {
            assert_string_equal(json_object_get_string(get(s, "category", json_type_string)), NAME_QUOTE);
            found++;
        }
    }
    assert_int_equal(found, 1);
    json_object_put(root);

    /* raw control bytes never appear in the JSON text */
    size_t len;
    char *text = report_string(MT_FORMAT_JSON, &len);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 && text[i] != '\n') fail_msg("raw byte 0x%02x at %zu", text[i], i);
    assert_non_null(strstr(text, "ctl\\u0001\\u0009\\u001b\\u007f \xc2\x85\""));
    assert_non_null(strstr(text, "bad\\udcff\\udcc3(\\udcc0\\udcaf)\\udced\\udca0\\udc80\""));
    /* and the whole file is well-formed UTF-8 */
    for (size_t i = 0; i < len;) {
        size_t u = (unsigned char)text[i] < 0x80 ? 1 : mt__utf8_len((const unsigned char *)text + i);
        if (u == 0) fail_msg("byte 0x%02x at %zu is not UTF-8", (unsigned char)text[i], i);
        i += u;
    }
    free(text);
}

/* ---- text structure ----------------------------------------------------- */

static void test_text_structure(void **state) {
    (void)state;
    size_t len;
    char *text = report_string(MT_FORMAT_TEXT, &len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f) fail_msg("raw byte 0x%02x at %zu", c, i);
    }
    assert_non_null(strstr(text, "ctl\\x01\\x09\\x1b\\x7f \\xc2\\x85\n"));
    assert_non_null(strstr(text, "bad\\xff\\xc3(\\xc0\\xaf)\\xed\\xa0\\x80\n"));
    assert_non_null(strstr(text, "\"quoted\" \\\\ back\n"));
    assert_non_null(strstr(text, "\xc3\x9cn\xc3\xaf" "code \xf0\x9f\x98\x80\n"));
    assert_non_null(strstr(text, "we\"ird\\x0a.c:9 [Net::\"quoted\" \\\\ back]\n"));

    /* one line per category between the column header and the blank line */
    tu_cat_list cl;
    tu_cat_list_take(&cl);
    const char *sec = strstr(text, "\nCategories (");
    assert_non_null(sec);
    sec = strchr(sec + 1, '\n') + 1; /* column header */
    sec = strchr(sec, '\n') + 1;
    const char *end = strstr(sec, "\n\n");
    assert_non_null(end);
    size_t lines = 0;
    for (const char *p = sec; p <= end; p = strchr(p, '\n') + 1) lines++;
    assert_int_equal(lines, cl.n);
    tu_cat_list_free(&cl);

    /* children two spaces deeper than their parent, biggest first */
    const char *r = strstr(sec, "  Renderer\n");
    const char *tex = strstr(sec, "    Textures\n");
    const char *normal = strstr(sec, "      Normal\n");
    const char *diffuse = strstr(sec, "      Diffuse\n");
    const char *meshes = strstr(sec, "    Meshes\n");
    assert_true(r && tex && normal && diffuse && meshes);
    assert_true(r < tex && tex < normal && normal < diffuse && diffuse < meshes);
    /* an empty category is still there */
    assert_non_null(strstr(sec, "    Music\n"));
    free(text);
}

/* ---- helpers inside the library ------------------------------------------ */

/* Internal functions of the writers (src/internal.h, src/report.c). */
const char *mt__human_bytes(uint64_t bytes, char *buf, size_t cap);
const char *mt__text_escape(const char *s, char *buf, size_t cap);

static void test_human_bytes(void **state) {
    (void)state;
    static const struct {
        uint64_t bytes;
        const char *text;
    } cases[] = {
        {0, "0 B"},
        {1, "1 B"},
        {512, "512 B"},
        {1023, "1023 B"},
        {1024, "1.00 KiB"},
        {1536, "1.50 KiB"},
        {1048064, "1023.50 KiB"},
        {1048570, "1023.99 KiB"},
        {1048571, "1.00 MiB"}, /* 1023.995 KiB would print as "1024.00 KiB" */
        {1048576, "1.00 MiB"},
        {3u << 20, "3.00 MiB"},
        {(uint64_t)5 << 30, "5.00 GiB"},
        {(uint64_t)1 << 40, "1.00 TiB"},
        {(uint64_t)1 << 50, "1024.00 TiB"},
        {UINT64_MAX, "16777216.00 TiB"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        assert_string_equal(mt__human_bytes(cases[i].bytes, buf, sizeof buf), cases[i].text);
    }
}

static void test_text_escape(void **state) {
    (void)state;
    char buf[64];
    assert_string_equal(mt__text_escape("plain::name", buf, sizeof buf), "plain::name");
    assert_string_equal(mt__text_escape("a\\b\n", buf, sizeof buf), "a\\\\b\\x0a");
    assert_string_equal(mt__text_escape("\x01\x7f\xc2\x85\xc3\xa9", buf, sizeof buf), "\\x01\\x7f\\xc2\\x85\xc3\xa9");
    /* cut with "..." on a whole character or escape */
    char small[10];
    assert_string_equal(mt__text_escape("abcdefghijkl", small, sizeof small), "abcdef...");
    assert_string_equal(mt__text_escape("abcde\x01xyz", small, sizeof small), "abcde...");
    assert_string_equal(mt__text_escape("abcd\xc3\xa9\xc3\xa9zz", small, sizeof small), "abcd\xc3\xa9...");
    assert_string_equal(mt__text_escape("abcdefghi", small, sizeof small), "abcdefghi");
    assert_string_equal(mt__text_escape(NULL, buf, sizeof buf), "(null)");
}

/* ---- mt_report errors --------------------------------------------------- */

static void test_report_errors(void **state) {
    (void)state;
    errno = 0;
    assert_int_equal(mt_report(NULL, MT_FORMAT_TEXT), -1);
    assert_int_equal(errno, EINVAL);

    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    errno = 0;
    assert_int_equal(mt_report(m, (mt_format)7), -1);
    assert_int_equal(errno, EINVAL);
    fclose(m);
    assert_int_equal(n, 0);
    free(buf);

    /* a write error is seen, even one that shows only when flushing */
    FILE *full = fopen("/dev/full", "w");
    assert_non_null(full);
    errno = 0;
    assert_int_equal(mt_report(full, MT_FORMAT_JSON), -1);
    assert_int_equal(errno, ENOSPC);
    fclose(full);
}

/* ---- mt_report_file ----------------------------------------------------- */

/* Entries of dir other than . and .., as a count; names containing
 * `needle` are counted in *with. */
static int dir_entries(const char *dir, const char *needle, int *with) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    *with = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        n++;
        if (strstr(e->d_name, needle)) ++*with;
    }
    closedir(d);
    return n;
}

static void assert_file_is(const char *path, const char *want, size_t want_len) {
    size_t len = 0;
    char *got = tu_read_file(path, &len);
    assert_non_null(got);
    assert_int_equal(len, want_len);
    assert_memory_equal(got, want, len);
    free(got);
}

static void test_report_file(void **state) {
    (void)state;
    char dir[] = "/tmp/mt_report_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], missing[256], sub[256], inner[300];
    int tmps;

    /* a directory that does not exist: -1, ENOENT, nothing created */
    snprintf(missing, sizeof missing, "%s/nope/r.txt", dir);
    errno = 0;
    assert_int_equal(mt_report_file(missing, MT_FORMAT_TEXT), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(access(missing, F_OK), -1);
    assert_int_equal(dir_entries(dir, "", &tmps), 0);

    /* a new file: the whole report, mode from the umask (027) */
    snprintf(path, sizeof path, "%s/r.json", dir);
    assert_int_equal(mt_report_file(path, MT_FORMAT_JSON), 0);
    size_t jlen;
    char *json = report_string(MT_FORMAT_JSON, &jlen);
    assert_file_is(path, json, jlen);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);

    /* over an existing, longer file: replaced whole (a new inode, not an
     * in-place rewrite), keeping the old file's mode */
    size_t big = 256 * 1024;
    char *junk = malloc(big);
    assert_non_null(junk);
    memset(junk, 'x', big);
    write_whole(path, junk, big);
    free(junk);
    assert_int_equal(chmod(path, 0604), 0);
    assert_int_equal(stat(path, &st), 0);
    ino_t old_ino = st.st_ino;
    int fd_old = open(path, O_RDONLY); /* keeps the old inode alive */
    assert_true(fd_old >= 0);
    assert_int_equal(mt_report_file(path, MT_FORMAT_TEXT), 0);
    size_t tlen;
    char *text = report_string(MT_FORMAT_TEXT, &tlen);
    assert_file_is(path, text, tlen);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_ino != old_ino);
    assert_int_equal(st.st_mode & 0777, 0604);
    /* a reader holding the old file still sees all of the old content */
    assert_int_equal(lseek(fd_old, 0, SEEK_END), (off_t)big);
    close(fd_old);

    /* the target is a directory: EISDIR, nothing written, the directory
     * untouched */
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(inner, sizeof inner, "%s/keep", sub);
    write_whole(inner, "keep", 4);
    errno = 0;
    assert_int_equal(mt_report_file(sub, MT_FORMAT_JSON), -1);
    assert_int_equal(errno, EISDIR);
    assert_file_is(inner, "keep", 4);
    assert_int_equal(dir_entries(dir, "sub.", &tmps), 2); /* r.json and sub */
    assert_int_equal(tmps, 0);

    /* a symbolic link: its target gets the report, the link stays a link;
     * a link to nothing yet makes the file it names */
    char link[300], target[300], dangling[300], made[300];
    snprintf(target, sizeof target, "%s/target.txt", dir);
    snprintf(link, sizeof link, "%s/link.txt", dir);
    write_whole(target, "old", 3);
    assert_int_equal(symlink("target.txt", link), 0);
    assert_int_equal(mt_report_file(link, MT_FORMAT_TEXT), 0);
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_file_is(target, text, tlen);
    snprintf(dangling, sizeof dangling, "%s/dangling.txt", dir);
    snprintf(made, sizeof made, "%s/made.txt", dir);
    assert_int_equal(symlink("made.txt", dangling), 0);
    assert_int_equal(mt_report_file(dangling, MT_FORMAT_TEXT), 0);
    assert_int_equal(lstat(dangling, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_file_is(made, text, tlen);

    /* the file that is our standard output, named /dev/stdout: the report
     * is appended, what was written there before stays */
    char outfile[300];
    snprintf(outfile, sizeof outfile, "%s/stdout.txt", dir);
    int ofd = open(outfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(ofd >= 0);
    fflush(stdout);
    int saved_out = dup(1);
    assert_true(saved_out >= 0);
    assert_int_equal(dup2(ofd, 1), 1);
    close(ofd);
    assert_int_equal(write(1, "before\n", 7), 7);
    int rc = mt_report_file("/dev/stdout", MT_FORMAT_TEXT);
    assert_int_equal(dup2(saved_out, 1), 1);
    close(saved_out);
    assert_int_equal(rc, 0);
    char *want = malloc(tlen + 7);
    assert_non_null(want);
    memcpy(want, "before\n", 7);
    memcpy(want + 7, text, tlen);
    assert_file_is(outfile, want, tlen + 7);
    free(want);

    /* the file that is our stdin is replaced as any other: a program may
     * read the old report and write the new one */
    int saved_in = dup(0);
    assert_true(saved_in >= 0);
    int ifd = open(outfile, O_RDONLY);
    assert_true(ifd >= 0);
    assert_int_equal(dup2(ifd, 0), 0);
    close(ifd);
    rc = mt_report_file(outfile, MT_FORMAT_TEXT);
    assert_int_equal(dup2(saved_in, 0), 0);
    close(saved_in);
    assert_int_equal(rc, 0);
    assert_file_is(outfile, text, tlen);

    /* a FIFO (as /dev/null would be a device) is written in place, not
     * replaced by a file */
    char fifo[300];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int rfd = open(fifo, O_RDONLY | O_NONBLOCK); /* a reader, so the writer's open does not wait */
    assert_true(rfd >= 0);
    assert_int_equal(mt_report_file(fifo, MT_FORMAT_TEXT), 0);
    assert_int_equal(stat(fifo, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    char *got = malloc(tlen + 1);
    assert_non_null(got);
    ssize_t n = read(rfd, got, tlen + 1);
    assert_int_equal(n, (ssize_t)tlen);
    assert_memory_equal(got, text, tlen);
    free(got);
    close(rfd);

    /* bad arguments: -1, EINVAL, nothing written */
    errno = 0;
    assert_int_equal(mt_report_file(path, (mt_format)-1), -1);
    assert_int_equal(errno, EINVAL);
    assert_file_is(path, text, tlen);
    errno = 0;
    assert_int_equal(mt_report_file(NULL, MT_FORMAT_TEXT), -1);
    assert_int_equal(errno, EINVAL);

    /* no temporary file left behind by any of the above */
    assert_int_equal(dir_entries(dir, ".json.", &tmps), 8);
    assert_int_equal(tmps, 0);
    assert_int_equal(dir_entries(dir, ".txt.", &tmps), 8);
    assert_int_equal(tmps, 0);

    free(json);
    free(text);
    unlink(fifo);
    unlink(outfile);
    unlink(link);
    unlink(target);
    unlink(dangling);
    unlink(made);
    unlink(inner);
    rmdir(sub);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_text),
        cmocka_unit_test(test_golden_json),
        cmocka_unit_test(test_json_structure),
        cmocka_unit_test(test_json_escaping),
        cmocka_unit_test(test_text_structure),
        cmocka_unit_test(test_human_bytes),
        cmocka_unit_test(test_text_escape),
        cmocka_unit_test(test_report_errors),
        cmocka_unit_test(test_report_file),
    };
    return cmocka_run_group_tests(tests, setup_state, teardown_state);
}
