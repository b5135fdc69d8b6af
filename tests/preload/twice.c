/*
 * twice.c - frees blocks twice, of each kind glibc keeps apart (a small
 * one it puts in its thread cache, a medium one, one it serves by mmap and
 * unmaps on free, two on its unsorted list), then reallocates a freed
 * block, all under the shim. Built as a position-independent program and
 * as one that is not (whose heap addresses are small numbers).
 * glibc's free lists overwrite the header of a freed block, so memtally
 * must not take the second free for memory glibc handed out: each bad
 * call is logged, nothing crashes, nothing reaches glibc's free.
 *
 * Prints "expect ..." lines for check_report.py; the blocks it frees once
 * are the only ones counted.
 */
#include <stdio.h>

#include "calls.h"

int main(void) {
    /* first, while glibc's lists are empty: two blocks in its unsorted bin,
     * linked to each other, so the word in front of one is a heap pointer,
     * which in a program that is not position-independent is small enough
     * to pass for a chunk size */
    void *t[7], *x, *y, *gx, *gy;
    for (int i = 0; i < 7; i++) t[i] = f_malloc(500);
    x = f_malloc(500);
    gx = f_malloc(16);
    y = f_malloc(500);
    gy = f_malloc(16);
    for (int i = 0; i < 7; i++) f_free(t[i]); /* fills glibc's thread cache for this size */
    f_free(x);
    f_free(y);
    f_free(x); /* logged, ignored */
    f_free(y);
    f_free(gx);
    f_free(gy);

    int allocs = 11;
    unsigned long long total = 9 * 500 + 2 * 16;

    static const size_t sizes[] = {24, 2000, 300000};
    for (int i = 0; i < 3; i++) {
        void *p = f_malloc(sizes[i]);
        void *keep = f_malloc(16); /* so the freed block is not merged into the top */
        f_free(p);
        f_free(p); /* logged, ignored */
        f_free(keep);
        total += sizes[i] + 16;
    }
    void *p = f_malloc(100);
    f_free(p);
    void *q = f_realloc(p, 200); /* logged: NULL, nothing counted */
    total += 100;
    allocs += 7;
    printf("expect prefix=main allocs=%d frees=%d allocated=%llu freed=%llu current=0\n", allocs, allocs, total, total);
    printf("realloc of a freed block: %s\n", q ? "a block" : "NULL");
    return q != NULL;
}
