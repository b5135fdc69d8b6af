/*
 * disable_prog.c - built with -DMEMTALLY_DISABLE and linked without
 * memtally. Uses every MT_* macro, MT_SCOPE and <memtally/auto.h>, checks
 * that each behaves as the libc call it stands for (malloc_usable_size
 * knows its blocks, plain free() releases them), and prints one line
 * per check ("ok NAME" or "FAIL NAME"), then "done".
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <memtally.h>
#include <memtally/auto.h>

#ifndef MEMTALLY_DISABLE
#error "this file must be built with -DMEMTALLY_DISABLE"
#endif

static int g_fail;
static int g_cat_evals;

static void check(int ok, const char *name) {
    printf("%s %s\n", ok ? "ok" : "FAIL", name);
    if (!ok) g_fail = 1;
}

/* the category argument is still evaluated exactly once */
static const char *cat(const char *name) {
    g_cat_evals++;
    return name;
}

typedef struct thing {
    int a;
    double b;
    char c[40];
} thing;

int main(void) {
    printf("start\n");
    char *a = MT_ALLOC(100000, cat("Disabled::Alloc"));
    check(a != NULL, "MT_ALLOC");
    check(malloc_usable_size(a) >= 100000, "MT_ALLOC block is a malloc block");
    memset(a, 'a', 100000);

    int *z = MT_CALLOC(1000, sizeof(int), cat("Disabled::Calloc"));
    int zero = z != NULL;
    for (int i = 0; zero && i < 1000; i++) zero = z[i] == 0;
    check(zero, "MT_CALLOC zeroes");

    char *r = MT_REALLOC(a, 200000, cat("Disabled::Realloc"));
    int kept = r != NULL;
    for (int i = 0; kept && i < 100000; i++) kept = r[i] == 'a';
    check(kept, "MT_REALLOC keeps content");
    check(malloc_usable_size(r) >= 200000, "MT_REALLOC block is a malloc block");

    char *s = MT_STRDUP("disabled", cat("Disabled::Strdup"));
    check(s != NULL && strcmp(s, "disabled") == 0, "MT_STRDUP");

    thing *t = MT_NEW(thing, cat("Disabled::New"));
    check(t != NULL && t->a == 0 && t->b == 0.0 && t->c[0] == 0, "MT_NEW zeroes");
    thing *ts = MT_NEW_ARRAY(thing, 10, cat("Disabled::NewArray"));
    check(ts != NULL && ts[9].a == 0 && malloc_usable_size(ts) >= 10 * sizeof(thing), "MT_NEW_ARRAY");

    int runs = 0;
    MT_SCOPE(cat("Disabled::Scope")) {
        runs++;
        void *in = MT_ALLOC(10, NULL);
        MT_FREE(in);
    }
    check(runs == 1, "MT_SCOPE runs its block once");

    /* auto.h changes nothing: these are the libc functions */
    char *m = malloc(50);
    char *d = strdup("auto");
    m = realloc(m, 60);
    void *c = calloc(2, 8);
    check(m && d && c && strcmp(d, "auto") == 0, "auto.h passes through");

    /* every block is a libc block: plain free() and MT_FREE() both work */
    free(z);
    MT_FREE(r);
    MT_FREE(s);
    free(t);
    MT_FREE(ts);
    MT_FREE(m);
    free(d);
    free(c);
    MT_FREE(NULL);
    check(g_cat_evals == 7, "categories evaluated once each");
    printf("done\n");
    return g_fail;
}
