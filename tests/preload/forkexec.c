/*
 * forkexec.c - who writes the report when a tracked program forks and
 * execs. The parent allocates in fe_parent_work, forks a child that
 * allocates in fe_fork_child_work and calls exit(), and forks a child that
 * execs this program again ("child" mode: fe_exec_child_work, exit()).
 * After both children are gone the report must not exist yet: only the
 * parent, at its own exit, writes it (MEMTALLY_FOLLOW=1 gives each child
 * its own file instead). Prints the children's pids for the test script.
 *
 * usage: forkexec          the parent
 *        forkexec child    what the exec'd child runs
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "calls.h"
void *volatile fe_keep; /* live at exit; volatile: no tail call, no dropped store */

__attribute__((noinline)) void fe_parent_work(void) {
    for (int i = 0; i < 5; i++) f_free(f_malloc(1000));
    fe_keep = f_malloc(4242);
}

__attribute__((noinline)) void fe_fork_child_work(void) {
    for (int i = 0; i < 7; i++) f_free(f_malloc(2000));
    fe_keep = f_malloc(777);
}

__attribute__((noinline)) void fe_exec_child_work(void) {
    for (int i = 0; i < 9; i++) f_free(f_malloc(3000));
    fe_keep = f_malloc(999);
}

static int wait_ok(pid_t pid) {
    int st;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) {
        fe_exec_child_work();
        exit(0);
    }
    const char *report = getenv("MEMTALLY_REPORT");
    fe_parent_work();
    fflush(stdout);
    pid_t forked = fork();
    if (forked == 0) {
        fe_fork_child_work();
        exit(0);
    }
    pid_t execd = fork();
    if (execd == 0) {
        execl("/proc/self/exe", argv[0], "child", (char *)NULL);
        _exit(127);
    }
    int ok = wait_ok(forked) & wait_ok(execd);
    if (!ok) fprintf(stderr, "forkexec: a child failed\n");
    if (report && access(report, F_OK) == 0) {
        fprintf(stderr, "forkexec: a child wrote the report %s\n", report);
        ok = 0;
    }
    printf("fork_child=%ld exec_child=%ld parent=%ld\n", (long)forked, (long)execd, (long)getpid());
    return ok ? 0 : 1;
}
