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
#include <string.h>

#include "internal.h"

/* ---- the page-edge registry ---------------------------------------------
 * About 1 block in 64 (and every block glibc serves by mmap) starts within
 * MT_EDGE bytes of a page. For those, one bit per (page, 16-byte offset)
 * says "a live tracked block starts here", so a second free of a large
 * block, whose pages glibc has already unmapped, is named without touching
 * them. Two live blocks never start at one address, so a bit is exact. The
 * bits live in 128 KiB leaves (one per GiB of address space, mapped on
 * first use) and cost nothing per block. */

#define EDGE_CLASSES    (MT_EDGE / 16u)          /* offsets 0, 16, 32, 48 */
#define EDGE_LEAF_SHIFT 18u                      /* pages per leaf: 1 GiB */
#define EDGE_LEAVES     (1u << (47u - 12u - EDGE_LEAF_SHIFT))
#define EDGE_LEAF_WORDS (((size_t)1 << EDGE_LEAF_SHIFT) * EDGE_CLASSES / 64u)

typedef _Atomic uint64_t edge_bits;
typedef _Atomic(edge_bits *) edge_leaf;
static _Atomic(edge_leaf *) edge_leaves; /* [EDGE_LEAVES] */

/* The word and bit of p; NULL when p is past the 47-bit address space or
 * (create false) its leaf does not exist. */
static _Atomic uint64_t *edge_word(uintptr_t p, uint64_t *bit, bool create) {
    uintptr_t page = p >> 12;
    size_t leaf = page >> EDGE_LEAF_SHIFT;
    if (leaf >= EDGE_LEAVES) return NULL;
    edge_leaf *top = atomic_load_explicit(&edge_leaves, memory_order_acquire);
    if (!top) {
        if (!create) return NULL;
        edge_leaf *fresh = mt__os_reserve(EDGE_LEAVES * sizeof *fresh);
        if (!fresh) return NULL;
        if (!atomic_compare_exchange_strong(&edge_leaves, &top, fresh)) mt__os_release(fresh, EDGE_LEAVES * sizeof *fresh);
        else top = fresh;
    }
    edge_bits *words = atomic_load_explicit(&top[leaf], memory_order_acquire);
    if (!words) {
        if (!create) return NULL;
        edge_bits *fresh = mt__os_reserve(EDGE_LEAF_WORDS * sizeof *fresh);
        if (!fresh) return NULL;
        if (!atomic_compare_exchange_strong(&top[leaf], &words, fresh)) mt__os_release(fresh, EDGE_LEAF_WORDS * sizeof *fresh);
        else words = fresh;
    }
    size_t idx = ((page & (((size_t)1 << EDGE_LEAF_SHIFT) - 1)) * EDGE_CLASSES) | ((p & 4095) >> 4);
    *bit = (uint64_t)1 << (idx & 63);
    return &words[idx >> 6];
}

void mt__edge_add(const void *ptr) {
    uint64_t bit;
    _Atomic uint64_t *w = edge_word((uintptr_t)ptr, &bit, true);
    if (w) atomic_fetch_or_explicit(w, bit, memory_order_release);
}

bool mt__edge_remove(const void *ptr) {
    uint64_t bit;
    _Atomic uint64_t *w = edge_word((uintptr_t)ptr, &bit, false);
    return w && (atomic_fetch_and_explicit(w, ~bit, memory_order_acq_rel) & bit);
}

static bool edge_contains(const void *ptr) {
    uint64_t bit;
    _Atomic uint64_t *w = edge_word((uintptr_t)ptr, &bit, false);
    return w && (atomic_load_explicit(w, memory_order_acquire) & bit);
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
