/*
 * report_json.c - the JSON report (MT_FORMAT_JSON), schema 1 of API.md.
 *
 *   {"memtally": {"version", "schema": 1},
 *    "global": {allocated, freed, current, peak, allocs, frees},
 *    "categories": {name: {parent, depth, allocated, freed, current, peak,
 *                          allocs, frees, blocks, total: {... the same with descendants}}},
 *    "sites": [{file, line, function, category, allocated, freed, current,
 *               peak, allocs, frees, blocks [, pc, module, offset]}]}
 *
 * Extra fields beyond the schema: "depth" and "blocks" (live blocks) for
 * categories and sites; for sites recorded by the preload library "pc"
 * (the calling address as a "0x..." string), "module" (the path of the
 * object holding it) and "offset" (pc minus the module's base, a number,
 * stable across runs unlike pc; `memtally run` symbolises with it). Categories come parents first,
 * siblings by name; sites in the order they first allocated. A site that
 * never handed out a block is left out. "parent" is null at the top,
 * "function" null when the site came from file:line only, "file" null when
 * unknown.
 *
 * Strings (category, file, function and module names, which may hold any
 * bytes): '"' and '\' are escaped, control bytes and DEL are written as
 * \u00XX, well-formed UTF-8 is copied as it is. A byte that is not part of
 * well-formed UTF-8 (0x80..0xFF) is written as the lone low surrogate
 * \udcXX, XX being the byte, as Python's "surrogateescape" error handler
 * does: the file stays valid UTF-8, and since no well-formed UTF-8 text
 * holds a surrogate, no other name reads the same ("x\xff" is "x\udcff",
 * "x\xc3\xbf" stays "x\xc3\xbf"). `memtally report` and `memtally diff`
 * turn such an escape back into the byte (tools/report_read.c); in Python,
 * json.load and then .encode("utf-8", "surrogateescape") do. Readers that
 * know nothing of it replace a lone surrogate by U+FFFD (json-c, jq) or
 * reject it (strict ones). \u00XX always means the character U+00XX, as
 * it did in reports of older versions, which wrote such a byte that way.
 */
#include <inttypes.h>
#include <stdio.h>

#include "internal.h"

static void put_string(FILE *out, const char *s) {
    static const char hex[] = "0123456789abcdef";
    if (!s) {
        fputs("null", out);
        return;
    }
    putc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t u;
        if (*p == '"' || *p == '\\') {
            putc('\\', out);
            putc(*p, out);
            p++;
        } else if (*p >= 0x20 && *p < 0x7f) {
            putc(*p, out);
            p++;
        } else if ((u = mt__utf8_len(p)) != 0) {
            fwrite(p, 1, u, out);
            p += u;
        } else {
            /* a control byte or DEL as its code point; a byte that is
             * not part of well-formed UTF-8 as U+DC80..U+DCFF */
            fprintf(out, "\\u%s%c%c", *p < 0x80 ? "00" : "dc", hex[*p >> 4], hex[*p & 15]);
            p++;
        }
    }
    putc('"', out);
}

static void put_stats(FILE *out, const mt_stats *s) {
    fprintf(out,
            "\"allocated\": %" PRIu64 ", \"freed\": %" PRIu64 ", \"current\": %" PRIu64 ", \"peak\": %" PRIu64
            ", \"allocs\": %" PRIu64 ", \"frees\": %" PRIu64,
            s->total_allocated, s->total_freed, s->current, s->peak, s->alloc_count, s->free_count);
}

int mt__report_json(FILE *out, const mt__view *v) {
    fprintf(out, "{\n  \"memtally\": {\"version\": ");
    put_string(out, mt_version());
    fputs(", \"schema\": 1},\n  \"global\": {", out);
    put_stats(out, &v->global);
    fputs("},\n  \"categories\": {", out);
    for (size_t i = 0; i < v->ncats; i++) {
        const mt__cat_view *c = &v->cats[i];
        fputs(i ? ",\n    " : "\n    ", out);
        put_string(out, c->name);
        fputs(": {\"parent\": ", out);
        put_string(out, c->parent);
        fprintf(out, ", \"depth\": %d, ", c->depth);
        put_stats(out, &c->self);
        fprintf(out, ", \"blocks\": %" PRIu64 ",\n      \"total\": {", c->self.alloc_count - c->self.free_count);
        put_stats(out, &c->total);
        fprintf(out, ", \"blocks\": %" PRIu64 "}}", c->total.alloc_count - c->total.free_count);
    }
    fputs(v->ncats ? "\n  },\n  \"sites\": [" : "},\n  \"sites\": [", out);
    size_t shown = 0;
    for (size_t i = 0; i < v->nsites; i++) {
        const mt__site_view *s = &v->sites[i];
        if (s->stats.alloc_count == 0) continue;
        fputs(shown++ ? ",\n    {\"file\": " : "\n    {\"file\": ", out);
        put_string(out, s->file);
        fprintf(out, ", \"line\": %d, \"function\": ", s->line);
        put_string(out, s->function);
        fputs(", \"category\": ", out);
        put_string(out, s->category);
        fputs(", ", out);
        put_stats(out, &s->stats);
        fprintf(out, ", \"blocks\": %" PRIu64, s->stats.alloc_count - s->stats.free_count);
        if (s->pc) fprintf(out, ", \"pc\": \"0x%" PRIxPTR "\"", (uintptr_t)s->pc);
        if (s->module) {
            fputs(", \"module\": ", out);
            put_string(out, s->module);
            fprintf(out, ", \"offset\": %" PRIuPTR, s->offset);
        }
        putc('}', out);
    }
    fputs(shown ? "\n  ]\n}\n" : "]\n}\n", out);
    return ferror(out) ? -1 : 0;
}
