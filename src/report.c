/*
 * report.c - mt_report() and mt_report_file(), and the small helpers every
 * report writer shares (escaping, site labels).
 *
 * The writers themselves live in report_text.c and report_json.c. A report
 * reads one mt__view, taken under one hold of the registry lock, so the
 * numbers in it are consistent with each other. No writer allocates
 * through malloc: scratch memory comes from mt__meta_alloc, and sorting is
 * mt__sort_u32 in place (glibc's qsort may call malloc, which the preload
 * library would count).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"


/* ---- helpers ------------------------------------------------------------ */

/* Length (2..4) of the well-formed UTF-8 sequence of more than one byte at s,
 * or 0 when s does not start one (ASCII, stray continuation bytes, overlong
 * forms, surrogates, code points past U+10FFFF, a sequence cut by the NUL). */
size_t mt__utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;         /* overlong */
        else if (c == 0xED) hi = 0x9F;    /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;         /* overlong */
        else if (c == 0xF4) hi = 0x8F;    /* past U+10FFFF */
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return n;
}

/* Copies s into buf for a text report: printable ASCII and well-formed UTF-8
 * stay as they are (except the C1 controls U+0080..U+009F), a backslash
 * becomes "\\", every other byte "\xNN". Cut with "..." when buf is too
 * small. Returns buf ("(null)" for a NULL s). */
const char *mt__text_escape(const char *s, char *buf, size_t cap) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, mark = 0;
    if (cap == 0) return buf;
    if (!s) s = "(null)";
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        char piece[16];
        size_t len = 0, take = 1;
        size_t u = mt__utf8_len(p);
        if (*p >= 0x20 && *p < 0x7f && *p != '\\') {
            piece[len++] = (char)*p;
        } else if (*p == '\\') {
            piece[len++] = '\\';
            piece[len++] = '\\';
        } else if (u && !(p[0] == 0xC2 && p[1] < 0xA0)) {
            memcpy(piece, p, u);
            len = take = u;
        } else {
            piece[len++] = '\\';
            piece[len++] = 'x';
            piece[len++] = hex[*p >> 4];
            piece[len++] = hex[*p & 15];
        }
        if (o + len + 1 > cap) {
            /* does not fit: end with "..." after the last whole piece that
             * leaves room for it */
            o = mark;
            if (o + 4 <= cap) {
                memcpy(buf + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(buf + o, piece, len);
        o += len;
        p += take;
        if (o + 4 <= cap) mark = o;
    }
    buf[o < cap ? o : cap - 1] = '\0';
    return buf;
}

/* "file:line", "file", "function (file:line)", "function" or "(unknown site)",
 * escaped for a text report. */
const char *mt__site_label(const mt__site_view *s, char *buf, size_t cap) {
    char raw[4096 + 64];
    if (s->file && s->function) {
        if (s->line > 0) snprintf(raw, sizeof raw, "%s (%s:%d)", s->function, s->file, s->line);
        else snprintf(raw, sizeof raw, "%s (%s)", s->function, s->file);
    } else if (s->file) {
        if (s->line > 0) snprintf(raw, sizeof raw, "%s:%d", s->file, s->line);
        else snprintf(raw, sizeof raw, "%s", s->file);
    } else if (s->function) {
        snprintf(raw, sizeof raw, "%s", s->function);
    } else {
        snprintf(buf, cap, "(unknown site)");
        return buf;
    }
    return mt__text_escape(raw, buf, cap);
}

/* ---- mt_report ---------------------------------------------------------- */

static int write_view(FILE *out, mt_format format, const mt__view *v) {
    int rc = format == MT_FORMAT_JSON ? mt__report_json(out, v) : mt__report_text(out, v);
    if (fflush(out) != 0 || ferror(out)) rc = -1;
    if (rc != 0 && errno == 0) errno = EIO;
    return rc;
}

static bool format_ok(mt_format format) {
    return format == MT_FORMAT_TEXT || format == MT_FORMAT_JSON;
}

int mt_report(FILE *out, mt_format format) {
    if (!out || !format_ok(format)) {
        errno = EINVAL;
        return -1;
    }
    mt_init();
    mt__view v;
    if (mt__view_take(&v) != 0) return -1;
    errno = 0;
    int rc = write_view(out, format, &v);
    int e = errno;
    mt__view_free(&v);
    errno = e;
    return rc;
}

/* ---- mt_report_file ----------------------------------------------------- */

int mt_report_file(const char *path, mt_format format) {
    if (!path || !*path || !format_ok(format)) {
        errno = EINVAL;
        return -1;
    }
    mt_init();

    /* The view is taken before the FILE is opened, so the FILE's own buffer
     * (malloc'd by libc, counted under the preload library) is not in it. */
    mt__view v;
    if (mt__view_take(&v) != 0) return -1;
    mt__outfile o;
    int rc = mt__outfile_open(&o, path);
    if (rc == 0) {
        errno = 0;
        rc = mt__outfile_close(&o, write_view(o.f, format, &v) == 0);
    }
    int e = errno;
    mt__view_free(&v);
    errno = e;
    return rc;
}

/* Sites of a view by current bytes (largest first), then bytes ever
 * allocated, then the order in which they appeared: for mt__sort_u32. */
int mt__site_order(uint32_t x, uint32_t y, void *view) {
    const mt__view *v = view;
    const mt_stats *a = &v->sites[x].stats, *b = &v->sites[y].stats;
    if (a->current != b->current) return a->current > b->current ? -1 : 1;
    if (a->total_allocated != b->total_allocated) return a->total_allocated > b->total_allocated ? -1 : 1;
    return x < y ? -1 : x > y;
}
