/*
 * test_categories.c - category names: the "::" hierarchy, interning by
 * content, the empty string, the 255-byte cut, arbitrary bytes, and the walk
 * order of mt_foreach_category.
 */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#define F __FILE__

static void hierarchy_creates_parents(void **state) {
    (void)state;
    mt_stats s;
    assert_int_equal(mt_category_stats("Hier", 0, &s), -1);
    assert_int_equal(mt_category_stats("Hier::A", 1, &s), -1);
    void *p = mt_alloc(10, "Hier::A::B", F, __LINE__);
    assert_non_null(p);

    /* parents exist with nothing of their own */
    memset(&s, 0xff, sizeof s);
    assert_int_equal(mt_category_stats("Hier", 0, &s), 0);
    tu_assert_stats(s, 0, 0, 0, 0);
    assert_int_equal(s.peak, 0);
    memset(&s, 0xff, sizeof s);
    assert_int_equal(mt_category_stats("Hier::A", 0, &s), 0);
    tu_assert_stats(s, 0, 0, 0, 0);
    tu_assert_stats(tu_cat_self("Hier::A::B"), 10, 0, 1, 0);
    /* include_children sums the descendants */
    tu_assert_stats(tu_cat_total("Hier"), 10, 0, 1, 0);
    tu_assert_stats(tu_cat_total("Hier::A"), 10, 0, 1, 0);
    tu_assert_stats(tu_cat_total("Hier::A::B"), 10, 0, 1, 0);

    /* never named, directly or as a parent */
    assert_int_equal(mt_category_stats("Hier::A::B::C", 0, &s), -1);
    assert_int_equal(mt_category_stats("Hier::A::B::C", 1, &s), -1);
    assert_int_equal(mt_category_stats("Hier::B", 0, &s), -1);
    assert_int_equal(mt_category_stats("Hie", 1, &s), -1);
    assert_int_equal(mt_category_stats("Hier::A::", 1, &s), -1);
    assert_int_equal(mt_category_stats("A::B", 1, &s), -1);
    assert_int_equal(mt_category_stats("Never::Named::At::All", 0, &s), -1);
    /* out NULL */
    assert_int_equal(mt_category_stats("Hier", 0, NULL), -1);

    mt_free(p);
    tu_assert_stats(tu_cat_total("Hier"), 10, 10, 1, 1);
    /* still there at 0 bytes */
    tu_assert_stats(tu_cat_self("Hier::A::B"), 10, 10, 1, 1);
}

static void include_children_sums(void **state) {
    (void)state;
    void *a = mt_alloc(5, "Sum", F, __LINE__);
    void *b = mt_alloc(7, "Sum::X", F, __LINE__);
    void *c = mt_alloc(11, "Sum::X::Y", F, __LINE__);
    void *d = mt_alloc(13, "Sum::Z", F, __LINE__);
    void *e = mt_alloc(100, "SumOther", F, __LINE__);      /* not a child: no "::" */
    void *f = mt_alloc(200, "Sum::Xylophone", F, __LINE__); /* child of Sum, not of Sum::X */
    void *g = mt_alloc(300, "Sum:X", F, __LINE__);          /* one colon: a top-level name */
    assert_true(a && b && c && d && e && f && g);
    mt_free(d);

    tu_assert_stats(tu_cat_self("Sum"), 5, 0, 1, 0);
    tu_assert_stats(tu_cat_total("Sum"), 5 + 7 + 11 + 13 + 200, 13, 5, 1);
    tu_assert_stats(tu_cat_self("Sum::X"), 7, 0, 1, 0);
    tu_assert_stats(tu_cat_total("Sum::X"), 18, 0, 2, 0);
    tu_assert_stats(tu_cat_total("Sum::X::Y"), 11, 0, 1, 0);
    tu_assert_stats(tu_cat_total("Sum::Z"), 13, 13, 1, 1);
    tu_assert_stats(tu_cat_total("SumOther"), 100, 0, 1, 0);
    tu_assert_stats(tu_cat_total("Sum:X"), 300, 0, 1, 0);

    /* mt_foreach_category's self and total agree */
    tu_cat_list l;
    tu_cat_list_take(&l);
    long i = tu_cat_list_find(&l, "Sum");
    assert_true(i >= 0);
    tu_assert_stats(l.e[i].self, 5, 0, 1, 0);
    tu_assert_stats(l.e[i].total, 5 + 7 + 11 + 13 + 200, 13, 5, 1);
    i = tu_cat_list_find(&l, "Sum::X");
    assert_true(i >= 0);
    tu_assert_stats(l.e[i].total, 18, 0, 2, 0);
    tu_cat_list_free(&l);

    mt_free(a);
    mt_free(b);
    mt_free(c);
    mt_free(e);
    mt_free(f);
    mt_free(g);
    tu_assert_stats(tu_cat_total("Sum"), 236, 236, 5, 5);
}

static void interned_by_content(void **state) {
    (void)state;
    char buf[64];
    strcpy(buf, "Intern::One");
    void *a = mt_alloc(3, buf, F, __LINE__);
    strcpy(buf, "Intern::Two");
    void *b = mt_alloc(4, buf, F, __LINE__);
    memset(buf, 'Z', sizeof buf - 1); /* the library kept its own copy */
    buf[sizeof buf - 1] = '\0';
    assert_true(a && b);
    tu_assert_stats(tu_cat_self("Intern::One"), 3, 0, 1, 0);
    tu_assert_stats(tu_cat_self("Intern::Two"), 4, 0, 1, 0);
    tu_assert_stats(tu_cat_total("Intern"), 7, 0, 2, 0);

    /* equal text behind two pointers is one category */
    char *h1 = malloc(16), *h2 = malloc(16);
    char s1[] = "Intern::Same";
    strcpy(h1, "Intern::Same");
    strcpy(h2, "Intern::Same");
    void *c = mt_alloc(5, h1, F, __LINE__);
    void *d = mt_alloc(6, h2, F, __LINE__);
    void *e = mt_alloc(7, s1, F, __LINE__);
    void *f = mt_alloc(8, "Intern::Same", F, __LINE__);
    free(h1);
    free(h2);
    tu_assert_stats(tu_cat_self("Intern::Same"), 26, 0, 4, 0);

    tu_cat_list l;
    tu_cat_list_take(&l);
    size_t same = 0, one = 0;
    for (size_t i = 0; i < l.n; i++) {
        same += strcmp(l.e[i].name, "Intern::Same") == 0;
        one += strcmp(l.e[i].name, "Intern::One") == 0;
        assert_null(strstr(l.e[i].name, "ZZZZ"));
    }
    tu_cat_list_free(&l);
    assert_int_equal(same, 1);
    assert_int_equal(one, 1);

    mt_free(a);
    mt_free(b);
    mt_free(c);
    mt_free(d);
    mt_free(e);
    mt_free(f);
}

static void empty_string_is_null(void **state) {
    (void)state;
    mt_stats u0 = {0};
    if (mt_category_stats("Uncategorized", 0, &u0) != 0) memset(&u0, 0, sizeof u0);
    void *a = mt_alloc(9, "", F, __LINE__);
    assert_non_null(a);
    tu_assert_delta(u0, tu_cat_self("Uncategorized"), 9, 0, 1, 0);

    mt_scope_push("Empty::Scoped");
    void *b = mt_alloc(17, "", F, __LINE__);
    void *c = mt_calloc(1, 19, "", F, __LINE__);
    mt_scope_pop();
    tu_assert_stats(tu_cat_self("Empty::Scoped"), 36, 0, 2, 0);
    tu_assert_delta(u0, tu_cat_self("Uncategorized"), 9, 0, 1, 0);

    /* no category with an empty name */
    tu_cat_list l;
    tu_cat_list_take(&l);
    for (size_t i = 0; i < l.n; i++) assert_true(l.e[i].name_len > 0);
    tu_cat_list_free(&l);
    mt_free(a);
    mt_free(b);
    mt_free(c);
}

static void long_name_cut(void **state) {
    (void)state;
    char name[301];
    memcpy(name, "Long::", 6);
    for (int i = 6; i < 300; i++) name[i] = (char)('a' + i % 26);
    name[300] = '\0';
    char cut[256];
    memcpy(cut, name, 255);
    cut[255] = '\0';

    tu_log_begin();
    void *a = mt_alloc(30, name, F, __LINE__);
    assert_non_null(a);
    assert_int_equal(tu_log_count(MT_LOG_WARN), 1);
    assert_int_equal(tu_log_count(MT_LOG_ERROR), 0);
    /* the same long name again: the warning is not repeated */
    void *b = mt_alloc(40, name, F, __LINE__);
    mt_scope_push(name);
    void *c = mt_alloc(50, NULL, F, __LINE__);
    mt_scope_pop();
    assert_int_equal(tu_log_count(MT_LOG_WARN), 1);
    tu_log_end();

    tu_assert_stats(tu_cat_self(cut), 120, 0, 3, 0);
    tu_assert_stats(tu_cat_total("Long"), 120, 0, 3, 0);
    tu_cat_list l;
    tu_cat_list_take(&l);
    long i = tu_cat_list_find(&l, cut);
    assert_true(i >= 0);
    assert_int_equal(l.e[i].name_len, 255);
    assert_string_equal(l.e[i].parent, "Long");
    for (size_t k = 0; k < l.n; k++) assert_true(l.e[k].name_len <= 255);
    tu_cat_list_free(&l);

    /* exactly 255 bytes is not cut and not warned about */
    char exact[256];
    memcpy(exact, "Exact::", 7);
    for (int k = 7; k < 255; k++) exact[k] = (char)('A' + k % 26);
    exact[255] = '\0';
    tu_log_begin();
    void *d = mt_alloc(60, exact, F, __LINE__);
    assert_int_equal(tu_log_count(MT_LOG_WARN), 0);
    tu_log_end();
    tu_assert_stats(tu_cat_self(exact), 60, 0, 1, 0);

    mt_free(a);
    mt_free(b);
    mt_free(c);
    mt_free(d);
}

static void arbitrary_bytes(void **state) {
    (void)state;
    const char *odd[] = {
        "Bytes::\x01\x02\x7f",
        "Bytes::\xff\xfe\x80",
        "Bytes::quote\"back\\slash",
        "Bytes::new\nline\ttab",
        "Bytes::caf\xc3\xa9 \xe2\x82\xac",
        "Bytes::<&>'%s%n",
    };
    void *p[6];
    for (int i = 0; i < 6; i++) {
        p[i] = mt_alloc((size_t)(i + 1), odd[i], F, __LINE__);
        assert_non_null(p[i]);
    }
    for (int i = 0; i < 6; i++) tu_assert_stats(tu_cat_self(odd[i]), (uint64_t)(i + 1), 0, 1, 0);
    tu_assert_stats(tu_cat_total("Bytes"), 21, 0, 6, 0);
    tu_cat_list l;
    tu_cat_list_take(&l);
    for (int i = 0; i < 6; i++) {
        long k = tu_cat_list_find(&l, odd[i]);
        assert_true(k >= 0);
        assert_string_equal(l.e[k].parent, "Bytes");
        assert_int_equal(l.e[k].depth, 1);
    }
    tu_cat_list_free(&l);
    for (int i = 0; i < 6; i++) mt_free(p[i]);
}

/* checks the tree order and the self/total arithmetic of a listing */
static void check_tree(const tu_cat_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        const tu_cat_entry *e = &l->e[i];
        /* depth and parent follow from the name */
        int depth = 0;
        const char *last = NULL;
        for (const char *s = strstr(e->name, "::"); s; s = strstr(s + 2, "::")) {
            depth++;
            last = s;
        }
        assert_int_equal(e->depth, depth);
        if (depth == 0) {
            assert_null(e->parent);
            continue;
        }
        assert_non_null(e->parent);
        assert_int_equal(strlen(e->parent), (size_t)(last - e->name));
        assert_memory_equal(e->parent, e->name, (size_t)(last - e->name));
        /* the parent came earlier */
        long p = -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp(l->e[k].name, e->parent) == 0) p = (long)k;
        if (p < 0) fail_msg("\"%s\" listed before its parent \"%s\"", e->name, e->parent);
    }
    /* total = self + the totals of the direct children */
    for (size_t i = 0; i < l->n; i++) {
        mt_stats sum = l->e[i].self;
        for (size_t k = 0; k < l->n; k++) {
            if (!l->e[k].parent || strcmp(l->e[k].parent, l->e[i].name) != 0) continue;
            sum.total_allocated += l->e[k].total.total_allocated;
            sum.total_freed += l->e[k].total.total_freed;
            sum.current += l->e[k].total.current;
            sum.alloc_count += l->e[k].total.alloc_count;
            sum.free_count += l->e[k].total.free_count;
        }
        assert_int_equal(l->e[i].total.total_allocated, sum.total_allocated);
        assert_int_equal(l->e[i].total.total_freed, sum.total_freed);
        assert_int_equal(l->e[i].total.current, sum.current);
        assert_int_equal(l->e[i].total.alloc_count, sum.alloc_count);
        assert_int_equal(l->e[i].total.free_count, sum.free_count);
    }
    /* siblings come by name */
    for (size_t i = 0; i < l->n; i++) {
        const char *prev = NULL;
        for (size_t k = 0; k < l->n; k++) {
            const char *pk = l->e[k].parent, *pi = l->e[i].parent;
            if (l->e[k].depth != l->e[i].depth) continue;
            if ((pk == NULL) != (pi == NULL) || (pk && strcmp(pk, pi) != 0)) continue;
            if (prev && strcmp(prev, l->e[k].name) >= 0)
                fail_msg("siblings out of order: \"%s\" before \"%s\"", prev, l->e[k].name);
            prev = l->e[k].name;
        }
    }
}

static void foreach_order(void **state) {
    (void)state;
    /* created children first, in a scrambled order */
    const char *names[] = {"Order::B::C::D", "Order::A", "Order::B::A", "Order::C", "Order::B",
                           "Order::A::Z", "Order::A::B", "Order"};
    void *p[8];
    for (int i = 0; i < 8; i++) p[i] = mt_alloc((size_t)(10 * (i + 1)), names[i], F, __LINE__);
    for (int i = 0; i < 8; i += 2) mt_free(p[i]);

    tu_cat_list l;
    tu_cat_list_take(&l);
    check_tree(&l);
    /* every category is listed, including the parents never used directly
     * and those at 0 bytes */
    const char *all[] = {"Order", "Order::A", "Order::A::B", "Order::A::Z", "Order::B",
                         "Order::B::A", "Order::B::C", "Order::B::C::D", "Order::C"};
    long prev = -1;
    for (int i = 0; i < 9; i++) {
        long k = tu_cat_list_find(&l, all[i]);
        if (k < 0) fail_msg("\"%s\" not listed", all[i]);
        /* a depth-first walk with siblings by name gives exactly this order */
        assert_true(k > prev);
        prev = k;
    }
    long k = tu_cat_list_find(&l, "Order::B::C");
    tu_assert_stats(l.e[k].self, 0, 0, 0, 0);
    tu_assert_stats(l.e[k].total, 10, 10, 1, 1);
    k = tu_cat_list_find(&l, "Order::B::C::D");
    assert_int_equal(l.e[k].depth, 3);
    tu_assert_stats(l.e[k].self, 10, 10, 1, 1);
    k = tu_cat_list_find(&l, "Order");
    tu_assert_stats(l.e[k].total, 360, 10 + 30 + 50 + 70, 8, 4);
    tu_cat_list_free(&l);
    for (int i = 1; i < 8; i += 2) mt_free(p[i]);

    /* the whole listing, including the other tests' categories, is a tree */
    tu_cat_list_take(&l);
    check_tree(&l);
    tu_cat_list_free(&l);
}

struct stopper {
    int calls;
    int stop_at;
};

static int stop_cb(const mt_category_info *info, void *user) {
    struct stopper *s = user;
    assert_non_null(info->name);
    return ++s->calls == s->stop_at ? 7 : 0;
}

static int count_cb(const mt_category_info *info, void *user) {
    (void)info;
    ++*(int *)user;
    return 0;
}

static void foreach_early_stop(void **state) {
    (void)state;
    void *p = mt_alloc(1, "Stop::A::B", F, __LINE__);
    int total = 0;
    assert_int_equal(mt_foreach_category(count_cb, &total), 0);
    assert_true(total >= 3);
    struct stopper s = {0, 2};
    assert_int_equal(mt_foreach_category(stop_cb, &s), 7);
    assert_int_equal(s.calls, 2);
    s = (struct stopper){0, 1};
    assert_int_equal(mt_foreach_category(stop_cb, &s), 7);
    assert_int_equal(s.calls, 1);
    s = (struct stopper){0, total};
    assert_int_equal(mt_foreach_category(stop_cb, &s), 7);
    assert_int_equal(s.calls, total);
    assert_int_equal(mt_foreach_category(NULL, NULL), -1);
    mt_free(p);
}

static void uncategorized_listed(void **state) {
    (void)state;
    void *p = mt_alloc(3, NULL, F, __LINE__);
    tu_cat_list l;
    tu_cat_list_take(&l);
    long k = tu_cat_list_find(&l, "Uncategorized");
    assert_true(k >= 0);
    assert_null(l.e[k].parent);
    assert_int_equal(l.e[k].depth, 0);
    assert_true(l.e[k].self.alloc_count >= 1);
    tu_cat_list_free(&l);
    mt_free(p);
}

/* ---- the cost of a category ------------------------------------------- */

/* The process's mapped bytes (virtual size), from /proc/self/statm. */
static uint64_t mapped_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    unsigned long pages = 0;
    assert_int_equal(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    return (uint64_t)pages * 4096u;
}

/* Run-time category names ("Entity::%d") are a documented use: 20000 of
 * them cost memtally a few bytes of text and records each, not a mapping
 * of its own each (64 MiB is over 3 KiB per category). */
static void many_categories_bounded_memory(void **state) {
    (void)state;
    char name[64];
    mt_free(mt_alloc(8, "Cost::Warmup", __FILE__, __LINE__));
    uint64_t before = mapped_bytes();
    for (int i = 0; i < 20000; i++) {
        snprintf(name, sizeof name, "Cost::Entity::%d", i);
        mt_free(mt_alloc(8, name, __FILE__, __LINE__));
    }
    uint64_t grown = mapped_bytes() - before;
    if (grown > ((uint64_t)64 << 20))
        fail_msg("20000 categories mapped %llu MiB", (unsigned long long)(grown >> 20));
    mt_stats s;
    assert_int_equal(mt_category_stats("Cost::Entity::19999", 0, &s), 0);
    assert_int_equal(s.alloc_count, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hierarchy_creates_parents),
        cmocka_unit_test(include_children_sums),
        cmocka_unit_test(interned_by_content),
        cmocka_unit_test(empty_string_is_null),
        cmocka_unit_test(long_name_cut),
        cmocka_unit_test(arbitrary_bytes),
        cmocka_unit_test(foreach_order),
        cmocka_unit_test(foreach_early_stop),
        cmocka_unit_test(uncategorized_listed),
        cmocka_unit_test(many_categories_bounded_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
