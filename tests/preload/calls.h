/*
 * calls.h - the malloc family behind volatile function pointers, for the
 * programs the preload tests run under the shim (and under valgrind).
 * Compilers know these functions and would otherwise drop a malloc/free
 * pair, merge calls, or drop a failing call whose result is only compared
 * with NULL; every call through these pointers happens as written. Each
 * program uses the ones it needs.
 */
#ifndef MT_PRELOAD_CALLS_H
#define MT_PRELOAD_CALLS_H

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#define MT_CALL static __attribute__((unused))
MT_CALL void *(*volatile f_malloc)(size_t) = malloc;
MT_CALL void *(*volatile f_calloc)(size_t, size_t) = calloc;
MT_CALL void *(*volatile f_realloc)(void *, size_t) = realloc;
MT_CALL void *(*volatile f_reallocarray)(void *, size_t, size_t) = reallocarray;
MT_CALL void *(*volatile f_aligned_alloc)(size_t, size_t) = aligned_alloc;
MT_CALL void *(*volatile f_memalign)(size_t, size_t) = memalign;
MT_CALL int (*volatile f_posix_memalign)(void **, size_t, size_t) = posix_memalign;
MT_CALL void *(*volatile f_valloc)(size_t) = valloc;
MT_CALL void *(*volatile f_pvalloc)(size_t) = pvalloc;
MT_CALL char *(*volatile f_strdup)(const char *) = strdup;
MT_CALL void (*volatile f_free)(void *) = free;
#undef MT_CALL

#endif
