/*
 * lifecycle.c - mt_init, mt_shutdown and the at-exit actions.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

_Atomic int mt__initialized;
#ifdef MT_PRELOAD
bool mt__preload_mode = true; /* the shim runs the at-exit actions after __libc_freeres */
#else
bool mt__preload_mode;
#endif
uint64_t mt__secret = 0x5bd1e9955bd1e995ull;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result = -1;

/* The at-exit actions run once; a second caller waits until they are done
 * (mt_shutdown promises them done when it returns), except on the thread
 * running them (a log callback calling mt_shutdown). */
static pthread_mutex_t actions_lock = PTHREAD_MUTEX_INITIALIZER;
static bool actions_done;
static MT_TLS bool actions_running;

/* fork: a thread of the parent may have held the lock; the child starts it
 * afresh (if the actions were under way, actions_done is already set) */
static void actions_fork_child(void) {
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    memcpy(&actions_lock, &fresh, sizeof fresh);
}

const char *mt_version(void) { return "0.1.0"; }

/* The at-exit actions run from a destructor: _dl_fini runs it (and, in a
 * static program, exit's own list) after every atexit handler the program
 * registered, so blocks those handlers free are not reported as leaks, as
 * valgrind's "in use at exit" would not report them. Priority 101 makes it
 * the last destructor of a statically linked program too, after the
 * program's own. The preload library
 * runs the actions itself, after __libc_freeres. */
__attribute__((destructor(101))) static void at_exit_destructor(void) {
    if (!mt__preload_mode) mt__atexit_actions();
}

static void init_run(void) {
    mt__secret = mt__os_entropy() | 1; /* an odd multiplier */
    mt__options_read();
    if (mt__registry_init() != 0 || mt__counters_init() != 0) return; /* logged by mt_init */
    pthread_atfork(NULL, NULL, actions_fork_child);
    init_result = 0;
    atomic_store_explicit(&mt__initialized, 1, memory_order_release);
}

int mt_init(void) {
    pthread_once(&init_once, init_run);
    if (init_result != 0) {
        static _Atomic int logged;
        if (!atomic_exchange(&logged, 1)) mt__log(MT_LOG_ERROR, "cannot map memory for the registry; tracking is off");
        errno = ENOMEM;
        return -1;
    }
    mt__options_report_warnings();
    return 0;
}

void mt__atexit_actions(void) {
    if (actions_running) return;
    pthread_mutex_lock(&actions_lock);
    bool run = !actions_done && atomic_load(&mt__initialized);
    actions_done = true;
    if (run) {
        actions_running = true;
        if (mt__opt.leak_check && !mt__log_muted) mt_leak_check(stderr); /* muted: fd 2 is the program's file */
        if (mt__opt.report[0]) {
            const char *path = mt__opt.report;
            int rc = mt_report_file(path, mt__format_for(path));
            if (rc != 0 && errno == ENOENT && mt__opt.report_else[0]) {
                /* `memtally run --follow` took its directory away before this
                 * process got to write: the report goes where memtally would
                 * have put it, its sites named here (nobody will name them later) */
                if (mt__names_later) {
                    mt__names_later = false;
                    mt__site_names_forget(); /* the first try named them module+offset */
                }
                path = mt__opt.report_else;
                rc = mt_report_file(path, mt__format_for(path));
            }
            if (rc != 0) mt__log(MT_LOG_ERROR, "cannot write the report to %s: %s", path, strerror(errno));
        }
        actions_running = false;
    }
    pthread_mutex_unlock(&actions_lock);
}

void mt_shutdown(void) {
    if (mt_init() != 0) return;
    mt__atexit_actions();
}
