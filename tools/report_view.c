/*
 * report_view.c - shows a loaded JSON report through the library's own
 * writers: the report is turned into the same mt__view that mt_report()
 * reads, and handed to mt__report_text() and mt__leak_write(). So
 * `memtally report`, `memtally run -o x.txt` and the leak report of
 * `memtally run --leak-check` look exactly like the reports a program
 * writes itself, and follow them when their format changes. Names come
 * back from the JSON byte for byte (report_read.c), a byte that is not
 * UTF-8 included, so they are escaped exactly as in the program's own
 * text report.
 */
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* Shared helper of the library's writers (src/report.c). */
const char *mt__text_escape(const char *s, char *buf, size_t cap);

static int view_build(const mt__rpt *r, mt__view *v) {
    memset(v, 0, sizeof *v);
    v->global = r->global;
    v->ncats = r->ncats;
    v->nsites = r->nsites;
    v->cats = calloc(r->ncats ? r->ncats : 1, sizeof *v->cats);
    v->sites = calloc(r->nsites ? r->nsites : 1, sizeof *v->sites);
    if (!v->cats || !v->sites) {
        free(v->cats);
        free(v->sites);
        return -1;
    }
    for (size_t i = 0; i < r->ncats; i++) {
        const mt__rpt_cat *c = &r->cats[i];
        v->cats[i] = (mt__cat_view){.name = c->name, .parent = c->parent, .depth = c->depth,
                                    .index = (uint32_t)i, .self = c->self, .total = c->total};
    }
    for (size_t i = 0; i < r->nsites; i++) {
        const mt__rpt_site *s = &r->sites[i];
        v->sites[i] = (mt__site_view){.file = s->file, .line = s->line, .function = s->function,
                                      .category = s->category, .stats = s->stats};
    }
    return 0;
}

static void view_free(mt__view *v) {
    free(v->cats);
    free(v->sites);
}

int mt__rpt_text(FILE *out, const mt__rpt *r) {
    mt__view v;
    if (view_build(r, &v) != 0) return -1;
    int rc = mt__report_text(out, &v);
    view_free(&v);
    return rc;
}

uint64_t mt__rpt_leaks(FILE *out, const mt__rpt *r) {
    mt__view v;
    if (view_build(r, &v) != 0) {
        fprintf(out, "memtally: out of memory for the leak report\n");
        return r->global.current;
    }
    mt__leak_write(out, &v);
    view_free(&v);
    return r->global.current;
}

void mt__rpt_put_escaped(FILE *out, const char *s) {
    char buf[4200];
    fputs(mt__text_escape(s, buf, sizeof buf), out);
}
