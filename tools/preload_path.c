/*
 * preload_path.c - finds libmemtally_preload.so for `memtally run`.
 *
 * Order:
 *   1. $MEMTALLY_PRELOAD, when set (a user's explicit choice wins);
 *   2. the build tree's library, when this memtally is the build tree's
 *      executable (so a developer always runs the shim built with it);
 *   3. the installed library: <prefix>/<libdir> relative to this executable
 *      (a relocated install), then the configured install path;
 *   4. the build tree's library again, for an installed memtally whose
 *      library was not installed.
 * The build and install paths are baked in by CMake (memtally_paths.h).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "memtally_paths.h"
#include "tool.h"

static char found[PATH_MAX];

static bool usable(const char *path) {
    return path && *path && access(path, R_OK) == 0;
}

static const char *take(const char *path) {
    size_t n = strlen(path);
    if (n >= sizeof found) return NULL;
    memcpy(found, path, n + 1);
    return found;
}

/* Whether path starts like a shared library: the dynamic loader refuses
 * anything else with a warning the program's output may bury, and the run
 * would end in "wrote no report". */
static bool is_elf(const char *path) {
    unsigned char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return got == sizeof magic && memcmp(magic, "\177ELF", 4) == 0;
}

const char *mt__preload_path(void) {
    const char *env = getenv("MEMTALLY_PRELOAD");
    if (env && *env) {
        if (!usable(env)) fprintf(stderr, "memtally: MEMTALLY_PRELOAD=%s: cannot read it\n", env);
        else if (!is_elf(env)) fprintf(stderr, "memtally: MEMTALLY_PRELOAD=%s: not a shared library\n", env);
        else return take(env);
        return NULL;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char build_exe[PATH_MAX];
    const char *be = realpath(MT_BUILD_EXE, build_exe);
    bool in_build_tree = n > 0 && be && strcmp(self, build_exe) == 0;
    if (in_build_tree && usable(MT_BUILD_PRELOAD)) return take(MT_BUILD_PRELOAD);

    if (n > 0) {
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            char rel[PATH_MAX];
            int len = snprintf(rel, sizeof rel, "%.3000s/%s/%s", self, MT_BINDIR_TO_LIBDIR, MT_PRELOAD_NAME);
            if (len > 0 && (size_t)len < sizeof rel && usable(rel)) return take(rel);
        }
    }
    if (usable(MT_INSTALL_PRELOAD)) return take(MT_INSTALL_PRELOAD);
    if (usable(MT_BUILD_PRELOAD)) return take(MT_BUILD_PRELOAD);
    fprintf(stderr,
            "memtally: cannot find %s (looked in %s and %s); set MEMTALLY_PRELOAD to its path\n",
            MT_PRELOAD_NAME, in_build_tree ? MT_BUILD_PRELOAD : MT_INSTALL_PRELOAD,
            in_build_tree ? MT_INSTALL_PRELOAD : MT_BUILD_PRELOAD);
    return NULL;
}
