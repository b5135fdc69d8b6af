/*
 * bench_seed.c - the seed document's allocator in C (see bench_seed.h).
 *
 * One pthread mutex guards a tsearch tree of live blocks keyed by address and
 * a tsearch tree of per-category totals keyed by category text, exactly the
 * work the seed's Allocator::Allocate/Free do around malloc/free. The trees'
 * nodes and records come from malloc, like the seed's Mallocator.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_seed.h"

#include <pthread.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

typedef struct seed_block {  /* the seed's Allocation */
    void *memory;
    size_t size;
    const char *category;
} seed_block;

typedef struct seed_cat {    /* one entry of the seed's AllocationStatsMap */
    const char *name;
    seed_stats stats;
} seed_cat;

static pthread_mutex_t seed_mutex = PTHREAD_MUTEX_INITIALIZER;
static void *seed_blocks;     /* tree of seed_block *, by memory */
static void *seed_cats;       /* tree of seed_cat *, by name */
static size_t seed_nblocks;
static seed_stats seed_global;

static int block_cmp(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)((const seed_block *)a)->memory;
    uintptr_t y = (uintptr_t)((const seed_block *)b)->memory;
    return (x > y) - (x < y);
}

static int cat_cmp(const void *a, const void *b) {
    return strcmp(((const seed_cat *)a)->name, ((const seed_cat *)b)->name);
}

/* s_Data->m_AllocationStatsMap[category]: finds or inserts. Mutex held. */
static seed_stats *cat_stats(const char *category) {
    seed_cat key = {.name = category};
    void *found = tfind(&key, &seed_cats, cat_cmp);
    if (found) return &(*(seed_cat **)found)->stats;
    seed_cat *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->name = category;
    if (!tsearch(c, &seed_cats, cat_cmp)) {
        free(c);
        return NULL;
    }
    return &c->stats;
}

void *seed_alloc(size_t size, const char *category) {
    void *memory = malloc(size);
    if (!memory) return NULL;
    seed_block *b = malloc(sizeof *b);
    if (!b) {
        free(memory);
        return NULL;
    }
    b->memory = memory;
    b->size = size;
    b->category = category;
    pthread_mutex_lock(&seed_mutex);
    if (!tsearch(b, &seed_blocks, block_cmp)) {
        pthread_mutex_unlock(&seed_mutex);
        free(b);
        free(memory);
        return NULL;
    }
    seed_nblocks++;
    seed_global.total_allocated += size;
    seed_global.alloc_count++;
    if (category) {
        seed_stats *s = cat_stats(category);
        if (s) {
            s->total_allocated += size;
            s->alloc_count++;
        }
    }
    pthread_mutex_unlock(&seed_mutex);
    return memory;
}

void seed_free(void *p) {
    if (!p) return;
    seed_block key = {.memory = p}, *b = NULL;
    pthread_mutex_lock(&seed_mutex);
    void *found = tfind(&key, &seed_blocks, block_cmp);
    if (found) {
        b = *(seed_block **)found;
        seed_global.total_freed += b->size;
        seed_global.free_count++;
        if (b->category) {
            seed_stats *s = cat_stats(b->category);
            if (s) {
                s->total_freed += b->size;
                s->free_count++;
            }
        }
        tdelete(&key, &seed_blocks, block_cmp);
        seed_nblocks--;
    }
    pthread_mutex_unlock(&seed_mutex);
    free(b);
    free(p);
}

seed_stats seed_global_stats(void) {
    pthread_mutex_lock(&seed_mutex);
    seed_stats s = seed_global;
    pthread_mutex_unlock(&seed_mutex);
    return s;
}

static void (*walk_fn)(const char *, const seed_stats *, void *);
static void *walk_user;
static size_t walk_count;

static void cat_walk(const void *node, VISIT which, int depth) {
    (void)depth;
    if (which != postorder && which != leaf) return;
    const seed_cat *c = *(seed_cat *const *)node;
    walk_count++;
    if (walk_fn) walk_fn(c->name, &c->stats, walk_user);
}

size_t seed_foreach_category(void (*fn)(const char *, const seed_stats *, void *), void *user) {
    pthread_mutex_lock(&seed_mutex);
    walk_fn = fn;
    walk_user = user;
    walk_count = 0;
    twalk(seed_cats, cat_walk);
    size_t n = walk_count;
    pthread_mutex_unlock(&seed_mutex);
    return n;
}

size_t seed_live_blocks(void) {
    pthread_mutex_lock(&seed_mutex);
    size_t n = seed_nblocks;
    pthread_mutex_unlock(&seed_mutex);
    return n;
}
