/*
 * report_write.c - writes a loaded (and possibly symbolised) report to a
 * file: JSON when the name ends in ".json", text otherwise. A file is
 * written beside its final name and renamed into place, so a reader never
 * sees half a report (src/outfile.c; a device such as /dev/null is written
 * in place).
 *
 * JSON is written by json-c, which copies the bytes of a string as they
 * are, and a name may hold bytes that are not UTF-8 (report_read.c turns
 * the library's \udcXX escapes back into them; symbols and DWARF file names
 * may hold them too). put_json() writes each such byte as \udcXX, as the
 * library's own writer does (src/report_json.c), so the file stays valid
 * JSON and reads back with the same names.
 */
#include <errno.h>
#include <string.h>

#include "tool.h"

/* Writes json-c's text with each byte that is not part of well-formed
 * UTF-8 as \udcXX. Outside strings json-c writes ASCII only, so such a
 * byte is always inside one. 0, or -1 on a write error. */
static int put_json(FILE *f, const char *text) {
    const unsigned char *p = (const unsigned char *)text, *run = p;
    for (;;) {
        size_t u = *p < 0x80 ? 1 : mt__utf8_len(p);
        if (*p && u) {
            p += u;
            continue;
        }
        /* the end, or a byte to escape: first what comes before it */
        if (p > run && fwrite(run, 1, (size_t)(p - run), f) != (size_t)(p - run)) return -1;
        if (!*p) return 0;
        if (fprintf(f, "\\udc%02x", *p) < 0) return -1;
        run = ++p;
    }
}

int mt__rpt_write(const mt__rpt *r, const char *path) {
    mt__outfile o;
    if (mt__outfile_open(&o, path) != 0) return -1;
    int rc;
    errno = 0;
    if (mt__format_for(path) == MT_FORMAT_JSON) {
        const char *text = json_object_to_json_string_ext(
            r->root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        rc = text && put_json(o.f, text) == 0 && fputc('\n', o.f) != EOF ? 0 : -1;
    } else {
        rc = mt__rpt_text(o.f, r);
    }
    return mt__outfile_close(&o, rc == 0);
}
