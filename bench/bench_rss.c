/*
 * bench_rss.c - what memtally costs in memory.
 *
 * Per live block: a fresh child process allocates one million 32-byte blocks
 * and reports how much its VmRSS grew (read from /proc/self/status before and
 * after). The child runs untracked (malloc), tracked (mt_alloc) or with the
 * seed's design; tracked minus untracked is memtally's cost per block beyond
 * what the backend allocator itself uses. Children of each kind alternate and
 * the table shows medians.
 *
 * Fixed footprint: a fresh child reads VmRSS, calls mt_init and makes one
 * allocation, and reads it again; then a second thread makes one tracked
 * allocation, compared with a thread that makes one plain malloc.
 *
 * Each tracked child checks that memtally counts exactly the blocks it holds
 * and exits 1 otherwise (the ctest smoke test relies on it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "bench_seed.h"
#include "memtally.h"

#define BLOCK 32u
#define MAX_ROUNDS 32

enum { K_PLAIN, K_TRACKED, K_SEED, K_COUNT };
static const char *const kind_key[K_COUNT] = {"plain", "tracked", "seed"};

/* ---- children ------------------------------------------------------------ */

static int child_blocks(int kind, long n) {
    void **p = malloc((size_t)n * sizeof *p);
    if (!p) return 2;
    memset(p, 0xA5, (size_t)n * sizeof *p); /* touch it now (0 would become calloc) */
    /* Warm up so one-time costs (memtally's first use, the category and
     * site, the seed's first tree nodes) are not counted per block. */
    if (kind == K_PLAIN) {
        free(malloc(BLOCK));
    } else if (kind == K_TRACKED) {
        if (mt_init() != 0) return 2;
        mt_free(MT_ALLOC(BLOCK, "Bench::RSS"));
    } else {
        seed_free(seed_alloc(BLOCK, "Bench::RSS"));
    }
    long before = bench_status_kb("VmRSS");
    for (long i = 0; i < n; i++) {
        if (kind == K_PLAIN)
            p[i] = malloc(BLOCK);
        else if (kind == K_TRACKED)
            p[i] = MT_ALLOC(BLOCK, "Bench::RSS");
        else
            p[i] = seed_alloc(BLOCK, "Bench::RSS");
        if (!p[i]) return 2;
    }
    long after = bench_status_kb("VmRSS");

    int status = 0;
    if (kind == K_TRACKED) {
        mt_stats s;
        if (mt_category_stats("Bench::RSS", 0, &s) != 0 || s.current != (uint64_t)n * BLOCK ||
            s.alloc_count - s.free_count != (uint64_t)n) {
            fprintf(stderr, "bench_rss: CHECK FAILED: Bench::RSS should hold %ld blocks of %u bytes\n", n, BLOCK);
            status = 1;
        }
        mt_stats g = mt_global_stats();
        if (g.current != (uint64_t)n * BLOCK || g.alloc_count - g.free_count != (uint64_t)n) {
            fprintf(stderr, "bench_rss: CHECK FAILED: mt_global_stats should show %ld live blocks\n", n);
            status = 1;
        }
    } else if (kind == K_SEED && seed_live_blocks() != (size_t)n) {
        fprintf(stderr, "bench_rss: CHECK FAILED: the seed design should hold %ld blocks\n", n);
        status = 1;
    }
    printf("%ld\n", after - before);
    return status;
}

static pthread_barrier_t tbar;

static void *thread_one_alloc(void *arg) {
    void *p = arg ? MT_ALLOC(BLOCK, "Bench::RSS::Thread") : malloc(BLOCK);
    pthread_barrier_wait(&tbar); /* allocated: parent reads RSS */
    pthread_barrier_wait(&tbar); /* parent done */
    if (arg)
        mt_free(p);
    else
        free(p);
    return NULL;
}

/* RSS growth of the process while one extra thread holds one block. */
static long thread_cost_kb(int tracked) {
    pthread_t t;
    long before = bench_status_kb("VmRSS");
    pthread_barrier_init(&tbar, NULL, 2);
    if (pthread_create(&t, NULL, thread_one_alloc, tracked ? (void *)1 : NULL) != 0) return -1;
    pthread_barrier_wait(&tbar);
    long after = bench_status_kb("VmRSS");
    pthread_barrier_wait(&tbar);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&tbar);
    return after - before;
}

static int child_footprint(void) {
    bench_status_kb("VmRSS"); /* fault in the reader's own code and buffers first */
    long rss0 = bench_status_kb("VmRSS"), anon0 = bench_status_kb("RssAnon"), vm0 = bench_status_kb("VmSize");
    if (mt_init() != 0) return 2;
    void *p = MT_ALLOC(BLOCK, "Bench::RSS");
    if (!p) return 2;
    long rss1 = bench_status_kb("VmRSS"), anon1 = bench_status_kb("RssAnon"), vm1 = bench_status_kb("VmSize");
    /* The first thread pays for its stack and malloc arena; later threads
     * reuse both, so warm up once and compare two later threads. */
    thread_cost_kb(0);
    long plain_thread = thread_cost_kb(0);
    long tracked_thread = thread_cost_kb(1);
    mt_free(p);
    printf("%ld %ld %ld %ld %ld\n", rss1 - rss0, anon1 - anon0, vm1 - vm0, plain_thread, tracked_thread);
    return 0;
}

/* ---- parent --------------------------------------------------------------- */

/* Runs this program again as a fresh child with args; returns its first
 * output line in line[], or -1. */
static int run_child(char *const args[], char *line, size_t cap) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    int ok = f && fgets(line, (int)cap, f) != NULL;
    if (f) fclose(f);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_rss: child %s %s failed (status %d)\n", args[1], args[2], status);
        return -1;
    }
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    long n = 1000000;
    int rounds = 5;
    for (int i = 1; i < argc; i++) {
        const char *val;
        if (strcmp(argv[i], "--child") == 0 && i + 2 < argc) {
            const char *kind = argv[i + 1];
            if (strcmp(kind, "footprint") == 0) return child_footprint();
            for (int k = 0; k < K_COUNT; k++)
                if (strcmp(kind, kind_key[k]) == 0) return child_blocks(k, atol(argv[i + 2]));
            return 2;
        } else if (strcmp(argv[i], "--smoke") == 0) {
            n = 100000;
            rounds = 1;
        } else if ((val = bench_opt(argc, argv, &i, "--blocks"))) {
            n = atol(val);
        } else if ((val = bench_opt(argc, argv, &i, "--rounds"))) {
            rounds = atoi(val);
        } else {
            fprintf(stderr, "usage: bench_rss [--smoke] [--blocks N] [--rounds R]\n");
            return 2;
        }
    }
    if (n < 1000 || rounds < 1 || rounds > MAX_ROUNDS) return 2;

    char nbuf[32], line[256];
    snprintf(nbuf, sizeof nbuf, "%ld", n);
    double kb[K_COUNT][MAX_ROUNDS], over[MAX_ROUNDS], seed_over[MAX_ROUNDS];
    double fp_rss[MAX_ROUNDS], fp_anon[MAX_ROUNDS], fp_vm[MAX_ROUNDS], fp_thread[MAX_ROUNDS];
    int failed = 0;
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < K_COUNT; j++) {
            int k = (j + r) % K_COUNT;
            char *args[] = {argv[0], "--child", (char *)kind_key[k], nbuf, NULL};
            if (run_child(args, line, sizeof line) != 0) {
                failed = 1;
                kb[k][r] = 0;
                continue;
            }
            kb[k][r] = atof(line);
        }
        over[r] = (kb[K_TRACKED][r] - kb[K_PLAIN][r]) * 1024.0 / (double)n;
        seed_over[r] = (kb[K_SEED][r] - kb[K_PLAIN][r]) * 1024.0 / (double)n;
        char *args[] = {argv[0], "--child", "footprint", "0", NULL};
        long a = 0, b = 0, c = 0, d = 0, e = 0;
        if (run_child(args, line, sizeof line) != 0 ||
            sscanf(line, "%ld %ld %ld %ld %ld", &a, &b, &c, &d, &e) != 5)
            failed = 1;
        fp_rss[r] = (double)a;
        fp_anon[r] = (double)b;
        fp_vm[r] = (double)c;
        fp_thread[r] = (double)(e - d);
    }

    double plain_b = bench_median(kb[K_PLAIN], rounds) * 1024.0 / (double)n;
    double tracked_b = bench_median(kb[K_TRACKED], rounds) * 1024.0 / (double)n;
    double seed_b = bench_median(kb[K_SEED], rounds) * 1024.0 / (double)n;
    double ov = bench_median(over, rounds), sov = bench_median(seed_over, rounds);
    printf("### Memory (median of %d fresh processes each, %ld live blocks of %u bytes)\n\n", rounds, n, BLOCK);
    printf("| measure | value | target | |\n|---|---:|---|---|\n");
    printf("| RSS per live block, plain malloc | %.1f B | | |\n", plain_b);
    printf("| RSS per live block, memtally | %.1f B | | |\n", tracked_b);
    printf("| RSS per live block, seed design | %.1f B | | |\n", seed_b);
    printf("| **memtally overhead per live block** (tracked - plain) | %.1f B | <= 16 B | %s |\n", ov,
           bench_verdict(1, ov, 16.0, 1));
    printf("| seed design overhead per live block | %.1f B | | |\n", sov);
    printf("| fixed footprint: VmRSS after mt_init + 1 allocation | %.0f KiB | | |\n", bench_median(fp_rss, rounds));
    printf("| fixed footprint: of which anonymous memory (RssAnon) | %.0f KiB | | |\n",
           bench_median(fp_anon, rounds));
    printf("| fixed footprint: address space reserved by then | %.1f MiB | | |\n",
           bench_median(fp_vm, rounds) / 1024.0);
    printf("| per thread: RSS of a thread's first tracked allocation beyond a plain one | %.0f KiB | | |\n",
           bench_median(fp_thread, rounds));
    printf("\n");
    if (failed) {
        fprintf(stderr, "bench_rss: a child failed or a check failed\n");
        return 1;
    }
    printf("checked: each tracked child's mt_global_stats and category held exactly its live blocks\n\n");
    return 0;
}
