/*
 * bench_common.h - small helpers shared by memtally's benchmark programs:
 * a clock, a seeded PRNG, medians, /proc/self/status readers and the
 * table printer. Header-only so each benchmark stays one file.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_INLINE static inline __attribute__((always_inline))
#define BENCH_NOINLINE __attribute__((noinline))

static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: one state word, the same sequence for every variant. */
BENCH_INLINE uint64_t bench_rand(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A uniform value in [0, n) from 32 random bits, without a division. */
BENCH_INLINE uint32_t bench_below(uint32_t bits32, uint32_t n) {
    return (uint32_t)(((uint64_t)bits32 * n) >> 32);
}

static int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n values (n >= 1); v is reordered. */
static inline double bench_median(double *v, size_t n) {
    if (n == 0) return 0.0;
    qsort(v, n, sizeof *v, bench_cmp_double);
    return (n & 1) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* A field of /proc/self/status in kB ("VmRSS", "VmSize"), or -1. */
static inline long bench_status_kb(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    size_t len = strlen(field);
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kb = strtol(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* "PASS"/"MISS" for value <= limit, value taken at the precision the table
 * prints (decimals), so a printed 16.0 never reads MISS against 16; "" when
 * there is no target. */
static inline const char *bench_verdict(int has_target, double value, double limit, int decimals) {
    if (!has_target) return "";
    double scale = 1.0;
    while (decimals-- > 0) scale *= 10.0;
    return (double)(long long)(value * scale + 0.5) <= limit * scale + 1e-9 ? "PASS" : "MISS";
}

/* Parses "--name=value" or "--name value"; returns the value or NULL. */
static inline const char *bench_opt(int argc, char **argv, int *i, const char *name) {
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0) return NULL;
    if (argv[*i][len] == '=') return argv[*i] + len + 1;
    if (argv[*i][len] == '\0' && *i + 1 < argc) return argv[++*i];
    return NULL;
}

#endif /* BENCH_COMMON_H */
