/*
 * report_read.c - loads a memtally JSON report (schema 1) and checks it.
 *
 * The parser is json-c: Debian's maintained JSON library for C
 * (libjson-c-dev), already on every machine that has systemd, NetworkManager
 * or bind9, with a stable API since 0.13. It keeps an object's members in
 * file order, reports where a parse failed, and reads 64-bit integers
 * exactly, which byte counters need. A hand-written parser would be one more
 * thing to get wrong on malformed input.
 *
 * Names may hold any bytes. The library's writer (src/report_json.c) stores
 * a byte that is not part of well-formed UTF-8 as the lone low surrogate
 * \udc80..\udcff; json-c would read such an escape as U+FFFD, as it reads
 * every unpaired surrogate, so the byte would be lost and two names could
 * become one. parse() hands json-c the text in pieces instead, each of
 * those escapes replaced by the byte it stands for, which json-c keeps as
 * it is (it checks UTF-8 only when asked to). Every other escape, \u00XX
 * (also what older versions wrote for such a byte) and surrogate pairs
 * included, is json-c's to read, as the character it stands for.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define MAX_REPORT_BYTES ((size_t)1 << 31)

typedef struct reader {
    const char *path;
    char where[160]; /* "sites[3]" etc., for messages */
} reader;

/* One line on stderr; names from the report (and the path) may hold any
 * byte, so the line is escaped as the text report escapes them. */
static void fail(const reader *rd, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fputs("memtally: ", stderr);
    mt__rpt_put_escaped(stderr, rd->path);
    fputs(": ", stderr);
    mt__rpt_put_escaped(stderr, msg);
    fputc('\n', stderr);
}

static char *slurp(const reader *rd, size_t *len) {
    FILE *f = fopen(rd->path, "rb");
    if (!f) {
        fail(rd, "cannot read: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        if (cap >= MAX_REPORT_BYTES) {
            fail(rd, "not a memtally report: larger than 2 GiB");
            free(buf);
            fclose(f);
            return NULL;
        }
        char *bigger = realloc(buf, cap * 2 + 1);
        if (!bigger) free(buf);
        buf = bigger;
        cap *= 2;
    }
    if (!buf) {
        fail(rd, "out of memory");
        fclose(f);
        return NULL;
    }
    if (ferror(f)) {
        fail(rd, "cannot read: %s", strerror(errno ? errno : EIO));
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The code point of the escape \uXXXX at text[i], or -1 when there is none. */
static long u_escape(const char *text, size_t len, size_t i) {
    if (len - i < 6 || text[i] != '\\' || text[i + 1] != 'u') return -1;
    long v = 0;
    for (size_t k = i + 2; k < i + 6; k++) {
        char c = text[k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* From text[i] on, the offset of the next \udc80..\udcff inside a string
 * that is not the second half of a surrogate pair, with the byte it stands
 * for in *byte; len when there is none. *in_string carries over from one
 * call to the next. Strings are JSON's double-quoted ones: json-c also reads
 * single-quoted strings and comments, which memtally never writes; a double
 * quote inside one of those puts this scan out of step, and a \udcXX after
 * it may then read as U+FFFD. */
static size_t byte_escape(const char *text, size_t len, size_t i, bool *in_string, unsigned char *byte) {
    while (i < len) {
        if (text[i] == '"') {
            *in_string = !*in_string;
            i++;
        } else if (!*in_string || text[i] != '\\') {
            i++;
        } else {
            long u = u_escape(text, len, i);
            if (u >= 0xDC80 && u <= 0xDCFF) {
                *byte = (unsigned char)(u & 0xFF);
                return i;
            }
            if (u >= 0xD800 && u <= 0xDBFF) {
                long lo = u_escape(text, len, i + 6);
                i += lo >= 0xDC00 && lo <= 0xDFFF ? 12 : 6;
            } else {
                i += u >= 0 ? 6 : 2; /* \uXXXX, or \" \\ \n ... */
            }
        }
    }
    return len;
}

static json_object *parse(const reader *rd, const char *text, size_t len) {
    size_t i = 0;
    while (i < len && strchr(" \t\r\n", text[i])) i++;
    if (i == len) {
        fail(rd, "not JSON: the file is empty");
        return NULL;
    }
    if (len > (size_t)INT32_MAX) {
        fail(rd, "not a memtally report: too large");
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        fail(rd, "out of memory");
        return NULL;
    }
    /* the text up to the next byte escape, then the byte, until json-c
     * has the whole report or an error; end is where it stopped, counted
     * in the file's bytes */
    json_object *root = NULL;
    enum json_tokener_error err = json_tokener_continue;
    size_t from = 0, end = 0;
    bool in_string = false;
    while (err == json_tokener_continue && from < len) {
        unsigned char byte = 0;
        size_t at = byte_escape(text, len, from, &in_string, &byte);
        if (at > from) {
            root = json_tokener_parse_ex(tok, text + from, (int)(at - from));
            err = json_tokener_get_error(tok);
            end = from + json_tokener_get_parse_end(tok);
            if (err != json_tokener_continue || at == len) break;
        }
        root = json_tokener_parse_ex(tok, (const char *)&byte, 1);
        err = json_tokener_get_error(tok);
        end = err == json_tokener_continue ? at + 6 : at;
        from = at + 6;
    }
    json_tokener_free(tok);
    if (!root && err == json_tokener_success) {
        fail(rd, "not a memtally report: the file holds JSON null");
        return NULL;
    }
    if (!root || err != json_tokener_success) {
        if (err == json_tokener_continue) err = json_tokener_error_parse_eof;
        fail(rd, "not JSON: %s near byte %zu", json_tokener_error_desc(err), end);
        json_object_put(root);
        return NULL;
    }
    for (i = end; i < len; i++) {
        if (!strchr(" \t\r\n", text[i])) {
            fail(rd, "not JSON: unexpected data after the report at byte %zu", i);
            json_object_put(root);
            return NULL;
        }
    }
    return root;
}

/* Finds obj.key of the given type (JSON null allowed when nullable: json-c
 * represents null as a NULL pointer, so success is the return value). */
static int member(const reader *rd, json_object *obj, const char *key, json_type type, bool nullable,
                  json_object **out) {
    json_object *v = NULL;
    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v)) {
        fail(rd, "not a memtally report: %s has no \"%s\"", rd->where, key);
        return -1;
    }
    if (nullable && !v) return 0;
    if (!json_object_is_type(v, type)) {
        fail(rd, "not a memtally report: %s.%s is %s, not %s", rd->where, key,
             v ? json_type_to_name(json_object_get_type(v)) : "null",
             type == json_type_int ? "an integer" : type == json_type_string ? "a string"
             : type == json_type_array ? "an array" : "an object");
        return -1;
    }
    *out = v;
    return 0;
}

static int counter(const reader *rd, json_object *obj, const char *key, uint64_t *out) {
    json_object *v;
    if (member(rd, obj, key, json_type_int, false, &v)) return -1;
    if (json_object_get_int64(v) < 0) {
        fail(rd, "not a memtally report: %s.%s is negative", rd->where, key);
        return -1;
    }
    /* memtally's counters are signed 64-bit; a larger one is not its own */
    if (json_object_get_uint64(v) > (uint64_t)INT64_MAX) {
        fail(rd, "not a memtally report: %s.%s is out of range", rd->where, key);
        return -1;
    }
    *out = json_object_get_uint64(v);
    return 0;
}

static int read_stats(const reader *rd, json_object *obj, mt_stats *st) {
    if (counter(rd, obj, "allocated", &st->total_allocated) ||
        counter(rd, obj, "freed", &st->total_freed) ||
        counter(rd, obj, "current", &st->current) ||
        counter(rd, obj, "peak", &st->peak) ||
        counter(rd, obj, "allocs", &st->alloc_count) ||
        counter(rd, obj, "frees", &st->free_count))
        return -1;
    return 0;
}

static const char *opt_string(json_object *obj, const char *key) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    return json_object_get_string(v);
}

/* A site's optional "offset": a number, or a "0x..." string (JSON numbers
 * lose precision past 2^53 in many readers, so the library writes hex). */
static bool read_offset(json_object *v, uint64_t *out) {
    if (json_object_is_type(v, json_type_int)) {
        if (json_object_get_int64(v) < 0) return false;
        *out = json_object_get_uint64(v);
        return true;
    }
    if (!json_object_is_type(v, json_type_string)) return false;
    const char *t = json_object_get_string(v);
    if (strncmp(t, "0x", 2) != 0 || !t[2]) return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(t + 2, &end, 16);
    if (*end || errno) return false;
    *out = x;
    return true;
}

/* Tree order: compare "::"-separated levels one by one, so a parent comes
 * right before its children and siblings sort by name. */
static int cat_order(const void *pa, const void *pb) {
    const char *a = ((const mt__rpt_cat *)pa)->name, *b = ((const mt__rpt_cat *)pb)->name;
    for (;;) {
        const char *ea = strstr(a, "::"), *eb = strstr(b, "::");
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        int c = memcmp(a, b, la < lb ? la : lb);
        if (c) return c;
        if (la != lb) return la < lb ? -1 : 1;
        if (!ea || !eb) return (ea != NULL) - (eb != NULL);
        a = ea + 2;
        b = eb + 2;
    }
}

static int depth_of(const char *name) {
    int d = 0;
    for (const char *p = strstr(name, "::"); p; p = strstr(p + 2, "::")) d++;
    return d;
}

static int read_categories(reader *rd, json_object *cats, mt__rpt *r) {
    size_t n = (size_t)json_object_object_length(cats);
    r->cats = calloc(n ? n : 1, sizeof *r->cats);
    if (!r->cats) {
        fail(rd, "out of memory");
        return -1;
    }
    json_object_object_foreach(cats, key, val) {
        mt__rpt_cat *c = &r->cats[r->ncats++];
        snprintf(rd->where, sizeof rd->where, "categories[\"%.100s\"]", key);
        if (!json_object_is_type(val, json_type_object)) {
            fail(rd, "not a memtally report: %s is not an object", rd->where);
            return -1;
        }
        c->name = key;
        json_object *parent, *total;
        if (member(rd, val, "parent", json_type_string, true, &parent) ||
            member(rd, val, "total", json_type_object, false, &total) || read_stats(rd, val, &c->self))
            return -1;
        c->parent = json_object_get_string(parent); /* NULL for null */
        c->depth = depth_of(key);
        snprintf(rd->where, sizeof rd->where, "categories[\"%.100s\"].total", key);
        if (read_stats(rd, total, &c->total)) return -1;
    }
    qsort(r->cats, r->ncats, sizeof *r->cats, cat_order);
    return 0;
}

static int read_sites(reader *rd, json_object *sites, mt__rpt *r) {
    size_t n = json_object_array_length(sites);
    r->sites = calloc(n ? n : 1, sizeof *r->sites);
    if (!r->sites) {
        fail(rd, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(sites, i);
        mt__rpt_site *s = &r->sites[r->nsites++];
        snprintf(rd->where, sizeof rd->where, "sites[%zu]", i);
        if (!json_object_is_type(o, json_type_object)) {
            fail(rd, "not a memtally report: %s is not an object", rd->where);
            return -1;
        }
        json_object *file, *line, *fn, *cat;
        if (member(rd, o, "file", json_type_string, true, &file) ||
            member(rd, o, "line", json_type_int, true, &line) ||
            member(rd, o, "function", json_type_string, true, &fn) ||
            member(rd, o, "category", json_type_string, false, &cat) || read_stats(rd, o, &s->stats))
            return -1;
        s->obj = o;
        s->file = json_object_get_string(file);   /* NULL for null */
        s->line = json_object_get_int(line);
        s->function = json_object_get_string(fn);
        s->category = json_object_get_string(cat);
        s->module = opt_string(o, "module");
        json_object *off = NULL;
        if (json_object_object_get_ex(o, "offset", &off)) s->has_offset = read_offset(off, &s->offset);
    }
    return 0;
}

int mt__rpt_load(const char *path, mt__rpt *out) {
    memset(out, 0, sizeof *out);
    reader rd = {.path = path};
    size_t len = 0;
    char *text = slurp(&rd, &len);
    if (!text) return -1;
    json_object *root = parse(&rd, text, len);
    free(text);
    if (!root) return -1;
    out->path = path;
    out->root = root;

    json_object *head = NULL, *schema = NULL;
    if (!json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "memtally", &head) ||
        !json_object_is_type(head, json_type_object)) {
        fail(&rd, "not a memtally report: no \"memtally\" header object");
        goto bad;
    }
    if (!json_object_object_get_ex(head, "schema", &schema) || !json_object_is_type(schema, json_type_int)) {
        fail(&rd, "not a memtally report: the header has no integer \"schema\"");
        goto bad;
    }
    if (json_object_get_int64(schema) != 1) {
        fail(&rd, "report schema %lld is not supported (this memtally reads schema 1)",
             (long long)json_object_get_int64(schema));
        goto bad;
    }
    snprintf(rd.where, sizeof rd.where, "the report");
    json_object *global, *cats, *sites;
    if (member(&rd, root, "global", json_type_object, false, &global)) goto bad;
    snprintf(rd.where, sizeof rd.where, "global");
    if (read_stats(&rd, global, &out->global)) goto bad;
    snprintf(rd.where, sizeof rd.where, "the report");
    if (member(&rd, root, "categories", json_type_object, false, &cats) ||
        member(&rd, root, "sites", json_type_array, false, &sites) ||
        read_categories(&rd, cats, out) || read_sites(&rd, sites, out))
        goto bad;
    return 0;
bad:
    mt__rpt_free(out);
    return -1;
}

void mt__rpt_free(mt__rpt *r) {
    json_object_put(r->root);
    free(r->cats);
    free(r->sites);
    memset(r, 0, sizeof *r);
}

void mt__rpt_site_update(mt__rpt_site *s, const char *function, const char *file, int line) {
    if (function) {
        if (s->function && strcmp(s->function, function) != 0 &&
            !json_object_object_get_ex(s->obj, "address", NULL))
            json_object_object_add(s->obj, "address", json_object_new_string(s->function));
        json_object_object_add(s->obj, "function", json_object_new_string(function));
        s->function = opt_string(s->obj, "function");
    }
    if (file) {
        json_object_object_add(s->obj, "file", json_object_new_string(file));
        json_object_object_add(s->obj, "line", json_object_new_int(line));
        s->file = opt_string(s->obj, "file");
        s->line = line;
    }
}
