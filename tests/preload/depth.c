/*
 * depth.c - allocation wrappers for MEMTALLY_STACK_DEPTH. dp_caller_a gets
 * 4321 bytes through the program's own wrapper dp_wrapper; dp_caller_b
 * gets 24 bytes through libc's strdup; dp_compare, a qsort comparison
 * that dp_sort passes to libc, gets 77 bytes on its first call, under
 * qsort's recursive merge sort (a dozen libc frames to look past at
 * depth 3); dp_on_signal, a signal handler that dp_raise runs through
 * raise, gets 99 bytes (a signal frame to walk past at depth 3); main
 * gets 36 bytes through strndup itself (above main are libc's start code
 * and _start, which is in the executable but never a site). Built without
 * sibling-call optimisation so that every function keeps its frame.
 * Expected sites:
 *   depth 1: dp_wrapper, a libc function (strdup's malloc call), dp_compare, dp_on_signal, strndup
 *   depth 2: dp_wrapper, dp_caller_b, dp_compare, dp_on_signal, main  (libc frames skipped)
 *   depth 3: dp_caller_a, dp_top, dp_sort, dp_raise, main             (one more frame up, not past main)
 *   depth 10: main for every block                                     (the walk ends at main)
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

void *volatile sink_a, *volatile sink_b, *volatile sink_c, *volatile sink_d, *volatile sink_e;

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

__attribute__((noinline)) int dp_compare(const void *x, const void *y) {
    if (!sink_c) sink_c = malloc(77);
    int a = *(const int *)x, b = *(const int *)y;
    return (a > b) - (a < b);
}

__attribute__((noinline)) void dp_sort(void) {
    int v[4096]; /* 2^12 elements: merge sort recursion 12 deep */
    for (int i = 0; i < 4096; i++) v[i] = (i * 7919) % 4096;
    qsort(v, 4096, sizeof v[0], dp_compare);
    __asm__ volatile("" : : "r"(v) : "memory");
}

__attribute__((noinline)) void dp_on_signal(int sig) {
    (void)sig;
    sink_d = malloc(99);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void dp_raise(void) {
    signal(SIGUSR1, dp_on_signal);
    raise(SIGUSR1);
    __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void dp_top(void) {
    dp_caller_a();
    dp_caller_b();
    dp_sort();
    dp_raise();
    __asm__ volatile("" ::: "memory");
}

int main(void) {
    dp_top();
    size_t volatile len = 35; /* not a constant: Clang turns strndup(s, strlen(s)) into strdup(s) */
    sink_e = strndup("memtally-depth-test: main's strndup", len); /* 35 characters + NUL */
    free(sink_a);
    free(sink_b);
    free(sink_c);
    free(sink_d);
    free(sink_e);
    return 0;
}
