/*
 * leak_detector.c - the seed's MemoryLeakDetector in C.
 *
 * Snapshots are taken before and after an operation that might leak; the
 * comparison walks the per-category differences with mt_snapshot_diff() and
 * warns when the program holds more memory afterwards. The same comparison
 * is then printed by memtally itself (mt_snapshot_diff_report), and the
 * seed's DetectCategoryLeaks() becomes a walk over the categories.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <memtally.h>

#define CACHE_ENTRY_SIZE 128

typedef struct comparison {
    const char *before, *after;
} comparison;

static int warn_on_growth(const mt_delta *d, void *user)
{
    comparison *c = user;
    if (!d->category) {
        if (d->current > 0) {
            printf("warning: memory usage increased by %" PRId64 " bytes between '%s' and '%s'\n", d->current,
                   c->before, c->after);
        }
        return 0;
    }
    printf("  %-20s current %+" PRId64 " bytes, %+" PRId64 " allocs, %+" PRId64 " frees\n", d->category,
           d->current, d->alloc_count, d->free_count);
    return 0;
}

/* Seed: DetectCategoryLeaks(). */
static int warn_live_category(const mt_category_info *info, void *user)
{
    (void)user;
    if (info->self.current > 0)
        printf("warning: potential leak in category '%s': %" PRIu64 " bytes\n", info->name, info->self.current);
    return 0;
}

/* Builds a lookup cache and a scratch buffer; forgets to free three cache
 * entries. */
static void perform_complex_operation(void)
{
    char *scratch = MT_ALLOC(4096, "Operation::Scratch");
    char *entries[5];
    for (int i = 0; i < 5; i++) {
        entries[i] = MT_ALLOC(CACHE_ENTRY_SIZE, "Operation::Cache");
        snprintf(entries[i], CACHE_ENTRY_SIZE, "entry %d", i);
        memcpy(scratch + i * CACHE_ENTRY_SIZE, entries[i], CACHE_ENTRY_SIZE);
    }
    MT_FREE(entries[0]);
    MT_FREE(entries[1]);
    MT_FREE(scratch);
}

int main(void)
{
    /* Memory that exists before the operation is not its leak. */
    char *config = MT_STRDUP("window=1280x720", "Config");

    mt_snapshot *before = mt_snapshot_take("before_operation");
    printf("memory snapshot taken: before_operation\n");
    perform_complex_operation();
    mt_snapshot *after = mt_snapshot_take("after_operation");
    printf("memory snapshot taken: after_operation\n");
    if (!before || !after) {
        fprintf(stderr, "leak_detector: mt_snapshot_take failed\n");
        return 1;
    }

    comparison c = { "before_operation", "after_operation" };
    mt_snapshot_diff(before, after, warn_on_growth, &c);

    printf("\n== mt_snapshot_diff_report ==\n");
    fflush(stdout);
    mt_snapshot_diff_report(before, after, stdout);

    printf("\n== categories still holding memory ==\n");
    mt_foreach_category(warn_live_category, NULL);

    mt_snapshot_free(before);
    mt_snapshot_free(after);
    MT_FREE(config);
    return 0;
}
