/*
 * tracy.c - memtally's blocks in Tracy's memory view. Built into
 * libmemtally with the CMake option MEMTALLY_WITH_TRACY, never into the
 * preload library.
 *
 * Each category is one named memory pool (the seed's TracyAlloc puts every
 * block in Tracy's one unnamed pool, so its categories were lost there).
 * Tracy tells pools apart by the name's address, so the
 * interned name (which lives as long as the program) is passed, never the
 * caller's string: a block is freed in the pool it was allocated in even
 * when the category was built in a temporary buffer. TRACY_CALLSTACK
 * (a depth; Tracy's CMake target defines it when Tracy is configured with
 * it) makes Tracy record call stacks too.
 */
#include <pthread.h>
#include <stdbool.h>

#include <tracy/TracyC.h>

#include "internal.h"

#ifndef TRACY_ENABLE
#error "MEMTALLY_WITH_TRACY: Tracy's client must be built with TRACY_ENABLE (cmake -DTRACY_ENABLE=ON)"
#endif

/* Set in a forked child: Tracy's profiler thread did not come along, and
 * another thread of the parent may have held Tracy's queue lock at the
 * fork, so the child's first event would wait forever. A child's blocks
 * stay out of Tracy (memtally still counts them). */
static bool forked;

static void forked_child(void) { forked = true; }

/* Registered before main, so even a fork before memtally's first call
 * leaves the child out of Tracy. */
__attribute__((constructor)) static void tracy_atfork(void) { pthread_atfork(NULL, NULL, forked_child); }

void mt__tracy_alloc(const void *p, size_t size, const char *category) {
    if (!forked) TracyCAllocN(p, size, category);
}

void mt__tracy_free(const void *p, const char *category) {
    if (!forked) TracyCFreeN(p, category);
}
