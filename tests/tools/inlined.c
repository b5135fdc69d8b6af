/*
 * inlined.c - an allocation two levels of inlining deep (built -g -O2):
 * memtally run must name the line of main that starts the inlined calls,
 * not a line inside them.
 */
#include <stdlib.h>

void *volatile sink;

static inline __attribute__((always_inline)) void *inner(size_t n) {
    return malloc(n);
}

static inline __attribute__((always_inline)) void *outer(size_t n) {
    void *p = inner(n);
    return p;
}

int main(void) {
    sink = outer(4321); /* the site */
    free(sink);
    sink = outer(1234); /* the site */
    return 0;
}
