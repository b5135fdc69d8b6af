/*
 * basic.c - the seed's "basic application integration" in C.
 *
 * mt_init() at startup, the application's work through the MT_* macros,
 * and a leak check on the global statistics before exit.
 *
 * The build compiles this file twice: `basic` links libmemtally; and
 * `basic_disabled` is compiled with -DMEMTALLY_DISABLE and links nothing
 * but libc. There every MT_* macro is the libc call it stands for, and the
 * statistics code is compiled out (the seed's #ifndef SEDX_DIST).
 */
#define _POSIX_C_SOURCE 200809L /* strdup, for MT_STRDUP with -DMEMTALLY_DISABLE */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memtally.h>

typedef struct app {
    char *buffer;
    uint32_t *table;
    char *greeting;
} app;

static int by_value(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

static int run_application(void)
{
    app a;
    a.buffer = MT_ALLOC(1024, "App::Buffers");
    a.table = MT_NEW_ARRAY(uint32_t, 100, "App::Tables");
    a.greeting = MT_STRDUP("hello, memtally", "App::Strings");
    if (!a.buffer || !a.table || !a.greeting)
        return -1;

    char *bigger = MT_REALLOC(a.buffer, 2048, NULL); /* keeps App::Buffers */
    if (!bigger)
        return -1;
    a.buffer = bigger;
    for (uint32_t i = 0; i < 100; i++) a.table[i] = 100 - i;
    qsort(a.table, 100, sizeof *a.table, by_value);
    snprintf(a.buffer, 2048, "%s: %u table entries", a.greeting, a.table[99]);
    printf("%s\n", a.buffer);

    MT_FREE(a.buffer);
    MT_FREE(a.table);
    MT_FREE(a.greeting);
    return 0;
}

int main(void)
{
#ifndef MEMTALLY_DISABLE
    if (mt_init() != 0) {
        fprintf(stderr, "basic: mt_init failed\n");
        return 1;
    }
#endif

    if (run_application() != 0) {
        fprintf(stderr, "basic: out of memory\n");
        return 1;
    }

#ifndef MEMTALLY_DISABLE
    mt_stats stats = mt_global_stats();
    uint64_t leaked = stats.total_allocated - stats.total_freed;
    printf("allocated %" PRIu64 " bytes in %" PRIu64 " blocks, freed %" PRIu64 " bytes in %" PRIu64
           " blocks\n",
           stats.total_allocated, stats.alloc_count, stats.total_freed, stats.free_count);
    if (leaked > 0) {
        printf("memory leak detected: %" PRIu64 " bytes\n", leaked);
        return 1;
    }
    printf("no memory leaks\n");
#else
    printf("memory tracking disabled at compile time (MEMTALLY_DISABLE)\n");
#endif
    return 0;
}
