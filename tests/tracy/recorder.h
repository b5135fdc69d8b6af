/*
 * recorder.h - Tracy's two memory functions that memtally calls, recorded
 * and checked the way Tracy's server checks them: per named pool, no
 * address allocated twice while live, no free of an address the pool does
 * not hold. test_tracy links this instead of Tracy's client library.
 */
#ifndef MT_TRACY_RECORDER_H
#define MT_TRACY_RECORDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tr_event {
    int alloc;        /* 1: TracyCAllocN, 0: TracyCFreeN */
    const void *ptr;
    size_t size;      /* allocations only */
    const char *pool; /* the name pointer Tracy was given */
} tr_event;

typedef struct tr_counts {
    uint64_t allocs, frees;
    uint64_t errors;  /* events Tracy's server would reject */
} tr_counts;

/* Forgets everything recorded (the live set too). */
void tr_reset(void);
tr_counts tr_counts_get(void);
/* The counts without taking the lock: for a forked child, where another
 * thread of the parent may have held it at the fork (as with Tracy's). */
tr_counts tr_counts_peek(void);
/* The first rejected event, "" when none. */
const char *tr_first_error(void);
/* The last n events, oldest first, in out[0..returned). Keeps 4096. */
size_t tr_last_events(tr_event *out, size_t n);
/* Whether ptr is live in any pool; *pool gets the pool. */
int tr_is_live(const void *ptr, const char **pool);
/* Live blocks and bytes of one pool (by name pointer). */
uint64_t tr_live_blocks(const char *pool, uint64_t *bytes);
/* Records an error found by the test itself (the backend's checks). */
void tr_error(const char *what, const void *ptr);

#endif
