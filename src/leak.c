/*
 * leak.c - mt_leak_check(): what is still live, by category and by site.
 *
 *   memtally: leak check: 1.50 KiB (1536 bytes) in 3 blocks still live
 *   memtally: by category:
 *   memtally:   1024 bytes in 2 blocks: Renderer::Textures
 *   memtally:    512 bytes in 1 block: Audio
 *   memtally: by site:
 *   memtally:   1024 bytes in 2 blocks: renderer.c:42 [Renderer::Textures]
 *   ...
 * or "memtally: no leaks". A category is listed when blocks allocated in it
 * directly (self) are live; categories and sites come largest first. Lines
 * go to the FILE given, or one by one through the log callback (the
 * headline as MT_LOG_ERROR, the details as MT_LOG_WARN, "no leaks" as
 * MT_LOG_INFO) when it is NULL.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* Shared helpers, defined in report.c. */
const char *mt__text_escape(const char *s, char *buf, size_t cap);
const char *mt__site_label(const mt__site_view *s, char *buf, size_t cap);
void mt__sort_ptrs(const void **a, size_t n, int (*cmp)(const void *, const void *));

static void emit(FILE *out, mt_log_level level, const char *fmt, ...) MT_PRINTF(3, 4);
static void emit(FILE *out, mt_log_level level, const char *fmt, ...) {
    char line[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (out) fprintf(out, "memtally: %s\n", line);
    else mt__log(level, "%s", line);
}

static uint64_t blocks(const mt_stats *s) {
    return s->alloc_count - s->free_count;
}

static bool is_live(const mt_stats *s) {
    return s->current > 0 || blocks(s) > 0;
}

static const char *plural(uint64_t n) {
    return n == 1 ? "block" : "blocks";
}

static int digits(uint64_t n) {
    int d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

static int cmp_cat(const void *a, const void *b) {
    const mt__cat_view *x = a, *y = b;
    if (x->self.current != y->self.current) return x->self.current > y->self.current ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_site(const void *a, const void *b) {
    const mt__site_view *x = a, *y = b;
    if (x->stats.current != y->stats.current) return x->stats.current > y->stats.current ? -1 : 1;
    if (x->stats.total_allocated != y->stats.total_allocated)
        return x->stats.total_allocated > y->stats.total_allocated ? -1 : 1;
    return x < y ? -1 : x > y;
}

void mt__leak_write(FILE *out, const mt__view *v) {
    const mt_stats *g = &v->global;
    if (!is_live(g)) {
        emit(out, MT_LOG_INFO, "no leaks");
        return;
    }
    char h[32];
    emit(out, MT_LOG_ERROR, "leak check: %s (%" PRIu64 " bytes) in %" PRIu64 " %s still live",
         mt__human_bytes(g->current, h, sizeof h), g->current, blocks(g), plural(blocks(g)));

    size_t cap = v->ncats > v->nsites ? v->ncats : v->nsites;
    size_t bytes = cap * sizeof(void *);
    const void **order = cap ? mt__meta_alloc(bytes) : NULL;
    int w = digits(g->current);
    char name[1100], label[1100];

    /* Without scratch memory the lists come unsorted, in view order. */
    size_t n = 0;
    for (size_t i = 0; i < v->ncats; i++)
        if (is_live(&v->cats[i].self)) {
            if (order) order[n] = &v->cats[i];
            n++;
        }
    if (n) {
        emit(out, MT_LOG_WARN, "by category:");
        if (order) mt__sort_ptrs(order, n, cmp_cat);
        for (size_t i = 0; i < (order ? n : v->ncats); i++) {
            const mt__cat_view *c = order ? order[i] : &v->cats[i];
            if (!order && !is_live(&c->self)) continue;
            emit(out, MT_LOG_WARN, "  %*" PRIu64 " bytes in %" PRIu64 " %s: %s", w, c->self.current,
                 blocks(&c->self), plural(blocks(&c->self)), mt__text_escape(c->name, name, sizeof name));
        }
    }

    n = 0;
    for (size_t i = 0; i < v->nsites; i++)
        if (is_live(&v->sites[i].stats)) {
            if (order) order[n] = &v->sites[i];
            n++;
        }
    if (n) {
        emit(out, MT_LOG_WARN, "by site:");
        if (order) mt__sort_ptrs(order, n, cmp_site);
        for (size_t i = 0; i < (order ? n : v->nsites); i++) {
            const mt__site_view *s = order ? order[i] : &v->sites[i];
            if (!order && !is_live(&s->stats)) continue;
            emit(out, MT_LOG_WARN, "  %*" PRIu64 " bytes in %" PRIu64 " %s: %s [%s]", w, s->stats.current,
                 blocks(&s->stats), plural(blocks(&s->stats)), mt__site_label(s, label, sizeof label),
                 mt__text_escape(s->category, name, sizeof name));
        }
    }
    if (order) mt__meta_free(order, bytes);
}

uint64_t mt_leak_check(FILE *out) {
    mt_init();
    mt__view v;
    if (mt__view_take(&v) != 0) {
        /* No memory for the details: the totals still tell the story. */
        mt_stats g = mt_global_stats();
        char h[32];
        if (!is_live(&g)) emit(out, MT_LOG_INFO, "no leaks");
        else emit(out, MT_LOG_ERROR, "leak check: %s (%" PRIu64 " bytes) in %" PRIu64 " %s still live (no memory for details)",
             mt__human_bytes(g.current, h, sizeof h), g.current, blocks(&g), plural(blocks(&g)));
        if (out) fflush(out);
        return g.current;
    }
    mt__leak_write(out, &v);
    uint64_t live = v.global.current;
    mt__view_free(&v);
    if (out) fflush(out);
    return live;
}
