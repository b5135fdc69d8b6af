/*
 * memtally.c - the `memtally` command: sub-command dispatch and usage.
 *
 *   memtally run [-o FILE] [--leak-check] [--stack-depth N] [--follow] -- PROGRAM [ARGS...]
 *   memtally report FILE.json
 *   memtally diff BEFORE.json AFTER.json
 *
 * Exit status: `run` exits with the program's status (see run.c); usage
 * errors and unreadable reports exit 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

void mt__usage(FILE *out) {
    fputs("usage: memtally run [-o FILE] [--leak-check] [--stack-depth N] [--follow] -- PROGRAM [ARGS...]\n"
          "       memtally report FILE.json\n"
          "       memtally diff BEFORE.json AFTER.json\n"
          "\n"
          "run      runs PROGRAM with every malloc-family call tracked (libmemtally_preload.so),\n"
          "         then writes the report: JSON when FILE ends in .json, text otherwise\n"
          "         (default $MEMTALLY_REPORT, else memtally.<pid>.json). Exits with the\n"
          "         program's status; a report that cannot be written stops it before it starts.\n"
          "  -o FILE            where to write the report\n"
          "  --leak-check       print the memory still live at exit to stderr; exit 23\n"
          "                     when the program exited 0 but left memory behind\n"
          "  --stack-depth N    attribute each allocation to the first of N callers that\n"
          "                     is not an allocation wrapper (MEMTALLY_STACK_DEPTH)\n"
          "  --follow           processes the program starts report too, to FILE with\n"
          "                     .<pid> before the extension (MEMTALLY_FOLLOW)\n"
          "report   prints a JSON report as text\n"
          "diff     prints what changed per category and per site between two JSON reports\n"
          "\n"
          "Environment: MEMTALLY_PRELOAD (path of libmemtally_preload.so), MEMTALLY_LARGE,\n"
          "MEMTALLY_LEAK_CHECK=1 (same as --leak-check), MEMTALLY_UNWIND=libgcc|check\n"
          "(the stack walker for --stack-depth 2 and more; check compares it with libgcc's).\n",
          out);
}

bool mt__is_help(const char *arg) { return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0; }

int mt__cmd_report(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "memtally: report needs one report file\n");
        mt__usage(stderr);
        return MT_EXIT_USAGE;
    }
    if (mt__std_closed & 2) { /* /dev/null stands in for it */
        fprintf(stderr, "memtally: cannot write the report to standard output: %s\n", strerror(EBADF));
        return MT_EXIT_USAGE;
    }
    mt__rpt r;
    if (mt__rpt_load(argv[1], &r) != 0) return MT_EXIT_USAGE;
    int rc = mt__rpt_text(stdout, &r);
    mt__rpt_free(&r);
    if (rc != 0 || fflush(stdout) != 0) {
        fprintf(stderr, "memtally: cannot write the report to standard output: %s\n", strerror(errno));
        return MT_EXIT_USAGE;
    }
    return 0;
}

int main(int argc, char **argv) {
    /* a closed standard descriptor would be taken by the first file memtally
     * opens, and "-o /dev/stdout" would then write into that file: it holds
     * /dev/null while memtally runs (run.c closes it again for the program) */
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0) continue;
        if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd) {
            const char msg[] = "memtally: cannot open /dev/null for a closed standard descriptor\n";
            ssize_t w = write(2, msg, sizeof msg - 1);
            (void)w;
            return MT_EXIT_USAGE;
        }
        mt__std_closed |= 1u << fd;
    }
    if (argc < 2) {
        mt__usage(stderr);
        return MT_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    bool file_cmd = strcmp(cmd, "report") == 0 || strcmp(cmd, "diff") == 0;
    /* `report -- FILE`: what follows "--" is a file name, even "--help" */
    bool dashdash = file_cmd && argc >= 3 && strcmp(argv[2], "--") == 0;
    if (dashdash) {
        argv[2] = argv[1];
        argv++;
        argc--;
    }
    if (mt__is_help(cmd) || strcmp(cmd, "help") == 0 || (file_cmd && !dashdash && argc == 3 && mt__is_help(argv[2]))) {
        mt__usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0) return mt__cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0) return mt__cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "diff") == 0) return mt__cmd_diff(argc - 1, argv + 1);
    if (strcmp(cmd, "--version") == 0) {
        printf("memtally %d.%d.%d\n", MT_VERSION_MAJOR, MT_VERSION_MINOR, MT_VERSION_PATCH);
        return 0;
    }
    fprintf(stderr, "memtally: unknown command \"%s\"\n", cmd);
    mt__usage(stderr);
    return MT_EXIT_USAGE;
}
