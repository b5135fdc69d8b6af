/*
 * passthru.c - copies stdin to stdout byte for byte, writes one line to
 * stderr, frees everything it allocates, then:
 *   passthru STATUS     exits with STATUS
 *   passthru kill SIG   kills itself with signal SIG
 *   passthru wait       prints "ready", waits for SIGTERM, prints
 *                       "got SIGTERM" and exits 7
 *   passthru empty      only leaves one 0-byte block allocated, exits 0
 *   passthru held       a thread blocks reading stdin (holding its lock)
 *                       while main prints "exiting" and calls exit(0)
 *   passthru data FILE  opens FILE (descriptor 2 when stderr is closed),
 *                       writes "DATA" to it, frees a block twice, exits 0
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
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

static char held_buf[1 << 16];

static void *held_reader(void *arg) {
    (void)arg;
    size_t n = fread(held_buf, 1, sizeof held_buf, stdin); /* never returns: stdin stays open */
    (void)n;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "data") == 0) {
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, "DATA\n", 5) != 5) return 1;
        char *p = malloc(10);
        passthru_sink = p;
        free(p);
        free(passthru_sink); /* a bad free: memtally's message must not go into FILE */
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "held") == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, held_reader, NULL) != 0) return 1;
        usleep(200 * 1000);
        printf("exiting\n");
        exit(0);
    }
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
