/*
 * test_util.h - helpers shared by memtally's cmocka tests: capturing log
 * messages, finding a site or a category, checking statistics deltas and
 * running a helper program as a child process. Implemented in
 * helpers/test_util.c, which every test links.
 */
#ifndef MT_TEST_UTIL_H
#define MT_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <memtally.h>

/* ---- log capture ------------------------------------------------------ */

#define TU_LOG_MAX 512
#define TU_LOG_MSG 1024

/* Installs a log callback that records every message (thread-safe) and
 * forgets what was recorded before. */
void tu_log_begin(void);
/* Restores memtally's default log (stderr). */
void tu_log_end(void);
/* Forgets the recorded messages, keeps capturing. */
void tu_log_clear(void);
/* Messages recorded so far at `level`, or at any level for level < 0. */
size_t tu_log_count(int level);
/* The first recorded message at `level` (any level for < 0) containing
 * `needle`, or NULL. */
const char *tu_log_find(int level, const char *needle);
/* The i-th recorded message and its level. */
const char *tu_log_message(size_t i, int *level);
/* The log callback itself, for tests that install it with their own user
 * pointer; user is ignored. */
void tu_log_fn(mt_log_level level, const char *message, void *user);

/* ---- sites and categories -------------------------------------------- */

/* True when a site's file names `file`: the same text, or `file` ends with
 * "/" followed by the site's text (memtally may keep a shorter path). */
bool tu_same_file(const char *site_file, const char *file);
/* Sums the statistics of every site at file:line in `category` (file NULL
 * = unknown file) into *out. Returns how many sites matched. */
int tu_site_stats(const char *file, int line, const char *category, mt_stats *out);
/* Number of sites at file:line in any category. */
int tu_site_count(const char *file, int line);
/* A category's own statistics; fails the test when it does not exist. */
mt_stats tu_cat_self(const char *category);
mt_stats tu_cat_total(const char *category);

/* Every category mt_foreach_category reports, in its order. */
typedef struct tu_cat_entry {
    char *name;       /* copy */
    size_t name_len;
    char *parent;     /* copy or NULL */
    int depth;
    mt_stats self, total;
} tu_cat_entry;
typedef struct tu_cat_list {
    size_t n;
    tu_cat_entry *e;
} tu_cat_list;
void tu_cat_list_take(tu_cat_list *l);
void tu_cat_list_free(tu_cat_list *l);
/* Index of `name` in the list, or -1. */
long tu_cat_list_find(const tu_cat_list *l, const char *name);

/* ---- statistics ------------------------------------------------------- */

#define tu_assert_stats_equal(a, b)                                            \
    do {                                                                       \
        mt_stats tu_a_ = (a), tu_b_ = (b);                                     \
        assert_int_equal(tu_a_.total_allocated, tu_b_.total_allocated);        \
        assert_int_equal(tu_a_.total_freed, tu_b_.total_freed);                \
        assert_int_equal(tu_a_.current, tu_b_.current);                        \
        assert_int_equal(tu_a_.peak, tu_b_.peak);                              \
        assert_int_equal(tu_a_.alloc_count, tu_b_.alloc_count);                \
        assert_int_equal(tu_a_.free_count, tu_b_.free_count);                  \
    } while (0)

/* after - before: `alloc_bytes` more allocated, `freed_bytes` more freed,
 * `nallocs`/`nfrees` more allocations/frees, and current consistent. */
#define tu_assert_delta(before, after, alloc_bytes, freed_bytes, nallocs, nfrees) \
    do {                                                                       \
        mt_stats tu_b_ = (before), tu_a_ = (after);                            \
        assert_int_equal(tu_a_.total_allocated - tu_b_.total_allocated, (alloc_bytes)); \
        assert_int_equal(tu_a_.total_freed - tu_b_.total_freed, (freed_bytes)); \
        assert_int_equal(tu_a_.alloc_count - tu_b_.alloc_count, (nallocs));    \
        assert_int_equal(tu_a_.free_count - tu_b_.free_count, (nfrees));       \
        assert_int_equal(tu_a_.current, tu_a_.total_allocated - tu_a_.total_freed); \
        assert_true(tu_a_.peak >= tu_a_.current);                              \
    } while (0)

/* Fills *out with exact values. */
#define tu_assert_stats(s, alloc_bytes, freed_bytes, nallocs, nfrees)          \
    do {                                                                       \
        mt_stats tu_s_ = (s);                                                  \
        assert_int_equal(tu_s_.total_allocated, (alloc_bytes));                \
        assert_int_equal(tu_s_.total_freed, (freed_bytes));                    \
        assert_int_equal(tu_s_.current, (uint64_t)(alloc_bytes) - (uint64_t)(freed_bytes)); \
        assert_int_equal(tu_s_.alloc_count, (nallocs));                        \
        assert_int_equal(tu_s_.free_count, (nfrees));                          \
    } while (0)

/* ---- child processes -------------------------------------------------- */

typedef struct tu_child {
    int status;   /* exit status, or 128 + signal */
    char *out;    /* stdout, NUL-terminated, plain malloc */
    char *err;    /* stderr */
} tu_child;
/* Runs argv[0] with argv; env is a NULL-terminated list of "NAME=VALUE"
 * added to the environment (every MEMTALLY_* variable of this process is
 * removed first). Returns 0, or -1 if the program could not be run. */
int tu_run(const char *const argv[], const char *const env[], tu_child *c);
void tu_child_free(tu_child *c);

/* Reads a whole file (plain malloc), NULL if it cannot be read. */
char *tu_read_file(const char *path, size_t *len);
/* Runs fn(arg) with this process's stderr sent to a file; returns what was
 * written there (plain malloc). */
char *tu_capture_stderr(void (*fn)(void *), void *arg);
/* Occurrences of needle in hay. */
size_t tu_count_substr(const char *hay, const char *needle);
/* Seconds on the monotonic clock, for tests that run for a while. */
double tu_seconds(void);
/* The text "%p" prints for ptr. */
const char *tu_ptr_text(const void *ptr, char buf[32]);

#endif /* MT_TEST_UTIL_H */
