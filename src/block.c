/*
 * block.c - checking the 16-byte header in front of a block without ever
 * faulting, and naming what went wrong when a pointer is bad.
 *
 * A tracked block is [mt__header][user bytes]; an aligned one is
 * [raw pointer][padding][mt__header][user bytes] with bit 63 of size set.
 * The check value mixes the header's address, size and site with a
 * per-process secret, so foreign memory matches by chance with probability
 * 2^-32, and an interior pointer (other address) never reuses a real one.
 */
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"

/* ---- the page-edge registry ---------------------------------------------
 * About 1 block in 64 (and every block glibc serves by mmap) starts within
 * MT_EDGE bytes of a page. Those are kept in a striped open-addressing set
 * of pointers, so that a double free of a large block, whose pages glibc has
 * already unmapped, is named without touching them. */

#define EDGE_STRIPES 64u

typedef struct edge_stripe {
    pthread_mutex_t lock;
    uintptr_t *slots; /* 0 = empty */
    size_t cap;       /* power of two, or 0 */
    size_t count;
    char pad[64 - sizeof(pthread_mutex_t) % 64];
} edge_stripe;

static edge_stripe stripes[EDGE_STRIPES] = {[0 ... EDGE_STRIPES - 1] = {.lock = PTHREAD_MUTEX_INITIALIZER}};

static size_t edge_hash(uintptr_t p) { return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull >> 20); }

static edge_stripe *edge_stripe_of(uintptr_t p) { return &stripes[((p >> 12) ^ (p >> 20)) % EDGE_STRIPES]; }

static bool edge_grow(edge_stripe *s) {
    size_t cap = s->cap ? s->cap * 2 : 512;
    uintptr_t *slots = mt__meta_alloc(cap * sizeof *slots);
    if (!slots) return false;
    for (size_t i = 0; i < s->cap; i++) {
        uintptr_t p = s->slots[i];
        if (!p) continue;
        size_t j = edge_hash(p) & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = p;
    }
    mt__meta_free(s->slots, s->cap * sizeof *slots);
    s->slots = slots;
    s->cap = cap;
    return true;
}

void mt__edge_add(const void *ptr) {
    uintptr_t p = (uintptr_t)ptr;
    edge_stripe *s = edge_stripe_of(p);
    pthread_mutex_lock(&s->lock);
    if ((s->count + 1) * 2 <= s->cap || edge_grow(s)) {
        size_t j = edge_hash(p) & (s->cap - 1);
        while (s->slots[j] && s->slots[j] != p) j = (j + 1) & (s->cap - 1);
        if (!s->slots[j]) s->count++;
        s->slots[j] = p;
    }
    pthread_mutex_unlock(&s->lock);
}

/* Linear probing with backward-shift deletion: no tombstones. */
static bool edge_find(edge_stripe *s, uintptr_t p, bool remove) {
    if (!s->cap) return false;
    size_t mask = s->cap - 1, j = edge_hash(p) & mask;
    for (; s->slots[j]; j = (j + 1) & mask) {
        if (s->slots[j] != p) continue;
        if (!remove) return true;
        size_t hole = j;
        for (size_t k = (j + 1) & mask; s->slots[k]; k = (k + 1) & mask) {
            size_t home = edge_hash(s->slots[k]) & mask;
            /* move k into the hole unless its home lies in (hole, k] */
            if (((k - home) & mask) >= ((k - hole) & mask)) {
                s->slots[hole] = s->slots[k];
                hole = k;
            }
        }
        s->slots[hole] = 0;
        s->count--;
        return true;
    }
    return false;
}

bool mt__edge_remove(const void *ptr) {
    edge_stripe *s = edge_stripe_of((uintptr_t)ptr);
    pthread_mutex_lock(&s->lock);
    bool found = edge_find(s, (uintptr_t)ptr, true);
    pthread_mutex_unlock(&s->lock);
    return found;
}

static bool edge_contains(const void *ptr) {
    edge_stripe *s = edge_stripe_of((uintptr_t)ptr);
    pthread_mutex_lock(&s->lock);
    bool found = edge_find(s, (uintptr_t)ptr, false);
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* ---- classifying a pointer ------------------------------------------------ */

MT_NO_SANITIZE_READ mt__block_state mt__block_classify(const void *ptr, mt__header *out) {
    uintptr_t p = (uintptr_t)ptr;
    memset(out, 0, sizeof *out);
    if ((p & 15) || p < MT_LOW_ADDR) return MT_BLOCK_FOREIGN;
    const mt__header *h = (const mt__header *)(p - sizeof(mt__header));
    /* at a page edge only a registered block is read directly; anything
     * else is probed, to tell a block freed twice from a foreign pointer */
    if ((p & 4095) < MT_EDGE && !edge_contains(ptr) && !mt__os_readable(h, sizeof *h)) return MT_BLOCK_FOREIGN;
    mt__header copy = *(volatile const mt__header *)h;
    *out = copy;
    if (copy.site >= atomic_load_explicit(&mt__nsites, memory_order_acquire)) return MT_BLOCK_FOREIGN;
    uint32_t want = mt__header_check(h, copy.size, copy.site);
    if (copy.check == want) return MT_BLOCK_OK;
    if (copy.check == (want ^ MT_FREED_MARK)) return MT_BLOCK_FREED;
    return MT_BLOCK_FOREIGN;
}

void mt__block_report_bad(const char *what, const void *ptr, mt__block_state st, const mt__header *h) {
    if (st == MT_BLOCK_FREED) {
        const mt__site *s = atomic_load_explicit(&mt__sites[h->site], memory_order_acquire);
        const char *cat = mt__cats[s->cat].name;
        if (s->file)
            mt__log(MT_LOG_ERROR, "%s(%p): block already freed (%" PRIu64 " bytes allocated at %s:%d, category %s)", what, ptr,
                    h->size & MT_HDR_SIZE_MASK, s->file, s->line, cat);
        else
            mt__log(MT_LOG_ERROR, "%s(%p): block already freed (%" PRIu64 " bytes, category %s)", what, ptr,
                    h->size & MT_HDR_SIZE_MASK, cat);
        return;
    }
    mt__log(MT_LOG_ERROR, "%s(%p): not a block memtally handed out (foreign, interior or already freed pointer); ignored", what,
            ptr);
}
