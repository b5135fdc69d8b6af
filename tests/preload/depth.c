/*
 * depth.c - allocation wrappers for MEMTALLY_STACK_DEPTH. dp_caller_a gets
 * 4321 bytes through the program's own wrapper dp_wrapper; dp_caller_b
 * gets 24 bytes through libc's strdup. Built without sibling-call
 * optimisation so that every function keeps its frame. Expected sites:
 *   depth 1: dp_wrapper, and a libc function (strdup's malloc call)
 *   depth 2: dp_wrapper, dp_caller_b      (libc frames skipped)
 *   depth 3: dp_caller_a, dp_top          (one more frame up)
 */
#include <stdlib.h>
#include <string.h>

void *volatile sink_a, *volatile sink_b;

__attribute__((noinline)) void *dp_wrapper(size_t n) {
    void *p = malloc(n);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

__attribute__((noinline)) void dp_caller_a(void) {
    sink_a = dp_wrapper(4321);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void dp_caller_b(void) {
    sink_b = strdup("memtally-depth-test-str"); /* 23 characters + NUL */
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void dp_top(void) {
    dp_caller_a();
    dp_caller_b();
    __asm__ volatile("" ::: "memory");
}

int main(void) {
    dp_top();
    free(sink_a);
    free(sink_b);
    return 0;
}
