/*
 * twice.c - frees blocks twice, of each kind glibc keeps apart (a small
 * one it puts in its thread cache, a medium one, one it serves by mmap and
 * unmaps on free), then reallocates a freed block, all under the shim.
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
    static const size_t sizes[] = {24, 2000, 300000};
    unsigned long long total = 0;
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
    printf("expect prefix=main allocs=7 frees=7 allocated=%llu freed=%llu current=0\n", total, total);
    printf("realloc of a freed block: %s\n", q ? "a block" : "NULL");
    return q != NULL;
}
