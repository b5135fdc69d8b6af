/*
 * scope_prog.c - a program that links libmemtally itself, run under
 * libmemtally_preload.so: there must be one set of statistics. Its
 * mt_scope_push categories apply to the plain mallocs the shim records, and
 * what it reads back with mt_category_stats is what the shim counted.
 *
 * Prints "expect category=..." lines for check_report.py; exits 1 when its
 * own view disagrees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memtally.h"

static int failed;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "scope_prog.c:%d: check failed: %s\n", __LINE__, #cond); \
            failed = 1;                                                         \
        }                                                                       \
    } while (0)

/* volatile: the compiler must not drop a malloc/free pair */
#include "calls.h"

/* The site of the strdup below (17 bytes in "Mine"): its function is
 * strdup's own, named from libc's symbols. */
static int strdup_site(const mt_site_info *info, void *user) {
    (void)user;
    if (!info->category || strcmp(info->category, "Mine") != 0 || info->stats.total_allocated != 17) return 0;
    CHECK(info->function && strstr(info->function, "strdup"));
    if (!info->function || !strstr(info->function, "strdup"))
        fprintf(stderr, "scope_prog: the strdup site is named %s\n", info->function ? info->function : "(null)");
    return 1;
}

/* A hook that allocates: inside it the shim is busy, so the block comes
 * from glibc untracked; the program frees it later, outside, as any. */
static void *hook_block;

static void keep_one(void *ptr, size_t size, const char *category, void *user) {
    (void)ptr;
    (void)size;
    (void)category;
    (void)user;
    if (!hook_block) hook_block = f_malloc(48);
}

int main(void) {
    enum { N = 10 };
    void *mine[N];
    unsigned long long bytes = 0;

    mt_scope_push("Mine");
    for (int i = 0; i < N; i++) {
        mine[i] = f_malloc((size_t)(100 + i));
        bytes += 100 + (unsigned long long)i;
    }
    char *s = strdup("seventeen bytes!"); /* through libc, still "Mine" */
    mt_scope_push("Mine::Inner");
    void *inner = f_malloc(4000);
    mt_scope_pop();
    mt_scope_pop();
    void *outside = f_malloc(77);

    /* the program's own view of the same numbers */
    mt_stats st;
    CHECK(mt_category_stats("Mine", 0, &st) == 0);
    CHECK(st.alloc_count == N + 1);
    CHECK(st.total_allocated == bytes + 17);
    CHECK(st.current == bytes + 17);
    CHECK(mt_category_stats("Mine", 1, &st) == 0);
    CHECK(st.alloc_count == N + 2);
    CHECK(st.current == bytes + 17 + 4000);
    CHECK(mt_category_stats("Mine::Inner", 0, &st) == 0);
    CHECK(st.alloc_count == 1 && st.current == 4000);
    /* the program's own site list names the strdup site by its function */
    CHECK(mt_foreach_site(strdup_site, NULL) == 1);
    mt_stats g = mt_global_stats();
    CHECK(g.alloc_count >= N + 3);
    CHECK(g.current >= bytes + 17 + 4000 + 77);

    /* a block a hook got from glibc is freed outside the hook: quietly,
     * and by glibc (a stray free would be logged as a bad one) */
    mt_hooks h = {keep_one, NULL, NULL};
    mt_set_hooks(&h);
    void *hooked = f_malloc(5);
    mt_set_hooks(NULL);
    CHECK(hook_block != NULL);
    hook_block = f_realloc(hook_block, 4000); /* moved by glibc, still glibc's */
    CHECK(hook_block != NULL);
    f_free(hook_block);
    f_free(hooked);

    /* a realloc of a "Mine" block outside the scope keeps its category;
     * free the rest except two blocks that stay live to the report */
    mine[0] = f_realloc(mine[0], 300);
    for (int i = 1; i < N - 2; i++) f_free(mine[i]);
    f_free(s);
    f_free(inner);
    f_free(outside);
    unsigned long long allocated = bytes + 17 + 300, freed = bytes + 17 - (108 + 109);
    unsigned long long current = 300 + 108 + 109;
    CHECK(mt_category_stats("Mine", 0, &st) == 0);
    CHECK(st.current == current);
    printf("expect category=Mine allocs=%d frees=%d allocated=%llu freed=%llu current=%llu\n", N + 2, N - 1, allocated,
           freed, current);
    printf("expect category=Mine::Inner allocs=1 frees=1 allocated=4000 freed=4000 current=0\n");
    return failed;
}
