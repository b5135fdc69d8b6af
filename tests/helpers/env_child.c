/*
 * env_child.c - the program test_env runs with MEMTALLY_* variables set.
 * It allocates a known pattern, leaves some blocks live and exits; the
 * at-exit actions then write the leak report and the report file.
 *
 *   env_child            leaks 2 x 1000 in Leak::Textures and 500 in Leak::Audio
 *   env_child noleak     frees everything
 *   env_child shutdown   as the default, then calls mt_shutdown() and
 *                        allocates more (in After::Shutdown) before exiting
 *   env_child exit       as the default, leaving through exit(0) from a
 *                        function instead of returning from main
 */
#include <memtally.h>

#include <stdlib.h>
#include <string.h>

static void *g_keep[8];

static void pattern(int leak) {
    g_keep[0] = MT_ALLOC(1000, "Leak::Textures");
    g_keep[1] = MT_ALLOC(1000, "Leak::Textures");
    g_keep[2] = MT_ALLOC(500, "Leak::Audio");
    void *clean = MT_ALLOC(700, "Clean::Only");
    char *s = MT_STRDUP("temporary", "Clean::Only");
    MT_FREE(clean);
    MT_FREE(s);
    if (!leak)
        for (int i = 0; i < 3; i++) MT_FREE(g_keep[i]);
}

static void leave(void) { exit(0); }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    pattern(strcmp(mode, "noleak") != 0);
    if (strcmp(mode, "shutdown") == 0) {
        mt_shutdown();
        g_keep[3] = MT_ALLOC(333, "After::Shutdown");
        mt_shutdown(); /* once only */
    }
    if (strcmp(mode, "exit") == 0) leave();
    return 0;
}
