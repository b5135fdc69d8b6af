/*
 * auto_plain.c - a translation unit of test_auto that does NOT include
 * <memtally/auto.h>: its malloc and free are the system's.
 */
#include <stdlib.h>
#include <string.h>

void *plain_malloc(size_t n) {
    void *p = malloc(n);
    if (p) memset(p, 0x21, n);
    return p;
}

void plain_free(void *p) { free(p); }
