/*
 * view.c - statistics read back: global, per category, per site, and the
 * whole-registry view the reports are written from.
 *
 * Sums are taken under the thread-list lock, shared (it keeps threads from
 * exiting mid-sum), while writers go on without it; callbacks run after the
 * lock is released, so they may allocate through memtally.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Byte and block totals, and so current, come from the sites; the peak
 * from the peak slot (registry lock held). */
static void add_counts(mt_stats *acc, const mt_stats *site) {
    acc->total_allocated += site->total_allocated;
    acc->total_freed += site->total_freed;
    acc->alloc_count += site->alloc_count;
    acc->free_count += site->free_count;
}

static void finish(mt_stats *acc, uint32_t pnode) {
    /* see mt__site_sum */
    if (acc->total_freed > acc->total_allocated) acc->total_allocated = acc->total_freed;
    if (acc->free_count > acc->alloc_count) acc->alloc_count = acc->free_count;
    int64_t cur = (int64_t)(acc->total_allocated - acc->total_freed);
    acc->current = (uint64_t)cur;
    acc->peak = (uint64_t)mt__pnode_peak(pnode, cur);
}

static bool cat_within(uint32_t cat, uint32_t ancestor) {
    for (; cat != UINT32_MAX; cat = mt__cats[cat].parent)
        if (cat == ancestor) return true;
    return false;
}

/* Sums the sites of category `cat` (and its descendants if children), or
 * of every category when cat is UINT32_MAX. */
static void sum_sites(uint32_t cat, bool children, mt_stats *out) {
    memset(out, 0, sizeof *out);
    uint32_t ns = atomic_load_explicit(&mt__nsites, memory_order_acquire);
    for (uint32_t i = 0; i < ns; i++) {
        const mt__site *s = atomic_load_explicit(&mt__sites[i], memory_order_acquire);
        if (cat != UINT32_MAX && s->cat != cat && !(children && cat_within(s->cat, cat))) continue;
        mt_stats one;
        mt__site_sum(i, &one);
        add_counts(out, &one);
    }
}

mt_stats mt_global_stats(void) {
    mt_stats s = {0};
    if (mt_init() != 0) return s;
    mt__threads_read_lock();
    sum_sites(UINT32_MAX, true, &s);
    finish(&s, MT_PNODE_GLOBAL);
    mt__threads_read_unlock();
    return s;
}

int mt_category_stats(const char *category, int include_children, mt_stats *out) {
    if (!out || mt_init() != 0) return -1;
    size_t len = mt__cat_normalize(category);
    uint32_t idx = len ? mt__cat_find(category, len) : MT_CAT_UNCATEGORIZED;
    if (idx == UINT32_MAX) return -1;
    const mt__cat *c = &mt__cats[idx];
    mt__threads_read_lock();
    sum_sites(idx, include_children != 0, out);
    finish(out, include_children ? c->total_pnode : c->self_pnode);
    mt__threads_read_unlock();
    return 0;
}

/* ---- sorting without allocation --------------------------------------- */

static void sift_down(uint32_t *a, size_t root, size_t n, int (*cmp)(uint32_t, uint32_t, void *), void *ctx) {
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && cmp(a[child], a[child + 1], ctx) < 0) child++;
        if (cmp(a[root], a[child], ctx) >= 0) return;
        uint32_t tmp = a[root];
        a[root] = a[child];
        a[child] = tmp;
        root = child;
    }
}

void mt__sort_u32(uint32_t *a, size_t n, int (*cmp)(uint32_t, uint32_t, void *), void *ctx) {
    if (n < 2) return;
    for (size_t i = n / 2; i-- > 0;) sift_down(a, i, n, cmp, ctx);
    for (size_t end = n - 1; end > 0; end--) {
        uint32_t tmp = a[0];
        a[0] = a[end];
        a[end] = tmp;
        sift_down(a, 0, end, cmp, ctx);
    }
}

/* Tree order: compare names level by level, so "A" < "A::B" < "A::C" < "AB". */
static int cat_tree_cmp(uint32_t x, uint32_t y, void *ctx) {
    (void)ctx;
    const mt__cat *a = &mt__cats[x], *b = &mt__cats[y];
    const char *p = a->name, *pe = p + a->len, *q = b->name, *qe = q + b->len;
    for (;;) {
        const char *ps = p, *qs = q;
        while (ps + 1 < pe && !(ps[0] == ':' && ps[1] == ':')) ps++;
        if (ps + 1 >= pe) ps = pe;
        while (qs + 1 < qe && !(qs[0] == ':' && qs[1] == ':')) qs++;
        if (qs + 1 >= qe) qs = qe;
        size_t pl = (size_t)(ps - p), ql = (size_t)(qs - q);
        int c = memcmp(p, q, pl < ql ? pl : ql);
        if (c) return c;
        if (pl != ql) return pl < ql ? -1 : 1;
        if (ps == pe || qs == qe) return ps == pe && qs == qe ? 0 : ps == pe ? -1 : 1; /* the parent first */
        p = ps + 2;
        q = qs + 2;
    }
}

/* ---- the view ---------------------------------------------------------- */

/* dladdr names the main program as it was started ("./prog"), relative to
 * a working directory that may have changed since; the kernel knows the
 * real path. Shared objects come with the path the loader opened. */
static char exe_path[4096];
static pthread_once_t exe_once = PTHREAD_ONCE_INIT;

static void exe_read(void) { mt__os_exe_path(exe_path, sizeof exe_path); }

static const char *main_program_path(const char *fallback) {
    pthread_once(&exe_once, exe_read);
    return exe_path[0] ? exe_path : fallback;
}

int mt__view_take(mt__view *v) {
    memset(v, 0, sizeof *v);
    if (mt_init() != 0) return -1;
    /* name the preload sites first: dladdr and the arena take locks (no
     * dladdr under `memtally run`: mt__names_later) */
    uint32_t ns = atomic_load_explicit(&mt__nsites, memory_order_acquire);
    for (uint32_t i = 0; i < ns; i++) mt__site_function(atomic_load_explicit(&mt__sites[i], memory_order_acquire));

    mt__threads_read_lock();
    /* sites first: a site is published after its category, so every site
     * counted here has its category among the nc */
    ns = atomic_load_explicit(&mt__nsites, memory_order_acquire);
    uint32_t nc = atomic_load_explicit(&mt__ncats, memory_order_acquire);
    size_t bytes = nc * sizeof(mt__cat_view) + ns * sizeof(mt__site_view) + 2 * nc * sizeof(uint32_t);
    char *mem = mt__meta_alloc(bytes);
    if (!mem) {
        mt__threads_read_unlock();
        errno = ENOMEM;
        return -1;
    }
    v->mapped = bytes;
    v->cats = (mt__cat_view *)mem;
    v->sites = (mt__site_view *)(mem + nc * sizeof(mt__cat_view));
    uint32_t *order = (uint32_t *)(mem + nc * sizeof(mt__cat_view) + ns * sizeof(mt__site_view));
    uint32_t *position = order + nc; /* category index -> place in v->cats */
    v->ncats = nc;
    v->nsites = ns;
    for (uint32_t i = 0; i < nc; i++) order[i] = i;
    mt__sort_u32(order, nc, cat_tree_cmp, NULL);
    for (uint32_t i = 0; i < nc; i++) {
        const mt__cat *c = &mt__cats[order[i]];
        mt__cat_view *cv = &v->cats[i];
        position[order[i]] = i;
        cv->name = c->name;
        cv->parent = c->parent == UINT32_MAX ? NULL : mt__cats[c->parent].name;
        cv->depth = c->depth;
        cv->index = order[i];
    }
    for (uint32_t i = 0; i < ns; i++) {
        mt__site *s = atomic_load_explicit(&mt__sites[i], memory_order_acquire);
        mt__site_view *sv = &v->sites[i];
        sv->file = s->file;
        sv->line = s->line;
        sv->pc = s->pc;
        sv->function = atomic_load_explicit(&s->function, memory_order_acquire);
        sv->category = mt__cats[s->cat].name;
        mt__site_sum(i, &sv->stats);
        add_counts(&v->global, &sv->stats);
        add_counts(&v->cats[position[s->cat]].self, &sv->stats);
        for (uint32_t c = s->cat; c != UINT32_MAX; c = mt__cats[c].parent) add_counts(&v->cats[position[c]].total, &sv->stats);
    }
    finish(&v->global, MT_PNODE_GLOBAL);
    for (uint32_t i = 0; i < nc; i++) {
        const mt__cat *c = &mt__cats[order[i]];
        finish(&v->cats[i].self, c->self_pnode);
        finish(&v->cats[i].total, c->total_pnode);
    }
    mt__threads_read_unlock();
    for (uint32_t i = 0; i < ns; i++) {
        mt__site_view *sv = &v->sites[i];
        if (!sv->pc) continue;
        if (!sv->function) sv->function = mt__site_function(atomic_load_explicit(&mt__sites[i], memory_order_acquire));
        const char *file;
        uintptr_t start;
        if (mt__os_pc_module_start(sv->pc, &file, &start)) {
            sv->module = file[0] == '/' ? file : main_program_path(file);
            sv->offset = (uintptr_t)sv->pc - start;
        }
    }
    return 0;
}

void mt__view_free(mt__view *v) {
    if (v->mapped) mt__meta_free(v->cats, v->mapped);
    memset(v, 0, sizeof *v);
}

/* ---- callbacks ------------------------------------------------------------ */

int mt_foreach_category(mt_category_fn fn, void *user) {
    if (!fn) return -1;
    mt__view v;
    if (mt__view_take(&v) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < v.ncats && rc == 0; i++) {
        const mt__cat_view *c = &v.cats[i];
        mt_category_info info = {c->name, c->parent, c->depth, c->self, c->total};
        rc = fn(&info, user);
    }
    mt__view_free(&v);
    return rc;
}

int mt_foreach_site(mt_site_fn fn, void *user) {
    if (!fn) return -1;
    mt__view v;
    if (mt__view_take(&v) != 0) return -1;
    int rc = 0;
    for (size_t i = 0; i < v.nsites && rc == 0; i++) {
        const mt__site_view *s = &v.sites[i];
        if (s->stats.alloc_count == 0) continue; /* a category's own slot, or an allocation refused */
        mt_site_info info = {s->file, s->line, s->function, s->category, s->stats};
        rc = fn(&info, user);
    }
    mt__view_free(&v);
    return rc;
}
