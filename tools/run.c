/*
 * run.c - `memtally run [-o FILE] [--leak-check] [--stack-depth N] -- PROGRAM ARGS...`
 *
 * Starts PROGRAM with libmemtally_preload.so in LD_PRELOAD, MEMTALLY_REPORT
 * pointing at a JSON file in a private temporary directory and MEMTALLY_PID
 * naming the program's process as the one that reports,
 * leaves its stdin, stdout and stderr alone, forwards SIGINT, SIGTERM, SIGHUP
 * and SIGQUIT sent to memtally (unless memtally was started with them
 * ignored, which the program then is too), and waits. Then it reads the report the
 * program wrote at exit, names every site's function (and file:line) with
 * symbolize.c, writes the final report and exits with the program's status
 * (128 + signal when a signal killed it, as a shell does).
 *
 * With --follow (MEMTALLY_FOLLOW=1) the program's children report too, each
 * to the output name with ".<pid>" before the extension.
 *
 * With --leak-check it prints the leak report to stderr itself, after
 * symbolising, and exits 23 when the program exited 0 but left memory
 * behind. The program is not given MEMTALLY_LEAK_CHECK: its own leak report
 * could only name raw addresses.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tool.h"

typedef struct run_opts {
    const char *output;   /* -o, or NULL for memtally.<pid>.json */
    bool leak_check;
    bool follow;          /* reports of child processes too */
    const char *stack_depth;
    char **program;       /* NULL-terminated */
} run_opts;

static volatile sig_atomic_t child_pid;

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NFORWARDED (sizeof forwarded / sizeof *forwarded)
/* What memtally was started with: a signal its caller ignores (nohup, a
 * shell's background job) is neither caught nor passed on, and the program
 * starts with every one of them as memtally did. */
static struct sigaction inherited[NFORWARDED];

/* A signal another process sent to memtally goes on to the program. One the
 * terminal sent (si_code SI_KERNEL) already reached the program, which is
 * in memtally's process group, so it is not sent twice. */
static void forward(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    pid_t pid = child_pid;
    if (pid > 0 && info && info->si_code <= 0) kill(pid, sig);
}

static int usage_error(const char *fmt, const char *arg) {
    fputs("memtally: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    mt__usage(stderr);
    return MT_EXIT_USAGE;
}

static int parse(int argc, char **argv, run_opts *o) {
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0') break;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (++i == argc) return usage_error("%s needs a file name", a);
            o->output = argv[i];
        } else if (strncmp(a, "--output=", 9) == 0) {
            o->output = a + 9;
        } else if (strncmp(a, "-o", 2) == 0) {
            o->output = a + 2;
        } else if (strcmp(a, "--leak-check") == 0) {
            o->leak_check = true;
        } else if (strcmp(a, "--follow") == 0) {
            o->follow = true;
        } else if (strcmp(a, "--stack-depth") == 0 || strncmp(a, "--stack-depth=", 14) == 0) {
            if (a[13] == '=') o->stack_depth = a + 14;
            else if (++i == argc) return usage_error("%s needs a number", a);
            else o->stack_depth = argv[i];
            char *end;
            long n = strtol(o->stack_depth, &end, 10);
            if (*o->stack_depth == '\0' || *end || n < 1 || n > 64)
                return usage_error("--stack-depth wants a number from 1 to 64, not \"%s\"", o->stack_depth);
        } else if (mt__is_help(a)) {
            mt__usage(stdout);
            return 0;
        } else {
            return usage_error("run: unknown option %s", a);
        }
    }
    if (i >= argc) return usage_error("run: no program given%s", "");
    if (o->output && !*o->output) return usage_error("run: empty output file name%s", "");
    o->program = argv + i;
    return -1;
}

/* The file execvp will run, as an absolute path, for symbolisation. */
static char *resolve_program(const char *name) {
    char buf[PATH_MAX];
    if (strchr(name, '/')) return realpath(name, buf) ? strdup(buf) : NULL;
    const char *path = getenv("PATH");
    if (!path) path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;;) {
        size_t n = strcspn(p, ":");
        char cand[PATH_MAX];
        snprintf(cand, sizeof cand, "%.*s%s%s", (int)n, p, n ? "/" : "", name);
        if (access(cand, X_OK) == 0 && realpath(cand, buf)) return strdup(buf);
        if (!p[n]) break;
        p += n + 1;
    }
    return NULL;
}

/* A boolean variable read as the library reads it; a value that is
 * neither is named, and counts as off. */
static bool env_true(const char *name) {
    const char *v = getenv(name);
    if (!v) return false;
    int b = mt__parse_bool(v);
    if (b < 0) fprintf(stderr, "memtally: ignoring %s=%s (not 1, yes, on, true, 0, no, off or false)\n", name, v);
    return b == 1;
}

static int setup_env(const char *preload, const char *report, const run_opts *o) {
    const char *old = getenv("LD_PRELOAD");
    size_t n = strlen(preload) + (old ? strlen(old) : 0) + 2;
    char *ld = malloc(n);
    if (!ld) return -1;
    snprintf(ld, n, "%s%s%s", preload, old && *old ? ":" : "", old && *old ? old : "");
    int rc = setenv("LD_PRELOAD", ld, 1);
    free(ld);
    if (rc || setenv("MEMTALLY_REPORT", report, 1) || unsetenv("MEMTALLY_LEAK_CHECK")) return -1;
    /* symbolize.c names the sites: the program need not search symbols */
    if (setenv("MEMTALLY_NAMES", "later", 1)) return -1;
    if (o->follow ? setenv("MEMTALLY_FOLLOW", "1", 1) : unsetenv("MEMTALLY_FOLLOW")) return -1;
    if (o->stack_depth && setenv("MEMTALLY_STACK_DEPTH", o->stack_depth, 1)) return -1;
    return 0;
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The report's name: -o (or MEMTALLY_REPORT), else memtally.<pid>.json in
 * buf, pid being the program's. */
static const char *output_name(const run_opts *o, long pid, char *buf, size_t cap) {
    if (o->output) return o->output;
    snprintf(buf, cap, "memtally.%ld.json", pid);
    return buf;
}

/* With --follow, in the program's process before exec: where a process
 * still running after the program has exited (memtally has then moved its
 * temporary directory away) writes its own report, by the same name as
 * memtally would have given it ("<out>.<pid>.json"), as an absolute path. */
static void set_follow_out(const run_opts *o) {
    char defname[64], cwd[PATH_MAX], abs[2 * PATH_MAX + 2];
    const char *out = output_name(o, (long)getpid(), defname, sizeof defname);
    /* -o /dev/stdout: a late child's stdout is not memtally's (it may be a
     * pipe into another program), so its report goes to the default name */
    if (mt__path_descriptor(out) >= 0) out = output_name(&(run_opts){0}, (long)getpid(), defname, sizeof defname);
    if (out[0] == '/' || !getcwd(cwd, sizeof cwd)) snprintf(abs, sizeof abs, "%s", out);
    else snprintf(abs, sizeof abs, "%s/%s", cwd, out);
    setenv("MEMTALLY_FOLLOW_OUT", abs, 1);
}

/* Forks and execs; returns the child's pid, or -1 after a message (exec
 * errors travel back through a close-on-exec pipe). *status gets the exit
 * status to use when exec failed. */
static pid_t start(const run_opts *o, int *status) {
    char **program = o->program;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        fprintf(stderr, "memtally: pipe: %s\n", strerror(errno));
        *status = MT_EXIT_USAGE;
        return -1;
    }
    sigset_t block, old;
    sigemptyset(&block);
    for (size_t i = 0; i < NFORWARDED; i++) sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, &old);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < NFORWARDED; i++) sigaction(forwarded[i], &inherited[i], NULL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(pfd[0]);
        /* the preload library writes the report only in the process with
         * this pid, so the program's own children never overwrite it
         * (memtally is single-threaded: setenv is safe after fork) */
        char pid[32];
        snprintf(pid, sizeof pid, "%ld", (long)getpid());
        setenv("MEMTALLY_PID", pid, 1);
        if (o->follow) set_follow_out(o);
        for (int fd = 0; fd <= 2; fd++) /* as memtally found them */
            if (mt__std_closed & (1u << fd)) close(fd);
        execvp(program[0], program);
        int e = errno;
        ssize_t w = write(pfd[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    if (pid > 0) child_pid = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(pfd[1]);
    if (pid < 0) {
        fprintf(stderr, "memtally: fork: %s\n", strerror(errno));
        close(pfd[0]);
        *status = MT_EXIT_USAGE;
        return -1;
    }
    int e = 0;
    ssize_t got;
    do got = read(pfd[0], &e, sizeof e);
    while (got < 0 && errno == EINTR);
    close(pfd[0]);
    if (got == (ssize_t)sizeof e) {
        fprintf(stderr, "memtally: cannot run %s: %s\n", program[0], strerror(e));
        child_pid = 0; /* before reaping: its pid must not be signalled once reused */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
        *status = (e == ENOENT || e == ENOTDIR) ? 127 : 126;
        return -1;
    }
    return pid;
}

/* Waits for the program without reaping it first, so that child_pid is
 * cleared before the pid can be reused and a late signal cannot reach
 * another process. Returns the shell-style exit status. */
static int wait_program(pid_t pid, char *how, size_t howcap) {
    siginfo_t info;
    for (;;) {
        memset(&info, 0, sizeof info);
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) == 0) break;
        if (errno != EINTR) break;
    }
    sigset_t block, old;
    sigemptyset(&block);
    for (size_t i = 0; i < NFORWARDED; i++) sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, &old);
    child_pid = 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (WIFSIGNALED(st)) {
        snprintf(how, howcap, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
        return 128 + WTERMSIG(st);
    }
    snprintf(how, howcap, "exited with status %d", WEXITSTATUS(st));
    return WEXITSTATUS(st);
}

/* "memtally.json" -> "memtally.<pid>.json", "out" -> "out.<pid>": the
 * name the preload library gives a child's report, applied to ours. */
static void name_for_pid(const char *out, const char *pid, char *buf, size_t cap) {
    const char *slash = strrchr(out, '/');
    const char *base = slash ? slash + 1 : out;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) dot = out + strlen(out);
    snprintf(buf, cap, "%.*s.%s%s", (int)(dot - out), out, pid, dot);
}

/* Symbolises the report at path and writes it to out; 0, 1 when out is a
 * pipe nobody reads any more, or -1 after a message. live gets the number
 * of blocks still allocated (a leak may be of 0-byte blocks). */
static int finish_report(const char *path, const char *out, mt__sym *sym, bool leak_check, uint64_t *live) {
    mt__rpt r;
    if (mt__rpt_load(path, &r) != 0) return -1;
    if (sym) mt__sym_report(sym, &r);
    int rc = 0;
    if (mt__rpt_write(&r, out) != 0) {
        /* a pipe whose reader is gone (memtally run -o /dev/stdout ... | head)
         * is not worth a message, nor a status of memtally's own */
        if (errno == EPIPE) rc = 1;
        else {
            fprintf(stderr, "memtally: cannot write %s: %s\n", out, strerror(errno));
            rc = -1;
        }
    }
    *live = r.global.alloc_count - r.global.free_count;
    if (leak_check) {
        fflush(stderr);
        mt__rpt_leaks(stderr, &r);
    }
    mt__rpt_free(&r);
    return rc;
}

/* With --follow: the reports child processes wrote beside ours
 * ("report.<pid>.json"), each written next to the main one. */
static void finish_children(const char *dir, const char *out, mt__sym *sym) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, "report.", 7) != 0) continue;
        size_t digits = strspn(n + 7, "0123456789");
        if (digits == 0 || strcmp(n + 7 + digits, ".json") != 0) continue;
        char pid[32], path[PATH_MAX + 300], name[PATH_MAX + 64];
        snprintf(pid, sizeof pid, "%.*s", (int)(digits < 31 ? digits : 31), n + 7);
        snprintf(path, sizeof path, "%s/%s", dir, n);
        if (mt__path_descriptor(out) >= 0) snprintf(name, sizeof name, "%s", out); /* all to that descriptor */
        else name_for_pid(out, pid, name, sizeof name);
        uint64_t live;
        if (finish_report(path, name, sym, false, &live) == 0)
            fprintf(stderr, "memtally: report of process %s written to %s\n", pid, name);
    }
    closedir(d);
}

/* With --follow, once the program has exited: moves the temporary
 * directory to a new name before its reports are read. A process still
 * running writes its report to MEMTALLY_FOLLOW_OUT itself when it finds the
 * directory gone (on any failure to create or rename its file there), so
 * every child's report is either in the moved directory, read by memtally,
 * or written by its process: none lands where nobody reads it. dir gets the
 * new name; false (dir unchanged) when it could not be moved. */
static bool close_dir(char *dir, size_t cap) {
    char moved[PATH_MAX];
    const char *slash = strrchr(dir, '/'); /* dir is "<tmp>/memtally.XXXXXX" */
    snprintf(moved, sizeof moved, "%.*s/memtally.XXXXXX", (int)(slash - dir), dir);
    if (!mkdtemp(moved)) return false;
    if (rename(dir, moved) != 0) { /* onto the empty directory: atomic */
        rmdir(moved);
        return false;
    }
    snprintf(dir, cap, "%s", moved);
    return true;
}

static int post_process(const run_opts *o, const char *dir, const char *report, const char *program, pid_t pid,
                        int status, const char *how) {
    struct stat sb;
    char defname[64];
    const char *out = output_name(o, (long)pid, defname, sizeof defname);
    mt__sym *sym = mt__sym_new(program);
    int rc = status;
    if (stat(report, &sb) != 0) {
        if (strncmp(how, "killed by signal", 16) == 0)
            fprintf(stderr, "memtally: %s %s and wrote no report (a process killed by a signal cannot write one)\n",
                    o->program[0], how);
        else
            fprintf(stderr,
                    "memtally: %s %s and wrote no report (a static program, or one that did not reach exit, "
                    "cannot be tracked)\n",
                    o->program[0], how);
        if (o->leak_check && status == 0) rc = MT_EXIT_USAGE;
    } else {
        uint64_t live = 0;
        int written = finish_report(report, out, sym, o->leak_check, &live);
        if (written < 0) {
            if (rc == 0) rc = MT_EXIT_USAGE;
        } else {
            if (written == 0 && !o->output) fprintf(stderr, "memtally: report written to %s\n", out);
            if (o->leak_check && live > 0 && status == 0) rc = MT_EXIT_LEAK;
        }
    }
    if (o->follow) finish_children(dir, out, sym);
    mt__sym_free(sym);
    return rc;
}

/* Whether the report can be written where it is going: checked before
 * the program runs, so that a long run does not end in a lost report
 * (the rules of src/outfile.c, which writes it). */
static bool output_ok(const char *out) {
    if (mt__outfile_check(out) == 0) return true;
    fprintf(stderr, "memtally: cannot write %s: %s\n", out, strerror(errno));
    return false;
}

int mt__cmd_run(int argc, char **argv) {
    run_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    if (env_true("MEMTALLY_LEAK_CHECK")) o.leak_check = true;
    if (env_true("MEMTALLY_FOLLOW")) o.follow = true;
    /* MEMTALLY_REPORT names the report when -o does not (the program
     * itself is given memtally's temporary file under that name) */
    char *env_output = NULL;
    const char *env_report = getenv("MEMTALLY_REPORT");
    if (!o.output && env_report && *env_report) {
        env_output = strdup(env_report);
        if (!env_output) return MT_EXIT_USAGE;
        o.output = env_output;
    }
    if (!output_ok(o.output ? o.output : "memtally.json")) {
        free(env_output);
        return MT_EXIT_USAGE;
    }

    const char *preload = mt__preload_path();
    if (!preload) {
        free(env_output);
        return MT_EXIT_USAGE;
    }

    const char *tmp = getenv("TMPDIR");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/memtally.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "memtally: cannot make a temporary directory in %s: %s\n",
                tmp && *tmp ? tmp : "/tmp", strerror(errno));
        free(env_output);
        return MT_EXIT_USAGE;
    }
    char absdir[PATH_MAX], report[PATH_MAX + 16];
    snprintf(report, sizeof report, "%s/report.json", realpath(dir, absdir) ? absdir : dir);
    char *program = resolve_program(o.program[0]);

    if (setup_env(preload, report, &o) != 0) {
        fprintf(stderr, "memtally: cannot set the environment: %s\n", strerror(errno));
        remove_dir(dir);
        free(program);
        free(env_output);
        return MT_EXIT_USAGE;
    }
    struct sigaction sa = {.sa_sigaction = forward, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFORWARDED; i++) {
        sigaction(forwarded[i], NULL, &inherited[i]);
        if (inherited[i].sa_handler != SIG_IGN) sigaction(forwarded[i], &sa, NULL);
    }

    int status = 0;
    pid_t pid = start(&o, &status);
    if (pid > 0) {
        /* set after fork, so the program keeps the default: a closed pipe on
         * our stderr must not kill memtally before it exits with the
         * program's status */
        signal(SIGPIPE, SIG_IGN);
        char how[128];
        status = wait_program(pid, how, sizeof how);
        if (o.follow && close_dir(dir, sizeof dir)) snprintf(report, sizeof report, "%s/report.json", dir);
        status = post_process(&o, dir, report, program, pid, status, how);
    }
    remove_dir(dir);
    free(program);
    free(env_output);
    return status;
}
