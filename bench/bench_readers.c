/*
 * bench_readers.c - reading statistics while two threads allocate.
 *
 * Two writer threads run the free+malloc workload of bench_pairs (own 4096
 * block working set, 8 B..2 KiB, explicit category) while a third thread
 * reads statistics every `pace` microseconds: mt_global_stats,
 * mt_foreach_category, or mt_snapshot_take + mt_snapshot_free (and sleeps at
 * least 20 times as long as the call took). Before the
 * runs the program creates 111 categories and 1,000 sites so readers have
 * something to walk. The table shows the reader's ns per call and the
 * writers' ns per pair with and without the reader (ratio taken within each
 * round, median over rounds). The seed's design is shown the same way, its
 * reader walking the category map under the mutex its writers take.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "bench_seed.h"
#include "memtally.h"

#define WS_BLOCKS  4096u
#define MIN_SIZE   8u
#define SIZE_SPAN  2041u
#define WRITERS    2
#define MAX_ROUNDS 32
#define MAX_SAMPLES 65536

enum { R_NONE, R_GLOBAL, R_CATS, R_SNAPSHOT, R_SEED_NONE, R_SEED_CATS, R_COUNT };
static const char *const mode_name[R_COUNT] = {
    "none",
    "mt_global_stats",
    "mt_foreach_category",
    "mt_snapshot_take + mt_snapshot_free",
    "seed design: none",
    "seed design: walk category map under its mutex",
};

typedef struct writer {
    int id, seed_design;
    uint64_t pairs, ns;
    void **slot;
    pthread_barrier_t *start;
} writer;

static void fail(const char *what) {
    fprintf(stderr, "bench_readers: %s\n", what);
    exit(2);
}

BENCH_INLINE void *w_alloc(int seed_design, size_t size) {
    return seed_design ? seed_alloc(size, "Bench::Writers") : mt_alloc(size, "Bench::Writers", __FILE__, __LINE__);
}

BENCH_INLINE void w_free(int seed_design, void *p) {
    if (seed_design)
        seed_free(p);
    else
        mt_free(p);
}

static void *writer_main(void *arg) {
    writer *w = arg;
    uint64_t x = 0xF111F111ull + (uint64_t)w->id;
    for (uint32_t i = 0; i < WS_BLOCKS; i++) {
        uint64_t r = bench_rand(&x);
        w->slot[i] = w_alloc(w->seed_design, MIN_SIZE + bench_below((uint32_t)(r >> 32), SIZE_SPAN));
        if (!w->slot[i]) fail("allocation failed");
    }
    pthread_barrier_wait(w->start);
    x = 0x5EED0000ull + (uint64_t)w->id * 0x1000193ull;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < w->pairs; i++) {
        uint64_t r = bench_rand(&x);
        uint32_t idx = (uint32_t)r & (WS_BLOCKS - 1);
        w_free(w->seed_design, w->slot[idx]);
        char *p = w_alloc(w->seed_design, MIN_SIZE + bench_below((uint32_t)(r >> 32), SIZE_SPAN));
        if (__builtin_expect(p == NULL, 0)) fail("allocation failed");
        p[0] = (char)i;
        w->slot[idx] = p;
    }
    w->ns = bench_now_ns() - t0;
    for (uint32_t i = 0; i < WS_BLOCKS; i++) w_free(w->seed_design, w->slot[i]);
    return NULL;
}

typedef struct reader {
    int mode;
    long pace_us;
    atomic_int stop;
    size_t n;
    double ns[MAX_SAMPLES];
    uint64_t sink;
    pthread_barrier_t *start;
} reader;

static int count_cat(const mt_category_info *info, void *user) {
    *(uint64_t *)user += info->self.alloc_count;
    return 0;
}

static void count_seed_cat(const char *category, const seed_stats *s, void *user) {
    (void)category;
    *(uint64_t *)user += s->alloc_count;
}

static void *reader_main(void *arg) {
    reader *rd = arg;
    struct timespec pace = {.tv_sec = rd->pace_us / 1000000, .tv_nsec = (rd->pace_us % 1000000) * 1000};
    pthread_barrier_wait(rd->start);
    while (!atomic_load_explicit(&rd->stop, memory_order_relaxed)) {
        uint64_t t0 = bench_now_ns();
        switch (rd->mode) {
        case R_GLOBAL:
            rd->sink += mt_global_stats().alloc_count;
            break;
        case R_CATS:
            mt_foreach_category(count_cat, &rd->sink);
            break;
        case R_SNAPSHOT: {
            mt_snapshot *s = mt_snapshot_take("reader");
            if (!s) fail("mt_snapshot_take failed");
            mt_snapshot_free(s);
            break;
        }
        case R_SEED_CATS:
            seed_foreach_category(count_seed_cat, &rd->sink);
            break;
        }
        uint64_t t1 = bench_now_ns();
        if (rd->n < MAX_SAMPLES) rd->ns[rd->n++] = (double)(t1 - t0);
        /* Sleep at least 20 times the call, so the reader uses under 5% of
         * a core: what the writers lose is then stalling, not CPU time. */
        struct timespec pause = pace;
        uint64_t want = 20 * (t1 - t0);
        if (want > (uint64_t)pace.tv_sec * 1000000000u + (uint64_t)pace.tv_nsec)
            pause = (struct timespec){.tv_sec = (time_t)(want / 1000000000u), .tv_nsec = (long)(want % 1000000000u)};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

/* One run: 2 writers, and a reader unless mode is R_NONE/R_SEED_NONE.
 * Returns the writers' mean ns per pair; *reader_ns gets the reader's
 * median and *reader_p99 its 99th percentile per call. */
static double run_once(int mode, uint64_t pairs, long pace_us, double *reader_ns, double *reader_p99) {
    static reader rd;
    bool seed_design = mode >= R_SEED_NONE, with_reader = mode != R_NONE && mode != R_SEED_NONE;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, WRITERS + 1 + (with_reader ? 1 : 0));
    writer w[WRITERS];
    pthread_t wt[WRITERS], rt;
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){.id = i, .seed_design = seed_design, .pairs = pairs, .start = &start};
        w[i].slot = malloc(WS_BLOCKS * sizeof(void *));
        if (!w[i].slot || pthread_create(&wt[i], NULL, writer_main, &w[i]) != 0) fail("thread setup failed");
    }
    if (with_reader) {
        rd.mode = mode;
        rd.pace_us = pace_us;
        rd.n = 0;
        rd.start = &start;
        atomic_store(&rd.stop, 0);
        if (pthread_create(&rt, NULL, reader_main, &rd) != 0) fail("thread setup failed");
    }
    pthread_barrier_wait(&start);
    double ns = 0;
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(wt[i], NULL);
        ns += (double)w[i].ns / (double)pairs / WRITERS;
        free(w[i].slot);
    }
    *reader_ns = *reader_p99 = 0;
    if (with_reader) {
        atomic_store(&rd.stop, 1);
        pthread_join(rt, NULL);
        if (rd.n) {
            qsort(rd.ns, rd.n, sizeof rd.ns[0], bench_cmp_double);
            *reader_p99 = rd.ns[rd.n * 99 / 100];
            *reader_ns = bench_median(rd.ns, rd.n);
        }
    }
    pthread_barrier_destroy(&start);
    return ns;
}

/* Gives readers a realistic registry to walk: 10 groups of 10 categories
 * (named from a temporary buffer), 10 sites each. */
static void populate(void) {
    static const char *const files[10] = {"app/a.c", "app/b.c", "app/c.c", "app/d.c", "app/e.c",
                                          "app/f.c", "app/g.c", "app/h.c", "app/i.c", "app/j.c"};
    char name[64];
    for (int g = 0; g < 10; g++) {
        for (int c = 0; c < 10; c++) {
            snprintf(name, sizeof name, "Bench::Readers::Group%d::Cat%d", g, c);
            for (int s = 0; s < 10; s++) mt_free(mt_alloc(64, name, files[s], 100 + g * 10 + c));
        }
    }
}

static int count_all(const mt_category_info *info, void *user) {
    (void)info;
    (*(size_t *)user)++;
    return 0;
}

static int count_site(const mt_site_info *info, void *user) {
    (void)info;
    (*(size_t *)user)++;
    return 0;
}

int main(int argc, char **argv) {
    uint64_t pairs = 2000000;
    int rounds = 7;
    long pace_us = 500;
    for (int i = 1; i < argc; i++) {
        const char *val;
        if (strcmp(argv[i], "--smoke") == 0) {
            pairs = 20000;
            rounds = 1;
        } else if ((val = bench_opt(argc, argv, &i, "--pairs"))) {
            pairs = strtoull(val, NULL, 10);
        } else if ((val = bench_opt(argc, argv, &i, "--rounds"))) {
            rounds = atoi(val);
        } else if ((val = bench_opt(argc, argv, &i, "--pace-us"))) {
            pace_us = atol(val);
        } else {
            fprintf(stderr, "usage: bench_readers [--smoke] [--pairs N] [--rounds R] [--pace-us US]\n");
            return 2;
        }
    }
    if (pairs < 1000 || rounds < 1 || rounds > MAX_ROUNDS || pace_us < 0) return 2;
    if (mt_init() != 0) fail("mt_init failed");
    populate();
    size_t ncats = 0, nsites = 0;
    mt_foreach_category(count_all, &ncats);
    mt_foreach_site(count_site, &nsites);

    /* The seed design is much slower per pair: fewer pairs, same ns/pair. */
    uint64_t seed_pairs = pairs / 20 > 1000 ? pairs / 20 : 1000;
    double dummy, dummy2;
    run_once(R_NONE, pairs / 10 + 1000, pace_us, &dummy, &dummy2); /* warm-up */

    static double wns[R_COUNT][MAX_ROUNDS], rns[R_COUNT][MAX_ROUNDS], rp99[R_COUNT][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < R_COUNT; k++) {
            int m = (k + r) % R_COUNT;
            wns[m][r] = run_once(m, m >= R_SEED_NONE ? seed_pairs : pairs, pace_us, &rns[m][r], &rp99[m][r]);
        }
    }

    printf("### Reading statistics while %d threads allocate (median of %d rounds; %zu categories, %zu sites;\n"
           "### a read every %ld us or 20x its duration; %llu pairs per writer, seed %llu)\n\n",
           WRITERS, rounds, ncats, nsites, pace_us, (unsigned long long)pairs, (unsigned long long)seed_pairs);
    printf("| reader | reader ns/call | reader p99 ns | writers ns/pair | writers x no reader |\n");
    printf("|---|---:|---:|---:|---:|\n");
    for (int m = 0; m < R_COUNT; m++) {
        int base = m >= R_SEED_NONE ? R_SEED_NONE : R_NONE;
        double ratio[MAX_ROUNDS], w[MAX_ROUNDS], rn[MAX_ROUNDS], rp[MAX_ROUNDS];
        for (int r = 0; r < rounds; r++) {
            ratio[r] = wns[m][r] / wns[base][r];
            w[r] = wns[m][r];
            rn[r] = rns[m][r];
            rp[r] = rp99[m][r];
        }
        bool with_reader = m != R_NONE && m != R_SEED_NONE;
        char rs[32] = "", ps[32] = "";
        if (with_reader) {
            snprintf(rs, sizeof rs, "%.0f", bench_median(rn, rounds));
            snprintf(ps, sizeof ps, "%.0f", bench_median(rp, rounds));
        }
        printf("| %s | %s | %s | %.1f | %.2f |\n", mode_name[m], rs, ps, bench_median(w, rounds),
               bench_median(ratio, rounds));
    }
    printf("\n");

    mt_stats s;
    if (mt_category_stats("Bench::Writers", 0, &s) != 0 || s.current != 0 || s.alloc_count != s.free_count) {
        fprintf(stderr, "bench_readers: CHECK FAILED: Bench::Writers should hold nothing at the end\n");
        return 1;
    }
    return 0;
}
