/*
 * test_bad_input.c - pointers memtally did not hand out: stack memory, plain
 * malloc, interior pointers, double frees, a pointer right after an unmapped
 * page. None may crash, change the statistics or reach the backend; each
 * mt_free gives exactly one MT_LOG_ERROR naming the pointer.
 */
#include "test_util.h"

#include "../src/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define F __FILE__

/* a backend that counts the frees it is asked to do */
static long g_backend_frees;
static void *g_backend_last_free;
static void counting_free(void *p) {
    g_backend_frees++;
    g_backend_last_free = p;
    free(p);
}
static const mt__backend g_counting = {malloc, calloc, realloc, counting_free};

static int setup(void **state) {
    (void)state;
    mt_init();
    mt__backend_set(&g_counting);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    mt__backend_set(NULL);
    return 0;
}

/* mt_free(bad): one error naming the pointer, nothing counted, nothing
 * given to the backend */
static void expect_bad_free(void *bad) {
    char text[32];
    tu_ptr_text(bad, text);
    mt_stats g0 = mt_global_stats();
    long frees0 = g_backend_frees;
    tu_log_begin();
    mt_free(bad);
    size_t errors = tu_log_count(MT_LOG_ERROR), all = tu_log_count(-1);
    const char *msg = tu_log_find(MT_LOG_ERROR, text);
    if (!msg) {
        const char *got = tu_log_message(0, NULL);
        tu_log_end();
        fail_msg("no error naming %s (first message: %s)", text, got ? got : "none");
    }
    tu_log_end();
    assert_int_equal(errors, 1);
    assert_int_equal(all, 1);
    tu_assert_stats_equal(g0, mt_global_stats());
    assert_int_equal(g_backend_frees, frees0);
}

static void free_stack_pointer(void **state) {
    (void)state;
    _Alignas(16) char buf[256];
    memset(buf, 0, sizeof buf);
    expect_bad_free(buf + 16);
    expect_bad_free(buf + 128);
    memset(buf, 0xff, sizeof buf);
    expect_bad_free(buf + 32);
    expect_bad_free(buf + 33);
    int local = 7;
    expect_bad_free(&local);
}

static void free_plain_malloc(void **state) {
    (void)state;
    for (size_t size = 1; size <= 4096; size *= 4) {
        void *p = malloc(size);
        assert_non_null(p);
        memset(p, 0x3c, size);
        expect_bad_free(p);
        free(p); /* still ours to free: memtally did not release it */
    }
    /* memory from the raw interface is not a tracked block either */
    void *r = mt_raw_alloc(64);
    assert_non_null(r);
    mt_raw_free(r);
}

static void free_interior(void **state) {
    (void)state;
    char *p = mt_alloc(64, "Bad::Interior", F, __LINE__);
    assert_non_null(p);
    memset(p, 0, 64);
    expect_bad_free(p + 1);
    expect_bad_free(p + 16);
    expect_bad_free(p + 32);
    expect_bad_free(p + 63);
    char *a = mt_aligned_alloc(256, 512, "Bad::Interior", F, __LINE__);
    assert_non_null(a);
    memset(a, 0, 512);
    expect_bad_free(a + 16);
    expect_bad_free(a + 256);
    /* the real blocks are intact and still free normally */
    assert_int_equal(mt_block_size(p), 64);
    assert_int_equal(mt_block_size(a), 512);
    tu_assert_stats(tu_cat_self("Bad::Interior"), 576, 0, 2, 0);
    mt_free(p);
    mt_free(a);
    tu_assert_stats(tu_cat_self("Bad::Interior"), 576, 576, 2, 2);
}

static void free_twice(void **state) {
    (void)state;
    const int line = __LINE__; void *p = mt_alloc(48, "Bad::Double", F, line);
    assert_non_null(p);
    mt_free(p);
    mt_stats c = tu_cat_self("Bad::Double");
    tu_assert_stats(c, 48, 48, 1, 1);
    /* no allocation in between: the memory has not been handed out again */
    char text[32], site[64];
    tu_ptr_text(p, text);
    const char *base = strrchr(F, '/') ? strrchr(F, '/') + 1 : F;
    snprintf(site, sizeof site, "%s:%d", base, line);
    tu_log_begin();
    mt_stats g0 = mt_global_stats();
    long frees0 = g_backend_frees;
    mt_free(p);
    mt_stats g1 = mt_global_stats();
    assert_int_equal(tu_log_count(MT_LOG_ERROR), 1);
    assert_int_equal(tu_log_count(-1), 1);
    const char *msg = tu_log_find(MT_LOG_ERROR, text);
    assert_non_null(msg);
    /* where the header survived, the allocating site is named */
    if (strstr(msg, base)) assert_non_null(strstr(msg, site));
    tu_log_end();
    tu_assert_stats_equal(g0, g1);
    assert_int_equal(g_backend_frees, frees0);
    tu_assert_stats(tu_cat_self("Bad::Double"), 48, 48, 1, 1);
}

static void free_twice_aligned(void **state) {
    (void)state;
    void *a = mt_aligned_alloc(128, 100, "Bad::Double", F, __LINE__);
    void *b = mt_aligned_alloc(4096, 5000, "Bad::Double", F, __LINE__);
    mt_free(a);
    expect_bad_free(a);
    mt_free(b);
    expect_bad_free(b);
}

static void free_twice_big(void **state) {
    (void)state;
    /* 1 MiB: libc maps it on its own and unmaps it when it is freed, so the
     * second free sees a pointer into pages that are gone. The memory has
     * not been handed out again: no crash, one error. */
    void *b = mt_alloc(1 << 20, "Bad::DoubleBig", F, __LINE__);
    assert_non_null(b);
    mt_free(b);
    expect_bad_free(b);
}

/* The same with alignments from 32 to 2048: the pointer then lies 64 bytes
 * or more into a page of libc's own mapping (not at a page edge), and that
 * page is gone after the first free as well. 40 MiB is above the largest
 * threshold glibc's malloc ever moves its mmap limit to (32 MiB), so these
 * blocks are mapped on their own whatever ran before. */
static void free_twice_big_aligned(void **state) {
    (void)state;
    for (size_t align = 32; align <= 2048; align *= 2) {
        void *b = mt_aligned_alloc(align, (size_t)40 << 20, "Bad::DoubleBigAligned", F, __LINE__);
        assert_non_null(b);
        mt_free(b);
        expect_bad_free(b);
    }
}

static void free_after_unmapped_page(void **state) {
    (void)state;
    long pg = sysconf(_SC_PAGESIZE);
    char *two = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(two != MAP_FAILED);
    assert_int_equal(munmap(two, (size_t)pg), 0);
    char *second = two + pg;
    second[0] = 1;
    expect_bad_free(second);
    tu_log_begin();
    assert_int_equal(mt_block_size(second), 0);
    tu_log_end();
    errno = 0;
    mt_stats g0 = mt_global_stats();
    tu_log_begin();
    assert_null(mt_realloc(second, 100, "Bad::Unmapped", F, __LINE__));
    assert_true(tu_log_count(MT_LOG_ERROR) >= 1);
    tu_log_end();
    tu_assert_stats_equal(g0, mt_global_stats());
    /* a page with no access at all before it */
    char *guard = mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(guard != MAP_FAILED);
    assert_int_equal(mprotect(guard, (size_t)pg, PROT_NONE), 0);
    expect_bad_free(guard + pg);
    munmap(guard, (size_t)pg * 2);
    munmap(second, (size_t)pg);
}

static void free_wild_pointers(void **state) {
    (void)state;
    expect_bad_free((void *)(uintptr_t)0x1000);
    expect_bad_free((void *)(uintptr_t)0x7);
    expect_bad_free((void *)&free_wild_pointers); /* code */
    static const char rodata[64] = "read-only";
    expect_bad_free((void *)(rodata + 16));
    /* a small integer taken for a pointer: no page is ever mapped there */
    expect_bad_free((void *)(uintptr_t)0x10);
    expect_bad_free((void *)(uintptr_t)0x20);
}

static void block_size_bad(void **state) {
    (void)state;
    _Alignas(16) char buf[64] = {0};
    void *m = malloc(32);
    char *p = mt_alloc(32, "Bad::Size", F, __LINE__);
    void *freed = mt_alloc(32, "Bad::Size", F, __LINE__);
    mt_free(freed);
    mt_stats g0 = mt_global_stats();
    tu_log_begin();
    assert_int_equal(mt_block_size(buf + 16), 0);
    assert_int_equal(mt_block_size(m), 0);
    assert_int_equal(mt_block_size(p + 1), 0);
    assert_int_equal(mt_block_size(p + 16), 0);
    assert_int_equal(mt_block_size(freed), 0);
    assert_int_equal(mt_block_size((void *)(uintptr_t)0x1000), 0);
    assert_int_equal(mt_block_size(NULL), 0);
    tu_log_end();
    tu_assert_stats_equal(g0, mt_global_stats());
    assert_int_equal(mt_block_size(p), 32);
    free(m);
    mt_free(p);
}

/* mt_realloc(bad, n): NULL, an error naming the pointer, nothing counted,
 * nothing freed */
static void expect_bad_realloc(void *bad) {
    char text[32];
    tu_ptr_text(bad, text);
    mt_stats g0 = mt_global_stats();
    long frees0 = g_backend_frees;
    tu_log_begin();
    void *r = mt_realloc(bad, 100, "Bad::Realloc", F, __LINE__);
    size_t errors = tu_log_count(MT_LOG_ERROR);
    const char *msg = tu_log_find(MT_LOG_ERROR, text);
    tu_log_end();
    assert_null(r);
    assert_true(errors >= 1);
    assert_non_null(msg);
    tu_assert_stats_equal(g0, mt_global_stats());
    assert_int_equal(g_backend_frees, frees0);
}

static void realloc_bad(void **state) {
    (void)state;
    _Alignas(16) char buf[64] = {0};
    expect_bad_realloc(buf + 16);
    void *m = malloc(40);
    memset(m, 0x61, 40);
    expect_bad_realloc(m);
    for (int i = 0; i < 40; i++) assert_int_equal(((unsigned char *)m)[i], 0x61);
    free(m);
    char *p = mt_alloc(64, "Bad::Realloc", F, __LINE__);
    memset(p, 0x62, 64);
    expect_bad_realloc(p + 16);
    expect_bad_realloc(p + 1);
    assert_int_equal(mt_block_size(p), 64);
    for (int i = 0; i < 64; i++) assert_int_equal((unsigned char)p[i], 0x62);
    mt_free(p);
    expect_bad_realloc(p); /* already freed */
    expect_bad_realloc((void *)(uintptr_t)0x1000);
}

static void good_free_reaches_backend(void **state) {
    (void)state;
    /* the counting backend is really in use: a good free reaches it once */
    void *p = mt_alloc(24, "Bad::Good", F, __LINE__);
    long frees0 = g_backend_frees;
    tu_log_begin();
    mt_free(p);
    assert_int_equal(tu_log_count(-1), 0);
    tu_log_end();
    assert_int_equal(g_backend_frees, frees0 + 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_free_reaches_backend),
        cmocka_unit_test(free_stack_pointer),
        cmocka_unit_test(free_plain_malloc),
        cmocka_unit_test(free_interior),
        cmocka_unit_test(free_twice),
        cmocka_unit_test(free_twice_aligned),
        cmocka_unit_test(free_twice_big),
        cmocka_unit_test(free_twice_big_aligned),
        cmocka_unit_test(free_after_unmapped_page),
        cmocka_unit_test(free_wild_pointers),
        cmocka_unit_test(block_size_bad),
        cmocka_unit_test(realloc_bad),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
