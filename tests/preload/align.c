/*
 * align.c - the aligned members of the malloc family under
 * libmemtally_preload.so behave as glibc 2.36's do: alignment, error codes,
 * errno, malloc_usable_size >= the request on every block. It exits 1 when
 * a check fails and prints an "expect" line with what its al_*
 * functions allocated and freed, which check_report.py compares with the
 * report. The expectations are glibc's, with one stricter rule: a
 * posix_memalign that fails with ENOMEM leaves errno alone (POSIX's
 * wording; glibc's own sets errno on that path).
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Values read at run time, so that the compiler does not reject the huge
 * sizes and odd alignments these checks need. */
static volatile size_t size_max = SIZE_MAX;
static volatile size_t zero;
#define RT(x) ((size_t)(x) + zero)
/* Every call goes through a volatile pointer (calls.h). */
#include "calls.h"
static unsigned long long allocs, frees, allocated, freed;
static int failed;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "align.c:%d: check failed: %s\n", __LINE__, #cond);     \
            failed = 1;                                                             \
        }                                                                           \
    } while (0)

/* A block we got: aligned as asked, usable for at least size bytes,
 * writable over all of them, then freed. */
__attribute__((noinline)) void al_use(void *p, size_t size, size_t align) {
    CHECK(p != NULL);
    if (!p) return;
    CHECK(((uintptr_t)p & (align - 1)) == 0);
    CHECK(malloc_usable_size(p) >= size);
    memset(p, 0xa5, size);
    allocs++;
    allocated += size;
    f_free(p);
    frees++;
    freed += size;
}

__attribute__((noinline)) void al_posix_memalign(void) {
    void *p = (void *)0x1;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* not a power of two, not a multiple of sizeof(void *), zero */
    size_t bad[] = {0, 1, 2, 4, 12, 24, 48, 100, sizeof(void *) * 3};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 1234;
        CHECK(f_posix_memalign(&p, bad[i], 16) == EINVAL);
        CHECK(errno == 1234);       /* posix_memalign never sets errno */
        CHECK(p == (void *)0x1);    /* and leaves *memptr alone on failure */
    }
    size_t good[] = {sizeof(void *), 16, 32, 64, 256, 4096, page * 4, 1 << 20};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        for (size_t size = 0; size < 5000; size += 1237) {
            errno = 1234;
            int rc = f_posix_memalign(&p, good[i], size);
            CHECK(rc == 0);
            CHECK(errno == 1234);
            if (rc == 0) al_use(p, size, good[i]);
        }
    }
    /* too big: ENOMEM returned, errno untouched, nothing counted */
    errno = 1234;
    p = (void *)0x1;
    CHECK(f_posix_memalign(&p, 64, size_max - 4096) == ENOMEM);
    CHECK(errno == 1234);
    CHECK(p == (void *)0x1);
}

__attribute__((noinline)) void al_aligned_alloc(void) {
    /* glibc 2.36: aligned_alloc is memalign. Alignments up to 16 are plain
     * malloc; a non-power of two is rounded up to the next power of two;
     * above SIZE_MAX / 2 + 1 is EINVAL. size need not be a multiple. */
    size_t aligns[] = {1, 2, 8, 16, 32, 64, 128, 4096, 65536};
    for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        size_t size = 3 * aligns[i] + 5;
        void *p = f_aligned_alloc(aligns[i], size);
        al_use(p, size, aligns[i]);
        p = f_memalign(aligns[i], size);
        al_use(p, size, aligns[i]);
    }
    void *p = f_aligned_alloc(RT(48), 100); /* rounded up to 64 */
    al_use(p, 100, 64);
    p = f_memalign(RT(3000), 10); /* rounded up to 4096 */
    al_use(p, 10, 4096);
    p = f_aligned_alloc(RT(0), 10); /* 0 is "no alignment": malloc */
    al_use(p, 10, 16);
    errno = 0;
    CHECK(f_aligned_alloc(size_max / 2 + 2, 16) == NULL);
    CHECK(errno == EINVAL);
    errno = 0;
    CHECK(f_memalign(size_max, 16) == NULL);
    CHECK(errno == EINVAL);
    errno = 0;
    CHECK(f_aligned_alloc(64, size_max - 100) == NULL);
    CHECK(errno == ENOMEM);
}

__attribute__((noinline)) void al_valloc(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t sizes[] = {1, 100, page - 1, page, page + 1, 3 * page + 17};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        void *p = f_valloc(sizes[i]);
        al_use(p, sizes[i], page);
        /* pvalloc rounds the size up to whole pages */
        size_t rounded = (sizes[i] + page - 1) / page * page;
        p = f_pvalloc(sizes[i]);
        al_use(p, rounded, page);
    }
    errno = 0;
    CHECK(f_pvalloc(size_max - 10) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(f_valloc(size_max - 10) == NULL);
    CHECK(errno == ENOMEM);
}

__attribute__((noinline)) void al_plain(void) {
    /* the unaligned family, for the usable-size and errno rules */
    for (size_t size = 0; size < 300000; size = size * 3 + 1) {
        void *p = f_malloc(size);
        al_use(p, size, 16);
        p = f_calloc(size, 1);
        al_use(p, size, 16);
    }
    errno = 0;
    CHECK(f_calloc(size_max / 2, 3) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(f_malloc(size_max - 100) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(f_reallocarray(NULL, size_max / 2, 3) == NULL);
    CHECK(errno == ENOMEM);
    /* reallocarray that fits, growing, shrinking */
    int *v = f_reallocarray(NULL, 10, sizeof(int));
    CHECK(v != NULL);
    allocs++;
    allocated += 10 * sizeof(int);
    for (int i = 0; v && i < 10; i++) v[i] = i;
    int *w = f_reallocarray(v, 1000, sizeof(int));
    CHECK(w != NULL);
    if (w) {
        frees++;
        freed += 10 * sizeof(int);
        CHECK(w[9] == 9);
        al_use(w, 1000 * sizeof(int), 16);
    }
    /* realloc of an aligned block keeps the contents */
    void *a = f_aligned_alloc(256, 64);
    CHECK(a != NULL);
    if (a) {
        allocs++;
        allocated += 64;
        memset(a, 7, 64);
        char *b = f_realloc(a, 100000);
        CHECK(b != NULL);
        if (b) {
            frees++;
            freed += 64;
            CHECK(b[63] == 7);
            al_use(b, 100000, 16);
        }
    }
    /* free keeps errno */
    void *p = f_malloc(10);
    errno = 4321;
    f_free(p);
    CHECK(errno == 4321);
    allocs++;
    allocated += 10;
    frees++;
    freed += 10;
    CHECK(malloc_usable_size(NULL) == 0);
}

int main(void) {
    al_posix_memalign();
    al_aligned_alloc();
    al_valloc();
    al_plain();
    printf("expect prefix=al_ allocs=%llu frees=%llu allocated=%llu freed=%llu current=0\n", allocs, frees, allocated,
           freed);
    return failed;
}
