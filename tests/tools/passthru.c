/*
 * passthru.c - copies stdin to stdout byte for byte, writes one line to
 * stderr, frees everything it allocates, then:
 *   passthru STATUS     exits with STATUS
 *   passthru kill SIG   kills itself with signal SIG
 *   passthru wait       prints "ready", waits for SIGTERM, prints
 *                       "got SIGTERM" and exits 7
 *   passthru empty      only leaves one 0-byte block allocated, exits 0
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got_term;
void *volatile passthru_sink; /* keeps the compiler from dropping a block */

static void on_term(int sig) {
    (void)sig;
    got_term = 1;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "empty") == 0) {
        passthru_sink = malloc(0); /* a leak of no bytes is still a leak */
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "wait") == 0) {
        signal(SIGTERM, on_term);
        printf("ready\n");
        fflush(stdout);
        for (int i = 0; i < 600 && !got_term; i++) usleep(100 * 1000);
        printf(got_term ? "got SIGTERM\n" : "no signal\n");
        return 7;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) break;
            buf = bigger;
            cap *= 2;
        }
    }
    if (buf) fwrite(buf, 1, n, stdout);
    free(buf);
    fprintf(stderr, "passthru: %zu bytes copied\n", n);
    fflush(stdout);
    if (argc > 2 && strcmp(argv[1], "kill") == 0) raise(atoi(argv[2]));
    return argc > 1 ? atoi(argv[1]) : 0;
}
