/*
 * snapshot.c - snapshots of the statistics and the differences between two.
 *
 * A snapshot is one block of metadata memory (never a tracked allocation):
 * the header, the label, the global statistics and each category's own
 * (self) statistics sorted by name, with copies of the names, so it stays
 * valid whatever happens to the registry. Two snapshots are compared by
 * walking both name-sorted arrays together; a category that one of them
 * lacks counts as zeros there.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

typedef struct snap_cat {
    const char *name;
    mt_stats self;
} snap_cat;

struct mt_snapshot {
    size_t bytes;      /* size of this block, for mt__meta_free */
    const char *label; /* NULL when none was given */
    mt_stats global;
    size_t ncats;
    snap_cat cats[];   /* sorted by name (bytes, as strcmp); then the strings */
};

static int cmp_name(uint32_t x, uint32_t y, void *ctx) {
    const mt__view *v = ctx;
    return strcmp(v->cats[x].name, v->cats[y].name);
}

mt_snapshot *mt_snapshot_take(const char *label) {
    mt_init();
    mt__view v;
    if (mt__view_take(&v) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    size_t order_bytes = v.ncats * sizeof(uint32_t);
    uint32_t *order = v.ncats ? mt__meta_alloc(order_bytes) : NULL;
    size_t bytes = sizeof(mt_snapshot) + v.ncats * sizeof(snap_cat) + (label ? strlen(label) + 1 : 0);
    for (size_t i = 0; i < v.ncats; i++) bytes += strlen(v.cats[i].name) + 1;
    mt_snapshot *s = (v.ncats && !order) ? NULL : mt__meta_alloc(bytes);
    if (!s) {
        if (order) mt__meta_free(order, order_bytes);
        mt__view_free(&v);
        errno = ENOMEM;
        return NULL;
    }

    s->bytes = bytes;
    s->global = v.global;
    s->ncats = v.ncats;
    char *str = (char *)(s->cats + v.ncats);
    s->label = NULL;
    if (label) {
        size_t len = strlen(label) + 1;
        memcpy(str, label, len);
        s->label = str;
        str += len;
    }
    for (size_t i = 0; i < v.ncats; i++) order[i] = (uint32_t)i;
    mt__sort_u32(order, v.ncats, cmp_name, &v);
    for (size_t i = 0; i < v.ncats; i++) {
        const mt__cat_view *c = &v.cats[order[i]];
        size_t len = strlen(c->name) + 1;
        memcpy(str, c->name, len);
        s->cats[i].name = str;
        s->cats[i].self = c->self;
        str += len;
    }
    if (order) mt__meta_free(order, order_bytes);
    mt__view_free(&v);
    return s;
}

void mt_snapshot_free(mt_snapshot *snap) {
    if (snap) mt__meta_free(snap, snap->bytes);
}

/* after - before for each number a delta carries; true when any differs. */
static bool delta_of(mt_delta *d, const mt_stats *before, const mt_stats *after) {
    d->current = (int64_t)(after->current - before->current);
    d->alloc_count = (int64_t)(after->alloc_count - before->alloc_count);
    d->free_count = (int64_t)(after->free_count - before->free_count);
    d->total_allocated = (int64_t)(after->total_allocated - before->total_allocated);
    d->total_freed = (int64_t)(after->total_freed - before->total_freed);
    return d->current || d->alloc_count || d->free_count || d->total_allocated || d->total_freed;
}

int mt_snapshot_diff(const mt_snapshot *before, const mt_snapshot *after, mt_delta_fn fn, void *user) {
    if (!before || !after || !fn) {
        errno = EINVAL;
        return -1;
    }
    static const mt_stats zero;
    mt_delta d;
    delta_of(&d, &before->global, &after->global);
    d.category = NULL;
    int rc = fn(&d, user);
    if (rc) return rc;

    size_t i = 0, j = 0;
    while (i < before->ncats || j < after->ncats) {
        const snap_cat *b = i < before->ncats ? &before->cats[i] : NULL;
        const snap_cat *a = j < after->ncats ? &after->cats[j] : NULL;
        int c = !b ? 1 : !a ? -1 : strcmp(b->name, a->name);
        const mt_stats *bs = c <= 0 ? &b->self : &zero;
        const mt_stats *as = c >= 0 ? &a->self : &zero;
        d.category = c <= 0 ? b->name : a->name;
        if (c <= 0) i++;
        if (c >= 0) j++;
        if (delta_of(&d, bs, as) && (rc = fn(&d, user)) != 0) return rc;
    }
    return 0;
}

/* ---- as text ------------------------------------------------------------ */

/* "+1.50 KiB", "-512 B", "0 B" */
static const char *signed_bytes(int64_t d, char *buf, size_t cap) {
    if (d == 0) return mt__human_bytes(0, buf, cap);
    uint64_t mag = d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
    buf[0] = d < 0 ? '-' : '+';
    mt__human_bytes(mag, buf + 1, cap - 1);
    return buf;
}

/* "+3", "-1", "0" */
static const char *signed_count(int64_t d, char *buf, size_t cap) {
    snprintf(buf, cap, d ? "%+" PRId64 : "%" PRId64, d);
    return buf;
}

typedef struct report_state {
    FILE *out;
    size_t lines;
} report_state;

static int print_delta(const mt_delta *d, void *user) {
    report_state *st = user;
    char cur[40], al[40], fr[40], na[32], nf[32], name[1100];
    if (d->category) st->lines++;
    fprintf(st->out, "%s%s: current %s, allocated %s, freed %s, allocs %s, frees %s\n", d->category ? "  " : "",
            d->category ? mt__text_escape(d->category, name, sizeof name) : "global",
            signed_bytes(d->current, cur, sizeof cur), signed_bytes(d->total_allocated, al, sizeof al),
            signed_bytes(d->total_freed, fr, sizeof fr), signed_count(d->alloc_count, na, sizeof na),
            signed_count(d->free_count, nf, sizeof nf));
    return ferror(st->out) ? -1 : 0;
}

static const char *quoted_label(const char *label, char *buf, size_t cap) {
    if (!label) return "(no label)";
    char esc[1100];
    mt__text_escape(label, esc, sizeof esc);
    snprintf(buf, cap, "\"%s\"", esc);
    return buf;
}

int mt_snapshot_diff_report(const mt_snapshot *before, const mt_snapshot *after, FILE *out) {
    if (!before || !after || !out) {
        errno = EINVAL;
        return -1;
    }
    char lb[1110], la[1110];
    errno = 0;
    fprintf(out, "memtally snapshot diff: %s -> %s\n", quoted_label(before->label, lb, sizeof lb),
            quoted_label(after->label, la, sizeof la));
    report_state st = {out, 0};
    int rc = mt_snapshot_diff(before, after, print_delta, &st);
    if (rc == 0 && st.lines == 0) fputs("  no category changed\n", out);
    if (fflush(out) != 0 || ferror(out) || rc != 0) {
        if (errno == 0) errno = EIO;
        return -1;
    }
    return 0;
}
