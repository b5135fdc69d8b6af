/*
 * vgcount.c - every member of the malloc family, deterministically, with
 * the edge cases whose counting valgrind defines: realloc(p, 0),
 * realloc(NULL, n), malloc(0), growing and shrinking realloc, aligned
 * blocks, strdup, two blocks left live. It links xdtor.so, whose
 * destructor frees a block at exit. run_case.sh runs it under valgrind and
 * under the shim and requires the same global numbers.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* volatile pointers: the compiler must not drop or merge any call */
#include "calls.h"
void *volatile live1, *volatile live2;
int xd_linked(void);

int main(void) {
    void *p = f_malloc(0);
    f_free(p);
    p = f_realloc(NULL, 100);         /* an allocation */
    p = f_realloc(p, 1000);           /* one free, one allocation */
    p = f_realloc(p, 10);
    p = f_realloc(p, 0);              /* frees; returns NULL in glibc */
    if (p) f_free(p);
    p = f_calloc(10, 10);
    p = f_reallocarray(p, 20, 20);
    f_free(p);
    p = f_aligned_alloc(64, 100);
    p = f_realloc(p, 5000);
    f_free(p);
    p = f_memalign(256, 33);
    f_free(p);
    if (f_posix_memalign(&p, 128, 77) == 0) f_free(p);
    p = f_valloc(10);
    f_free(p);
    char *s = f_strdup("valgrind counts this too");
    f_free(s);
    f_free(NULL);
    live1 = f_malloc(12345);
    live2 = f_calloc(3, 7);
    printf("vgcount: done, library block %s\n", xd_linked() ? "live" : "missing");
    printf("expect prefix=xd_ allocs=1 frees=1 allocated=7777 freed=7777 current=0\n");
    return 0;
}
