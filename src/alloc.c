/*
 * alloc.c - the allocation entry points: the hot path.
 *
 * A tracked malloc is: one compare for hooks, large blocks and impossible
 * sizes; find the site's counter slot in the thread's cache (three
 * compares); allocate size + 16 from the backend and write the header;
 * then move the thread's peak pairs for the site and for the pending run of
 * its category chain, and add to the site's counts. A free reads and checks the
 * header and does the reverse. No lock, no atomic read-modify-write. Misses,
 * first calls on a thread, other categories than the pending one, hooks
 * and large-allocation logging are out of line.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef MT_PRELOAD
/* glibc's own allocator: the shim's malloc must not call itself. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
#define DEFAULT_BACKEND {__libc_malloc, __libc_calloc, __libc_realloc, __libc_free}
#else
#define DEFAULT_BACKEND {malloc, calloc, realloc, free}
#endif
static const mt__backend default_backend = DEFAULT_BACKEND;
mt__backend mt__be = DEFAULT_BACKEND;

void mt__backend_set(const mt__backend *b) { mt__be = b ? *b : default_backend; }

_Atomic(const mt_hooks *) mt__hooks;
uint64_t mt__large_threshold = UINT64_MAX;
/* One compare, before anything else, sends an allocation off the hot path
 * for hooks and Tracy (0 while hooks are set, always in a Tracy build),
 * large-allocation logging (the threshold) and sizes no block can have
 * (MT_MAX_SIZE + 1). */
#define WATCH_NONE (MT_MAX_SIZE + 1)
static _Atomic uint64_t alloc_watch = MT_TRACY ? 0 : WATCH_NONE;

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;

static void watch_set(const mt_hooks *hooks, bool set_hooks) {
    pthread_mutex_lock(&watch_lock);
    if (set_hooks) atomic_store_explicit(&mt__hooks, hooks, memory_order_release);
    uint64_t w = (MT_TRACY || atomic_load_explicit(&mt__hooks, memory_order_acquire)) ? 0 : mt__large_threshold;
    if (w > WATCH_NONE) w = WATCH_NONE;
    atomic_store_explicit(&alloc_watch, w, memory_order_relaxed);
    pthread_mutex_unlock(&watch_lock);
}

void mt__watch_update(void) { watch_set(NULL, false); }

/* ---- site lookup ------------------------------------------------------ */

#define CACHE_BITS (__builtin_ctz(MT_CACHE_SIZE))

/* One multiply (Fibonacci hashing): the line (or pc) goes to the high
 * word, the file pointer is scaled so that it and the category pointer do
 * not cancel for neighbouring strings; the top bits of the product index. */
MT_INLINE uint32_t cache_slot(uintptr_t catkey, const char *file, uintptr_t where) {
    uint64_t x = ((uint64_t)catkey + (uint64_t)(uintptr_t)file * 8 + ((uint64_t)where << 32)) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> (64 - CACHE_BITS));
}

/* Whether p is surely on this thread's stack: such a buffer is rewritten
 * between calls, so it is never a cache key (saves the range search). */
MT_INLINE bool on_my_stack(const void *p) {
    char here;
    uintptr_t a = (uintptr_t)p, s = (uintptr_t)&here;
    return a >= s && a - s < (1u << 20);
}

/* A category name in a writable buffer: its text decides, every call. The
 * thread's memo answers for a name seen before without hashing it. */
static uint32_t name_lookup(mt__thread *t, const char *cat) {
    size_t len = strnlen(cat, MT_MAX_NAME + 1);
    if (MT_UNLIKELY(len > MT_MAX_NAME)) len = mt__cat_normalize(cat); /* cut, and warned about once */
    uint64_t head, tail, mid = 0;
    mt__text_ends(cat, len, &head, &tail);
    if (len > 16) memcpy(&mid, cat + 8, 8);
    uint64_t x = (head ^ (tail * 0xbf58476d1ce4e5b9ull) ^ (mid * 0x94d049bb133111ebull) ^ len) * 0x9E3779B97F4A7C15ull;
    mt__name_memo *m = &t->names[x >> (64 - __builtin_ctz(MT_NAME_MEMO))];
    if (m->cat && m->head == head && m->mid == mid && m->tail == tail && m->len == len &&
        (len <= 24 || memcmp(cat + 16, mt__cats[m->cat - 1].name + 16, len - 24) == 0))
        return m->cat - 1;
    uint32_t idx = mt__cat_intern(cat, len);
    if (mt__cats[idx].len != len) return idx; /* the table was full: Uncategorized */
    m->head = head;
    m->mid = mid;
    m->tail = tail;
    m->len = (uint32_t)len;
    m->cat = idx + 1;
    return idx;
}

/* The slot of a site in this thread, with the hot path's copy of the
 * site's index and header bits. */
static mt__snode *node_fill(mt__thread *t, const mt__site *site) {
    mt__snode *n = &t->snodes[site->index];
    n->catbits = mt__size_word(0, site->cat);
    n->site = site->index;
    return n;
}

/* A key the hot path did not find in its home slot may sit in one of the
 * next CACHE_WINDOW - 1 slots: a new key takes the first empty slot from
 * its home on (the last of the window when all are taken). Slots are never
 * emptied, so an empty one ends the search. With thousands of sites, a
 * quarter of them cannot have their home slot; they cost a short scan here
 * instead of a lookup in the shared tables. */
#define CACHE_WINDOW 8u

MT_INLINE mt__cache_entry *cache_find(mt__thread *t, uintptr_t catkey, const char *file, uintptr_t where) {
    uint32_t home = cache_slot(catkey, file, where);
    for (uint32_t i = 0; i < CACHE_WINDOW; i++) {
        mt__cache_entry *e = &t->cache[(home + i) & (MT_CACHE_SIZE - 1)];
        if (e->catkey == catkey && e->file == file && e->where == where) return e;
        if (!e->catkey) break;
    }
    return NULL;
}

MT_INLINE mt__cache_entry *cache_place(mt__thread *t, uintptr_t catkey, const char *file, uintptr_t where) {
    uint32_t home = cache_slot(catkey, file, where), i = 0;
    while (i < CACHE_WINDOW - 1 && t->cache[(home + i) & (MT_CACHE_SIZE - 1)].catkey) i++;
    return &t->cache[(home + i) & (MT_CACHE_SIZE - 1)];
}

/* The miss path: look past the home slot; else resolve the category by
 * content, intern the file name when its buffer may change, then find or
 * create the site and cache it under a key that stays valid. */
static MT_NOINLINE MT_COLD mt__snode *site_miss(mt__thread *t, const char *cat, uint32_t cat_index, const char *file,
                                                uintptr_t where, bool is_pc) {
    /* The raw pointers can be probed first: the cache holds a category or
     * file pointer only when it points at read-only text, and no writable
     * buffer of the program shares an address with that text or with
     * memtally's copies. */
    bool stack_cat = on_my_stack(cat);
    uintptr_t catkey = cat ? (uintptr_t)cat : cat_index == UINT32_MAX ? t->scope_key : (uintptr_t)cat_index << 1 | 1;
    mt__cache_entry *e = stack_cat ? NULL : cache_find(t, catkey, file, where);
    if (e) return e->node;
    if (cat && *cat) {
        if (stack_cat || !mt__is_immutable(cat)) {
            cat_index = name_lookup(t, cat);
            catkey = (uintptr_t)cat_index << 1 | 1;
            if ((e = cache_find(t, catkey, file, where))) return e->node;
        } else {
            cat_index = mt__cat_intern(cat, mt__cat_normalize(cat));
        }
    } else if (cat) { /* "": the scope's category, probed under its index */
        cat_index = mt__scope_current(t);
        catkey = (uintptr_t)cat_index << 1 | 1;
        if ((e = cache_find(t, catkey, file, where))) return e->node;
    } else if (cat_index == UINT32_MAX) {
        cat_index = mt__scope_current(t);
    }
    const char *fkey = file;
    if (file && (on_my_stack(file) || !mt__is_immutable(file))) {
        fkey = mt__file_intern(file);
        if ((e = cache_find(t, catkey, fkey, where))) return e->node;
    }
    uint32_t index = mt__site_find_or_create(cat_index, fkey, is_pc ? 0 : (int)where, is_pc ? (const void *)where : NULL);
    mt__snode *n = node_fill(t, atomic_load_explicit(&mt__sites[index], memory_order_acquire));
    e = cache_place(t, catkey, fkey, where);
    e->catkey = catkey;
    e->file = fkey;
    e->where = where;
    e->node = n;
    return n;
}

MT_INLINE mt__snode *node_of(mt__thread *t, const char *cat, const char *file, uintptr_t where, bool is_pc) {
    uintptr_t catkey = cat ? (uintptr_t)cat : t->scope_key;
    const mt__cache_entry *e = &t->cache[cache_slot(catkey, file, where)];
    if (MT_LIKELY(e->catkey == catkey && e->file == file && e->where == where)) return e->node;
    return site_miss(t, cat, UINT32_MAX, file, where, is_pc);
}

MT_INLINE const mt__site *site_rec(uint32_t site) {
    return atomic_load_explicit(&mt__sites[site], memory_order_acquire);
}

MT_INLINE const mt__site *site_of(mt__thread *t, const char *cat, const char *file, uintptr_t where, bool is_pc) {
    return site_rec(node_of(t, cat, file, where, is_pc)->site);
}

/* The site for a category given by index (realloc keeping its category). */
MT_INLINE const mt__site *site_of_index(mt__thread *t, uint32_t cat_index, const char *file, uintptr_t where, bool is_pc) {
    uintptr_t catkey = (uintptr_t)cat_index << 1 | 1;
    const mt__cache_entry *e = &t->cache[cache_slot(catkey, file, where)];
    if (MT_LIKELY(e->catkey == catkey && e->file == file && e->where == where)) return site_rec(e->node->site);
    return site_rec(site_miss(t, NULL, cat_index, file, where, is_pc)->site);
}

/* ---- hooks and large allocations (out of line) ------------------------ */

static mt__records hook_records;

void mt_set_hooks(const mt_hooks *hooks) {
    const mt_hooks *h = NULL;
    if (hooks && (hooks->on_alloc || hooks->on_free)) {
        mt_hooks copy;
        memset(&copy, 0, sizeof copy); /* padding too: records compare by bytes */
        copy.on_alloc = hooks->on_alloc;
        copy.on_free = hooks->on_free;
        copy.user = hooks->user;
        h = mt__records_intern(&hook_records, &copy, sizeof copy);
        if (!h) {
            mt__log(MT_LOG_ERROR, "mt_set_hooks: more than %u different hook sets; keeping the current one", MT_RECORDS_MAX);
            return;
        }
    }
    watch_set(h, true); /* the hooks and the watch value change together */
}

void mt__call_hook_alloc(mt__thread *t, void *p, size_t size, const mt__site *site) {
    const mt_hooks *h = atomic_load_explicit(&mt__hooks, memory_order_acquire);
    if (!h || !h->on_alloc || t->in_hook) return;
    t->in_hook = 1;
    h->on_alloc(p, size, mt__cats[site->cat].name, h->user);
    t->in_hook = 0;
}

void mt__call_hook_free(mt__thread *t, void *p, size_t size, const mt__site *site) {
    const mt_hooks *h = atomic_load_explicit(&mt__hooks, memory_order_acquire);
    if (!h || !h->on_free || t->in_hook) return;
    t->in_hook = 1;
    h->on_free(p, size, mt__cats[site->cat].name, h->user);
    t->in_hook = 0;
}

void mt__log_large(size_t size, const mt__site *s) {
    const char *cat = mt__cats[s->cat].name;
    if (s->file)
        mt__log(MT_LOG_WARN, "large allocation: %zu bytes in category %s at %s:%d", size, cat, s->file, s->line);
    else if (s->pc) { /* preload: its function if a report named it already, else module+offset */
        char where[320];
        const char *fn = atomic_load_explicit(&((mt__site *)s)->function, memory_order_acquire);
        mt__log(MT_LOG_WARN, "large allocation: %zu bytes in category %s from %s (%p)", size, cat,
                fn ? fn : mt__os_pc_module(s->pc, where, sizeof where), s->pc);
    }
    else
        mt__log(MT_LOG_WARN, "large allocation: %zu bytes in category %s (unknown site)", size, cat);
}

static MT_NOINLINE MT_COLD void after_alloc_watched(mt__thread *t, void *p, size_t size, const mt__site *site) {
    mt__tracy_alloc(p, size, mt__cats[site->cat].name);
    mt__call_hook_alloc(t, p, size, site);
    if (size >= mt__large_threshold) mt__log_large(size, site);
}

MT_INLINE void after_alloc(mt__thread *t, void *p, size_t size, const mt__site *site) {
    if (MT_UNLIKELY(size >= atomic_load_explicit(&alloc_watch, memory_order_relaxed))) after_alloc_watched(t, p, size, site);
}

/* ---- the allocation core ------------------------------------------------- */

/* Gets size bytes (zeroed if zero) at alignment (0: 16) from the backend
 * and writes the header for a known site; counts nothing. NULL with ENOMEM
 * on failure. */
MT_INLINE void *place_block(size_t size, size_t alignment, int zero, const mt__site *site) {
    void *user;
    if (MT_LIKELY(alignment <= 16)) {
        mt__header *h = zero ? mt__be.calloc(1, size + sizeof *h) : mt__be.malloc(size + sizeof *h);
        if (MT_UNLIKELY(!h)) goto oom;
        mt__header_write(h, mt__size_word(size, site->cat), site->index);
        user = h + 1;
    } else {
        /* A large block may come from its own mapping, which glibc unmaps on
         * free; starting it on a page boundary puts it in the page-edge
         * bitmap, so a second free never reads the unmapped header. */
        bool large = size >= ((size_t)64 << 10);
        size_t room = large && alignment < 4096 ? 4096 : alignment;
        char *raw = zero ? mt__be.calloc(1, size + room + 24) : mt__be.malloc(size + room + 24);
        if (!raw) goto oom;
        size_t a = large && ((uintptr_t)raw & 4095) < MT_EDGE ? room : alignment;
        uintptr_t u = ((uintptr_t)raw + 24 + a - 1) & ~(uintptr_t)(a - 1);
        mt__header *h = (mt__header *)u - 1;
        *(void **)((char *)h - 8) = raw;
        mt__header_write(h, mt__size_word(size, site->cat) | MT_HDR_ALIGNED, site->index);
        user = (void *)u;
    }
    if (MT_UNLIKELY(((uintptr_t)user & 4095) < MT_EDGE)) mt__edge_add(user);
    return user;
oom:
    errno = ENOMEM;
    return NULL;
}

/* The general path: place the block, count it slot by slot, then hooks
 * and large-allocation logging. NULL with errno set on failure. */
MT_INLINE void *alloc_block(mt__thread *t, size_t size, size_t alignment, int zero, const mt__site *site) {
    void *user = place_block(size, alignment, zero, site);
    if (MT_UNLIKELY(!user)) return NULL;
    mt__count_alloc(t, site, (int64_t)size);
    after_alloc(t, user, size, site);
    return user;
}

/* The fast path could not count the block it placed (a category other
 * than the pending one, or a publication due): count it slot by slot. */
static MT_NOINLINE void count_alloc_slow(mt__thread *t, const mt__snode *n, size_t size) {
    mt__count_alloc(t, site_rec(n->site), (int64_t)size);
}

static MT_NOINLINE MT_COLD void *alloc_failed(void) {
    errno = ENOMEM;
    return NULL;
}

/* The hot path: no hooks, no large-allocation logging, alignment 16. */
MT_INLINE void *alloc_fast(mt__thread *t, mt__snode *n, size_t size, int zero) {
    mt__header *h = zero ? mt__be.calloc(1, size + sizeof *h) : mt__be.malloc(size + sizeof *h);
    if (MT_UNLIKELY(!h)) return alloc_failed();
    mt__header_write(h, size | n->catbits, n->site);
    void *user = h + 1;
    if (MT_UNLIKELY(((uintptr_t)user & 4095) < MT_EDGE)) mt__edge_add(user);
    if (MT_UNLIKELY(!mt__count_alloc_fast(t, n, (int64_t)size))) count_alloc_slow(t, n, size);
    return user;
}

/* Everything after a block's header was read and checked. */
static MT_NOINLINE void free_block_slow(mt__thread *t, void *ptr, mt__header *h, const mt__header *copy) {
    size_t size = copy->size & MT_HDR_SIZE_MASK;
    void *raw = mt__block_raw(h);
    const mt__site *site = site_rec(copy->site);
    if (((uintptr_t)ptr & 4095) < MT_EDGE) mt__edge_remove(ptr);
    mt__block_mark_freed(h);
    mt__count_free(t, site, (int64_t)size);
    if (atomic_load_explicit(&mt__hooks, memory_order_relaxed) != NULL) mt__call_hook_free(t, ptr, size, site);
    mt__tracy_free(ptr, mt__cats[site->cat].name);
    mt__be.free(raw);
}

/* Anything but the hot path: the first call on a thread or after its exit
 * destructor, hooks, large-allocation logging, an alignment above 16, or
 * a size no backend can serve. */
static MT_NOINLINE void *alloc_slow(size_t size, size_t alignment, int zero, const char *cat, const char *file,
                                    uintptr_t where, bool is_pc) {
    if (size > MT_MAX_SIZE || alignment > MT_MAX_SIZE) {
        errno = ENOMEM;
        return NULL;
    }
    MT_THREAD_GET(t, locked, { errno = ENOMEM; return NULL; });
    void *p = alloc_block(t, size, alignment, zero, site_of(t, cat, file, where, is_pc));
    MT_THREAD_DONE(locked);
    return p;
}

MT_INLINE void *alloc_any(size_t size, size_t alignment, int zero, const char *cat, const char *file, uintptr_t where, bool is_pc) {
    mt__thread *t = mt__tls;
    if (MT_LIKELY(t != NULL && size < atomic_load_explicit(&alloc_watch, memory_order_relaxed) && alignment <= 16))
        return alloc_fast(t, node_of(t, cat, file, where, is_pc), size, zero);
    return alloc_slow(size, alignment, zero, cat, file, where, is_pc);
}

void *mt_alloc(size_t size, const char *category, const char *file, int line) {
    return alloc_any(size, 0, 0, category, file, (uintptr_t)(unsigned)line, false);
}

void *mt_calloc(size_t count, size_t size, const char *category, const char *file, int line) {
    size_t total;
    if (MT_UNLIKELY(__builtin_mul_overflow(count, size, &total))) {
        errno = ENOMEM;
        return NULL;
    }
    return alloc_any(total, 0, 1, category, file, (uintptr_t)(unsigned)line, false);
}

void *mt_aligned_alloc(size_t alignment, size_t size, const char *category, const char *file, int line) {
    if (alignment == 0 || (alignment & (alignment - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return alloc_any(size, alignment, 0, category, file, (uintptr_t)(unsigned)line, false);
}

char *mt_strdup(const char *s, const char *category, const char *file, int line) {
    if (!s) {
        errno = EINVAL;
        return NULL;
    }
    size_t len = strlen(s);
    char *p = alloc_any(len + 1, 0, 0, category, file, (uintptr_t)(unsigned)line, false);
    if (p) memcpy(p, s, len + 1);
    return p;
}

void *mt__alloc_pc(size_t size, size_t alignment, int zero, const void *pc) {
    return alloc_any(size, alignment, zero, NULL, NULL, (uintptr_t)pc, true);
}

/* ---- free ------------------------------------------------------------- */

/* Reads and checks the header in front of ptr: its two words in *w0 (size
 * word) and *w1 (check << 32 | site). Sanitizer builds go through
 * mt__block_classify, which is exempt from the sanitizers (reading the
 * header of a bad pointer is the point). */
MT_INLINE bool header_ok(const void *ptr, uint64_t *w0, uint64_t *w1) {
#if MT_HAVE_ASAN || MT_HAVE_TSAN
    (void)ptr;
    (void)w0;
    (void)w1;
    return false;
#else
    if (mt__block_needs_care((uintptr_t)ptr)) return false;
    /* ptr may be misaligned: the two words are copied, not read in place */
    const char *h = (const char *)ptr - sizeof(mt__header);
    __builtin_memcpy(w0, h, sizeof *w0);
    __builtin_memcpy(w1, h + sizeof *w0, sizeof *w1);
    return MT_LIKELY((uint32_t)*w1 < MT_MAX_SITES &&
                     ((mt__check_product((uintptr_t)h, *w0, (uint32_t)*w1) ^ *w1) >> 32) == 0);
#endif
}

/* Frees a block whose header checked out. */
static MT_NOINLINE void free_checked_slow(mt__thread *t, void *ptr, uint64_t w0, uint64_t w1) {
    mt__header copy;
    copy.size = w0;
    __builtin_memcpy(&copy.site, &w1, sizeof w1);
    free_block_slow(t, ptr, (mt__header *)ptr - 1, &copy);
}

static MT_NOINLINE MT_COLD void free_slow(void *ptr, void (*foreign_free)(void *)) {
    mt__header copy;
    mt__block_state st = mt__block_classify(ptr, &copy);
    if (st != MT_BLOCK_OK) {
        if (foreign_free && st == MT_BLOCK_FOREIGN) foreign_free(ptr);
        else mt__block_report_bad("free", ptr, st, &copy);
        return;
    }
    MT_THREAD_GET(t, locked, {
        mt__tracy_free(ptr, mt__cats[site_rec(copy.site)->cat].name);
        mt__be.free(mt__block_raw((mt__header *)ptr - 1));
        return;
    });
    free_block_slow(t, ptr, (mt__header *)ptr - 1, &copy);
    MT_THREAD_DONE(locked);
}

/* The hot path of free: a checked header, no hooks, the pending category
 * (an aligned block's flag bit never matches it), no publication due. */
MT_INLINE void free_any(void *ptr, void (*foreign_free)(void *)) {
    if (!ptr) return;
    uint64_t w0, w1;
    mt__thread *t = mt__tls;
    if (MT_LIKELY(t && header_ok(ptr, &w0, &w1))) {
        uint64_t bits = w0 & ~MT_HDR_SIZE_MASK;
        if (MT_LIKELY(!MT_TRACY && bits == t->pend_bits && atomic_load_explicit(&mt__hooks, memory_order_relaxed) == NULL &&
                      mt__count_free_fast(t, &t->snodes[(uint32_t)w1], (int64_t)(w0 - bits)))) {
            mt__header *h = (mt__header *)ptr - 1;
            mt__block_mark_freed(h);
            mt__be.free(h);
            return;
        }
        free_checked_slow(t, ptr, w0, w1);
        return;
    }
    free_slow(ptr, foreign_free);
}

void mt__free_ex(void *ptr, void (*foreign_free)(void *)) { free_any(ptr, foreign_free); }

void mt_free(void *ptr) { free_any(ptr, NULL); }

static void system_free(void *ptr) { free(ptr); }

void mt_free_or_system(void *ptr) { free_any(ptr, system_free); }

/* ---- realloc ------------------------------------------------------------ */

static void *realloc_any(void *ptr, size_t size, const char *cat, const char *file, uintptr_t where, bool is_pc,
                         void *(*foreign_realloc)(void *, size_t)) {
    if (!ptr) return alloc_any(size, 0, 0, cat, file, where, is_pc);
    mt__header copy;
    mt__block_state st = mt__block_classify(ptr, &copy);
    if (MT_UNLIKELY(st != MT_BLOCK_OK)) {
        if (foreign_realloc && st == MT_BLOCK_FOREIGN) return foreign_realloc(ptr, size);
        mt__block_report_bad("realloc", ptr, st, &copy);
        errno = EINVAL;
        return NULL;
    }
    if (size == 0) {
        mt__free_ex(ptr, NULL);
        return NULL;
    }
    if (MT_UNLIKELY(size > MT_MAX_SIZE)) {
        errno = ENOMEM;
        return NULL;
    }
    MT_THREAD_GET(t, locked, { errno = ENOMEM; return NULL; });
    mt__header *h = (mt__header *)ptr - 1;
    size_t old_size = copy.size & MT_HDR_SIZE_MASK;
    const mt__site *old_site = site_rec(copy.site);
    const mt__site *site = (cat && *cat) ? site_of(t, cat, file, where, is_pc) : site_of_index(t, old_site->cat, file, where, is_pc);
    void *out;
    if (copy.size & MT_HDR_ALIGNED) {
        /* like the backend's realloc: the old block is counted freed before
         * the new one is counted, so the peak is the larger of the two */
        out = place_block(size, 0, 0, site);
        if (out) {
            memcpy(out, ptr, old_size < size ? old_size : size);
            free_block_slow(t, ptr, h, &copy);
            mt__count_alloc(t, site, (int64_t)size);
            after_alloc(t, out, size, site);
        }
    } else {
        /* the page-edge bit goes first: once the backend has the memory,
         * another thread may get a block at this very address */
        bool edge = ((uintptr_t)ptr & 4095) < MT_EDGE;
        if (MT_UNLIKELY(edge)) mt__edge_remove(ptr);
        /* so does telling Tracy and the hooks that the old block is gone */
        const char *old_cat = mt__cats[old_site->cat].name;
        bool hooked = atomic_load_explicit(&mt__hooks, memory_order_relaxed) != NULL;
        mt__tracy_free(ptr, old_cat);
        if (MT_UNLIKELY(hooked)) mt__call_hook_free(t, ptr, old_size, old_site);
        mt__header *nh = mt__be.realloc(h, size + sizeof *nh);
        if (!nh) {
            /* the old block stays: announce it again */
            if (MT_UNLIKELY(edge)) mt__edge_add(ptr);
            mt__tracy_alloc(ptr, old_size, old_cat);
            if (MT_UNLIKELY(hooked)) mt__call_hook_alloc(t, ptr, old_size, old_site);
            errno = ENOMEM;
            out = NULL;
        } else {
            /* the old block is gone: count it freed, then the new one */
            mt__count_free(t, old_site, (int64_t)old_size);
            mt__header_write(nh, mt__size_word(size, site->cat), site->index);
            out = nh + 1;
            if (MT_UNLIKELY(((uintptr_t)out & 4095) < MT_EDGE)) mt__edge_add(out);
            mt__count_alloc(t, site, (int64_t)size);
            after_alloc(t, out, size, site);
        }
    }
    MT_THREAD_DONE(locked);
    return out;
}

void *mt_realloc(void *ptr, size_t size, const char *category, const char *file, int line) {
    return realloc_any(ptr, size, category, file, (uintptr_t)(unsigned)line, false, NULL);
}

static void *system_realloc(void *ptr, size_t size) { return realloc(ptr, size); }

void *mt_realloc_or_system(void *ptr, size_t size, const char *file, int line) {
    return realloc_any(ptr, size, NULL, file, (uintptr_t)(unsigned)line, false, system_realloc);
}

void *mt__realloc_pc(void *ptr, size_t size, const void *pc, void *(*foreign_realloc)(void *, size_t)) {
    return realloc_any(ptr, size, NULL, NULL, (uintptr_t)pc, true, foreign_realloc);
}

/* ---- sizes and raw memory ------------------------------------------------ */

size_t mt_block_size(const void *ptr) {
    if (!ptr) return 0;
    mt__header copy;
    mt__block_state st = mt__block_classify(ptr, &copy);
    if (st != MT_BLOCK_OK) {
        mt__block_report_bad("mt_block_size", ptr, st, &copy);
        return 0;
    }
    return copy.size & MT_HDR_SIZE_MASK;
}

size_t mt__usable_size(const void *ptr, size_t (*backend_usable)(void *)) {
    mt__header copy;
    if (mt__block_classify(ptr, &copy) != MT_BLOCK_OK) return SIZE_MAX;
    if (copy.size & MT_HDR_ALIGNED || !backend_usable) return copy.size & MT_HDR_SIZE_MASK;
    return backend_usable((mt__header *)ptr - 1) - sizeof(mt__header);
}

void *mt_raw_alloc(size_t size) {
    void *p = mt__be.malloc(size);
    if (!p) errno = ENOMEM;
    return p;
}

void mt_raw_free(void *ptr) {
    if (ptr) mt__be.free(ptr);
}
