/*
 * report_write.c - writes a loaded (and possibly symbolised) report to a
 * file: JSON when the name ends in ".json", text otherwise. A file is
 * written beside its final name and renamed into place, so a reader never
 * sees half a report (src/outfile.c; a device such as /dev/null is written
 * in place).
 */
#include <errno.h>
#include <string.h>

#include "tool.h"

static bool is_json_name(const char *path) {
    size_t n = strlen(path);
    return n >= 5 && strcmp(path + n - 5, ".json") == 0;
}

int mt__rpt_write(const mt__rpt *r, const char *path) {
    mt__outfile o;
    if (mt__outfile_open(&o, path) != 0) return -1;
    int rc;
    errno = 0;
    if (is_json_name(path)) {
        const char *text = json_object_to_json_string_ext(
            r->root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        rc = text && fputs(text, o.f) >= 0 && fputc('\n', o.f) != EOF ? 0 : -1;
    } else {
        rc = mt__rpt_text(o.f, r);
    }
    return mt__outfile_close(&o, rc == 0);
}
