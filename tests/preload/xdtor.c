/*
 * xdtor.c - a library that allocates in its constructor and frees in its
 * destructor, linked into vgcount. The shim's at-exit report must come
 * after this destructor (valgrind's "in use at exit" does not count the
 * block either).
 */
#include <stdlib.h>

void *volatile xd_block;

__attribute__((visibility("default"), noinline)) void xd_alloc(void) { xd_block = malloc(7777); }
__attribute__((visibility("default"), noinline)) void xd_release(void) { free(xd_block); }

__attribute__((constructor)) static void xd_init(void) { xd_alloc(); }
__attribute__((destructor)) static void xd_fini(void) { xd_release(); }

/* vgcount calls this so that the library stays linked (--as-needed). */
__attribute__((visibility("default"))) int xd_linked(void) { return xd_block != NULL; }
