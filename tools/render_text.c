/*
 * render_text.c - the text report and the leak report, drawn from a loaded
 * JSON report. They follow the look of the library's own text writers
 * (src/report_text.c, the leak report) so that a report reads the same
 * whether the program wrote it or `memtally report` did.
 */
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define TOP_SITES 20

const char *mt__rpt_human(uint64_t bytes, char *buf, size_t cap) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, cap, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, cap, "%.2f %s", v, units[u]);
    return buf;
}

void mt__rpt_put_escaped(FILE *out, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '\\') fprintf(out, "\\x%02x", *p);
        else fputc(*p, out);
    }
}

/* The last "::" level of a name: what the tree shows under its parent. */
static const char *leaf(const char *name) {
    const char *l = name;
    for (const char *p = strstr(name, "::"); p; p = strstr(p + 2, "::")) l = p + 2;
    return l;
}

static void put_site_where(FILE *out, const mt__rpt_site *s) {
    if (s->function) mt__rpt_put_escaped(out, s->function);
    if (s->file) {
        fputs(s->function ? " (" : "", out);
        mt__rpt_put_escaped(out, s->file);
        fprintf(out, ":%d%s", s->line, s->function ? ")" : "");
    }
    if (!s->function && !s->file) fputs("(unknown site)", out);
}

static int by_current_desc(const void *pa, const void *pb) {
    const mt__rpt_site *a = *(const mt__rpt_site *const *)pa, *b = *(const mt__rpt_site *const *)pb;
    if (a->stats.current != b->stats.current) return a->stats.current > b->stats.current ? -1 : 1;
    if (a->stats.alloc_count != b->stats.alloc_count) return a->stats.alloc_count > b->stats.alloc_count ? -1 : 1;
    return 0;
}

/* Sites sorted by current bytes, largest first (stable for equal ones). */
static const mt__rpt_site **sorted_sites(const mt__rpt *r) {
    const mt__rpt_site **v = malloc((r->nsites ? r->nsites : 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < r->nsites; i++) v[i] = &r->sites[i];
    /* qsort is not stable: break ties on the original index */
    for (size_t i = 1; i < r->nsites; i++) {
        const mt__rpt_site *x = v[i];
        size_t j = i;
        while (j > 0 && by_current_desc(&x, &v[j - 1]) < 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    return v;
}

int mt__rpt_text(FILE *out, const mt__rpt *r) {
    char a[32], b[32], c[32], d[32];
    const mt_stats *g = &r->global;
    fprintf(out, "memtally report\n");
    fprintf(out, "global: current %s, peak %s, allocated %s in %llu allocations, freed %s in %llu frees\n",
            mt__rpt_human(g->current, a, sizeof a), mt__rpt_human(g->peak, b, sizeof b),
            mt__rpt_human(g->total_allocated, c, sizeof c), (unsigned long long)g->alloc_count,
            mt__rpt_human(g->total_freed, d, sizeof d), (unsigned long long)g->free_count);

    fprintf(out, "\ncategories (with children: current, peak, allocations, frees):\n");
    for (size_t i = 0; i < r->ncats; i++) {
        const mt__rpt_cat *cat = &r->cats[i];
        fprintf(out, "%*s", 2 + 2 * cat->depth, "");
        mt__rpt_put_escaped(out, leaf(cat->name));
        fprintf(out, ": %s, peak %s, %llu allocs, %llu frees\n",
                mt__rpt_human(cat->total.current, a, sizeof a), mt__rpt_human(cat->total.peak, b, sizeof b),
                (unsigned long long)cat->total.alloc_count, (unsigned long long)cat->total.free_count);
    }

    const mt__rpt_site **v = sorted_sites(r);
    if (!v) return -1;
    size_t n = r->nsites < TOP_SITES ? r->nsites : TOP_SITES;
    fprintf(out, "\ntop sites by current bytes:\n");
    for (size_t i = 0; i < n; i++) {
        const mt__rpt_site *s = v[i];
        fprintf(out, "  %12s in %llu blocks (%llu allocs, %llu frees)  ",
                mt__rpt_human(s->stats.current, a, sizeof a),
                (unsigned long long)(s->stats.alloc_count - s->stats.free_count),
                (unsigned long long)s->stats.alloc_count, (unsigned long long)s->stats.free_count);
        put_site_where(out, s);
        fputs(" [", out);
        mt__rpt_put_escaped(out, s->category);
        fputs("]\n", out);
    }
    if (r->nsites > n) fprintf(out, "  ... %zu more sites\n", r->nsites - n);
    free(v);
    return ferror(out) ? -1 : 0;
}

uint64_t mt__rpt_leaks(FILE *out, const mt__rpt *r) {
    char a[32];
    const mt_stats *g = &r->global;
    uint64_t blocks = g->alloc_count - g->free_count;
    if (g->current == 0) {
        fprintf(out, "memtally: no leaks: every allocated block was freed\n");
        return 0;
    }
    fprintf(out, "memtally: %llu bytes (%s) in %llu blocks still live at exit\n",
            (unsigned long long)g->current, mt__rpt_human(g->current, a, sizeof a),
            (unsigned long long)blocks);
    fprintf(out, "memtally: by category:\n");
    for (size_t i = 0; i < r->ncats; i++) {
        const mt__rpt_cat *c = &r->cats[i];
        if (c->self.current == 0) continue;
        fprintf(out, "memtally:   %llu bytes in %llu blocks  ", (unsigned long long)c->self.current,
                (unsigned long long)(c->self.alloc_count - c->self.free_count));
        mt__rpt_put_escaped(out, c->name);
        fputc('\n', out);
    }
    const mt__rpt_site **v = sorted_sites(r);
    if (v) {
        fprintf(out, "memtally: by site:\n");
        for (size_t i = 0; i < r->nsites && v[i]->stats.current; i++) {
            const mt__rpt_site *s = v[i];
            fprintf(out, "memtally:   %llu bytes in %llu blocks  ", (unsigned long long)s->stats.current,
                    (unsigned long long)(s->stats.alloc_count - s->stats.free_count));
            put_site_where(out, s);
            fputs(" [", out);
            mt__rpt_put_escaped(out, s->category);
            fputs("]\n", out);
        }
        free(v);
    }
    return g->current;
}
