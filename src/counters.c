/*
 * counters.c - per-thread counters and the sums readers see.
 *
 * Each thread owns an array of mt__node slots (one per site, two per
 * category, one for the program) that only it writes, with relaxed atomic
 * stores that compile to plain moves. A tracked malloc or free therefore
 * takes no lock and does no read-modify-write on a shared cache line.
 *
 * Readers sum a slot over every living thread plus what exited threads left
 * behind (merged into the global slot at thread exit, under the registry
 * lock that also guards the thread list).
 *
 * Peaks: a thread keeps the highest net it reached since it last published
 * ("flushed") its net change into the global slot with one atomic add. It
 * publishes when its unpublished change passes MT_FLUSH_BYTES, and on exit.
 * The publisher knows the global value just before its add, so when one
 * thread does all the work the peak is exact; with N threads working at
 * once the peak is off by at most the other threads' unpublished change,
 * (N - 1) * MT_FLUSH_BYTES.
 */
#include <pthread.h>
#include <string.h>

#include "internal.h"

typedef struct gnode {
    _Atomic int64_t net;   /* sum of every thread's flushed net */
    _Atomic int64_t peak;
    int64_t r_alloc_bytes; /* exited threads, under the registry lock */
    int64_t r_allocs;
    int64_t r_frees;
} gnode;

MT_TLS mt__thread *mt__tls;
static MT_TLS int tls_retired;

static gnode *gnodes;
static mt__thread *threads;           /* list, under the registry lock */
static mt__thread *orphan;            /* shared by threads past their exit destructor */
static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t exit_key;

static void peak_raise(_Atomic int64_t *peak, int64_t v) {
    int64_t cur = atomic_load_explicit(peak, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak_explicit(peak, &cur, v, memory_order_relaxed, memory_order_relaxed)) {
    }
}

void mt__flush_node(mt__thread *t, uint32_t id) {
    mt__node *n = &t->nodes[id];
    int64_t net = mt__ld(&n->net), fl = mt__ld(&n->flushed), mx = mt__ld(&n->maxnet);
    int64_t before = atomic_fetch_add_explicit(&gnodes[id].net, net - fl, memory_order_relaxed);
    peak_raise(&gnodes[id].peak, before - fl + mx);
    mt__st(&n->flushed, net);
    mt__st(&n->maxnet, net);
}

static mt__thread *thread_new(void) {
    mt__thread *t = mt__os_reserve(sizeof *t);
    if (!t) return NULL;
    t->nodes = mt__os_reserve((size_t)MT_MAX_NODES * sizeof(mt__node));
    if (!t->nodes) {
        mt__os_release(t, sizeof *t);
        return NULL;
    }
    t->scope_key = ((uintptr_t)MT_CAT_UNCATEGORIZED << 1) | 1;
    mt__registry_lock();
    t->next = threads;
    if (threads) threads->prev = t;
    threads = t;
    mt__registry_unlock();
    return t;
}

/* Thread exit: publish everything, fold the totals into the global slots,
 * and give the memory back. Later frees on this thread (other destructors)
 * go to the shared orphan record. */
static void thread_exit(void *arg) {
    mt__thread *t = arg;
    mt__registry_lock();
    uint32_t n = atomic_load_explicit(&mt__nnodes, memory_order_acquire);
    for (uint32_t id = 0; id < n; id++) {
        mt__node *node = &t->nodes[id];
        if (mt__ld(&node->allocs) == 0 && mt__ld(&node->frees) == 0) continue;
        mt__flush_node(t, id);
        gnodes[id].r_alloc_bytes += mt__ld(&node->alloc_bytes);
        gnodes[id].r_allocs += mt__ld(&node->allocs);
        gnodes[id].r_frees += mt__ld(&node->frees);
    }
    if (t->prev) t->prev->next = t->next;
    else threads = t->next;
    if (t->next) t->next->prev = t->prev;
    mt__registry_unlock();
    mt__tls = NULL;
    tls_retired = 1;
    mt__os_release(t->nodes, (size_t)MT_MAX_NODES * sizeof(mt__node));
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
    pthread_mutex_lock(&orphan_lock);
    *locked = true;
    return orphan;
}

void mt__thread_unlock_orphan(void) { pthread_mutex_unlock(&orphan_lock); }

void mt__node_sum(uint32_t id, mt_stats *out, bool locked) {
    if (!locked) mt__registry_lock();
    const gnode *g = &gnodes[id];
    int64_t alloc = g->r_alloc_bytes, allocs = g->r_allocs, frees = g->r_frees;
    int64_t cur = atomic_load_explicit(&g->net, memory_order_relaxed);
    int64_t peak = atomic_load_explicit(&g->peak, memory_order_relaxed);
    int64_t excursion = 0;
    for (mt__thread *t = threads; t; t = t->next) {
        mt__node *n = &t->nodes[id];
        int64_t net = mt__ld(&n->net);
        alloc += mt__ld(&n->alloc_bytes);
        allocs += mt__ld(&n->allocs);
        frees += mt__ld(&n->frees);
        cur += net - mt__ld(&n->flushed);
        int64_t e = mt__ld(&n->maxnet) - net;
        if (e > excursion) excursion = e;
    }
    if (!locked) mt__registry_unlock();
    if (cur < 0) cur = 0;
    if (alloc < cur) alloc = cur;
    if (cur + excursion > peak) peak = cur + excursion;
    out->total_allocated = (uint64_t)alloc;
    out->total_freed = (uint64_t)(alloc - cur);
    out->current = (uint64_t)cur;
    out->peak = (uint64_t)peak;
    out->alloc_count = (uint64_t)allocs;
    out->free_count = (uint64_t)frees;
}

/* fork: no lock may be held by a thread that does not exist in the child */
static void fork_prepare(void) {
    pthread_mutex_lock(&orphan_lock);
    mt__registry_lock();
}
static void fork_parent(void) {
    mt__registry_unlock();
    pthread_mutex_unlock(&orphan_lock);
}

int mt__counters_init(void) {
    gnodes = mt__os_reserve((size_t)MT_MAX_NODES * sizeof(gnode));
    orphan = mt__os_reserve(sizeof *orphan);
    if (!gnodes || !orphan) return -1;
    orphan->nodes = mt__os_reserve((size_t)MT_MAX_NODES * sizeof(mt__node));
    if (!orphan->nodes) return -1;
    orphan->scope_key = ((uintptr_t)MT_CAT_UNCATEGORIZED << 1) | 1;
    threads = orphan;
    if (pthread_key_create(&exit_key, thread_exit) != 0) return -1;
    pthread_atfork(fork_prepare, fork_parent, fork_parent);
    return 0;
}
