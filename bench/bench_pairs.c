/*
 * bench_pairs.c - what one free+malloc pair costs with memtally, next to plain
 * malloc and the seed's design.
 *
 * Workload: each thread keeps 4096 live blocks and, per step, frees a random
 * one and allocates a new block of 8 B..2 KiB in its place (seeded PRNG, the
 * same sequence for every variant). Variants:
 *   plain    malloc/free, untracked
 *   header   a 16-byte header written on malloc and checked on free, nothing
 *            else: the floor of any design that keeps one in front of a
 *            block (memtally does), shown for reference
 *   explicit mt_alloc with a literal category (MT_ALLOC-style file:line)
 *   scope    category NULL under mt_scope_push
 *   runtime  category text built in a stack buffer before each call, from 8
 *            names: the interning path
 *   sites    10,000 distinct file:line sites taken from a table
 *   seed     the seed's design: a mutex and tsearch trees (bench_seed.c)
 * Patterns: every thread with its own working set (1, 2, 4 threads), and
 * producer/consumer pairs where the consumer frees what the producer
 * allocated (2 and 4 threads).
 *
 * Rounds are interleaved: round r runs every variant of a configuration back
 * to back, so noise lands on all of them; each ratio is taken within a round
 * and the table shows medians over rounds.
 *
 * Every tracked run is checked: the change in mt_global_stats and in the
 * variant's category must equal what the workload did. A mismatch makes the
 * program exit 1 (the ctest smoke test relies on it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "bench_seed.h"
#include "memtally.h"

#define WS_BLOCKS  4096u   /* working set per thread (power of two) */
#define MIN_SIZE   8u
#define SIZE_SPAN  2041u   /* sizes 8..2048 */
#define NSITES     10000u
#define NNAMES     8u
#define MAX_THREADS 4
#define RING_SIZE  4096u   /* producer/consumer ring (power of two) */
#define RING_BATCH 64u
#define MAX_ROUNDS 64

enum { V_PLAIN, V_HEADER, V_EXPLICIT, V_SCOPE, V_RUNTIME, V_SITES, V_SEED, V_COUNT };
static const char *const variant_name[V_COUNT] = {
    "plain malloc/free", "16-byte header only (reference)", "explicit category", "scope (category NULL)",
    "run-time category", "10,000 sites", "seed design (mutex+tree)",
};
static const char *const variant_key[V_COUNT] = {
    "plain", "header", "explicit", "scope", "runtime", "sites", "seed",
};
/* The category each tracked variant counts into (checked after each run). */
static const char *const variant_cat[V_COUNT] = {
    NULL, NULL, "Bench::Explicit", "Bench::Scope", "Bench::Runtime", "Bench::Sites", NULL,
};

enum { P_OWN, P_XTHREAD };

/* ---- 10,000 sites: file names are literals, like __FILE__ ------------- */

#define F10(p) p "0.c", p "1.c", p "2.c", p "3.c", p "4.c", p "5.c", p "6.c", p "7.c", p "8.c", p "9.c"
static const char *const site_files[100] = {
    F10("src/engine/a"), F10("src/engine/b"), F10("src/engine/c"), F10("src/engine/d"),
    F10("src/engine/e"), F10("src/engine/f"), F10("src/engine/g"), F10("src/engine/h"),
    F10("src/engine/i"), F10("src/engine/j"),
};
typedef struct site { const char *file; int line; } site;
static site sites[NSITES];

/* ---- the header-only reference: out of line, like a library's calls ---- */

static void fail(const char *what);
static uint64_t header_key = 0x9E3779B97F4A7C15ull;

/* bench/ablate.sh builds with BENCH_PAD=N (a multiple of 4): N more
 * instructions per pair in the reference, adds on four scratch registers,
 * to price one instruction of a pair on the machine. */
#if defined(BENCH_PAD) && defined(__x86_64__)
#define BENCH_STR_(x) #x
#define BENCH_STR(x)  BENCH_STR_(x)
#define PAD()                                                                                         \
    __asm__ volatile(".rept " BENCH_STR(BENCH_PAD) " / 4\n\tadd $1, %%r8\n\tadd $1, %%r9\n\tadd $1, %%r10\n\t" \
                     "add $1, %%r11\n\t.endr" ::: "r8", "r9", "r10", "r11", "cc")
#else
#define PAD() ((void)0)
#endif

static BENCH_NOINLINE void *header_alloc(size_t size) {
    PAD();
    uint64_t *h = malloc(size + 16);
    if (!h) return NULL;
    h[0] = size;
    h[1] = ((uint64_t)(uintptr_t)h + size) * header_key;
    return h + 2;
}

static BENCH_NOINLINE void header_free(void *p) {
    uint64_t *h = (uint64_t *)p - 2;
    if (h[1] != ((uint64_t)(uintptr_t)h + h[0]) * header_key) fail("header_free: bad header");
    free(h);
}

/* ---- the per-variant operations, inlined into one loop per variant ---- */

static const char name_prefix[] = "Bench::Runtime::Name";

BENCH_INLINE void *do_alloc(int v, size_t size, uint32_t pick, char *buf) {
    switch (v) {
    case V_PLAIN:
        return malloc(size);
    case V_HEADER:
        return header_alloc(size);
    case V_EXPLICIT:
        return mt_alloc(size, "Bench::Explicit", __FILE__, __LINE__);
    case V_SCOPE:
        return mt_alloc(size, NULL, __FILE__, __LINE__);
    case V_RUNTIME:
        /* A name that exists only in this stack buffer, rewritten each call. */
        memcpy(buf, name_prefix, sizeof name_prefix - 1);
        buf[sizeof name_prefix - 1] = (char)('0' + bench_below(pick, NNAMES));
        buf[sizeof name_prefix] = '\0';
        return mt_alloc(size, buf, __FILE__, __LINE__);
    case V_SITES: {
        const site *s = &sites[bench_below(pick, NSITES)];
        return mt_alloc(size, "Bench::Sites", s->file, s->line);
    }
    default:
        return seed_alloc(size, "Bench::Seed");
    }
}

BENCH_INLINE void do_free(int v, void *p) {
    if (v == V_PLAIN)
        free(p);
    else if (v == V_HEADER)
        header_free(p);
    else if (v == V_SEED)
        seed_free(p);
    else
        mt_free(p);
}

/* ---- threads ------------------------------------------------------------ */

typedef struct ring {
    _Alignas(64) _Atomic uint64_t head; /* published by the consumer */
    _Alignas(64) _Atomic uint64_t tail; /* published by the producer */
    _Alignas(64) void *slot[RING_SIZE];
} ring;

typedef struct tctx {
    int id;
    void **slot;        /* the working set */
    uint64_t seed;
    uint64_t pairs;
    uint64_t bytes;     /* bytes allocated, timed part and fill */
    uint64_t allocs, frees;
    uint64_t ns;        /* timed part */
    ring *ring;
    char pad[64];
} tctx;

static void fail(const char *what) {
    fprintf(stderr, "bench_pairs: %s\n", what);
    exit(2);
}

BENCH_INLINE void own_fill(int v, tctx *c) {
    char buf[64];
    uint64_t x = c->seed ^ 0xF111F111F111ull;
    for (uint32_t i = 0; i < WS_BLOCKS; i++) {
        uint64_t r = bench_rand(&x);
        size_t size = MIN_SIZE + bench_below((uint32_t)(r >> 32), SIZE_SPAN);
        void *p = do_alloc(v, size, (uint32_t)r, buf);
        if (!p) fail("allocation failed");
        c->slot[i] = p;
        c->bytes += size;
    }
    c->allocs += WS_BLOCKS;
}

BENCH_INLINE void own_drain(int v, tctx *c) {
    for (uint32_t i = 0; i < WS_BLOCKS; i++) do_free(v, c->slot[i]);
    c->frees += WS_BLOCKS;
}

/* The timed loop: free a random block of the working set, allocate anew. */
BENCH_INLINE void own_loop(int v, tctx *c) {
    char buf[64];
    void **slot = c->slot;
    uint64_t x = c->seed, bytes = 0;
    for (uint64_t i = 0; i < c->pairs; i++) {
        uint64_t r = bench_rand(&x);
        uint32_t idx = (uint32_t)r & (WS_BLOCKS - 1);
        size_t size = MIN_SIZE + bench_below((uint32_t)(r >> 32), SIZE_SPAN);
        do_free(v, slot[idx]);
        char *p = do_alloc(v, size, (uint32_t)(r >> 12), buf);
        if (__builtin_expect(p == NULL, 0)) fail("allocation failed");
        p[0] = (char)i; /* the program touches its block */
        slot[idx] = p;
        bytes += size;
    }
    c->bytes += bytes;
    c->allocs += c->pairs;
    c->frees += c->pairs;
}

static inline void ring_wait(void) { sched_yield(); }

/* Producer: allocates blocks and hands them to its consumer. */
BENCH_INLINE void produce_loop(int v, tctx *c) {
    char buf[64];
    ring *q = c->ring;
    uint64_t x = c->seed, bytes = 0, tail = 0, head = 0;
    for (uint64_t i = 0; i < c->pairs; i++) {
        uint64_t r = bench_rand(&x);
        size_t size = MIN_SIZE + bench_below((uint32_t)(r >> 32), SIZE_SPAN);
        char *p = do_alloc(v, size, (uint32_t)r, buf);
        if (__builtin_expect(p == NULL, 0)) fail("allocation failed");
        p[0] = (char)i;
        bytes += size;
        if (tail - head >= RING_SIZE) {
            atomic_store_explicit(&q->tail, tail, memory_order_release);
            while (tail - (head = atomic_load_explicit(&q->head, memory_order_acquire)) >= RING_SIZE) ring_wait();
        }
        q->slot[tail & (RING_SIZE - 1)] = p;
        if (++tail % RING_BATCH == 0) atomic_store_explicit(&q->tail, tail, memory_order_release);
    }
    atomic_store_explicit(&q->tail, tail, memory_order_release);
    c->bytes += bytes;
    c->allocs += c->pairs;
}

/* Consumer: frees what its producer allocated. */
BENCH_INLINE void consume_loop(int v, tctx *c) {
    ring *q = c->ring;
    uint64_t head = 0, tail = 0;
    for (uint64_t i = 0; i < c->pairs; i++) {
        if (head == tail) {
            atomic_store_explicit(&q->head, head, memory_order_release);
            while ((tail = atomic_load_explicit(&q->tail, memory_order_acquire)) == head) ring_wait();
        }
        do_free(v, q->slot[head & (RING_SIZE - 1)]);
        if (++head % RING_BATCH == 0) atomic_store_explicit(&q->head, head, memory_order_release);
    }
    atomic_store_explicit(&q->head, head, memory_order_release);
    c->frees += c->pairs;
}

/* One out-of-line copy of each loop per variant, so the compiler resolves
 * the variant's switch at compile time and plain malloc pays nothing for it.
 * Named so callgrind can collect exactly one of them (--toggle-collect). */
#define VARIANT_FNS(V, k)                                                             \
    static BENCH_NOINLINE void own_fill_##k(tctx *c) { own_fill(V, c); }              \
    static BENCH_NOINLINE void own_drain_##k(tctx *c) { own_drain(V, c); }            \
    BENCH_NOINLINE void bench_loop_##k(tctx *c) { own_loop(V, c); }                   \
    static BENCH_NOINLINE void produce_##k(tctx *c) { produce_loop(V, c); }           \
    static BENCH_NOINLINE void consume_##k(tctx *c) { consume_loop(V, c); }

/* Non-static so the names survive for callgrind and objdump. */
#define DECL(k) BENCH_NOINLINE void bench_loop_##k(tctx *c);
DECL(plain) DECL(header) DECL(explicit) DECL(scope) DECL(runtime) DECL(sites) DECL(seed)
VARIANT_FNS(V_PLAIN, plain)
VARIANT_FNS(V_HEADER, header)
VARIANT_FNS(V_EXPLICIT, explicit)
VARIANT_FNS(V_SCOPE, scope)
VARIANT_FNS(V_RUNTIME, runtime)
VARIANT_FNS(V_SITES, sites)
VARIANT_FNS(V_SEED, seed)

typedef void (*loop_fn)(tctx *);
#define FN_TABLE(prefix) { prefix##plain, prefix##header, prefix##explicit, prefix##scope, prefix##runtime, prefix##sites, prefix##seed }
static const loop_fn fill_fn[V_COUNT] = FN_TABLE(own_fill_);
static const loop_fn drain_fn[V_COUNT] = FN_TABLE(own_drain_);
static const loop_fn own_fn[V_COUNT] = FN_TABLE(bench_loop_);
static const loop_fn produce_fn[V_COUNT] = FN_TABLE(produce_);
static const loop_fn consume_fn[V_COUNT] = FN_TABLE(consume_);

/* ---- the worker pool: threads live for the whole run ------------------- */

typedef struct job {
    int variant, pattern, nthreads, quit;
    uint64_t pairs;
} job;

static job cur;
static pthread_barrier_t bar;
static tctx ctx[MAX_THREADS];
static ring rings[MAX_THREADS / 2];

static void *worker(void *arg) {
    tctx *c = arg;
    for (;;) {
        pthread_barrier_wait(&bar); /* job posted */
        if (cur.quit) break;
        int v = cur.variant, active = c->id < cur.nthreads;
        if (active) {
            c->pairs = cur.pairs;
            c->bytes = c->allocs = c->frees = 0;
            c->seed = 0x5EED0000ull + (uint64_t)c->id * 0x1000193ull;
            if (v == V_SCOPE) mt_scope_push("Bench::Scope");
            if (cur.pattern == P_OWN) fill_fn[v](c);
        }
        pthread_barrier_wait(&bar); /* everyone ready */
        if (active) {
            uint64_t t0 = bench_now_ns();
            if (cur.pattern == P_OWN)
                own_fn[v](c);
            else if (c->id % 2 == 0)
                produce_fn[v](c);
            else
                consume_fn[v](c);
            c->ns = bench_now_ns() - t0;
        }
        pthread_barrier_wait(&bar); /* timed part done */
        if (active) {
            if (cur.pattern == P_OWN) drain_fn[v](c);
            if (v == V_SCOPE) mt_scope_pop();
        }
        pthread_barrier_wait(&bar); /* cleaned up */
    }
    return NULL;
}

/* ---- checking what memtally counted ------------------------------------ */

static int check_failures;

static mt_stats cat_stats(int v) {
    mt_stats s;
    memset(&s, 0, sizeof s);
    if (variant_cat[v]) mt_category_stats(variant_cat[v], 1, &s);
    return s;
}

static void check_eq(const char *what, int v, const char *field, uint64_t got, uint64_t want) {
    if (got == want) return;
    if (++check_failures > 10) return; /* the count is reported at the end */
    fprintf(stderr, "bench_pairs: CHECK FAILED: %s, %s: %s changed by %llu, expected %llu\n", variant_key[v],
            what, field, (unsigned long long)got, (unsigned long long)want);
}

static void check_delta(const char *what, int v, const mt_stats *a, const mt_stats *b, uint64_t allocs,
                        uint64_t frees, uint64_t bytes) {
    check_eq(what, v, "alloc_count", b->alloc_count - a->alloc_count, allocs);
    check_eq(what, v, "free_count", b->free_count - a->free_count, frees);
    check_eq(what, v, "total_allocated", b->total_allocated - a->total_allocated, bytes);
    check_eq(what, v, "total_freed", b->total_freed - a->total_freed, bytes);
    check_eq(what, v, "current", b->current - a->current, 0);
}

/* Runs one configuration of one variant; returns ns per pair (per block for
 * producer/consumer pairs). */
static double run_job(int v, int pattern, int nthreads, uint64_t pairs) {
    mt_stats g0 = mt_global_stats(), c0 = cat_stats(v);
    seed_stats s0 = seed_global_stats();
    cur = (job){.variant = v, .pattern = pattern, .nthreads = nthreads, .pairs = pairs};
    for (int i = 0; i < MAX_THREADS / 2; i++) {
        atomic_store(&rings[i].head, 0);
        atomic_store(&rings[i].tail, 0);
    }
    for (int i = 0; i < MAX_THREADS; i++) ctx[i].ring = &rings[i / 2];
    for (int b = 0; b < 4; b++) pthread_barrier_wait(&bar);

    uint64_t allocs = 0, frees = 0, bytes = 0;
    double ns = 0;
    for (int i = 0; i < nthreads; i++) {
        allocs += ctx[i].allocs;
        frees += ctx[i].frees;
        bytes += ctx[i].bytes;
    }
    if (pattern == P_OWN) {
        for (int i = 0; i < nthreads; i++) ns += (double)ctx[i].ns / (double)pairs;
        ns /= nthreads;
    } else {
        /* A pair of threads moves `pairs` blocks; its time is the slower one's. */
        for (int i = 0; i < nthreads; i += 2) {
            uint64_t t = ctx[i].ns > ctx[i + 1].ns ? ctx[i].ns : ctx[i + 1].ns;
            ns += (double)t / (double)pairs;
        }
        ns /= nthreads / 2;
    }

    if (v == V_SEED) {
        seed_stats s1 = seed_global_stats();
        check_eq("seed", v, "alloc_count", s1.alloc_count - s0.alloc_count, allocs);
        check_eq("seed", v, "free_count", s1.free_count - s0.free_count, frees);
        check_eq("seed", v, "total_allocated", s1.total_allocated - s0.total_allocated, bytes);
        check_eq("seed", v, "live blocks", seed_live_blocks(), 0);
    } else if (v != V_PLAIN && v != V_HEADER) {
        mt_stats g1 = mt_global_stats(), c1 = cat_stats(v);
        check_delta("mt_global_stats", v, &g0, &g1, allocs, frees, bytes);
        check_delta("mt_category_stats", v, &c0, &c1, allocs, frees, bytes);
    }
    return ns;
}

/* ---- the table ---------------------------------------------------------- */

typedef struct config {
    int pattern, nthreads;
} config;

static bool has_target(int v, const config *cf, double *limit) {
    if (cf->pattern != P_OWN || cf->nthreads > 2) return false;
    if (v == V_EXPLICIT || v == V_SCOPE) {
        *limit = 1.10;
        return true;
    }
    if (v == V_RUNTIME) {
        *limit = 1.50;
        return true;
    }
    return false;
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_pairs [--smoke] [--pairs N] [--rounds R] [--threads 1,2,4] [--no-xthread]\n"
            "                   [--only VARIANT] [--no-warmup] [--raw]\n"
            "  VARIANT: plain header explicit scope runtime sites seed\n");
    exit(2);
}

int main(int argc, char **argv) {
    uint64_t pairs = 1000000;
    int rounds = 9, warmup = 1, xthread = 1, raw = 0;
    int threads[3] = {1, 2, 4}, nthreadcfg = 3;
    bool only[V_COUNT] = {0}, any_only = false;

    for (int i = 1; i < argc; i++) {
        const char *val;
        if (strcmp(argv[i], "--smoke") == 0) {
            pairs = 20000;
            rounds = 3;
        } else if ((val = bench_opt(argc, argv, &i, "--pairs"))) {
            pairs = strtoull(val, NULL, 10);
        } else if ((val = bench_opt(argc, argv, &i, "--rounds"))) {
            rounds = atoi(val);
        } else if ((val = bench_opt(argc, argv, &i, "--threads"))) {
            nthreadcfg = 0;
            for (const char *s = val; *s && nthreadcfg < 3; s++) {
                int t = (int)strtol(s, (char **)&s, 10);
                if (t != 1 && t != 2 && t != 4) usage();
                threads[nthreadcfg++] = t;
                if (!*s) break;
            }
        } else if (strcmp(argv[i], "--no-xthread") == 0) {
            xthread = 0;
        } else if (strcmp(argv[i], "--raw") == 0) {
            raw = 1;
        } else if (strcmp(argv[i], "--no-warmup") == 0) {
            warmup = 0;
        } else if ((val = bench_opt(argc, argv, &i, "--only"))) {
            int k = 0;
            while (k < V_COUNT && strcmp(val, variant_key[k]) != 0) k++;
            if (k == V_COUNT) usage();
            only[k] = any_only = true;
        } else {
            usage();
        }
    }
    if (pairs < 1000 || rounds < 1 || rounds > MAX_ROUNDS) usage();
    bool run[V_COUNT];
    for (int v = 0; v < V_COUNT; v++) run[v] = !any_only || only[v];

    if (mt_init() != 0) fail("mt_init failed");
    for (uint32_t k = 0; k < NSITES; k++) sites[k] = (site){site_files[k % 100], 1 + (int)(k / 100)};

    pthread_barrier_init(&bar, NULL, MAX_THREADS + 1);
    pthread_t tid[MAX_THREADS];
    for (int i = 0; i < MAX_THREADS; i++) {
        ctx[i].id = i;
        ctx[i].slot = malloc(WS_BLOCKS * sizeof(void *));
        if (!ctx[i].slot || pthread_create(&tid[i], NULL, worker, &ctx[i]) != 0) fail("thread setup failed");
    }

    config cfgs[5];
    int ncfg = 0;
    for (int i = 0; i < nthreadcfg; i++) cfgs[ncfg++] = (config){P_OWN, threads[i]};
    if (xthread) {
        for (int i = 0; i < nthreadcfg; i++)
            if (threads[i] >= 2) cfgs[ncfg++] = (config){P_XTHREAD, threads[i]};
    }

    /* The seed design is 10-100x slower: give it fewer pairs so a round
     * stays short; ns per pair does not depend on the count. */
    uint64_t vpairs[V_COUNT];
    for (int v = 0; v < V_COUNT; v++) vpairs[v] = v == V_SEED ? pairs / 10 : pairs;

    /* Warm-up: creates the sites and names, grows the heaps. Not reported. */
    if (warmup) {
        for (int c = 0; c < ncfg; c++)
            for (int v = 0; v < V_COUNT; v++)
                if (run[v]) run_job(v, cfgs[c].pattern, cfgs[c].nthreads, vpairs[v] / 4 + 1000);
    }

    static double ns[5][V_COUNT][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        for (int c = 0; c < ncfg; c++) {
            /* Rotate the order each round so no variant always runs first. */
            for (int k = 0; k < V_COUNT; k++) {
                int v = (k + r) % V_COUNT;
                if (!run[v]) continue;
                ns[c][v][r] = run_job(v, cfgs[c].pattern, cfgs[c].nthreads, vpairs[v]);
                if (raw)
                    fprintf(stderr, "round %d %s %d threads %-8s %.1f ns\n", r, cfgs[c].pattern == P_OWN ? "own" : "xthread",
                            cfgs[c].nthreads, variant_key[v], ns[c][v][r]);
            }
        }
    }

    cur.quit = 1;
    pthread_barrier_wait(&bar);
    for (int i = 0; i < MAX_THREADS; i++) pthread_join(tid[i], NULL);

    printf("### ns per free+malloc pair (median of %d rounds, %llu pairs per thread; seed %llu)\n\n", rounds,
           (unsigned long long)pairs, (unsigned long long)vpairs[V_SEED]);
    printf("| workload | threads | variant | ns/pair | x plain | (range) | seed / this | target | |\n");
    printf("|---|---:|---|---:|---:|---|---:|---|---|\n");
    for (int c = 0; c < ncfg; c++) {
        const config *cf = &cfgs[c];
        for (int v = 0; v < V_COUNT; v++) {
            if (!run[v]) continue;
            double tmp[MAX_ROUNDS], ratio[MAX_ROUNDS], seedx[MAX_ROUNDS];
            for (int r = 0; r < rounds; r++) {
                tmp[r] = ns[c][v][r];
                ratio[r] = run[V_PLAIN] ? ns[c][v][r] / ns[c][V_PLAIN][r] : 0;
                seedx[r] = run[V_SEED] ? ns[c][V_SEED][r] / ns[c][v][r] : 0;
            }
            double lo = ratio[0], hi = ratio[0];
            for (int r = 1; r < rounds; r++) {
                if (ratio[r] < lo) lo = ratio[r];
                if (ratio[r] > hi) hi = ratio[r];
            }
            double med = bench_median(tmp, rounds), rat = bench_median(ratio, rounds);
            double sx = bench_median(seedx, rounds), limit = 0;
            bool tg = has_target(v, cf, &limit);
            char ratio_s[32] = "", range_s[48] = "", seed_s[32] = "", target_s[32] = "";
            if (run[V_PLAIN]) snprintf(ratio_s, sizeof ratio_s, "%.2f", rat);
            if (run[V_PLAIN] && v != V_PLAIN) snprintf(range_s, sizeof range_s, "%.2f-%.2f", lo, hi);
            if (run[V_SEED] && v != V_SEED) snprintf(seed_s, sizeof seed_s, "%.1f", sx);
            if (tg) snprintf(target_s, sizeof target_s, "<= %.2f x plain", limit);
            printf("| %s | %d | %s | %.1f | %s | %s | %s | %s | %s |\n",
                   cf->pattern == P_OWN ? "own working set" : "alloc/free in different threads", cf->nthreads,
                   variant_name[v], med, ratio_s, range_s, seed_s, target_s,
                   tg && run[V_PLAIN] ? bench_verdict(1, rat, limit, 2) : "");
        }
    }
    printf("\n");
    if (check_failures) {
        fprintf(stderr, "bench_pairs: %d check(s) failed: memtally's counts differ from the workload's\n",
                check_failures);
        return 1;
    }
    printf("checked: every tracked run changed mt_global_stats and its category by exactly the workload's "
           "allocations, frees and bytes\n\n");
    return 0;
}
