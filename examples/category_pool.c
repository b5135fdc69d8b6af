/*
 * category_pool.c - the seed's CategoryMemoryPool in C.
 *
 * A pool hands out blocks that all belong to one category, remembers them,
 * and frees them together. Its usage is read back from memtally with
 * mt_category_stats() instead of being counted by the pool. The list of
 * blocks is the pool's own bookkeeping and uses plain realloc(), so only the
 * blocks themselves count in the pool's category.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <memtally.h>

typedef struct category_pool {
    const char *category;
    void **blocks;
    size_t count, capacity;
} category_pool;

static void pool_init(category_pool *pool, const char *category)
{
    *pool = (category_pool){ .category = category };
}

/* Every block of this pool goes to the pool's category. NULL on failure. */
static void *pool_allocate(category_pool *pool, size_t size)
{
    if (pool->count == pool->capacity) {
        size_t capacity = pool->capacity ? pool->capacity * 2 : 8;
        void **blocks = realloc(pool->blocks, capacity * sizeof *blocks);
        if (!blocks)
            return NULL;
        pool->blocks = blocks;
        pool->capacity = capacity;
    }
    void *block = MT_ALLOC(size, pool->category);
    if (block)
        pool->blocks[pool->count++] = block;
    return block;
}

static void pool_free_all(category_pool *pool)
{
    for (size_t i = 0; i < pool->count; i++)
        MT_FREE(pool->blocks[i]);
    printf("freed all %zu blocks in pool category: %s\n", pool->count, pool->category);
    pool->count = 0;
}

/* Frees what is left and the pool's own list. */
static void pool_destroy(category_pool *pool)
{
    for (size_t i = 0; i < pool->count; i++)
        MT_FREE(pool->blocks[i]);
    free(pool->blocks);
    *pool = (category_pool){ 0 };
}

/* Seed: GetCategoryUsage(): TotalAllocated - TotalFreed of the category. */
static uint64_t pool_usage(const category_pool *pool)
{
    mt_stats s;
    if (mt_category_stats(pool->category, 0, &s) != 0)
        return 0;
    return s.current;
}

static void print_pool(const category_pool *pool)
{
    mt_stats s = { 0 };
    mt_category_stats(pool->category, 0, &s);
    printf("pool %s: usage %" PRIu64 " bytes, %zu blocks held, allocs %" PRIu64 ", frees %" PRIu64 "\n",
           pool->category, pool_usage(pool), pool->count, s.alloc_count, s.free_count);
}

int main(void)
{
    category_pool particles, strings;
    pool_init(&particles, "Pools::Particles");
    pool_init(&strings, "Pools::Strings");

    for (int i = 0; i < 10; i++)
        pool_allocate(&particles, 256);
    for (int i = 0; i < 3; i++)
        pool_allocate(&strings, 100);

    print_pool(&particles);
    print_pool(&strings);
    mt_stats all;
    if (mt_category_stats("Pools", 1, &all) == 0)
        printf("all pools: usage %" PRIu64 " bytes\n", all.current);

    pool_free_all(&particles);
    print_pool(&particles);
    print_pool(&strings);

    pool_destroy(&particles);
    pool_destroy(&strings);
    if (mt_category_stats("Pools", 1, &all) == 0)
        printf("all pools destroyed: usage %" PRIu64 " bytes\n", all.current);
    return 0;
}
