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

#include "internal.h"

MT_NO_ASAN mt__block_state mt__block_classify(const void *ptr, mt__header *out) {
    uintptr_t p = (uintptr_t)ptr;
    if (p & 15) return MT_BLOCK_FOREIGN;
    const mt__header *h = (const mt__header *)(p - sizeof(mt__header));
    /* the header shares a page with ptr unless ptr starts a page */
    if ((p & 4095) < sizeof(mt__header) && !mt__os_readable(h, sizeof *h)) return MT_BLOCK_FOREIGN;
    mt__header copy = *(volatile const mt__header *)h;
    *out = copy;
    uint32_t want = mt__header_check(h, copy.size, copy.site);
    uint32_t nsites = atomic_load_explicit(&mt__nsites, memory_order_acquire);
    if (copy.site >= nsites) return MT_BLOCK_FOREIGN;
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
