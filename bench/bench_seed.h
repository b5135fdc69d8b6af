/*
 * bench_seed.h - the seed document's allocator, written in C, as the baseline
 * memtally has to beat.
 *
 * The seed keeps every live block in a std::map<const void *, Allocation>
 * and a std::map of category -> {TotalAllocated, TotalFreed}, both under a
 * mutex, and gets memory from malloc. Here the maps are glibc's balanced
 * trees (tsearch/tfind/tdelete), keyed by address and by category text.
 */
#ifndef BENCH_SEED_H
#define BENCH_SEED_H

#include <stddef.h>
#include <stdint.h>

typedef struct seed_stats {
    uint64_t total_allocated;
    uint64_t total_freed;
    uint64_t alloc_count;
    uint64_t free_count;
} seed_stats;

/* Allocator::Allocate(size, desc): malloc, then record the block and count it
 * under its category. category may be NULL (counted globally only). */
void *seed_alloc(size_t size, const char *category);
/* Allocator::Free(p): look the block up, count it freed, forget it, free it. */
void seed_free(void *p);
/* Memory::GetAllocationStats(): the global totals, read under the mutex. */
seed_stats seed_global_stats(void);
/* Allocator::GetAllocationStats(): walks the category map under the mutex,
 * as a reader copying it would; returns the number of categories. */
size_t seed_foreach_category(void (*fn)(const char *category, const seed_stats *s, void *user), void *user);
/* Number of live blocks in the address tree. */
size_t seed_live_blocks(void);

#endif /* BENCH_SEED_H */
