/*
 * reporter.c - the seed's MemoryReporter in C.
 *
 * generate_report() prints the seed's own summary (global line, then every
 * category still holding memory) from mt_global_stats() and
 * mt_foreach_category(), followed by memtally's text report.
 * generate_json_report() is mt_report_file(): the file is written whole or
 * not at all.
 *
 *   reporter [report.json]
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include <memtally.h>

#define TEXT_WIDGETS 4
#define TEXT_WIDGET_SIZE 64
#define BUTTONS 2
#define BUTTON_SIZE 48
#define MUSIC_SAMPLES 2048

static int print_live_category(const mt_category_info *info, void *user)
{
    (void)user;
    const mt_stats *s = &info->self;
    if (s->current > 0)
        printf("  %s: %" PRIu64 " bytes (allocated: %" PRIu64 ", freed: %" PRIu64 ")\n", info->name, s->current,
               s->total_allocated, s->total_freed);
    return 0;
}

static void generate_report(void)
{
    mt_stats g = mt_global_stats();
    printf("=== Memory Usage Report ===\n");
    printf("Global - Allocated: %" PRIu64 " bytes, Freed: %" PRIu64 " bytes, Current: %" PRIu64 " bytes\n",
           g.total_allocated, g.total_freed, g.current);
    printf("=== Category Breakdown ===\n");
    mt_foreach_category(print_live_category, NULL);
    printf("\n=== mt_report(stdout, MT_FORMAT_TEXT) ===\n");
    fflush(stdout);
    mt_report(stdout, MT_FORMAT_TEXT);
}

static int generate_json_report(const char *filename)
{
    if (mt_report_file(filename, MT_FORMAT_JSON) != 0) {
        perror(filename);
        return -1;
    }
    printf("\nJSON report written to %s\n", filename);
    return 0;
}

int main(int argc, char **argv)
{
    const char *json_path = argc > 1 ? argv[1] : "report.json";

    /* A user interface and a music track. */
    char *labels[TEXT_WIDGETS];
    for (int i = 0; i < TEXT_WIDGETS; i++) {
        labels[i] = MT_ALLOC(TEXT_WIDGET_SIZE, "UI::Widgets::Text");
        snprintf(labels[i], TEXT_WIDGET_SIZE, "label %d", i);
    }
    void *buttons[BUTTONS];
    for (int i = 0; i < BUTTONS; i++)
        buttons[i] = MT_ALLOC(BUTTON_SIZE, "UI::Widgets::Button");
    float *music = MT_NEW_ARRAY(float, MUSIC_SAMPLES, "Audio::Buffers::Music");

    /* The track finished and one button was closed. */
    MT_FREE(music);
    MT_FREE(buttons[1]);

    generate_report();
    int rc = generate_json_report(json_path) == 0 ? 0 : 1;

    for (int i = 0; i < TEXT_WIDGETS; i++)
        MT_FREE(labels[i]);
    MT_FREE(buttons[0]);
    return rc;
}
