/*
 * leaky.c - leaves 1234 bytes from leak_here and 4321 bytes from
 * leak_there allocated at exit and frees everything else; exits 0. The
 * leak check (MEMTALLY_LEAK_CHECK=1) must name both functions and sizes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "calls.h"
void *volatile sink;

__attribute__((noinline)) void leak_here(void) { sink = f_malloc(1234); }
__attribute__((noinline)) void leak_there(void) { sink = f_malloc(4321); }
__attribute__((noinline)) void no_leak(void) { f_free(f_malloc(999)); }

int main(void) {
    leak_here();
    leak_there();
    no_leak();
    sink = NULL;
    puts("leaky: done");
    return 0;
}
