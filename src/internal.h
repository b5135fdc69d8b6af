/*
 * internal.h - memtally's private declarations, shared by src/ and preload/.
 *
 * How the pieces fit:
 *   block.c     the 16-byte header in front of every tracked block
 *   registry.c  categories, file names and sites: interning, hierarchy, ids
 *   counters.c  per-thread counters, flushing, thread exit, summing for readers
 *   alloc.c     the public allocation functions (the hot path)
 *   scope.c     per-thread category scopes
 *   view.c      statistics read back: global, per category, per site
 *   snapshot.c, leak.c, report.c, report_text.c, report_json.c
 *   options.c log.c lifecycle.c os_posix.c
 *
 * Names that cross files start with mt__; everything else is static.
 */
#ifndef MT_INTERNAL_H
#define MT_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "memtally.h"

/* Everything below is the library's own: hidden, so code reaches it
 * directly, not through the GOT (one load fewer for mt__secret on the hot
 * path). */
#pragma GCC visibility push(hidden)

#define MT_LIKELY(x)   __builtin_expect(!!(x), 1)
#define MT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MT_NOINLINE    __attribute__((noinline))
#define MT_COLD        __attribute__((cold))
#define MT_INLINE      static inline __attribute__((always_inline))
#define MT_TLS         __thread __attribute__((tls_model("initial-exec")))
#define MT_PRINTF(a, b) __attribute__((format(printf, a, b)))

#if defined(__SANITIZE_ADDRESS__)
#define MT_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MT_HAVE_ASAN 1
#endif
#endif
#ifndef MT_HAVE_ASAN
#define MT_HAVE_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__)
#define MT_HAVE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MT_HAVE_TSAN 1
#endif
#endif
#ifndef MT_HAVE_TSAN
#define MT_HAVE_TSAN 0
#endif
/* Reading the 16 bytes in front of a pointer that may not be ours is the
 * point of the header check: exempt from the sanitizers that watch it. */
#if MT_HAVE_ASAN
#define MT_NO_SANITIZE_READ __attribute__((no_sanitize("address")))
#elif MT_HAVE_TSAN
#define MT_NO_SANITIZE_READ __attribute__((no_sanitize("thread")))
#else
#define MT_NO_SANITIZE_READ
#endif

/* ---- limits ---------------------------------------------------------- */

#define MT_MAX_NAME     255u          /* category names are cut here */
#define MT_MAX_CATS     (1u << 16)
#define MT_MAX_PNODES   (2u * MT_MAX_CATS + 1u) /* peak slots: the program, then 2 per category */
#define MT_MAX_SITES    (1u << 19)
#define MT_MAX_SIZE     (((uint64_t)1 << 47) - 4096) /* larger requests fail with ENOMEM */
#define MT_SCOPE_DEPTH  64
#define MT_CACHE_SIZE   16384u        /* per-thread site cache entries (power of two), touched lazily */
#define MT_FLUSH_BYTES  (32 * 1024)   /* a thread publishes a pending or slot change past this */

#define MT_PNODE_GLOBAL 0u            /* peak slot 0 is the whole program */
#define MT_CAT_UNCATEGORIZED 0u       /* category 0 is "Uncategorized" */
#define MT_SITE_NONE    0u            /* site 0: Uncategorized, unknown file */

/* ---- block header (block.c) ------------------------------------------ */

/* 16 bytes in front of every tracked block; keeps 16-byte alignment. */
typedef struct mt__header {
    uint64_t size;  /* bits 0-46: requested size; 47-62: category index (so a free
                     * needs no site lookup); 63: aligned block, raw pointer at
                     * (char *)hdr - 8 */
    uint32_t site;  /* index into the site table */
    uint32_t check; /* mt__header_check(): catches foreign, interior and freed pointers */
} mt__header;

#define MT_HDR_ALIGNED   ((uint64_t)1 << 63)
#define MT_HDR_CAT_SHIFT 47
#define MT_HDR_SIZE_MASK (((uint64_t)1 << MT_HDR_CAT_SHIFT) - 1)
_Static_assert(MT_MAX_CATS <= (1u << 16), "the category index has 16 bits in the header");

MT_INLINE uint64_t mt__size_word(uint64_t size, uint32_t cat) { return size | (uint64_t)cat << MT_HDR_CAT_SHIFT; }
MT_INLINE uint32_t mt__hdr_cat(uint64_t size_word) { return (uint32_t)(size_word >> MT_HDR_CAT_SHIFT) & 0xFFFFu; }

extern uint64_t mt__secret; /* odd; set once by mt_init from the clock and the address space */

/* The check value is the high half of the product of the header's
 * address, size word and site with the secret (an odd multiplier). The
 * second header word (site, check) is written and read as one 64-bit word:
 * the product's high half over the site index. */
MT_INLINE uint64_t mt__check_product(uintptr_t h, uint64_t size_word, uint32_t site) {
    return ((uint64_t)h + size_word + site) * mt__secret;
}

MT_INLINE uint32_t mt__header_check(const mt__header *h, uint64_t size_word, uint32_t site) {
    return (uint32_t)(mt__check_product((uintptr_t)h, size_word, site) >> 32);
}

MT_INLINE void mt__header_write(mt__header *h, uint64_t size_word, uint32_t site) {
    uint64_t w1 = (mt__check_product((uintptr_t)h, size_word, site) & ~(uint64_t)UINT32_MAX) | site;
    h->size = size_word;
    __builtin_memcpy(&h->site, &w1, sizeof w1);
}

_Static_assert(offsetof(mt__header, check) == offsetof(mt__header, site) + 4, "site and check form one word");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the header's second word is (check << 32 | site)");

typedef enum {
    MT_BLOCK_OK,
    MT_BLOCK_FREED,   /* our header, marked freed (memory not yet reused) */
    MT_BLOCK_FOREIGN, /* not a block memtally handed out (or its header is gone) */
} mt__block_state;

/* A block whose pointer lies in the first MT_EDGE bytes of a page is also
 * marked in a bitmap of (page, offset) when it is handed out: its header may
 * sit on another page, or on a page glibc unmaps when the block is freed (as
 * with large blocks), so a free at a page edge asks the bitmap before
 * reading memory. Other pointers have their header on their own page.
 * Pointers below MT_LOW_ADDR are never blocks. */
#define MT_EDGE     64u
#define MT_LOW_ADDR 65536u
/* Whether the fast path must leave the header of p unread: p sits at a
 * page edge or in the low pages. A misaligned p has its 16 bytes on its
 * own page; its check value fails and the slow path names it. */
MT_INLINE bool mt__block_needs_care(uintptr_t p) {
    return MT_UNLIKELY((p & 4095) < MT_EDGE) || MT_UNLIKELY(p < MT_LOW_ADDR);
}
void mt__edge_add(const void *ptr);
bool mt__edge_remove(const void *ptr); /* false if ptr was not registered */

/* Classifies ptr without faulting on the pointers the fast path sends here:
 * misaligned, low, page-edge and unregistered, or a wrong check value give
 * FOREIGN. *out gets the header. */
mt__block_state mt__block_classify(const void *ptr, mt__header *out);
/* Marks a header as freed so a second free of the same memory is named. */
#define MT_FREED_MARK 0x46524545u /* "FREE" xor'ed into the check value */
MT_INLINE void mt__block_mark_freed(mt__header *h) { h->check ^= MT_FREED_MARK; }
/* Logs one MT_LOG_ERROR for a bad pointer passed to `what` ("mt_free"...). */
void mt__block_report_bad(const char *what, const void *ptr, mt__block_state st, const mt__header *h);
MT_INLINE void *mt__block_raw(mt__header *h) {
    return (h->size & MT_HDR_ALIGNED) ? *(void **)((char *)h - 8) : (void *)h;
}

/* ---- backend (alloc.c) ----------------------------------------------- */

/* Where tracked blocks come from. libc's malloc family by default; glibc's
 * __libc_* functions in the preload library; tests replace it to inject
 * failures. */
typedef struct mt__backend {
    void *(*malloc)(size_t size);
    void *(*calloc)(size_t count, size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
} mt__backend;
extern mt__backend mt__be;
/* NULL restores the default. Not thread-safe: call before other threads run. */
void mt__backend_set(const mt__backend *b);

/* ---- registry (registry.c) ------------------------------------------- */

typedef struct mt__cat {
    const char *name;       /* interned, NUL-terminated */
    uint32_t len;
    uint32_t parent;        /* category index or UINT32_MAX at the top */
    uint32_t self_pnode;    /* peak slot of the category alone */
    uint32_t total_pnode;   /* peak slot with its descendants */
    uint32_t anon_site;     /* the category's unknown-file site, also the fallback */
    int depth;
    uint64_t hash;
} mt__cat;

typedef struct mt__site {
    uint32_t index;         /* in the site table; also its counter slot */
    uint32_t cat;
    const char *file;       /* interned, or NULL */
    int line;
    const void *pc;         /* calling address (preload), or NULL */
    _Atomic(const char *) function; /* resolved lazily at read time */
    uint32_t npeak;
    uint32_t poff[];        /* byte offsets of the peak slots to count into:
                             * category self, category total, each ancestor's total, program */
} mt__site;

extern mt__cat *mt__cats;              /* [MT_MAX_CATS] */
extern mt__site *_Atomic *mt__sites;   /* [MT_MAX_SITES], published with release */
extern _Atomic uint32_t mt__ncats;
extern _Atomic uint32_t mt__nsites;
extern _Atomic uint32_t mt__npnodes;

int mt__registry_init(void);
/* Interns category text (len bytes, already cut to MT_MAX_NAME), creating
 * parents. Returns the index; "Uncategorized" when the table is full. */
uint32_t mt__cat_intern(const char *name, size_t len);
/* Index of an existing category or UINT32_MAX. Never creates. */
uint32_t mt__cat_find(const char *name, size_t len);
/* The length a category name counts with: 0 for NULL or "" (no category),
 * MT_MAX_NAME for a longer one (a warning is logged once). */
size_t mt__cat_normalize(const char *name);
/* Interns (category, file, line, pc) as a site. file may be any buffer. */
uint32_t mt__site_intern(uint32_t cat, const char *file, int line, const void *pc);
/* A stable interned copy of a file name (lock-free when it exists). */
const char *mt__file_intern(const char *file);
/* The same, lock-free when the site already exists. */
uint32_t mt__site_find_or_create(uint32_t cat, const char *file, int line, const void *pc);
/* True when p lies in a read-only segment of a module loaded when memtally
 * started, so its text never changes and the pointer itself can be a cache
 * key. */
bool mt__is_immutable(const void *p);
/* "symbol", "symbol+0xOFF" or "module+0xOFF" for a site's pc; NULL without pc.
 * Only "module+0xOFF" when mt__names_later. */
const char *mt__site_function(mt__site *s);
/* Set by the preload library under `memtally run` for the report at exit,
 * which memtally names from the modules' symbols and DWARF after the
 * program exits: the program then does not search symbols itself (dladdr's
 * search is linear in a module's exported symbols, for every site). A site
 * keeps the name it was first given. */
extern _Atomic bool mt__names_later;
/* Forgets the names given to the preload sites so far (the old text stays
 * in the arena): the next report names them again, as mt__names_later then
 * says. */
void mt__site_names_forget(void);
/* Small records (hooks, log sinks) published by pointer and never changed
 * or reused afterwards, so a thread still calling through an old one is
 * safe. Equal records are shared. */
#define MT_RECORDS_MAX 4096u
typedef struct mt__records {
    char *base;       /* MT_RECORDS_MAX records, reserved on first use */
    unsigned count;
} mt__records;
/* A stable copy of rec (size bytes), or NULL when MT_RECORDS_MAX distinct
 * records exist already. */
const void *mt__records_intern(mt__records *r, const void *rec, size_t size);
/* The registry lock serialises creating categories, files, sites and
 * records; readers of the tables never take it. Unlocking logs a table-full
 * warning found while it was held. */
void mt__registry_lock(void);
void mt__registry_unlock(void);

/* ---- per-thread state and counters (counters.c) ---------------------- */

/* Counter slots of one thread. Only their thread writes them; readers load
 * them relaxed. `delta` is the net change since the thread last published
 * ("flushed") it into the global sum, `maxdelta` the highest delta since. */
typedef struct mt__pnode {
    _Atomic int64_t delta;
    _Atomic int64_t maxdelta;
} mt__pnode;

/* A site's slot: its peak pair plus the cumulative counts, from which every
 * category's and the program's totals are summed at read time. The counts
 * only grow, so sums of them never go down between two reads. The last two
 * fields are the owning thread's own copy of what the hot path needs about
 * the site (written when the site enters the thread's cache, never read by
 * other threads); one slot is one cache line. */
typedef struct mt__snode {
    mt__pnode p;
    _Atomic int64_t alloc_bytes;
    _Atomic int64_t free_bytes;
    _Atomic int64_t allocs;
    _Atomic int64_t frees;
    uint64_t catbits;   /* the site's category as header bits: cat << MT_HDR_CAT_SHIFT */
    uint32_t site;      /* the site's index */
    uint32_t unused;
} mt__snode;
_Static_assert(sizeof(mt__snode) == 64, "a site slot is one cache line");

/* The published side of a peak pair: the flushed sum and the peak. */
typedef struct mt__gpair {
    _Atomic int64_t net;
    _Atomic int64_t peak;
} mt__gpair;

typedef struct mt__cache_entry {
    uintptr_t catkey;   /* category pointer, or (index << 1 | 1) */
    const char *file;
    uintptr_t where;    /* line, or pc */
    mt__snode *node;    /* the site's slot in this thread */
} mt__cache_entry;

/* Per-thread memory of category names met in writable buffers: the first
 * 16 and the last 8 bytes and the length pick an entry, and only a name
 * longer than 24 bytes needs the rest compared with the interned text. */
#define MT_NAME_MEMO 64u
typedef struct mt__name_memo {
    uint64_t head, mid, tail;
    uint32_t len;
    uint32_t cat;   /* category index + 1, 0 = empty */
} mt__name_memo;

/* The first and last 8 bytes of n bytes at s (overlapping, zero-padded
 * below 8): for names of up to 16 bytes they are the whole text. */
MT_INLINE void mt__text_ends(const char *s, size_t n, uint64_t *head, uint64_t *tail) {
    uint64_t a = 0, b = 0;
    if (n >= 8) {
        __builtin_memcpy(&a, s, 8);
        __builtin_memcpy(&b, s + n - 8, 8);
    } else if (n >= 4) {
        uint32_t x, y;
        __builtin_memcpy(&x, s, 4);
        __builtin_memcpy(&y, s + n - 4, 4);
        a = x;
        b = y;
    } else if (n > 0) {
        a = (uint64_t)(unsigned char)s[0] << 16 | (uint64_t)(unsigned char)s[n / 2] << 8 | (unsigned char)s[n - 1];
    }
    *head = a;
    *tail = b;
}

typedef struct mt__thread {
    /* What the hot path reads and writes, in the record's first cache line. */
    mt__snode *snodes;               /* [MT_MAX_SITES], reserved, touched lazily */
    uintptr_t scope_key;             /* catkey for category NULL: (scope cat << 1) | 1 */
    /* The pending pair: a change not yet applied to the peak slots at the
     * end of a chain (a category's own slot or some ancestor's total, on up
     * to the program's). Blocks whose chains end that way count it once
     * instead of once per slot. */
    uint64_t pend_bits;              /* when the run is a category's whole chain, that
                                      * category's header bits (mt__snode.catbits); else
                                      * MT_PEND_NONE */
    mt__pnode pendp;
    uint32_t pend_len;               /* slots in the run, 0: no pending pair */
    uint32_t pend_off;               /* *pend_chain */
    /* The rest. */
    mt__pnode *pnodes;               /* [MT_MAX_PNODES] */
    _Atomic(const uint32_t *) pend_chain; /* into a site's poff[]: the first slot of the
                                           * pending run of slots, which ends with the
                                           * program's (offset 0); NULL: none */
    /* The last blocks counted: without a pending pair, run_len in a row
     * whose chains share their last run_common slots, the last at run_site;
     * under one, run_len in a row of category run_cat */
    const struct mt__site *run_site;
    uint32_t run_common, run_len, run_cat;
    uint32_t scope[MT_SCOPE_DEPTH];
    int scope_depth;                 /* may exceed MT_SCOPE_DEPTH: extra pushes are counted only */
    int in_hook;
    struct mt__thread *next, *prev;  /* the thread list, under its lock (counters.c) */
    mt__name_memo names[MT_NAME_MEMO];
    mt__cache_entry cache[MT_CACHE_SIZE];
} mt__thread;
_Static_assert(offsetof(mt__thread, pnodes) <= 64, "the hot fields fit in one cache line");

extern MT_TLS mt__thread *mt__tls;

/* The thread's record, creating it (and running mt_init) when needed. After
 * the thread's exit destructor ran, returns the shared locked record and sets
 * *locked. */
mt__thread *mt__thread_get_slow(bool *locked);
void mt__thread_unlock_orphan(void);
int mt__counters_init(void);

/* Thread record for a call: the fast TLS load, else the slow path (which
 * may hand out the locked orphan record; release it with MT_THREAD_DONE). */
#define MT_THREAD_GET(t, locked, on_fail)    \
    bool locked = false;                  \
    mt__thread *t = mt__tls;              \
    if (MT_UNLIKELY(!t)) {                \
        t = mt__thread_get_slow(&locked); \
        if (!t) on_fail;                  \
    }
#define MT_THREAD_DONE(locked) \
    if (MT_UNLIKELY(locked)) mt__thread_unlock_orphan()

void mt__flush_site(mt__thread *t, uint32_t site);

MT_INLINE int64_t mt__ld(_Atomic int64_t *p) { return atomic_load_explicit(p, memory_order_relaxed); }
MT_INLINE void mt__st(_Atomic int64_t *p, int64_t v) { atomic_store_explicit(p, v, memory_order_relaxed); }
/* Adds v to a counter only this thread writes: one add to memory on
 * x86-64, which readers see whole, as they see a relaxed store. Elsewhere,
 * and where ThreadSanitizer watches, a relaxed load and store. */
MT_INLINE void mt__bump(_Atomic int64_t *p, int64_t v) {
#if defined(__x86_64__) && !MT_HAVE_TSAN
    __asm__("addq %1, %0" : "+m"(*(int64_t *)p) : "er"(v));
#else
    mt__st(p, mt__ld(p) + v);
#endif
}

/* Raises a peak pair by size; true when the delta must be published. */
MT_INLINE bool mt__pair_add(mt__pnode *p, int64_t size) {
    int64_t d = mt__ld(&p->delta) + size;
    mt__st(&p->delta, d);
    if (d > mt__ld(&p->maxdelta)) {
        mt__st(&p->maxdelta, d);
        return MT_UNLIKELY(d > MT_FLUSH_BYTES);
    }
    return false;
}

MT_INLINE bool mt__pair_sub(mt__pnode *p, int64_t size) {
    int64_t d = mt__ld(&p->delta) - size;
    mt__st(&p->delta, d);
    return MT_UNLIKELY(d < -MT_FLUSH_BYTES);
}

/* Move the peak slots of s's chain by an allocation or a free of size
 * bytes: the slots at the end of the chain that are pending through the
 * pending pair, the others one by one; they pick the next pending run
 * (counters.c).
 *
 * A pending change must be applied before any slot of its run changes on
 * its own (a peak depends on the order), so a block whose chain does not
 * end with the pending run stops it. Without a pending run, MT_PEND_RUN
 * blocks in a row whose chains share at least their last two slots (a
 * category's total and the program's) make the shared slots the pending
 * run; under a run that is not a whole chain, MT_PEND_RUN blocks in a row
 * of one category make that category's whole chain the pending run (a
 * longer shared end that is not a whole chain is not looked for there).
 * So a run of one category costs one pair per block (the inline fast
 * path), siblings taking turns pay for their own slots and one pair for
 * their common ancestors, and a thread jumping across the tree pays about
 * what it would with no pending pair. */
void mt__peaks_unpended(mt__thread *t, const struct mt__site *s, int64_t d, bool up);
void mt__flush_pnode(mt__thread *t, uint32_t pnode);
void mt__pend_fold(mt__thread *t);                          /* past MT_FLUSH_BYTES */
void mt__pend_deepen(mt__thread *t, const struct mt__site *s); /* s's whole chain pending */
#define MT_PEND_RUN 4u
/* pend_bits without a whole chain pending: no category's header bits have
 * bit 0 set. */
#define MT_PEND_NONE 1u

/* Moves the peak slot at byte offset off of this thread by d (up: an
 * allocation), publishing it past MT_FLUSH_BYTES. */
MT_INLINE void mt__slot_move(mt__thread *t, uint32_t off, int64_t d, bool up) {
    mt__pnode *p = (mt__pnode *)((char *)t->pnodes + off);
    if (up ? mt__pair_add(p, d) : mt__pair_sub(p, -d)) mt__flush_pnode(t, off / (uint32_t)sizeof(mt__pnode));
}

/* Moves the slots of s's chain by d (up: an allocation): those above the
 * pending run one by one, the run through the pending pair. */
MT_INLINE void mt__peaks(mt__thread *t, const struct mt__site *s, int64_t d, bool up) {
    uint32_t np = s->npeak, floor = t->pend_len;
    if (MT_UNLIKELY(!floor || np < floor || s->poff[np - floor] != t->pend_off)) {
        mt__peaks_unpended(t, s, d, up);
        return;
    }
    uint32_t own = np - floor;
    if (MT_LIKELY(own == 2)) { /* a category and its total under a pending parent */
        mt__slot_move(t, s->poff[0], d, up);
        mt__slot_move(t, s->poff[1], d, up);
    } else {
        for (uint32_t i = 0; i < own; i++) mt__slot_move(t, s->poff[i], d, up);
    }
    if (up ? mt__pair_add(&t->pendp, d) : mt__pair_sub(&t->pendp, -d)) mt__pend_fold(t);
    if (own == 0) return;
    if (s->cat != t->run_cat) {
        t->run_cat = s->cat;
        t->run_len = 1;
    } else if (++t->run_len >= MT_PEND_RUN) {
        mt__pend_deepen(t, s);
    }
}

/* The common case of counting, inline and with no call: the block's
 * category is the pending one and nothing reaches MT_FLUSH_BYTES. Either
 * counts everything and returns true, or changes nothing and returns false
 * (the caller then uses mt__count_alloc / mt__count_free). An allocation is
 * counted once the backend has handed out its memory, so a failed backend
 * leaves nothing to take back. */
MT_INLINE bool mt__count_alloc_fast(mt__thread *t, mt__snode *n, int64_t size) {
    if (MT_UNLIKELY(n->catbits != t->pend_bits)) return false;
    int64_t sd = mt__ld(&n->p.delta) + size, pd = mt__ld(&t->pendp.delta) + size;
    int64_t sm = mt__ld(&n->p.maxdelta), pm = mt__ld(&t->pendp.maxdelta);
    if (MT_UNLIKELY((sd > sm) | (pd > pm))) {
        /* A highest delta rises. Neither pair's highest delta is ever
         * above MT_FLUSH_BYTES (each is published, or folded, as soon as it
         * passes it), so only here can a delta pass it: the slow path's. */
        if ((sd > MT_FLUSH_BYTES) | (pd > MT_FLUSH_BYTES)) return false;
        if (sd > sm) mt__st(&n->p.maxdelta, sd);
        if (pd > pm) mt__st(&t->pendp.maxdelta, pd);
    }
    mt__bump(&n->alloc_bytes, size);
    mt__bump(&n->allocs, 1);
    mt__st(&n->p.delta, sd);
    mt__st(&t->pendp.delta, pd);
    return true;
}

/* The caller has checked that the block's category is the pending one. */
MT_INLINE bool mt__count_free_fast(mt__thread *t, mt__snode *n, int64_t size) {
    int64_t sd = mt__ld(&n->p.delta) - size, pd = mt__ld(&t->pendp.delta) - size;
    if (MT_UNLIKELY((sd < -MT_FLUSH_BYTES) | (pd < -MT_FLUSH_BYTES))) return false;
    mt__bump(&n->free_bytes, size);
    mt__bump(&n->frees, 1);
    mt__st(&n->p.delta, sd);
    mt__st(&t->pendp.delta, pd);
    return true;
}

/* Counts one allocation of size bytes at site s on thread t. */
MT_INLINE void mt__count_alloc(mt__thread *t, const mt__site *s, int64_t size) {
    mt__snode *n = &t->snodes[s->index];
    mt__bump(&n->alloc_bytes, size);
    mt__bump(&n->allocs, 1);
    if (mt__pair_add(&n->p, size)) mt__flush_site(t, s->index);
    mt__peaks(t, s, size, true);
}

MT_INLINE void mt__count_free(mt__thread *t, const mt__site *s, int64_t size) {
    mt__snode *n = &t->snodes[s->index];
    mt__bump(&n->free_bytes, size);
    mt__bump(&n->frees, 1);
    if (mt__pair_sub(&n->p, size)) mt__flush_site(t, s->index);
    mt__peaks(t, s, -size, false);
}

/* Readers hold the thread-list lock shared (it keeps threads from exiting
 * mid-sum; writers never wait for it except to publish past
 * MT_FLUSH_BYTES). */
void mt__threads_read_lock(void);
void mt__threads_read_unlock(void);
/* A site's full statistics: */
void mt__site_sum(uint32_t site, mt_stats *out);
/* A peak slot's peak (at least `current`, which the caller took from the
 * sites' counts): */
int64_t mt__pnode_peak(uint32_t pnode, int64_t current);

/* ---- scope (scope.c) -------------------------------------------------- */

/* The category of the thread's innermost scope, or Uncategorized. */
uint32_t mt__scope_current(mt__thread *t);

/* ---- allocation core used by alloc.c and the preload shim ------------- */

/* Tracked allocation with a calling address as its site (preload mode).
 * alignment 0 = default 16; zero != 0 clears the block. */
void *mt__alloc_pc(size_t size, size_t alignment, int zero, const void *pc);
/* Reallocates with pc as the new block's site; a foreign pointer goes to
 * foreign_realloc. */
void *mt__realloc_pc(void *ptr, size_t size, const void *pc, void *(*foreign_realloc)(void *, size_t));
/* Frees a tracked block. A foreign pointer goes to foreign_free when it is
 * not NULL (preload, auto.h), else it is logged. */
void mt__free_ex(void *ptr, void (*foreign_free)(void *));
/* Usable bytes of a tracked block (>= requested), or SIZE_MAX if foreign. */
size_t mt__usable_size(const void *ptr, size_t (*backend_usable)(void *));

/* ---- hooks (alloc.c) -------------------------------------------------- */

extern _Atomic(const mt_hooks *) mt__hooks;
extern uint64_t mt__large_threshold; /* UINT64_MAX when off */
/* Recomputes the hot path's single watch value after hooks or the large
 * threshold change. */
void mt__watch_update(void);
MT_NOINLINE MT_COLD void mt__call_hook_alloc(mt__thread *t, void *p, size_t size, const mt__site *site);
MT_NOINLINE MT_COLD void mt__call_hook_free(mt__thread *t, void *p, size_t size, const mt__site *site);
MT_NOINLINE MT_COLD void mt__log_large(size_t size, const mt__site *site);

/* ---- Tracy (tracy.c, in libmemtally built with MEMTALLY_WITH_TRACY) ----- */

/* Each tracked block in Tracy's memory view, in the pool named by its
 * category. Such a build sends every allocation and free down the watched
 * path (as hooks do): a block is announced once the backend handed it out
 * and taken back before the backend can hand its address to another
 * thread. */
#if MT_WITH_TRACY
#define MT_TRACY 1
void mt__tracy_alloc(const void *p, size_t size, const char *category);
void mt__tracy_free(const void *p, const char *category);
#else
#define MT_TRACY 0
MT_INLINE void mt__tracy_alloc(const void *p, size_t size, const char *category) {
    (void)p;
    (void)size;
    (void)category;
}
MT_INLINE void mt__tracy_free(const void *p, const char *category) {
    (void)p;
    (void)category;
}
#endif

/* ---- views for readers (view.c) -------------------------------------- */

typedef struct mt__cat_view {
    const char *name;
    const char *parent;
    int depth;
    uint32_t index;
    mt_stats self;
    mt_stats total;
} mt__cat_view;

typedef struct mt__site_view {
    const char *file;
    int line;
    const char *function;
    const void *pc;
    const char *module;   /* path of the module holding pc (dladdr), or NULL */
    uintptr_t offset;     /* pc - module base */
    const char *category;
    mt_stats stats;
} mt__site_view;

/* Everything a report needs, summed under one lock hold. Categories are in
 * tree order (parents first, siblings by name); sites in creation order.
 * Memory comes from mt__meta_alloc, never from a tracked allocation. */
typedef struct mt__view {
    mt_stats global;
    size_t ncats;
    mt__cat_view *cats;
    size_t nsites;
    mt__site_view *sites;
    size_t mapped;  /* bytes of the mapping behind cats and sites */
} mt__view;

int mt__view_take(mt__view *v);   /* 0, or -1 with errno ENOMEM */
void mt__view_free(mt__view *v);
/* In-place heap sort of n indices by cmp (no allocation: safe anywhere). */
void mt__sort_u32(uint32_t *a, size_t n, int (*cmp)(uint32_t x, uint32_t y, void *ctx), void *ctx);

/* ---- reports (report.c, report_text.c, report_json.c) ----------------- */

/* Length (2..4) of a well-formed multi-byte UTF-8 sequence at s, else 0. */
size_t mt__utf8_len(const unsigned char *s);
/* s with control bytes and invalid UTF-8 as \xNN, in buf. */
const char *mt__text_escape(const char *s, char *buf, size_t cap);
/* "file:line", the function, or "(unknown site)", in buf. */
const char *mt__site_label(const mt__site_view *s, char *buf, size_t cap);
/* Sites of a view by current bytes (largest first), then bytes ever
 * allocated, then first appearance: a comparison for mt__sort_u32. */
int mt__site_order(uint32_t x, uint32_t y, void *view);

/* Human units: "0 B", "512 B", "1.50 KiB", "3.00 MiB"... buf >= 32 bytes. */
const char *mt__human_bytes(uint64_t bytes, char *buf, size_t cap);
int mt__report_text(FILE *out, const mt__view *v);
int mt__report_json(FILE *out, const mt__view *v);
/* Writes the leak report (live bytes by category and site) for a view. */
void mt__leak_write(FILE *out, const mt__view *v);

/* ---- report files (outfile.c) ------------------------------------------ */

/* The format a report file's name asks for (MEMTALLY_REPORT, `memtally run
 * -o`): JSON when it ends in ".json", text otherwise. */
mt_format mt__format_for(const char *path);

/* A report file being written: a regular file (or a new name) beside its
 * name, renamed into place by mt__outfile_close; a symbolic link's target
 * the same way; a device or FIFO in place. */
typedef struct mt__outfile {
    FILE *f;             /* write the report here */
    char path[4096];     /* the name written, a link's target */
    char tmp[4096 + 8];  /* the file beside it, "" when written in place */
} mt__outfile;
/* 0 with o->f open, or -1 with errno (EISDIR for a directory). */
int mt__outfile_open(mt__outfile *o, const char *path);
/* The descriptor a name stands for ("/dev/stdout" 1, "/dev/stderr" 2,
 * "/dev/fd/N", "/proc/self/fd/N", "/proc/thread-self/fd/N", spelled with
 * repeated slashes or "." components or reached through links), else -1. */
int mt__path_descriptor(const char *path);
/* The standard descriptors (bit 0, 1, 2) the process started with closed
 * (set by the memtally command, which puts /dev/null there, and by the
 * preload library): a descriptor name for one of them is refused with
 * EBADF, since whatever file holds that number now is not stdout. */
extern unsigned mt__std_closed;
/* Whether mt__outfile_open could write path (its directory, or the file
 * itself when it is written in place), writing nothing: 0, or -1 with
 * errno. */
int mt__outfile_check(const char *path);
/* Flushes and closes; with ok, puts the file in place (0, or -1 with
 * errno); without, removes what was written and returns -1 with errno
 * as the caller left it. */
int mt__outfile_close(mt__outfile *o, bool ok);

/* ---- options (options.c) --------------------------------------------- */

typedef struct mt__options {
    bool leak_check;        /* MEMTALLY_LEAK_CHECK */
    char report[4096];      /* MEMTALLY_REPORT, "" = none */
    char report_else[4096]; /* where the report goes when report's directory
                             * is gone (preload, `memtally run --follow`) */
    uint64_t large;         /* MEMTALLY_LARGE, 0 = off */
    int stack_depth;        /* MEMTALLY_STACK_DEPTH (preload), default 1 */
} mt__options;
extern mt__options mt__opt;
void mt__options_read(void);
/* Logs, once, what mt__options_read found wrong (after mt_init is done). */
void mt__options_report_warnings(void);
/* "1/yes/on/true" -> 1, "0/no/off/false/" -> 0, else -1. */
int mt__parse_bool(const char *s);
/* "123", "4K", "16M", "2G" (also KiB/MiB/GiB, kB...) -> 0 and *out; -1 when malformed. */
int mt__parse_size(const char *s, uint64_t *out);

/* ---- logging (log.c) -------------------------------------------------- */

void mt__log(mt_log_level level, const char *fmt, ...) MT_PRINTF(2, 3);
/* Set by the preload library when the program started with descriptor 2
 * closed: whatever file later takes that number is the program's, not a
 * place for memtally's lines nor for MEMTALLY_LEAK_CHECK's report (a
 * callback set with mt_set_log still gets the lines). */
extern bool mt__log_muted;

/* ---- lifecycle (lifecycle.c) ----------------------------------------- */

extern _Atomic int mt__initialized;
/* Preload mode: the shim runs the at-exit actions itself (after
 * __libc_freeres); mt_init does not register its own atexit handler. */
extern bool mt__preload_mode;
/* Preload only (preload/unwind.c): walks the calling thread's stack from
 * the caller of mt__unwind outwards, handing each return address to frame
 * until it returns false. 0 when frame stopped it or the stack ended; -1
 * when a frame could not be walked (the caller then asks libgcc). closes:
 * the caller's count of dlclose calls; a change empties the rule cache. */
int mt__unwind(bool (*frame)(const void *ret, void *arg), void *arg, unsigned closes);
void mt__atexit_actions(void);

/* ---- operating system (os_posix.c) ------------------------------------ */

/* Zeroed pages, reserved lazily (MAP_NORESERVE); NULL on failure. */
void *mt__os_reserve(size_t bytes);
void mt__os_release(void *p, size_t bytes);
/* Metadata memory for views and snapshots: never a tracked allocation. */
void *mt__meta_alloc(size_t bytes);
void mt__meta_free(void *p, size_t bytes);
/* True when len bytes at p can be read without faulting. */
bool mt__os_readable(const void *p, size_t len);
uint64_t mt__os_entropy(void);
/* Writes all of buf to fd, retrying short writes. */
void mt__os_write_all(int fd, const char *buf, size_t len);
/* The running program's file (/proc/self/exe) in buf, "" when unknown. */
const char *mt__os_exe_path(char *buf, size_t cap);
/* "module+0xADDR" for a code address: ADDR is the address in the module's
 * file (pc minus the load bias), what `addr2line -e module` takes; reports
 * count their offsets from the first mapped byte instead, which differs for
 * non-PIE programs. "0x..." when no module holds it; in buf. Takes no lock
 * (glibc's _dl_find_object), unlike dladdr, which may wait for a loader
 * lock held by a thread that is waiting for malloc. */
const char *mt__os_pc_module(const void *pc, char *buf, size_t cap);
/* The module holding a code address as dladdr names it (its file, argv[0]
 * for the main program) and its first mapped byte (dladdr's dli_fbase),
 * without dladdr's search of the module's symbols. False when no module
 * holds it. */
bool mt__os_pc_module_start(const void *pc, const char **file, uintptr_t *start);

#pragma GCC visibility pop

#endif /* MT_INTERNAL_H */
