/*
 * memtally.h - exact, low-overhead heap accounting for C and C++ programs.
 *
 * The only public header of libmemtally. Every function declared here is
 * thread-safe unless its comment says otherwise. Memory that memtally hands
 * to the caller (blocks, snapshots) is owned by the caller and released with
 * the matching memtally function. The library's own bookkeeping never goes
 * through a tracked allocation.
 *
 * Compile with -DMEMTALLY_DISABLE to turn every MT_* macro into the libc call
 * it stands for; such a program references no mt_ symbol.
 */
#ifndef MEMTALLY_H
#define MEMTALLY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MT_VERSION_MAJOR 0
#define MT_VERSION_MINOR 1
#define MT_VERSION_PATCH 0

#if defined(__GNUC__) || defined(__clang__)
#define MT_API __attribute__((visibility("default")))
#else
#define MT_API
#endif

/* MT_SCOPE's loop variable, named after the line, so that nested scopes
 * (on different lines) do not shadow each other under -Wshadow. */
#define MT__SCOPE_CAT2(a, b) a##b
#define MT__SCOPE_CAT(a, b)  MT__SCOPE_CAT2(a, b)
#define MT__SCOPE_VAR        MT__SCOPE_CAT(mt_scope_once_, __LINE__)

#ifndef MEMTALLY_DISABLE

/* ---- version and lifecycle ------------------------------------------- */

/* "0.1.0"; a static string. */
MT_API const char *mt_version(void);

/* Sets memtally up and reads the MEMTALLY_* environment. Returns 0 on
 * success, -1 if the operating system refused the first metadata mapping.
 * Idempotent; every other function calls it lazily. */
MT_API int mt_init(void);

/* Runs the at-exit actions now, once: the leak check when MEMTALLY_LEAK_CHECK
 * is set and the report file when MEMTALLY_REPORT is set. When it returns
 * they are done, also when another thread ran them (it waits for that
 * thread). Tracking goes on working afterwards. */
MT_API void mt_shutdown(void);

/* ---- allocation ------------------------------------------------------- */
/*
 * category: NULL (or "") = the thread's innermost scope, else "Uncategorized".
 *           Copied by content, so a temporary buffer is fine.
 * file/line: the allocation site; file NULL = unknown site.
 * On failure: NULL with errno ENOMEM (EINVAL for a bad alignment) and no
 * statistic changes. Blocks are 16-byte aligned and released with mt_free.
 */
MT_API void *mt_alloc(size_t size, const char *category, const char *file, int line);
/* Zeroed; NULL with ENOMEM when count * size overflows. */
MT_API void *mt_calloc(size_t count, size_t size, const char *category, const char *file, int line);
/* NULL ptr: like mt_alloc. size 0: frees ptr, returns NULL. Counts as one
 * free and one allocation. category NULL keeps the old block's category.
 * On failure the old block and the statistics are unchanged. */
MT_API void *mt_realloc(void *ptr, size_t size, const char *category, const char *file, int line);
/* alignment: a power of two (any, 1 included); EINVAL otherwise. */
MT_API void *mt_aligned_alloc(size_t alignment, size_t size, const char *category, const char *file, int line);
/* A tracked copy of s; NULL s gives NULL with EINVAL. */
MT_API char *mt_strdup(const char *s, const char *category, const char *file, int line);
/* NULL is a no-op. A pointer memtally did not hand out, one already freed or
 * an interior pointer is logged (MT_LOG_ERROR) and otherwise ignored. */
MT_API void mt_free(void *ptr);
/* The size that was asked for; 0 for NULL or a pointer memtally did not
 * hand out (which is logged). */
MT_API size_t mt_block_size(const void *ptr);
/* Untracked allocation from the same backend; free with mt_raw_free. */
MT_API void *mt_raw_alloc(size_t size);
MT_API void mt_raw_free(void *ptr);
/* Like mt_free, except that a pointer memtally did not hand out goes to the
 * system free() unchanged. Used by <memtally/auto.h>. */
MT_API void mt_free_or_system(void *ptr);
/* Like mt_realloc, except that a pointer memtally did not hand out goes to
 * the system realloc() and the result stays untracked. For auto.h. */
MT_API void *mt_realloc_or_system(void *ptr, size_t size, const char *file, int line);

/* ---- scoped categories ------------------------------------------------ */

/* Allocations with category NULL on this thread, including those seen by
 * the preload library, go to the innermost pushed category. Per thread;
 * NULL or "" pushes "Uncategorized". Popping an empty stack is logged. */
MT_API void mt_scope_push(const char *category);
MT_API void mt_scope_pop(void);

/* ---- statistics ------------------------------------------------------- */

typedef struct mt_stats {
    uint64_t total_allocated; /* bytes ever handed out (seed: TotalAllocated) */
    uint64_t total_freed;     /* bytes ever given back (seed: TotalFreed) */
    uint64_t current;         /* total_allocated - total_freed */
    uint64_t peak;            /* highest `current` reached (see README on threads) */
    uint64_t alloc_count;
    uint64_t free_count;      /* alloc_count - free_count = live blocks */
} mt_stats;

/* The whole program's statistics. */
MT_API mt_stats mt_global_stats(void);

/* 0 and *out filled; -1 if the category does not exist (never named, neither
 * directly nor as the parent of a named one) or out is NULL.
 * include_children != 0 adds every "category::..." descendant. */
MT_API int mt_category_stats(const char *category, int include_children, mt_stats *out);

typedef struct mt_category_info {
    const char *name;   /* full name, "Renderer::Textures" */
    const char *parent; /* "Renderer", NULL at the top */
    int depth;          /* 0 at the top */
    mt_stats self;      /* this category alone */
    mt_stats total;     /* with all descendants */
} mt_category_info;
typedef int (*mt_category_fn)(const mt_category_info *info, void *user); /* nonzero stops */
/* Calls fn for every category, parents before children, siblings by name.
 * Returns the nonzero value that stopped the walk, else 0; -1 for NULL fn.
 * The strings live as long as the process. */
MT_API int mt_foreach_category(mt_category_fn fn, void *user);

typedef struct mt_site_info {
    const char *file;     /* NULL when unknown */
    int line;
    const char *function; /* calling function in preload mode: its symbol, else
                           * "module+0xOFFSET"; NULL when the site came from
                           * file:line only */
    const char *category;
    mt_stats stats;
} mt_site_info;
typedef int (*mt_site_fn)(const mt_site_info *info, void *user);
/* Calls fn for every site (file:line or calling function, per category)
 * that has allocated at least once, as the reports list them. Returns like
 * mt_foreach_category. */
MT_API int mt_foreach_site(mt_site_fn fn, void *user);

/* ---- snapshots -------------------------------------------------------- */

typedef struct mt_snapshot mt_snapshot;
/* Global and per-category statistics now. label may be NULL; it is copied.
 * NULL with ENOMEM if memory for the snapshot cannot be had. */
MT_API mt_snapshot *mt_snapshot_take(const char *label);
MT_API void mt_snapshot_free(mt_snapshot *snap); /* NULL is a no-op */

typedef struct mt_delta {
    const char *category; /* NULL for the global line */
    int64_t current;      /* after.current - before.current */
    int64_t alloc_count, free_count;
    int64_t total_allocated, total_freed;
} mt_delta;
typedef int (*mt_delta_fn)(const mt_delta *delta, void *user);
/* Calls fn with the global delta first, then one per category present in
 * either snapshot whose numbers changed (self, not including children).
 * Returns the nonzero value that stopped it, 0, or -1 for NULL arguments. */
MT_API int mt_snapshot_diff(const mt_snapshot *before, const mt_snapshot *after, mt_delta_fn fn, void *user);
/* The same as text. 0 on success, -1 on a NULL argument or write error. */
MT_API int mt_snapshot_diff_report(const mt_snapshot *before, const mt_snapshot *after, FILE *out);

/* ---- leaks and reports ------------------------------------------------ */

/* Writes live bytes by category and by site to out (NULL: the log
 * callback). Returns the live bytes. */
MT_API uint64_t mt_leak_check(FILE *out);

typedef enum { MT_FORMAT_TEXT, MT_FORMAT_JSON } mt_format;
/* 0 on success, -1 on a NULL stream, a bad format or a write error. */
MT_API int mt_report(FILE *out, mt_format format);
/* Writes the whole report to path or leaves path untouched: the report goes
 * to a temporary file in the same directory that is renamed over path (over
 * its target when path is a symbolic link). A name for a descriptor
 * (/dev/stdout, /dev/stderr, /dev/fd/N, /proc/self/fd/N,
 * /proc/thread-self/fd/N, however spelled or reached through links) is
 * written through that descriptor, after what the process wrote there,
 * and a device or FIFO such as
 * /dev/null is written in place: neither is ever replaced. 0 on success,
 * -1 with errno on failure (EISDIR for a directory, EBADF for a descriptor
 * not open for writing). */
MT_API int mt_report_file(const char *path, mt_format format);

/* ---- hooks and logging ------------------------------------------------ */

typedef struct mt_hooks {
    void (*on_alloc)(void *ptr, size_t size, const char *category, void *user);
    void (*on_free)(void *ptr, size_t size, const char *category, void *user);
    void *user;
} mt_hooks;
/* Called for every tracked allocation and free, on the calling thread.
 * on_alloc comes after the statistics changed. on_free comes before the
 * block goes back to the allocator, so no other thread can have been given
 * its address yet (for a realloc the allocator resizes itself, also before
 * the statistics change); if that realloc fails, on_alloc announces the
 * old block again. The struct is copied; NULL removes. A
 * hook that allocates through memtally does not re-enter itself. */
MT_API void mt_set_hooks(const mt_hooks *hooks);

typedef enum { MT_LOG_INFO, MT_LOG_WARN, MT_LOG_ERROR } mt_log_level;
typedef void (*mt_log_fn)(mt_log_level level, const char *message, void *user);
/* NULL restores the default, which writes "memtally: ..." lines to stderr
 * (under the preload library, not when the program started with stderr
 * closed: that descriptor is one of its files then). message has no
 * trailing newline. */
MT_API void mt_set_log(mt_log_fn fn, void *user);

/* ---- macros ----------------------------------------------------------- */

#define MT_ALLOC(size, cat)            mt_alloc((size), (cat), __FILE__, __LINE__)
#define MT_CALLOC(count, size, cat)    mt_calloc((count), (size), (cat), __FILE__, __LINE__)
#define MT_REALLOC(ptr, size, cat)     mt_realloc((ptr), (size), (cat), __FILE__, __LINE__)
#define MT_STRDUP(s, cat)              mt_strdup((s), (cat), __FILE__, __LINE__)
#define MT_NEW(type, cat)              ((type *)MT_CALLOC(1, sizeof(type), (cat)))
#define MT_NEW_ARRAY(type, count, cat) ((type *)MT_CALLOC((count), sizeof(type), (cat)))
#define MT_FREE(ptr)                   mt_free(ptr)
/* MT_SCOPE("Audio") { ... }: pushes the category for the block and pops it
 * when the block ends normally (not on break, return or goto out of it). */
#define MT_SCOPE(cat) \
    for (int MT__SCOPE_VAR = (mt_scope_push(cat), 1); MT__SCOPE_VAR; MT__SCOPE_VAR = 0, mt_scope_pop())

#else /* MEMTALLY_DISABLE: plain libc, no memtally symbol referenced */

#include <stdlib.h>
#include <string.h>

/* The category is still evaluated (and so "used") but goes nowhere. */
#define MT_ALLOC(size, cat)            ((void)(cat), malloc(size))
#define MT_CALLOC(count, size, cat)    ((void)(cat), calloc((count), (size)))
#define MT_REALLOC(ptr, size, cat)     ((void)(cat), realloc((ptr), (size)))
#define MT_STRDUP(s, cat)              ((void)(cat), strdup(s))
#define MT_NEW(type, cat)              ((type *)MT_CALLOC(1, sizeof(type), (cat)))
#define MT_NEW_ARRAY(type, count, cat) ((type *)MT_CALLOC((count), sizeof(type), (cat)))
#define MT_FREE(ptr)                   free(ptr)
#define MT_SCOPE(cat)                  for (int MT__SCOPE_VAR = ((void)(cat), 1); MT__SCOPE_VAR; MT__SCOPE_VAR = 0)

#endif /* MEMTALLY_DISABLE */

#ifdef __cplusplus
}
#endif

#endif /* MEMTALLY_H */
