/*
 * report_write.c - writes a loaded (and possibly symbolised) report to a
 * file: JSON when the name ends in ".json", text otherwise. The file is
 * written beside its final name and renamed into place, so a reader never
 * sees half a report.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"

static bool is_json_name(const char *path) {
    size_t n = strlen(path);
    return n >= 5 && strcmp(path + n - 5, ".json") == 0;
}

int mt__rpt_write(const mt__rpt *r, const char *path) {
    size_t n = strlen(path);
    char *tmp = malloc(n + 16);
    if (!tmp) return -1;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    /* mkstemp makes the file 0600; a report is an ordinary file */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        errno = e;
        return -1;
    }
    int rc;
    if (is_json_name(path)) {
        const char *text = json_object_to_json_string_ext(
            r->root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        rc = text && fputs(text, f) >= 0 && fputc('\n', f) != EOF ? 0 : -1;
    } else {
        rc = mt__rpt_text(f, r);
    }
    int e = errno;
    if (fclose(f) != 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) unlink(tmp);
    free(tmp);
    errno = e;
    return rc;
}
