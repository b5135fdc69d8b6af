/*
 * memtally/auto.h - track a whole translation unit without editing its calls.
 *
 * Include it after the system headers in a .c file: from there on malloc,
 * calloc, realloc, strdup and free of that file go through memtally with
 * the file:line of each call and the thread's current scope as category.
 * A pointer that memtally did not allocate (from getline, asprintf or a
 * library) and reaches this free or realloc goes to the system function
 * unchanged, so a program stays correct when only some files include it.
 * With -DMEMTALLY_DISABLE this header changes nothing.
 */
#ifndef MEMTALLY_AUTO_H
#define MEMTALLY_AUTO_H

#include <stdlib.h>
#include <string.h>

#include <memtally.h>

#ifndef MEMTALLY_DISABLE
#undef malloc
#undef calloc
#undef realloc
#undef free
#undef strdup
#define malloc(size)         mt_alloc((size), NULL, __FILE__, __LINE__)
#define calloc(count, size)  mt_calloc((count), (size), NULL, __FILE__, __LINE__)
#define realloc(ptr, size)   mt_realloc_or_system((ptr), (size), __FILE__, __LINE__)
#define strdup(s)            mt_strdup((s), NULL, __FILE__, __LINE__)
#define free(ptr)            mt_free_or_system(ptr)
#endif

#endif /* MEMTALLY_AUTO_H */
