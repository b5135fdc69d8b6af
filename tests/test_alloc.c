/*
 * test_alloc.c - the allocation functions and MT_* macros: sizes, alignment,
 * zeroing, realloc rules, failures, and the exact numbers they leave in the
 * global, per-category and per-site statistics.
 */
#include "test_util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define F __FILE__

static int is_aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static void alloc_basic(void **state) {
    (void)state;
    mt_stats g0 = mt_global_stats();
    const int line = __LINE__; void *p = mt_alloc(100, "Alloc::Basic", F, line);
    assert_non_null(p);
    assert_true(is_aligned(p, 16));
    assert_int_equal(mt_block_size(p), 100);
    memset(p, 0x5a, 100);
    tu_assert_delta(g0, mt_global_stats(), 100, 0, 1, 0);
    tu_assert_stats(tu_cat_self("Alloc::Basic"), 100, 0, 1, 0);
    mt_stats s;
    assert_int_equal(tu_site_stats(F, line, "Alloc::Basic", &s), 1);
    tu_assert_stats(s, 100, 0, 1, 0);

    mt_free(p);
    tu_assert_delta(g0, mt_global_stats(), 100, 100, 1, 1);
    tu_assert_stats(tu_cat_self("Alloc::Basic"), 100, 100, 1, 1);
    assert_int_equal(tu_site_stats(F, line, "Alloc::Basic", &s), 1);
    tu_assert_stats(s, 100, 100, 1, 1);
}

static void alloc_alignment_16(void **state) {
    (void)state;
    void *ps[256];
    for (size_t i = 0; i < 256; i++) {
        ps[i] = mt_alloc(i + 1, "Alloc::Align16", F, __LINE__);
        assert_non_null(ps[i]);
        assert_true(is_aligned(ps[i], 16));
        assert_int_equal(mt_block_size(ps[i]), i + 1);
        memset(ps[i], (int)i, i + 1);
    }
    for (size_t i = 0; i < 256; i++) {
        /* neighbours did not overwrite each other */
        for (size_t k = 0; k < i + 1; k++) assert_int_equal(((unsigned char *)ps[i])[k], (unsigned char)i);
        mt_free(ps[i]);
    }
    tu_assert_stats(tu_cat_self("Alloc::Align16"), 256 * 257 / 2, 256 * 257 / 2, 256, 256);
}

static void alloc_defaults(void **state) {
    (void)state;
    /* category NULL outside any scope and "" go to Uncategorized; file NULL
     * is an unknown site */
    mt_stats u0 = {0};
    if (mt_category_stats("Uncategorized", 0, &u0) != 0) memset(&u0, 0, sizeof u0);
    void *a = mt_alloc(11, NULL, NULL, 0);
    void *b = mt_alloc(13, "", NULL, 0);
    assert_non_null(a);
    assert_non_null(b);
    tu_assert_delta(u0, tu_cat_self("Uncategorized"), 24, 0, 2, 0);
    mt_stats s;
    assert_true(tu_site_stats(NULL, 0, "Uncategorized", &s) >= 1);
    assert_true(s.alloc_count >= 2);
    mt_free(a);
    mt_free(b);
    tu_assert_delta(u0, tu_cat_self("Uncategorized"), 24, 24, 2, 2);
}

static void alloc_free_null(void **state) {
    (void)state;
    tu_log_begin();
    mt_stats g0 = mt_global_stats();
    mt_free(NULL);
    MT_FREE(NULL);
    tu_assert_stats_equal(g0, mt_global_stats());
    assert_int_equal(mt_block_size(NULL), 0);
    assert_int_equal(tu_log_count(-1), 0);
    tu_log_end();
}

static void calloc_zeroes(void **state) {
    (void)state;
    /* dirty memory first so that a reused chunk would show non-zero bytes */
    for (int round = 0; round < 4; round++) {
        unsigned char *d = mt_alloc(4000, "Alloc::Dirty", F, __LINE__);
        assert_non_null(d);
        memset(d, 0xee, 4000);
        mt_free(d);
        mt_stats c0 = mt_global_stats();
        const int line = __LINE__; unsigned char *z = mt_calloc(40, 100, "Alloc::Calloc", F, line);
        assert_non_null(z);
        assert_true(is_aligned(z, 16));
        assert_int_equal(mt_block_size(z), 4000);
        for (size_t i = 0; i < 4000; i++) assert_int_equal(z[i], 0);
        tu_assert_delta(c0, mt_global_stats(), 4000, 0, 1, 0);
        mt_free(z);
        tu_assert_delta(c0, mt_global_stats(), 4000, 4000, 1, 1);
    }
    tu_assert_stats(tu_cat_self("Alloc::Calloc"), 16000, 16000, 4, 4);
}

static void realloc_preserves_and_counts(void **state) {
    (void)state;
    const int l1 = __LINE__; unsigned char *p = mt_alloc(64, "Alloc::Realloc", F, l1);
    assert_non_null(p);
    for (int i = 0; i < 64; i++) p[i] = (unsigned char)(i * 7 + 1);
    mt_stats g0 = mt_global_stats();

    /* grow: one free of 64, one allocation of 100000 */
    const int l2 = __LINE__; unsigned char *q = mt_realloc(p, 100000, "Alloc::Realloc", F, l2);
    assert_non_null(q);
    assert_true(is_aligned(q, 16));
    assert_int_equal(mt_block_size(q), 100000);
    for (int i = 0; i < 64; i++) assert_int_equal(q[i], (unsigned char)(i * 7 + 1));
    tu_assert_delta(g0, mt_global_stats(), 100000, 64, 1, 1);
    memset(q + 64, 0x33, 100000 - 64);

    /* shrink: one free of 100000, one allocation of 10 */
    const int l3 = __LINE__; unsigned char *r = mt_realloc(q, 10, "Alloc::Realloc", F, l3);
    assert_non_null(r);
    assert_int_equal(mt_block_size(r), 10);
    for (int i = 0; i < 10; i++) assert_int_equal(r[i], (unsigned char)(i * 7 + 1));
    tu_assert_delta(g0, mt_global_stats(), 100010, 100064, 2, 2);

    /* the new block's site is the realloc's */
    mt_stats s;
    assert_int_equal(tu_site_stats(F, l1, "Alloc::Realloc", &s), 1);
    tu_assert_stats(s, 64, 64, 1, 1);
    assert_int_equal(tu_site_stats(F, l2, "Alloc::Realloc", &s), 1);
    tu_assert_stats(s, 100000, 100000, 1, 1);
    assert_int_equal(tu_site_stats(F, l3, "Alloc::Realloc", &s), 1);
    tu_assert_stats(s, 10, 0, 1, 0);
    tu_assert_stats(tu_cat_self("Alloc::Realloc"), 100074, 100064, 3, 2);

    mt_free(r);
    tu_assert_stats(tu_cat_self("Alloc::Realloc"), 100074, 100074, 3, 3);
}

static void realloc_null_is_alloc(void **state) {
    (void)state;
    mt_stats g0 = mt_global_stats();
    const int line = __LINE__; void *p = mt_realloc(NULL, 77, "Alloc::ReallocNull", F, line);
    assert_non_null(p);
    assert_true(is_aligned(p, 16));
    assert_int_equal(mt_block_size(p), 77);
    tu_assert_delta(g0, mt_global_stats(), 77, 0, 1, 0);
    mt_stats s;
    assert_int_equal(tu_site_stats(F, line, "Alloc::ReallocNull", &s), 1);
    tu_assert_stats(s, 77, 0, 1, 0);
    mt_free(p);
    tu_assert_delta(g0, mt_global_stats(), 77, 77, 1, 1);
}

static void realloc_zero_frees(void **state) {
    (void)state;
    void *p = mt_alloc(55, "Alloc::ReallocZero", F, __LINE__);
    assert_non_null(p);
    mt_stats g0 = mt_global_stats();
    void *q = mt_realloc(p, 0, "Alloc::ReallocZero", F, __LINE__);
    assert_null(q);
    tu_assert_delta(g0, mt_global_stats(), 0, 55, 0, 1);
    tu_assert_stats(tu_cat_self("Alloc::ReallocZero"), 55, 55, 1, 1);
}

static void realloc_null_category_keeps_old(void **state) {
    (void)state;
    const int l1 = __LINE__; void *p = mt_alloc(40, "Alloc::Keep", F, l1);
    assert_non_null(p);
    const int l2 = __LINE__; void *q = mt_realloc(p, 80, NULL, F, l2);
    assert_non_null(q);
    tu_assert_stats(tu_cat_self("Alloc::Keep"), 120, 40, 2, 1);
    mt_stats s;
    assert_int_equal(tu_site_stats(F, l2, "Alloc::Keep", &s), 1);
    tu_assert_stats(s, 80, 0, 1, 0);

    /* a scope does not change that: category NULL keeps the old category */
    mt_scope_push("Alloc::KeepScope");
    const int l3 = __LINE__; void *r = mt_realloc(q, 160, NULL, F, l3);
    mt_scope_pop();
    assert_non_null(r);
    tu_assert_stats(tu_cat_self("Alloc::Keep"), 280, 120, 3, 2);
    assert_int_equal(tu_site_stats(F, l3, "Alloc::Keep", &s), 1);
    tu_assert_stats(s, 160, 0, 1, 0);
    assert_int_equal(tu_site_stats(F, l3, "Alloc::KeepScope", NULL), 0);

    /* an explicit category moves the new block */
    const int l4 = __LINE__; void *t = mt_realloc(r, 8, "Alloc::Moved", F, l4);
    assert_non_null(t);
    tu_assert_stats(tu_cat_self("Alloc::Keep"), 280, 280, 3, 3);
    tu_assert_stats(tu_cat_self("Alloc::Moved"), 8, 0, 1, 0);
    assert_int_equal(tu_site_stats(F, l4, "Alloc::Moved", &s), 1);
    tu_assert_stats(s, 8, 0, 1, 0);
    mt_free(t);
    tu_assert_stats(tu_cat_self("Alloc::Moved"), 8, 8, 1, 1);
}

static void realloc_failure_keeps_block(void **state) {
    (void)state;
    unsigned char *p = mt_alloc(32, "Alloc::ReallocFail", F, __LINE__);
    assert_non_null(p);
    memset(p, 0x42, 32);
    mt_stats g0 = mt_global_stats();
    mt_stats c0 = tu_cat_self("Alloc::ReallocFail");
    const size_t huge[] = {SIZE_MAX, SIZE_MAX - 15, SIZE_MAX - 16, SIZE_MAX / 2 + 1, (size_t)1 << 62};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        void *q = mt_realloc(p, huge[i], "Alloc::ReallocFail", F, __LINE__);
        assert_null(q);
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        q = mt_realloc(p, huge[i], NULL, F, __LINE__);
        assert_null(q);
        assert_int_equal(errno, ENOMEM);
    }
    tu_assert_stats_equal(g0, mt_global_stats());
    tu_assert_stats_equal(c0, tu_cat_self("Alloc::ReallocFail"));
    assert_int_equal(mt_block_size(p), 32);
    for (int i = 0; i < 32; i++) assert_int_equal(p[i], 0x42);
    mt_free(p);
    tu_assert_delta(g0, mt_global_stats(), 0, 32, 0, 1);
}

static void aligned_alloc_good(void **state) {
    (void)state;
    uint64_t bytes = 0, n = 0;
    for (size_t a = 1; a <= 4096; a <<= 1) {
        for (size_t size = 1; size <= 3 * a + 100; size = size * 3 + 1) {
            mt_stats g0 = mt_global_stats();
            const int line = __LINE__; void *p = mt_aligned_alloc(a, size, "Alloc::Aligned", F, line);
            assert_non_null(p);
            assert_true(is_aligned(p, a));
            assert_true(is_aligned(p, a < 16 ? a : 16));
            assert_int_equal(mt_block_size(p), size);
            memset(p, 0x11, size);
            tu_assert_delta(g0, mt_global_stats(), size, 0, 1, 0);
            bytes += size;
            n++;
            mt_stats s;
            assert_int_equal(tu_site_stats(F, line, "Alloc::Aligned", &s), 1);
            assert_int_equal(s.total_allocated, bytes);
            /* an aligned block is released with mt_free and can be reallocated */
            if (n % 2) {
                mt_free(p);
                tu_assert_delta(g0, mt_global_stats(), size, size, 1, 1);
            } else {
                unsigned char *q = mt_realloc(p, size + 50, "Alloc::Aligned", F, __LINE__);
                assert_non_null(q);
                for (size_t i = 0; i < size; i++) assert_int_equal(q[i], 0x11);
                tu_assert_delta(g0, mt_global_stats(), 2 * size + 50, size, 2, 1);
                mt_free(q);
                tu_assert_delta(g0, mt_global_stats(), 2 * size + 50, 2 * size + 50, 2, 2);
            }
        }
    }
    mt_stats c = tu_cat_self("Alloc::Aligned");
    assert_true(c.total_allocated >= bytes);
    assert_int_equal(c.current, 0);

    /* a large alignment */
    void *big = mt_aligned_alloc((size_t)1 << 16, 24, "Alloc::Aligned", F, __LINE__);
    assert_non_null(big);
    assert_true(is_aligned(big, (size_t)1 << 16));
    assert_int_equal(mt_block_size(big), 24);
    mt_free(big);
}

static void aligned_alloc_bad(void **state) {
    (void)state;
    void *keep = mt_alloc(1, "Alloc::AlignedBad", F, __LINE__); /* the category exists */
    mt_stats g0 = mt_global_stats();
    mt_stats c0 = tu_cat_self("Alloc::AlignedBad");
    const size_t bad[] = {0, 3, 5, 6, 7, 12, 24, 48, 100, 4097, 4095, SIZE_MAX, ((size_t)1 << 40) + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        void *p = mt_aligned_alloc(bad[i], 64, "Alloc::AlignedBad", F, __LINE__);
        assert_null(p);
        assert_int_equal(errno, EINVAL);
    }
    /* a good alignment with an impossible size */
    errno = 0;
    assert_null(mt_aligned_alloc(64, SIZE_MAX, "Alloc::AlignedBad", F, __LINE__));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(mt_aligned_alloc(4096, SIZE_MAX - 4096, "Alloc::AlignedBad", F, __LINE__));
    assert_int_equal(errno, ENOMEM);
    tu_assert_stats_equal(g0, mt_global_stats());
    tu_assert_stats_equal(c0, tu_cat_self("Alloc::AlignedBad"));
    mt_free(keep);
}

static void huge_sizes_fail(void **state) {
    (void)state;
    void *keep = mt_alloc(1, "Alloc::Huge", F, __LINE__);
    mt_stats g0 = mt_global_stats();
    mt_stats c0 = tu_cat_self("Alloc::Huge");
    const size_t huge[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 15, SIZE_MAX - 16, SIZE_MAX - 4096,
                           SIZE_MAX / 2 + 1, SIZE_MAX / 2, (size_t)1 << 62, (size_t)1 << 56};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        errno = 0;
        assert_null(mt_alloc(huge[i], "Alloc::Huge", F, __LINE__));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(mt_alloc(huge[i], NULL, NULL, 0));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(mt_calloc(1, huge[i], "Alloc::Huge", F, __LINE__));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(mt_calloc(huge[i], 1, "Alloc::Huge", F, __LINE__));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(mt_realloc(NULL, huge[i], "Alloc::Huge", F, __LINE__));
        assert_int_equal(errno, ENOMEM);
    }
    tu_assert_stats_equal(g0, mt_global_stats());
    tu_assert_stats_equal(c0, tu_cat_self("Alloc::Huge"));
    mt_free(keep);
}

static void calloc_overflow(void **state) {
    (void)state;
    void *keep = mt_alloc(1, "Alloc::CallocOverflow", F, __LINE__);
    mt_stats g0 = mt_global_stats();
    const size_t pairs[][2] = {
        {SIZE_MAX / 2, 3},
        {3, SIZE_MAX / 2},
        {(size_t)1 << 33, (size_t)1 << 33},
        {(size_t)1 << 32, (size_t)1 << 32},
        {SIZE_MAX, SIZE_MAX},
        {SIZE_MAX / 16 + 1, 16},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        errno = 0;
        assert_null(mt_calloc(pairs[i][0], pairs[i][1], "Alloc::CallocOverflow", F, __LINE__));
        assert_int_equal(errno, ENOMEM);
        errno = 0;
        assert_null(MT_CALLOC(pairs[i][0], pairs[i][1], "Alloc::CallocOverflow"));
        assert_int_equal(errno, ENOMEM);
    }
    errno = 0;
    assert_null(MT_NEW_ARRAY(uint64_t, SIZE_MAX / 4, "Alloc::CallocOverflow"));
    assert_int_equal(errno, ENOMEM);
    tu_assert_stats_equal(g0, mt_global_stats());
    tu_assert_stats(tu_cat_self("Alloc::CallocOverflow"), 1, 0, 1, 0);
    mt_free(keep);
}

static void strdup_copies(void **state) {
    (void)state;
    char src[] = "memtally strdup test";
    mt_stats g0 = mt_global_stats();
    const int line = __LINE__; char *d = mt_strdup(src, "Alloc::Strdup", F, line);
    assert_non_null(d);
    assert_ptr_not_equal(d, src);
    assert_string_equal(d, src);
    assert_int_equal(mt_block_size(d), sizeof src);
    src[0] = 'X'; /* a copy, not the same memory */
    assert_int_equal(d[0], 'm');
    tu_assert_delta(g0, mt_global_stats(), sizeof src, 0, 1, 0);
    mt_stats s;
    assert_int_equal(tu_site_stats(F, line, "Alloc::Strdup", &s), 1);
    tu_assert_stats(s, sizeof src, 0, 1, 0);
    char *e = mt_strdup("", "Alloc::Strdup", F, line);
    assert_non_null(e);
    assert_string_equal(e, "");
    assert_int_equal(mt_block_size(e), 1);
    mt_free(d);
    mt_free(e);
    tu_assert_delta(g0, mt_global_stats(), sizeof src + 1, sizeof src + 1, 2, 2);

    /* NULL source: NULL with EINVAL, nothing counted */
    mt_stats g1 = mt_global_stats();
    errno = 0;
    assert_null(mt_strdup(NULL, "Alloc::Strdup", F, __LINE__));
    assert_int_equal(errno, EINVAL);
    tu_assert_stats_equal(g1, mt_global_stats());
}

static void raw_alloc_untracked(void **state) {
    (void)state;
    tu_log_begin();
    mt_stats g0 = mt_global_stats();
    tu_cat_list l0;
    tu_cat_list_take(&l0);
    unsigned char *p = mt_raw_alloc(1000);
    assert_non_null(p);
    memset(p, 0x77, 1000);
    unsigned char *q = mt_raw_alloc(1);
    assert_non_null(q);
    *q = 1;
    tu_assert_stats_equal(g0, mt_global_stats());
    for (int i = 0; i < 1000; i++) assert_int_equal(p[i], 0x77);
    mt_raw_free(p);
    mt_raw_free(q);
    mt_raw_free(NULL);
    tu_assert_stats_equal(g0, mt_global_stats());
    /* no category and no site appeared, nothing was logged */
    tu_cat_list l1;
    tu_cat_list_take(&l1);
    assert_int_equal(l0.n, l1.n);
    for (size_t i = 0; i < l0.n; i++) tu_assert_stats_equal(l0.e[i].self, l1.e[i].self);
    tu_cat_list_free(&l0);
    tu_cat_list_free(&l1);
    assert_int_equal(tu_log_count(-1), 0);
    tu_log_end();
}

typedef struct point3 {
    double x, y, z;
    int tag;
} point3;

static void macros_capture_site(void **state) {
    (void)state;
    mt_stats g0 = mt_global_stats();
    mt_stats s;

    const int la = __LINE__; char *a = MT_ALLOC(21, "Alloc::Macro");
    assert_non_null(a);
    assert_int_equal(tu_site_stats(F, la, "Alloc::Macro", &s), 1);
    tu_assert_stats(s, 21, 0, 1, 0);

    const int lc = __LINE__; int *c = MT_CALLOC(5, sizeof(int), "Alloc::Macro");
    assert_non_null(c);
    for (int i = 0; i < 5; i++) assert_int_equal(c[i], 0);
    assert_int_equal(tu_site_stats(F, lc, "Alloc::Macro", &s), 1);
    tu_assert_stats(s, 5 * sizeof(int), 0, 1, 0);

    memcpy(a, "abcdefghij", 10);
    const int lr = __LINE__; char *r = MT_REALLOC(a, 300, "Alloc::Macro");
    assert_non_null(r);
    assert_memory_equal(r, "abcdefghij", 10);
    assert_int_equal(tu_site_stats(F, lr, "Alloc::Macro", &s), 1);
    tu_assert_stats(s, 300, 0, 1, 0);
    assert_int_equal(tu_site_stats(F, la, "Alloc::Macro", &s), 1);
    tu_assert_stats(s, 21, 21, 1, 1);

    const int ls = __LINE__; char *d = MT_STRDUP("macro", "Alloc::Macro");
    assert_non_null(d);
    assert_string_equal(d, "macro");
    assert_int_equal(tu_site_stats(F, ls, "Alloc::Macro", &s), 1);
    tu_assert_stats(s, 6, 0, 1, 0);

    const int ln = __LINE__; point3 *pt = MT_NEW(point3, "Alloc::Macro::New");
    assert_non_null(pt);
    assert_true(is_aligned(pt, 16));
    assert_true(pt->x == 0.0 && pt->y == 0.0 && pt->z == 0.0 && pt->tag == 0);
    assert_int_equal(mt_block_size(pt), sizeof(point3));
    assert_int_equal(tu_site_stats(F, ln, "Alloc::Macro::New", &s), 1);
    tu_assert_stats(s, sizeof(point3), 0, 1, 0);

    const int lna = __LINE__; point3 *arr = MT_NEW_ARRAY(point3, 7, "Alloc::Macro::New");
    assert_non_null(arr);
    for (int i = 0; i < 7; i++) assert_int_equal(arr[i].tag, 0);
    assert_int_equal(mt_block_size(arr), 7 * sizeof(point3));
    assert_int_equal(tu_site_stats(F, lna, "Alloc::Macro::New", &s), 1);
    tu_assert_stats(s, 7 * sizeof(point3), 0, 1, 0);

    uint64_t total = 21 + 5 * sizeof(int) + 300 + 6 + 8 * sizeof(point3);
    tu_assert_delta(g0, mt_global_stats(), total, 21, 6, 1);
    MT_FREE(c);
    MT_FREE(r);
    MT_FREE(d);
    MT_FREE(pt);
    MT_FREE(arr);
    tu_assert_delta(g0, mt_global_stats(), total, total, 6, 6);
    tu_assert_stats(tu_cat_self("Alloc::Macro"), 21 + 5 * sizeof(int) + 300 + 6, 21 + 5 * sizeof(int) + 300 + 6, 4, 4);
    tu_assert_stats(tu_cat_total("Alloc::Macro"), total, total, 6, 6);
}

static void same_site_accumulates(void **state) {
    (void)state;
    void *ps[10];
    int line = 0;
    for (int i = 0; i < 10; i++) {
        line = __LINE__; ps[i] = mt_alloc((size_t)(i + 1) * 10, "Alloc::SameSite", F, line);
        assert_non_null(ps[i]);
    }
    mt_stats s;
    assert_int_equal(tu_site_stats(F, line, "Alloc::SameSite", &s), 1);
    tu_assert_stats(s, 550, 0, 10, 0);
    for (int i = 0; i < 10; i += 2) mt_free(ps[i]);
    assert_int_equal(tu_site_stats(F, line, "Alloc::SameSite", &s), 1);
    tu_assert_stats(s, 550, 10 + 30 + 50 + 70 + 90, 10, 5);
    for (int i = 1; i < 10; i += 2) mt_free(ps[i]);
    assert_int_equal(tu_site_stats(F, line, "Alloc::SameSite", &s), 1);
    tu_assert_stats(s, 550, 550, 10, 10);
    /* the same file:line in another category is another site */
    void *o = mt_alloc(5, "Alloc::SameSite::Other", F, line);
    assert_int_equal(tu_site_count(F, line), 2);
    assert_int_equal(tu_site_stats(F, line, "Alloc::SameSite::Other", &s), 1);
    tu_assert_stats(s, 5, 0, 1, 0);
    mt_free(o);
}

/* ---- sites named by a calling address ----------------------------------- */

/* The preload library's entry: a site given by the caller's address. */
void *mt__alloc_pc(size_t size, size_t alignment, int zero, const void *pc);

static const char g_stale_text[] = "STALE/stale";

/* Leaves pointers to g_stale_text in the stack below the caller, where the
 * next calls' locals will be. */
static __attribute__((noinline)) void dirty_stack(void) {
    const char *volatile junk[8192];
    for (int i = 0; i < 8192; i++) junk[i] = g_stale_text;
    __asm__ volatile("" : : "r"(junk) : "memory");
}

static const char *g_pc_function;
static int find_pc_site(const mt_site_info *info, void *user) {
    if (info->category && strcmp(info->category, "Alloc::PcSite") == 0) g_pc_function = info->function;
    (void)user;
    return 0;
}

/* A calling address that no loaded module holds (JIT code, a plugin that
 * was unloaded since) is named by the address itself, from nothing but
 * the address. */
static void site_pc_outside_modules(void **state) {
    (void)state;
    mt_scope_push("Alloc::PcSite");
    void *p = mt__alloc_pc(16, 0, 0, (const void *)(uintptr_t)0x10000010);
    mt_scope_pop();
    assert_non_null(p);
    dirty_stack();
    g_pc_function = NULL;
    assert_int_equal(mt_foreach_site(find_pc_site, NULL), 0);
    assert_non_null(g_pc_function);
    if (strstr(g_pc_function, "stale")) fail_msg("function named from stale stack memory: %s", g_pc_function);
    assert_non_null(strstr(g_pc_function, "10000010"));
    mt_free(p);
}

/* A run of blocks from one site makes that site's own counters the pending
 * ones on the hot path; an aligned block from the same site, and blocks
 * freed after it, still go where they belong. */
static void aligned_block_inside_a_run_of_its_site(void **state) {
    (void)state;
    const int line = __LINE__;
    void *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = mt_alloc(64, "Alloc::Run", F, line);
        assert_non_null(p[i]);
    }
    void *a = mt_aligned_alloc(256, 100, "Alloc::Run", F, line);
    assert_non_null(a);
    assert_true(is_aligned(a, 256));
    void *q = mt_alloc(64, "Alloc::Run", F, line);
    assert_non_null(q);
    mt_free(a);
    mt_stats s;
    assert_int_equal(tu_site_stats(F, line, "Alloc::Run", &s), 1);
    tu_assert_stats(s, 9 * 64 + 100, 100, 10, 1);
    assert_int_equal(s.peak, 9 * 64 + 100);
    mt_free(q);
    for (int i = 0; i < 8; i++) mt_free(p[i]);
    assert_int_equal(tu_site_stats(F, line, "Alloc::Run", &s), 1);
    tu_assert_stats(s, 9 * 64 + 100, 9 * 64 + 100, 10, 10);
    assert_int_equal(s.peak, 9 * 64 + 100);
    tu_assert_stats(tu_cat_self("Alloc::Run"), 9 * 64 + 100, 9 * 64 + 100, 10, 10);
    assert_int_equal(tu_cat_self("Alloc::Run").peak, 9 * 64 + 100);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alloc_basic),
        cmocka_unit_test(alloc_alignment_16),
        cmocka_unit_test(alloc_defaults),
        cmocka_unit_test(alloc_free_null),
        cmocka_unit_test(calloc_zeroes),
        cmocka_unit_test(realloc_preserves_and_counts),
        cmocka_unit_test(realloc_null_is_alloc),
        cmocka_unit_test(realloc_zero_frees),
        cmocka_unit_test(realloc_null_category_keeps_old),
        cmocka_unit_test(realloc_failure_keeps_block),
        cmocka_unit_test(aligned_alloc_good),
        cmocka_unit_test(aligned_alloc_bad),
        cmocka_unit_test(huge_sizes_fail),
        cmocka_unit_test(calloc_overflow),
        cmocka_unit_test(strdup_copies),
        cmocka_unit_test(raw_alloc_untracked),
        cmocka_unit_test(macros_capture_site),
        cmocka_unit_test(same_site_accumulates),
        cmocka_unit_test(site_pc_outside_modules),
        cmocka_unit_test(aligned_block_inside_a_run_of_its_site),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
