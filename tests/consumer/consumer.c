/*
 * consumer.c - an outside program written only from memtally's public
 * contract (API.md), built against an installed memtally. Prints a fixed
 * text that run.sh compares with expected.txt.
 */
#include <memtally.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct texture {
    int width, height;
    unsigned char *pixels;
} texture;

static int print_category(const mt_category_info *info, void *user) {
    (void)user;
    if (strncmp(info->name, "Renderer", 8) != 0) return 0;
    printf("category %s parent=%s depth=%d self.current=%llu total.current=%llu total.allocs=%llu\n",
           info->name, info->parent ? info->parent : "-", info->depth,
           (unsigned long long)info->self.current, (unsigned long long)info->total.current,
           (unsigned long long)info->total.alloc_count);
    return 0;
}

/* deltas are collected and printed sorted, the global line first */
static char g_deltas[32][160];
static int g_ndeltas;

static int collect_delta(const mt_delta *d, void *user) {
    (void)user;
    if (g_ndeltas < 32)
        snprintf(g_deltas[g_ndeltas++], sizeof g_deltas[0], "delta %s current=%lld allocs=%lld frees=%lld",
                 d->category ? d->category : "(global)", (long long)d->current, (long long)d->alloc_count,
                 (long long)d->free_count);
    return 0;
}

static int by_text(const void *a, const void *b) { return strcmp(a, b); }

int main(void) {
    if (mt_init() != 0) return 1;
    printf("version %s %d.%d.%d\n", mt_version(), MT_VERSION_MAJOR, MT_VERSION_MINOR, MT_VERSION_PATCH);
    mt_snapshot *before = mt_snapshot_take("before");

    void *mesh = NULL;
    MT_SCOPE("Renderer::Meshes") {
        mesh = MT_ALLOC(1000, NULL);
        mesh = MT_REALLOC(mesh, 3000, NULL);
    }
    texture *t = MT_NEW(texture, "Renderer::Textures");
    t->width = t->height = 32;
    t->pixels = MT_ALLOC(32 * 32 * 4, "Renderer::Textures::Diffuse");
    char *name = MT_STRDUP("brick", "Renderer::Names");
    float *aligned = mt_aligned_alloc(64, 256, "Renderer::GPU", __FILE__, __LINE__);
    printf("aligned %d\n", ((uintptr_t)aligned % 64) == 0);
    printf("block_size %zu %zu\n", mt_block_size(t->pixels), mt_block_size(name));

    errno = 0;
    void *none = mt_calloc(SIZE_MAX, 16, "Renderer", __FILE__, __LINE__);
    printf("overflow %s %s\n", none ? "non-null" : "null", errno == ENOMEM ? "ENOMEM" : "?");

    mt_stats tex;
    if (mt_category_stats("Renderer::Textures", 1, &tex) != 0) return 2;
    printf("textures+children current=%llu allocs=%llu\n", (unsigned long long)tex.current,
           (unsigned long long)tex.alloc_count);
    printf("never named %d\n", mt_category_stats("Audio", 0, &tex));
    mt_foreach_category(print_category, NULL);

    mt_snapshot *after = mt_snapshot_take("after");
    mt_snapshot_diff(before, after, collect_delta, NULL);
    if (g_ndeltas > 0) {
        printf("%s\n", g_deltas[0]);
        qsort(g_deltas + 1, (size_t)g_ndeltas - 1, sizeof g_deltas[0], by_text);
        for (int i = 1; i < g_ndeltas; i++) printf("%s\n", g_deltas[i]);
    }
    mt_snapshot_free(before);
    mt_snapshot_free(after);

    mt_free(aligned);
    mt_free(mesh);
    mt_free(name);
    mt_free(t->pixels);
    mt_free(t);
    mt_stats g = mt_global_stats();
    printf("global allocated=%llu freed=%llu current=%llu peak=%llu allocs=%llu frees=%llu\n",
           (unsigned long long)g.total_allocated, (unsigned long long)g.total_freed,
           (unsigned long long)g.current, (unsigned long long)g.peak, (unsigned long long)g.alloc_count,
           (unsigned long long)g.free_count);
    printf("leaks %llu\n", (unsigned long long)mt_leak_check(NULL));
    FILE *devnull = fopen("/dev/null", "w");
    printf("report %d\n", mt_report(devnull, MT_FORMAT_JSON));
    fclose(devnull);
    return 0;
}
