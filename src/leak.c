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

static int cmp_cat(uint32_t x, uint32_t y, void *ctx) {
    const mt__view *v = ctx;
    const mt__cat_view *a = &v->cats[x], *b = &v->cats[y];
    if (a->self.current != b->self.current) return a->self.current > b->self.current ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* Indices of the live entries, largest first; in view order when there is
 * no memory for the index array (then *n counts them and *order is NULL). */
static uint32_t *live_order(const mt__view *v, bool sites, size_t *n, size_t *bytes) {
    size_t total = sites ? v->nsites : v->ncats;
    *n = 0;
    for (size_t i = 0; i < total; i++) *n += is_live(sites ? &v->sites[i].stats : &v->cats[i].self);
    *bytes = *n * sizeof(uint32_t);
    uint32_t *order = *n ? mt__meta_alloc(*bytes) : NULL;
    if (!order) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < total; i++)
        if (is_live(sites ? &v->sites[i].stats : &v->cats[i].self)) order[k++] = (uint32_t)i;
    mt__sort_u32(order, *n, sites ? mt__site_order : cmp_cat, (void *)v);
    return order;
}

void mt__leak_write(FILE *out, const mt__view *v) {
    const mt_stats *g = &v->global;
    if (!is_live(g)) {
        emit(out, MT_LOG_INFO, "no leaks");
        return;
    }
    char h[32], name[1100], label[1100];
    emit(out, MT_LOG_ERROR, "leak check: %s (%" PRIu64 " bytes) in %" PRIu64 " %s still live",
         mt__human_bytes(g->current, h, sizeof h), g->current, blocks(g), plural(blocks(g)));
    int w = digits(g->current);
    size_t n, bytes;

    uint32_t *order = live_order(v, false, &n, &bytes);
    if (n) emit(out, MT_LOG_WARN, "by category:");
    for (size_t i = 0, k = 0; k < n; i++) {
        const mt__cat_view *c = &v->cats[order ? order[i] : i];
        if (!order && !is_live(&c->self)) continue;
        k++;
        emit(out, MT_LOG_WARN, "  %*" PRIu64 " bytes in %" PRIu64 " %s: %s", w, c->self.current, blocks(&c->self),
             plural(blocks(&c->self)), mt__text_escape(c->name, name, sizeof name));
    }
    if (order) mt__meta_free(order, bytes);

    order = live_order(v, true, &n, &bytes);
    if (n) emit(out, MT_LOG_WARN, "by site:");
    for (size_t i = 0, k = 0; k < n; i++) {
        const mt__site_view *s = &v->sites[order ? order[i] : i];
        if (!order && !is_live(&s->stats)) continue;
        k++;
        emit(out, MT_LOG_WARN, "  %*" PRIu64 " bytes in %" PRIu64 " %s: %s [%s]", w, s->stats.current,
             blocks(&s->stats), plural(blocks(&s->stats)), mt__site_label(s, label, sizeof label),
             mt__text_escape(s->category, name, sizeof name));
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
