/*
 * leak_checker.c - the seed's MemoryLeakChecker::CheckForLeaks in C.
 *
 * A small network session keeps some packets and a config string. Before
 * exiting, check_for_leaks() asks memtally how many bytes are still live;
 * when there are any, mt_leak_check(stderr) lists them by category and by
 * allocation site, and the program exits with status 1 so a CI job fails.
 *
 *   leak_checker          leaks two packets and the config string: status 1
 *   leak_checker --fixed  releases everything: status 0
 *
 * The same check runs at exit without any code when MEMTALLY_LEAK_CHECK=1
 * is set in the environment.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <memtally.h>

#define PACKET_SIZE 1500
#define PACKETS 3

typedef struct session {
    unsigned char *packets[PACKETS];
    char *config;
} session;

static void session_open(session *s)
{
    for (int i = 0; i < PACKETS; i++)
        s->packets[i] = MT_ALLOC(PACKET_SIZE, "Network::Packets");
    s->config = MT_STRDUP("render.vsync=on", "Config::Strings");
}

/* The buggy close releases only the first packet. */
static void session_close(session *s, int fixed)
{
    MT_FREE(s->packets[0]);
    if (fixed) {
        for (int i = 1; i < PACKETS; i++)
            MT_FREE(s->packets[i]);
        MT_FREE(s->config);
    }
}

/* Returns the leaked bytes. */
static uint64_t check_for_leaks(void)
{
    mt_stats g = mt_global_stats();
    uint64_t leaked = g.total_allocated - g.total_freed;
    if (leaked == 0) {
        printf("no memory leaks detected\n");
        return 0;
    }
    printf("memory leak detected: %" PRIu64 " bytes in %" PRIu64 " blocks\n", leaked,
           g.alloc_count - g.free_count);
    fflush(stdout);
    mt_leak_check(stderr); /* by category and by site, on stderr */
    return leaked;
}

int main(int argc, char **argv)
{
    int fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
    mt_init();

    session s;
    session_open(&s);
    session_close(&s, fixed);

    return check_for_leaks() == 0 ? 0 : 1;
}
