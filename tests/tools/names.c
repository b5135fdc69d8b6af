/*
 * names.c - allocations under category and file names holding bytes that
 * are not UTF-8, next to names that read the same if such a byte is taken
 * as Latin-1: "x\xff" and "x\xc3\xbf" ("xÿ", 0xFF as Latin-1 in UTF-8),
 * "f\xff.c" and "f\xc3\xbf.c". Links the shared libmemtally, so under
 * `memtally run` its categories are those of the preload library.
 *
 *   names [REPORT.json [REPORT.txt]]   writes the reports while the blocks
 *                                      are live, then frees them
 */
#include <stdio.h>

#include <memtally.h>

int main(int argc, char **argv) {
    void *p[4] = {
        mt_alloc(1, "x\xff", "f\xff.c", 1),
        mt_alloc(2, "x\xc3\xbf", "f\xc3\xbf.c", 2),
        mt_alloc(4, "p\xfe::c\x80", "f.c", 3),
        mt_alloc(8, "p\xc3\xbe::c\xc2\x80", "f.c", 4),
    };
    int rc = 0;
    if (argc > 1 && mt_report_file(argv[1], MT_FORMAT_JSON) != 0) rc = 1;
    if (argc > 2 && mt_report_file(argv[2], MT_FORMAT_TEXT) != 0) rc = 1;
    if (rc) perror("names: mt_report_file");
    for (int i = 0; i < 4; i++) mt_free(p[i]);
    return rc;
}
