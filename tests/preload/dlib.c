/* dlib.c - a library the dlopen test loads at run time. */
#include <stdlib.h>

__attribute__((visibility("default"))) void *dl_make(size_t n) {
    void *p = malloc(n);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}
