/*
 * tool.h - declarations shared by the files of the `memtally` command.
 *
 * How the pieces fit:
 *   memtally.c      main: sub-command dispatch, usage text
 *   run.c           `memtally run`: start the program under the preload
 *                   library, forward signals, wait, post-process the report
 *   preload_path.c  where libmemtally_preload.so is (override, build tree, install)
 *   report_read.c   loads and checks a JSON report (schema 1) with json-c
 *   report_write.c  writes a loaded report back: JSON or text, whole file or nothing
 *   report_view.c   the text report and the leak report: a loaded report shown
 *                   through the library's own writers
 *   symbolize.c     module + offset -> function, file:line with elfutils libdwfl
 *   diff.c          `memtally diff`
 *
 * The command links the static library only for its report writers
 * (src/report_text.c, src/leak.c), so a report looks the same whoever
 * prints it. Names that cross files start with mt__ and a part name
 * (mt__rpt_, mt__sym_, mt__cmd_) so they never meet the library's own.
 */
#ifndef MT_TOOL_H
#define MT_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "internal.h"

/* Exit status for usage errors and unreadable reports. */
#define MT_EXIT_USAGE 2
/* Exit status of `memtally run --leak-check` when a program exiting 0 leaked. */
#define MT_EXIT_LEAK 23

/* ---- a loaded report (report_read.c) ---------------------------------- */

typedef struct mt__rpt_cat {
    const char *name;   /* full name, "Renderer::Textures" */
    const char *parent; /* NULL at the top */
    int depth;          /* 0 at the top */
    mt_stats self;
    mt_stats total;
} mt__rpt_cat;

typedef struct mt__rpt_site {
    const char *file;     /* NULL when unknown */
    int line;
    const char *function; /* NULL when unknown */
    const char *category;
    const char *module;   /* optional "module": path of the calling module */
    uint64_t offset;      /* optional "offset": pc - module load address */
    bool has_offset;
    mt_stats stats;
    json_object *obj;     /* this site inside the report's JSON tree */
} mt__rpt_site;

typedef struct mt__rpt {
    const char *path;     /* where it was read from, for messages */
    json_object *root;    /* owns every string below */
    mt_stats global;
    size_t ncats;
    mt__rpt_cat *cats;    /* tree order: parents first, siblings by name */
    size_t nsites;
    mt__rpt_site *sites;  /* file order */
} mt__rpt;

/* Reads a schema-1 JSON report. 0 on success; -1 after printing one
 * "memtally: PATH: ..." line to stderr (unreadable, not JSON, wrong schema,
 * missing or mistyped field). */
int mt__rpt_load(const char *path, mt__rpt *out);
void mt__rpt_free(mt__rpt *r);
/* Sets a site's function and, when file is not NULL, its file and line, in
 * both the JSON tree and the struct. The previous function text, if any and
 * different, is kept as "address" in the JSON. */
void mt__rpt_site_update(mt__rpt_site *s, const char *function, const char *file, int line);

/* ---- writing (report_write.c, report_view.c) -------------------------- */

/* Writes r to path: JSON when the name ends in ".json", text otherwise.
 * Whole file or nothing (written beside it, then renamed). 0 or -1 with
 * errno set. */
int mt__rpt_write(const mt__rpt *r, const char *path);
/* The text report (the library's mt__report_text). */
int mt__rpt_text(FILE *out, const mt__rpt *r);
/* The leak report (the library's mt__leak_write); returns the live bytes. */
uint64_t mt__rpt_leaks(FILE *out, const mt__rpt *r);
/* Writes s escaped as the text reports show names (\xNN, \\). */
void mt__rpt_put_escaped(FILE *out, const char *s);

/* ---- symbolisation (symbolize.c) -------------------------------------- */

typedef struct mt__sym mt__sym;

/* program: path of the executable that was run (used when a site names the
 * main program only by its base name); may be NULL. */
mt__sym *mt__sym_new(const char *program);
void mt__sym_free(mt__sym *s);
/* Looks up a return address given as (module path, offset from the
 * module's load address). 0 when at least the function was found; results
 * live as long as s. *file is NULL when there is no line information. */
int mt__sym_lookup(mt__sym *s, const char *module, uint64_t offset,
                   const char **function, const char **file, int *line);
/* Fills function and file:line for every site of r that carries a module and
 * offset (or a "module+0xOFF" function the module of which can be found).
 * Returns the number of sites resolved. */
size_t mt__sym_report(mt__sym *s, mt__rpt *r);

/* ---- where the preload library is (preload_path.c) ------------------- */

/* Path of libmemtally_preload.so, or NULL after printing where it looked. */
const char *mt__preload_path(void);

/* ---- sub-commands ----------------------------------------------------- */

int mt__cmd_run(int argc, char **argv);
int mt__cmd_report(int argc, char **argv);
int mt__cmd_diff(int argc, char **argv);
void mt__usage(FILE *out);
bool mt__is_help(const char *arg); /* -h or --help */


#endif /* MT_TOOL_H */
