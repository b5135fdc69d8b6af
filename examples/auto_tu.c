/*
 * auto_tu.c - tracking a whole file without touching its malloc calls.
 *
 * The seed tracks every `new` of the program by replacing operator new. In C
 * the same effect for one translation unit comes from including
 * <memtally/auto.h> after the system headers: from there on malloc, calloc,
 * realloc, strdup and free of this file go through memtally with their
 * file:line, and the category is the thread's current MT_SCOPE.
 *
 * The parser below is ordinary C. The line buffer that getline() allocates
 * inside libc is not memtally's; the redirected free() hands it to the
 * system free() unchanged.
 */
#define _POSIX_C_SOURCE 200809L /* getline, fmemopen */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memtally/auto.h>

#define MAX_PAIRS 8

typedef struct pair {
    char *key;
    char *value;
} pair;

/* Parses "key=value" lines; returns the number of pairs. Plain C. */
static size_t parse_config(FILE *in, pair *pairs, size_t max)
{
    char *line = NULL; /* grown by getline() with libc's own malloc */
    size_t cap = 0, n = 0;
    ssize_t len;
    while (n < max && (len = getline(&line, &cap, in)) > 0) {
        if (line[len - 1] == '\n')
            line[len - 1] = '\0';
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        *eq = '\0';
        pairs[n].key = strdup(line);
        pairs[n].value = strdup(eq + 1);
        n++;
    }
    free(line); /* not memtally's block: goes to the system free() */
    return n;
}

static int print_site(const mt_site_info *site, void *user)
{
    (void)user;
    if (site->file && strstr(site->file, "auto_tu.c"))
        printf("  site %s:%d [%s]: %" PRIu64 " bytes in %" PRIu64 " blocks\n", site->file, site->line,
               site->category, site->stats.current, site->stats.alloc_count - site->stats.free_count);
    return 0;
}

static void print_category(const char *category)
{
    mt_stats s;
    if (mt_category_stats(category, 0, &s) == 0)
        printf("%s: %" PRIu64 " bytes in %" PRIu64 " blocks\n", category, s.current, s.alloc_count - s.free_count);
}

int main(void)
{
    static char text[] = "name=memtally\nversion=0.1.0\nlang=C\n";
    FILE *in = fmemopen(text, strlen(text), "r");
    if (!in) {
        perror("fmemopen");
        return 1;
    }

    pair pairs[MAX_PAIRS];
    size_t n = 0;
    MT_SCOPE("Config::Parser") {
        n = parse_config(in, pairs, MAX_PAIRS);
    }
    fclose(in);

    for (size_t i = 0; i < n; i++)
        printf("%s = %s\n", pairs[i].key, pairs[i].value);
    print_category("Config::Parser");
    mt_foreach_site(print_site, NULL);

    for (size_t i = 0; i < n; i++) {
        free(pairs[i].key);
        free(pairs[i].value);
    }
    print_category("Config::Parser");
    return 0;
}
