/*
 * diff.c - `memtally diff BEFORE.json AFTER.json`: what changed between two
 * reports, as after - before, for the whole program, per category (its own
 * bytes, without children, so the lines add up to the global line) and per
 * site. A site is matched across the two reports by its category plus its
 * file:line, or its function when it has no file. Lines are sorted by the
 * size of the change in current bytes, then in allocations and frees;
 * unchanged ones are counted, not listed.
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "tool.h"

/* Shared helper of the library's writers (src/report.c). */
const char *mt__site_label(const mt__site_view *s, char *buf, size_t cap);

typedef struct delta {
    char *key;         /* matching key */
    const char *label; /* category name, for printing */
    const mt__rpt_site *site;      /* an example site (from either side) */
    int64_t current, allocs, frees;
} delta;

typedef struct delta_set {
    delta *v;
    size_t n, cap;
} delta_set;

/* Appends one line; lines with equal keys are merged after sorting. */
static delta *push(delta_set *s, char *key) {
    if (!key) return NULL;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        delta *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            free(key);
            return NULL;
        }
        s->v = v;
        s->cap = cap;
    }
    delta *d = &s->v[s->n++];
    memset(d, 0, sizeof *d);
    d->key = key;
    return d;
}

static int by_key(const void *pa, const void *pb) {
    return strcmp(((const delta *)pa)->key, ((const delta *)pb)->key);
}

/* a + b, held at the int64 limits: the counters of a report are at most
 * INT64_MAX each, but a sum over its sites need not be. */
static int64_t sum(int64_t a, int64_t b) {
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Sorts by key and sums lines with the same key into one. */
static void merge(delta_set *s) {
    if (s->n < 2) return; /* also: qsort must not be given v == NULL */
    qsort(s->v, s->n, sizeof *s->v, by_key);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (w > 0 && strcmp(s->v[w - 1].key, s->v[i].key) == 0) {
            s->v[w - 1].current = sum(s->v[w - 1].current, s->v[i].current);
            s->v[w - 1].allocs = sum(s->v[w - 1].allocs, s->v[i].allocs);
            s->v[w - 1].frees = sum(s->v[w - 1].frees, s->v[i].frees);
            free(s->v[i].key);
        } else {
            s->v[w++] = s->v[i];
        }
    }
    s->n = w;
}

static void free_set(delta_set *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i].key);
    free(s->v);
}

static void add(delta *d, const mt_stats *st, int sign) {
    d->current = sum(d->current, sign * (int64_t)st->current);
    d->allocs = sum(d->allocs, sign * (int64_t)st->alloc_count);
    d->frees = sum(d->frees, sign * (int64_t)st->free_count);
}

/* "<length of category>:category" then "F" file:line, or "f" function:
 * the length keeps apart names that hold any byte (a separator would not). */
static char *site_key(const mt__rpt_site *s) {
    size_t n = strlen(s->category) + (s->file ? strlen(s->file) : 0) +
               (s->function ? strlen(s->function) : 0) + 64;
    char *k = malloc(n);
    if (!k) return NULL;
    if (s->file) snprintf(k, n, "%zu:%sF%s:%d", strlen(s->category), s->category, s->file, s->line);
    else snprintf(k, n, "%zu:%sf%s", strlen(s->category), s->category, s->function ? s->function : "");
    return k;
}

static int collect(const mt__rpt *r, int sign, delta_set *cats, delta_set *sites) {
    for (size_t i = 0; i < r->ncats; i++) {
        delta *d = push(cats, strdup(r->cats[i].name));
        if (!d) return -1;
        d->label = r->cats[i].name;
        add(d, &r->cats[i].self, sign);
    }
    for (size_t i = 0; i < r->nsites; i++) {
        delta *d = push(sites, site_key(&r->sites[i]));
        if (!d) return -1;
        d->site = &r->sites[i];
        add(d, &r->sites[i].stats, sign);
    }
    return 0;
}

static uint64_t mag(int64_t v) {
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

static int by_change(const void *pa, const void *pb) {
    const delta *a = pa, *b = pb;
    if (mag(a->current) != mag(b->current)) return mag(a->current) > mag(b->current) ? -1 : 1;
    uint64_t ca = mag(a->allocs) + mag(a->frees), cb = mag(b->allocs) + mag(b->frees);
    if (ca != cb) return ca > cb ? -1 : 1;
    return strcmp(a->key, b->key);
}

/* "+12", "-3", "0" */
static const char *signed_num(int64_t v, char *buf, size_t cap) {
    snprintf(buf, cap, v ? "%+lld" : "%lld", (long long)v);
    return buf;
}

static void put_numbers(FILE *out, int64_t current, int64_t allocs, int64_t frees) {
    char h[32], human[40], a[24], b[24], c[24];
    snprintf(human, sizeof human, "(%s%s)", current < 0 ? "-" : "+", mt__human_bytes(mag(current), h, sizeof h));
    fprintf(out, "  %14s %-13s %10s %10s  ", signed_num(current, a, sizeof a), current ? human : "",
            signed_num(allocs, b, sizeof b), signed_num(frees, c, sizeof c));
}

static void put_section(FILE *out, const char *title, delta_set *s, bool sites) {
    merge(s);
    if (s->n > 1) qsort(s->v, s->n, sizeof *s->v, by_change);
    size_t unchanged = 0;
    fprintf(out, "%s:\n", title);
    for (size_t i = 0; i < s->n; i++) {
        const delta *d = &s->v[i];
        if (!d->current && !d->allocs && !d->frees) {
            unchanged++;
            continue;
        }
        put_numbers(out, d->current, d->allocs, d->frees);
        if (sites) {
            const mt__rpt_site *st = d->site;
            mt__site_view sv = {.file = st->file, .line = st->line, .function = st->function,
                                .category = st->category};
            char label[1100];
            fputs(mt__site_label(&sv, label, sizeof label), out);
            fputs(" [", out);
            mt__rpt_put_escaped(out, st->category);
            fputc(']', out);
        } else {
            mt__rpt_put_escaped(out, d->label);
        }
        fputc('\n', out);
    }
    if (unchanged) fprintf(out, "  (%zu unchanged)\n", unchanged);
}

int mt__cmd_diff(int argc, char **argv) {
    if (argc == 3 && (mt__std_closed & 2)) { /* /dev/null stands in for stdout */
        fprintf(stderr, "memtally: cannot write the difference to standard output: %s\n", strerror(EBADF));
        return MT_EXIT_USAGE;
    }
    if (argc != 3) {
        fprintf(stderr, "memtally: diff needs two report files\n");
        mt__usage(stderr);
        return MT_EXIT_USAGE;
    }
    mt__rpt before, after;
    if (mt__rpt_load(argv[1], &before) != 0) return MT_EXIT_USAGE;
    if (mt__rpt_load(argv[2], &after) != 0) {
        mt__rpt_free(&before);
        return MT_EXIT_USAGE;
    }
    delta_set cats = {0}, sites = {0};
    int rc = 0;
    if (collect(&before, -1, &cats, &sites) || collect(&after, 1, &cats, &sites)) {
        fprintf(stderr, "memtally: out of memory\n");
        rc = MT_EXIT_USAGE;
    } else {
        FILE *out = stdout;
        fprintf(out, "memtally diff: ");
        mt__rpt_put_escaped(out, argv[1]);
        fputs(" -> ", out);
        mt__rpt_put_escaped(out, argv[2]);
        fprintf(out, " (after - before)\n");
        fprintf(out, "  %14s %-13s %10s %10s\n", "current bytes", "", "allocs", "frees");
        put_numbers(out, (int64_t)after.global.current - (int64_t)before.global.current,
                    (int64_t)after.global.alloc_count - (int64_t)before.global.alloc_count,
                    (int64_t)after.global.free_count - (int64_t)before.global.free_count);
        fputs("global\n", out);
        put_section(out, "categories (own bytes)", &cats, false);
        put_section(out, "sites", &sites, true);
        if (fflush(out) != 0 || ferror(out)) {
            fprintf(stderr, "memtally: cannot write the difference to standard output: %s\n", strerror(errno));
            rc = MT_EXIT_USAGE;
        }
    }
    free_set(&cats);
    free_set(&sites);
    mt__rpt_free(&before);
    mt__rpt_free(&after);
    return rc;
}
