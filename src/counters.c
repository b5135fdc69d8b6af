/*
 * counters.c - per-thread counters and the sums readers see.
 *
 * Each thread owns counter slots that only it writes, with relaxed atomic
 * stores that compile to plain moves (mt__bump: one add): one per site (counts, bytes, and a
 * peak pair) and a peak pair per category (self and with descendants) and
 * for the program. A tracked malloc or free therefore takes no lock and does
 * no read-modify-write on a shared cache line. Byte and block totals of
 * categories and of the program are sums of their sites, taken at read time.
 *
 * Readers sum a slot over every living thread plus what exited threads left
 * behind (merged into the global slot at thread exit, under the registry
 * lock that also guards the thread list).
 *
 * Peaks: a thread keeps the highest net it reached since it last published
 * ("flushed") its net change into the global slot with one atomic add. It
 * publishes when its unpublished change passes MT_FLUSH_BYTES, and on exit,
 * raising the peak to the global value before its add, plus what the other
 * threads hold unpublished now, plus its own highest change. When one
 * thread does all the allocating and freeing, every peak is exact. With N
 * threads doing so, the others' holdings may have changed since this
 * thread's highest moment: a peak can be off by at most N x 128 KiB (each
 * thread's unpublished change per slot stays within 2 x MT_FLUSH_BYTES, a
 * slot's own plus the pending pair of its chain's end, either way).
 */
#include <pthread.h>
#include <string.h>

#include "internal.h"

typedef struct gsite {
    mt__gpair pair;
    int64_t r_alloc_bytes; /* exited threads, under the thread-list lock */
    int64_t r_free_bytes;
    int64_t r_allocs;
    int64_t r_frees;
} gsite;

MT_TLS mt__thread *mt__tls;
static MT_TLS int tls_retired;
static MT_TLS int orphan_depth; /* how deep this thread is in the orphan record */

static gsite *gsites;                 /* [MT_MAX_SITES] */
static mt__gpair *gpnodes;            /* [MT_MAX_PNODES] */
static mt__thread *threads;           /* list, under threads_lock */
/* Readers and publishers of counts read the list (shared); threads that
 * start or exit change it (exclusive). Writers go first: readers polling
 * back to back must not keep a thread from starting. Nobody takes it shared
 * twice on one thread, so writer preference cannot deadlock. */
#define THREADS_LOCK_INIT PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP
static pthread_rwlock_t threads_lock = THREADS_LOCK_INIT;
static mt__thread *orphan;            /* shared by threads past their exit destructor */
static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t exit_key;

#define SNODES_BYTES ((size_t)MT_MAX_SITES * sizeof(mt__snode))
#define PNODES_BYTES ((size_t)MT_MAX_PNODES * sizeof(mt__pnode))

static void peak_raise(_Atomic int64_t *peak, int64_t v) {
    int64_t cur = atomic_load_explicit(peak, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak_explicit(peak, &cur, v, memory_order_relaxed, memory_order_relaxed)) {
    }
}

void mt__threads_read_lock(void) { pthread_rwlock_rdlock(&threads_lock); }
void mt__threads_read_unlock(void) { pthread_rwlock_unlock(&threads_lock); }

/* Whether the run of chain slots starting at c (it ends with the
 * program's, offset 0) holds the slot at offset. */
static bool run_has(const uint32_t *c, uint32_t offset) {
    for (;; c++) {
        if (*c == offset) return true;
        if (*c == 0) return false;
    }
}

/* Thread u's unpublished delta of one slot and its highest value since it
 * last published, its pending pair included when the slot is in its
 * pending run. Read by other threads: relaxed loads, consistent once u is
 * idle. */
static void slot_delta(const mt__thread *u, bool of_site, size_t offset, int64_t *delta, int64_t *max) {
    mt__pnode *p = (mt__pnode *)((of_site ? (char *)u->snodes : (char *)u->pnodes) + offset);
    int64_t d = mt__ld(&p->delta), mx = mt__ld(&p->maxdelta);
    const uint32_t *run = of_site ? NULL : atomic_load_explicit(&u->pend_chain, memory_order_acquire);
    if (run && run_has(run, (uint32_t)offset)) {
        int64_t pm = mt__ld(&((mt__thread *)u)->pendp.maxdelta);
        if (d + pm > mx) mx = d + pm;
        d += mt__ld(&((mt__thread *)u)->pendp.delta);
    }
    *delta = d;
    *max = mx;
}

/* Publishes a thread's delta of one slot. The peak it saw is the global
 * sum just before its add, plus what the other threads hold unpublished
 * now, plus its highest delta since it last published: exact when the
 * other threads are idle, off by their unpublished change otherwise.
 * list_held: the caller holds the thread-list lock already. */
static void flush_pair(mt__thread *t, bool of_site, size_t offset, mt__gpair *g, bool list_held) {
    mt__pnode *p = (mt__pnode *)((of_site ? (char *)t->snodes : (char *)t->pnodes) + offset);
    int64_t others = 0;
    if (list_held || pthread_rwlock_rdlock(&threads_lock) == 0) {
        for (mt__thread *u = threads; u; u = u->next) {
            if (u == t) continue;
            int64_t d, mx;
            slot_delta(u, of_site, offset, &d, &mx);
            others += d;
        }
        if (!list_held) pthread_rwlock_unlock(&threads_lock);
    }
    int64_t d = mt__ld(&p->delta), mx = mt__ld(&p->maxdelta);
    int64_t before = atomic_fetch_add_explicit(&g->net, d, memory_order_relaxed);
    peak_raise(&g->peak, before + others + mx);
    mt__st(&p->delta, 0);
    mt__st(&p->maxdelta, 0);
}

static void flush_site(mt__thread *t, uint32_t site, bool list_held) {
    flush_pair(t, true, (size_t)site * sizeof(mt__snode), &gsites[site].pair, list_held);
}

static void flush_pnode(mt__thread *t, uint32_t pnode, bool list_held) {
    flush_pair(t, false, (size_t)pnode * sizeof(mt__pnode), &gpnodes[pnode], list_held);
}

void mt__flush_site(mt__thread *t, uint32_t site) { flush_site(t, site, false); }

/* The pending pair moved every slot of its run by the same amounts: each
 * slot's delta grows by the pending delta, and its highest delta is at
 * least its delta then plus the pending maximum. Exact, in any order. The
 * run stays pending, from zero. */
static void pend_fold(mt__thread *t, bool list_held) {
    const uint32_t *run = atomic_load_explicit(&t->pend_chain, memory_order_relaxed);
    if (!run) return;
    int64_t pd = mt__ld(&t->pendp.delta), pm = mt__ld(&t->pendp.maxdelta);
    /* the slots get the change before the pair lets go of it, so a reader
     * may count it twice for a moment, never lose it */
    for (const uint32_t *c = run;; c++) {
        mt__pnode *p = (mt__pnode *)((char *)t->pnodes + *c);
        int64_t d = mt__ld(&p->delta);
        if (d + pm > mt__ld(&p->maxdelta)) mt__st(&p->maxdelta, d + pm);
        mt__st(&p->delta, d + pd);
        if (*c == 0) break;
    }
    mt__st(&t->pendp.delta, 0);
    mt__st(&t->pendp.maxdelta, 0);
    for (const uint32_t *c = run;; c++) {
        int64_t d = mt__ld(&((mt__pnode *)((char *)t->pnodes + *c))->delta);
        if (d > MT_FLUSH_BYTES || d < -MT_FLUSH_BYTES) flush_pnode(t, *c / (uint32_t)sizeof(mt__pnode), list_held);
        if (*c == 0) break;
    }
}

static void pend_stop(mt__thread *t, bool list_held) {
    pend_fold(t, list_held);
    atomic_store_explicit(&t->pend_chain, NULL, memory_order_release);
    t->pend_bits = MT_PEND_NONE;
    t->pend_len = 0;
}

/* Makes the last len slots of s's chain the pending run, from zero. */
static void pend_start(mt__thread *t, const mt__site *s, uint32_t len) {
    const uint32_t *run = &s->poff[s->npeak - len];
    t->pend_off = *run;
    t->pend_len = len;
    t->pend_bits = len == s->npeak ? mt__size_word(0, s->cat) : MT_PEND_NONE;
    atomic_store_explicit(&t->pend_chain, run, memory_order_release);
    t->run_site = NULL;
    t->run_cat = UINT32_MAX;
}

/* How many slots at the end of their chains a and b share, up to `most`. */
static uint32_t common_tail(const mt__site *a, const mt__site *b, uint32_t most) {
    uint32_t n = 0;
    while (n < most && n < a->npeak && n < b->npeak && a->poff[a->npeak - 1 - n] == b->poff[b->npeak - 1 - n]) n++;
    return n;
}

/* A block whose chain does not end with the pending run: the run stops,
 * every slot moves on its own, and blocks in a row that share at least
 * their last two slots make those the next pending run. */
void mt__peaks_unpended(mt__thread *t, const mt__site *s, int64_t d, bool up) {
    if (t->pend_len) pend_stop(t, false);
    for (uint32_t i = 0; i < s->npeak; i++) mt__slot_move(t, s->poff[i], d, up);
    const mt__site *r = t->run_site;
    uint32_t c = r ? common_tail(r, s, t->run_common) : 0;
    t->run_site = s;
    if (c < 2) {
        t->run_common = s->npeak;
        t->run_len = 1;
    } else {
        t->run_common = c;
        if (++t->run_len >= MT_PEND_RUN) pend_start(t, s, c);
    }
}

void mt__flush_pnode(mt__thread *t, uint32_t pnode) { flush_pnode(t, pnode, false); }

void mt__pend_fold(mt__thread *t) { pend_fold(t, false); }

void mt__pend_deepen(mt__thread *t, const mt__site *s) {
    pend_stop(t, false);
    pend_start(t, s, s->npeak);
}

static mt__thread *thread_alloc(void) {
    mt__thread *t = mt__os_reserve(sizeof *t);
    if (!t) return NULL;
    t->snodes = mt__os_reserve(SNODES_BYTES);
    t->pnodes = mt__os_reserve(PNODES_BYTES);
    if (!t->snodes || !t->pnodes) {
        mt__os_release(t->snodes, SNODES_BYTES);
        mt__os_release(t->pnodes, PNODES_BYTES);
        mt__os_release(t, sizeof *t);
        return NULL;
    }
    t->scope_key = ((uintptr_t)MT_CAT_UNCATEGORIZED << 1) | 1;
    t->pend_bits = MT_PEND_NONE;
    return t;
}

static mt__thread *thread_new(void) {
    mt__thread *t = thread_alloc();
    if (!t) return NULL;
    pthread_rwlock_wrlock(&threads_lock);
    t->next = threads;
    if (threads) threads->prev = t;
    threads = t;
    pthread_rwlock_unlock(&threads_lock);
    return t;
}

/* Thread exit: publish everything, fold the totals into the global slots,
 * and give the memory back. Later frees on this thread (other destructors)
 * go to the shared orphan record. */
static void thread_exit(void *arg) {
    mt__thread *t = arg;
    pthread_rwlock_wrlock(&threads_lock);
    pend_stop(t, true);
    uint32_t ns = atomic_load_explicit(&mt__nsites, memory_order_acquire);
    for (uint32_t i = 0; i < ns; i++) {
        mt__snode *n = &t->snodes[i];
        if (mt__ld(&n->allocs) == 0 && mt__ld(&n->frees) == 0) continue;
        flush_site(t, i, true);
        gsites[i].r_alloc_bytes += mt__ld(&n->alloc_bytes);
        gsites[i].r_free_bytes += mt__ld(&n->free_bytes);
        gsites[i].r_allocs += mt__ld(&n->allocs);
        gsites[i].r_frees += mt__ld(&n->frees);
    }
    uint32_t np = atomic_load_explicit(&mt__npnodes, memory_order_acquire);
    for (uint32_t i = 0; i < np; i++) {
        mt__pnode *p = &t->pnodes[i];
        if (mt__ld(&p->delta) != 0 || mt__ld(&p->maxdelta) != 0) flush_pnode(t, i, true);
    }
    if (t->prev) t->prev->next = t->next;
    else threads = t->next;
    if (t->next) t->next->prev = t->prev;
    pthread_rwlock_unlock(&threads_lock);
    mt__tls = NULL;
    tls_retired = 1;
    mt__os_release(t->snodes, SNODES_BYTES);
    mt__os_release(t->pnodes, PNODES_BYTES);
    mt__os_release(t, sizeof *t);
}

mt__thread *mt__thread_get_slow(bool *locked) {
    *locked = false;
    if (MT_UNLIKELY(!atomic_load_explicit(&mt__initialized, memory_order_acquire)) && mt_init() != 0) return NULL;
    if (mt__tls) return mt__tls;
    if (!tls_retired) {
        mt__thread *t = thread_new();
        if (t) {
            pthread_setspecific(exit_key, t);
            mt__tls = t;
            return t;
        }
    }
    /* a hook or log callback may allocate while this thread holds it */
    if (orphan_depth++ == 0) pthread_mutex_lock(&orphan_lock);
    *locked = true;
    return orphan;
}

void mt__thread_unlock_orphan(void) {
    if (--orphan_depth == 0) pthread_mutex_unlock(&orphan_lock);
}

/* The peak is the published peak or, for each thread, the value now plus
 * how far that thread has been above its present delta since it last
 * published; never below `current`. Not stored: with threads counting
 * while we sum, the figure can be off (within the bound in the comment at
 * the top), and a stored error would stay. */
static int64_t pair_peak(const mt__gpair *g, bool of_site, size_t offset, int64_t current) {
    int64_t cur = atomic_load_explicit(&g->net, memory_order_relaxed);
    int64_t pk = atomic_load_explicit(&g->peak, memory_order_relaxed);
    int64_t excursion = 0;
    for (mt__thread *t = threads; t; t = t->next) {
        int64_t d, mx;
        slot_delta(t, of_site, offset, &d, &mx);
        cur += d;
        if (mx - d > excursion) excursion = mx - d;
    }
    if (cur + excursion > pk) pk = cur + excursion;
    return pk > current ? pk : current;
}

int64_t mt__pnode_peak(uint32_t pnode, int64_t current) {
    return pair_peak(&gpnodes[pnode], false, (size_t)pnode * sizeof(mt__pnode), current);
}

void mt__site_sum(uint32_t site, mt_stats *out) {
    const gsite *g = &gsites[site];
    int64_t alloc = g->r_alloc_bytes, freed = g->r_free_bytes, allocs = g->r_allocs, frees = g->r_frees;
    for (mt__thread *t = threads; t; t = t->next) {
        mt__snode *n = &t->snodes[site];
        alloc += mt__ld(&n->alloc_bytes);
        freed += mt__ld(&n->free_bytes);
        allocs += mt__ld(&n->allocs);
        frees += mt__ld(&n->frees);
    }
    /* a block another thread frees while we sum can show up freed before it
     * shows up allocated; it was allocated by then, so count it (the sums
     * stay monotonic, and current = allocated - freed and the live blocks
     * alloc_count - free_count stay >= 0) */
    if (freed > alloc) alloc = freed;
    if (frees > allocs) allocs = frees;
    int64_t cur = alloc - freed;
    out->total_allocated = (uint64_t)alloc;
    out->total_freed = (uint64_t)freed;
    out->current = (uint64_t)cur;
    out->peak = (uint64_t)pair_peak(&g->pair, true, (size_t)site * sizeof(mt__snode), cur);
    out->alloc_count = (uint64_t)allocs;
    out->free_count = (uint64_t)frees;
}

/* fork: no lock may be held by a thread that does not exist in the child */
static void fork_prepare(void) {
    pthread_mutex_lock(&orphan_lock);
    mt__registry_lock();
    pthread_rwlock_wrlock(&threads_lock);
}
static void fork_parent(void) {
    pthread_rwlock_unlock(&threads_lock);
    mt__registry_unlock();
    pthread_mutex_unlock(&orphan_lock);
}
/* In the child the forking thread has a new id, which glibc's rwlock
 * checks on unlock: start the lock afresh instead (nothing else runs).
 * ThreadSanitizer, which cannot see the fresh start, is told of an unlock
 * first (what glibc does with it is overwritten). */
static void fork_child(void) {
#if MT_HAVE_TSAN
    pthread_rwlock_unlock(&threads_lock);
#endif
    pthread_rwlock_t fresh = THREADS_LOCK_INIT;
    memcpy(&threads_lock, &fresh, sizeof fresh);
    mt__registry_unlock();
    pthread_mutex_unlock(&orphan_lock);
}

int mt__counters_init(void) {
    gsites = mt__os_reserve((size_t)MT_MAX_SITES * sizeof(gsite));
    gpnodes = mt__os_reserve((size_t)MT_MAX_PNODES * sizeof(mt__gpair));
    orphan = thread_alloc();
    if (!gsites || !gpnodes || !orphan) return -1;
    threads = orphan;
    if (pthread_key_create(&exit_key, thread_exit) != 0) return -1;
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    return 0;
}
