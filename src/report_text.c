/*
 * report_text.c - the human-readable report (MT_FORMAT_TEXT).
 *
 * Three parts: the global numbers, the category tree (every category,
 * indented two spaces per level, siblings by current bytes with descendants,
 * largest first) and the top sites by current bytes. Numbers come first on
 * each line and names last, so long or deep names never break the columns.
 * Names are escaped: non-printable bytes and bytes that are not UTF-8 show
 * as \xNN, a backslash as \\.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define TOP_SITES 20

const char *mt__human_bytes(uint64_t bytes, char *buf, size_t cap) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        snprintf(buf, cap, "%" PRIu64 " B", bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    size_t u = 0;
    /* 1023.995 and up would print as "1024.00": use the next unit */
    while (v >= 1023.995 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, cap, "%.2f %s", v, units[u]);
    return buf;
}

static uint64_t live_blocks(const mt_stats *s) {
    return s->alloc_count - s->free_count;
}

/* ---- category tree ------------------------------------------------------ */

typedef struct node {
    size_t parent;       /* index into view->cats, SIZE_MAX at the top */
    size_t first, count; /* children: a run in tree.sorted */
} node;

typedef struct tree {
    const mt__view *v;
    node *nodes;          /* parallel to view->cats */
    uint32_t *sorted;     /* category indices, grouped by parent, siblings in print order */
    size_t roots_first, roots_count;
    void *mem;
    size_t mem_bytes;
} tree;

static int cmp_cat_name(uint32_t x, uint32_t y, void *ctx) {
    const mt__view *v = ctx;
    return strcmp(v->cats[x].name, v->cats[y].name);
}

/* Group by parent, then current bytes with descendants (largest first),
 * then name. */
static int cmp_sibling(uint32_t x, uint32_t y, void *ctx) {
    const tree *t = ctx;
    const mt__cat_view *a = &t->v->cats[x], *b = &t->v->cats[y];
    if (t->nodes[x].parent != t->nodes[y].parent) return t->nodes[x].parent < t->nodes[y].parent ? -1 : 1;
    if (a->total.current != b->total.current) return a->total.current > b->total.current ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int tree_build(tree *t, const mt__view *v) {
    size_t n = v->ncats;
    memset(t, 0, sizeof *t);
    t->v = v;
    t->roots_first = SIZE_MAX;
    if (n == 0) return 0;
    t->mem_bytes = n * (sizeof(node) + 2 * sizeof(uint32_t));
    t->mem = mt__meta_alloc(t->mem_bytes);
    if (!t->mem) return -1;
    t->nodes = t->mem;
    t->sorted = (uint32_t *)(t->nodes + n);
    uint32_t *byname = t->sorted + n;

    /* parents by name: a binary search in the names sorted bytewise */
    for (size_t i = 0; i < n; i++) byname[i] = (uint32_t)i;
    mt__sort_u32(byname, n, cmp_cat_name, (void *)v);
    for (size_t i = 0; i < n; i++) {
        node *nd = &t->nodes[i];
        nd->parent = SIZE_MAX;
        const char *pname = v->cats[i].parent;
        size_t lo = 0, hi = pname ? n : 0;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strcmp(v->cats[byname[mid]].name, pname);
            if (c == 0) {
                nd->parent = byname[mid];
                break;
            }
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
    }
    for (size_t i = 0; i < n; i++) t->sorted[i] = (uint32_t)i;
    mt__sort_u32(t->sorted, n, cmp_sibling, t);
    for (size_t i = 0; i < n;) {
        size_t p = t->nodes[t->sorted[i]].parent, j = i;
        while (j < n && t->nodes[t->sorted[j]].parent == p) j++;
        if (p == SIZE_MAX) {
            t->roots_first = i;
            t->roots_count = j - i;
        } else {
            t->nodes[p].first = i;
            t->nodes[p].count = j - i;
        }
        i = j;
    }
    return 0;
}

static void tree_free(tree *t) {
    if (t->mem) mt__meta_free(t->mem, t->mem_bytes);
}

/* The part of the name below its parent: "Textures" for
 * "Renderer::Textures" under "Renderer". */
static const char *short_name(const mt__cat_view *c) {
    if (c->parent) {
        size_t pl = strlen(c->parent);
        if (strncmp(c->name, c->parent, pl) == 0 && c->name[pl] == ':' && c->name[pl + 1] == ':' &&
            c->name[pl + 2] != '\0')
            return c->name + pl + 2;
    }
    return c->name;
}

static void print_cat(FILE *out, const tree *t, uint32_t i, int depth) {
    char a[32], b[32], c[32], d[32], name[1100];
    const mt__cat_view *cat = &t->v->cats[i];
    const node *nd = &t->nodes[i];
    fprintf(out, "%11s %11s %9" PRIu64 "  %11s %11s %9" PRIu64 "  %*s%s\n",
            mt__human_bytes(cat->self.current, a, sizeof a), mt__human_bytes(cat->self.peak, b, sizeof b),
            live_blocks(&cat->self), mt__human_bytes(cat->total.current, c, sizeof c),
            mt__human_bytes(cat->total.peak, d, sizeof d), live_blocks(&cat->total), depth * 2, "",
            mt__text_escape(short_name(cat), name, sizeof name));
    /* Names of at most 255 bytes nest at most 128 deep; the bound only
     * guards views built from a hand-edited JSON report (memtally report). */
    if (depth < 256)
        for (size_t k = 0; k < nd->count; k++) print_cat(out, t, t->sorted[nd->first + k], depth + 1);
}

/* ---- sites -------------------------------------------------------------- */

static int print_sites(FILE *out, const mt__view *v) {
    size_t used = 0;
    for (size_t i = 0; i < v->nsites; i++) used += v->sites[i].stats.alloc_count > 0;
    if (used == 0) {
        fputs("Top sites: none\n", out);
        return 0;
    }
    size_t bytes = used * sizeof(uint32_t);
    uint32_t *order = mt__meta_alloc(bytes);
    if (!order) return -1;
    size_t k = 0;
    for (size_t i = 0; i < v->nsites; i++)
        if (v->sites[i].stats.alloc_count > 0) order[k++] = (uint32_t)i;
    mt__sort_u32(order, used, mt__site_order, (void *)v);
    size_t shown = used < TOP_SITES ? used : TOP_SITES;
    fprintf(out, "Top sites by current bytes (%zu of %zu)\n", shown, used);
    fprintf(out, "%11s %11s %9s %9s  %s\n", "current", "peak", "allocs", "blocks", "site [category]");
    for (size_t i = 0; i < shown; i++) {
        const mt__site_view *s = &v->sites[order[i]];
        char a[32], b[32], label[1100], cat[1100];
        fprintf(out, "%11s %11s %9" PRIu64 " %9" PRIu64 "  %s [%s]\n", mt__human_bytes(s->stats.current, a, sizeof a),
                mt__human_bytes(s->stats.peak, b, sizeof b), s->stats.alloc_count, live_blocks(&s->stats),
                mt__site_label(s, label, sizeof label), mt__text_escape(s->category, cat, sizeof cat));
    }
    mt__meta_free(order, bytes);
    return 0;
}

/* ---- the report --------------------------------------------------------- */

static void print_global_bytes(FILE *out, const char *what, uint64_t bytes) {
    char h[32];
    fprintf(out, "  %-12s%11s  (%" PRIu64 " bytes)\n", what, mt__human_bytes(bytes, h, sizeof h), bytes);
}

int mt__report_text(FILE *out, const mt__view *v) {
    const mt_stats *g = &v->global;
    fprintf(out, "memtally %s report\n", mt_version());
    print_global_bytes(out, "allocated", g->total_allocated);
    print_global_bytes(out, "freed", g->total_freed);
    print_global_bytes(out, "current", g->current);
    print_global_bytes(out, "peak", g->peak);
    fprintf(out, "  %-12s%11" PRIu64 "\n", "allocs", g->alloc_count);
    fprintf(out, "  %-12s%11" PRIu64 "\n", "frees", g->free_count);
    fprintf(out, "  %-12s%11" PRIu64 "\n", "live blocks", live_blocks(g));

    tree t;
    if (tree_build(&t, v) != 0) return -1;
    fprintf(out, "\nCategories (%zu; self: the category alone, total: with its descendants)\n", v->ncats);
    fprintf(out, "%11s %11s %9s  %11s %11s %9s  %s\n", "self", "self peak", "blocks", "total", "total peak",
            "blocks", "category");
    for (size_t i = 0; i < t.roots_count; i++) print_cat(out, &t, t.sorted[t.roots_first + i], 0);
    tree_free(&t);

    fputc('\n', out);
    if (print_sites(out, v) != 0) return -1;
    return ferror(out) ? -1 : 0;
}
