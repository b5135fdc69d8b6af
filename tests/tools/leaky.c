/*
 * leaky.c - a program that loses memory on purpose, for `memtally run
 * --leak-check`: three 1000-byte blocks from leak_buffers() and one string
 * copied by strdup() in leak_copy(). Everything else it allocates is freed.
 * Built with -g -O0 so the leak sites have file:line.
 *
 *   leaky [STATUS]   exits with STATUS (default 0)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *volatile leaky_sink; /* keeps the compiler from dropping the blocks */

__attribute__((noinline)) void leak_buffers(void) {
    for (int i = 0; i < 3; i++) {
        char *p = malloc(1000); /* LEAK-SITE */
        memset(p, 'a' + i, 1000);
        leaky_sink = p;
    }
}

__attribute__((noinline)) void leak_copy(void) {
    leaky_sink = strdup("a string nobody frees"); /* STRDUP-SITE */
}

__attribute__((noinline)) void tidy(void) {
    for (int i = 0; i < 10; i++) {
        char *p = malloc(64 + (size_t)i);
        p[0] = 'x';
        free(p);
    }
}

int main(int argc, char **argv) {
    tidy();
    leak_buffers();
    leak_copy();
    printf("leaky: done\n"); /* PRINTF-SITE */
    return argc > 1 ? atoi(argv[1]) : 0;
}
