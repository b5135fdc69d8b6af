/*
 * recorder.c - see recorder.h. One mutex around an open-addressing table
 * of live blocks keyed by address, and a ring of the last events.
 */
#include "recorder.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tracy/TracyC.h"

#define LIVE_BITS 18 /* 262,144 slots: the tests keep far fewer blocks live */
#define LIVE_SLOTS (1u << LIVE_BITS)
#define RING 4096u

typedef struct live {
    const void *ptr; /* NULL: empty */
    const char *pool;
    size_t size;
} live;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static live table[LIVE_SLOTS];
static tr_event ring[RING];
static uint64_t nevents;
static tr_counts counts;
static char first_error[160];

static size_t slot_of(const void *ptr) {
    return (size_t)(((uint64_t)(uintptr_t)ptr * 0x9E3779B97F4A7C15ull) >> (64 - LIVE_BITS));
}

static live *find(const void *ptr) {
    for (size_t i = slot_of(ptr);; i = (i + 1) & (LIVE_SLOTS - 1)) {
        if (table[i].ptr == ptr || table[i].ptr == NULL) return &table[i];
    }
}

/* Removes e, moving later entries of its probe run back (no tombstones). */
static void erase(live *e) {
    size_t i = (size_t)(e - table);
    for (size_t j = (i + 1) & (LIVE_SLOTS - 1); table[j].ptr; j = (j + 1) & (LIVE_SLOTS - 1)) {
        size_t home = slot_of(table[j].ptr);
        /* table[j] may move to i when i lies on its probe path home..j */
        if (((j - home) & (LIVE_SLOTS - 1)) >= ((j - i) & (LIVE_SLOTS - 1))) {
            table[i] = table[j];
            i = j;
        }
    }
    table[i].ptr = NULL;
}

static void error_locked(const char *what, const void *ptr) {
    if (counts.errors++ == 0) snprintf(first_error, sizeof first_error, "%s: %p", what, ptr);
}

static void log_locked(int alloc, const void *ptr, size_t size, const char *pool) {
    tr_event *e = &ring[nevents++ % RING];
    e->alloc = alloc;
    e->ptr = ptr;
    e->size = size;
    e->pool = pool;
}

void ___tracy_emit_memory_alloc_callstack_named(const void *ptr, size_t size, int32_t depth, const char *name) {
    (void)depth;
    pthread_mutex_lock(&lock);
    counts.allocs++;
    log_locked(1, ptr, size, name);
    live *e = find(ptr);
    if (!ptr || !name) error_locked("allocation without an address or a pool name", ptr);
    else if (e->ptr) error_locked("allocation of an address that is live", ptr);
    else {
        e->ptr = ptr;
        e->pool = name;
        e->size = size;
    }
    pthread_mutex_unlock(&lock);
}

void ___tracy_emit_memory_free_callstack_named(const void *ptr, int32_t depth, const char *name) {
    (void)depth;
    pthread_mutex_lock(&lock);
    counts.frees++;
    log_locked(0, ptr, 0, name);
    live *e = find(ptr);
    if (!e->ptr) error_locked("free of an address no pool holds", ptr);
    else if (e->pool != name) error_locked("free in another pool than the allocation's", ptr);
    else erase(e);
    pthread_mutex_unlock(&lock);
}

void tr_reset(void) {
    pthread_mutex_lock(&lock);
    memset(table, 0, sizeof table);
    memset(&counts, 0, sizeof counts);
    nevents = 0;
    first_error[0] = '\0';
    pthread_mutex_unlock(&lock);
}

tr_counts tr_counts_get(void) {
    pthread_mutex_lock(&lock);
    tr_counts c = counts;
    pthread_mutex_unlock(&lock);
    return c;
}

tr_counts tr_counts_peek(void) { return counts; }

const char *tr_first_error(void) { return first_error; }

size_t tr_last_events(tr_event *out, size_t n) {
    pthread_mutex_lock(&lock);
    uint64_t have = nevents < RING ? nevents : RING;
    if (n > have) n = (size_t)have;
    for (size_t i = 0; i < n; i++) out[i] = ring[(nevents - n + i) % RING];
    pthread_mutex_unlock(&lock);
    return n;
}

int tr_is_live(const void *ptr, const char **pool) {
    pthread_mutex_lock(&lock);
    live *e = find(ptr);
    int yes = e->ptr != NULL;
    if (yes && pool) *pool = e->pool;
    pthread_mutex_unlock(&lock);
    return yes;
}

uint64_t tr_live_blocks(const char *pool, uint64_t *bytes) {
    uint64_t n = 0, b = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < LIVE_SLOTS; i++) {
        if (table[i].ptr && table[i].pool == pool) {
            n++;
            b += table[i].size;
        }
    }
    pthread_mutex_unlock(&lock);
    if (bytes) *bytes = b;
    return n;
}

void tr_error(const char *what, const void *ptr) {
    pthread_mutex_lock(&lock);
    error_locked(what, ptr);
    pthread_mutex_unlock(&lock);
}
