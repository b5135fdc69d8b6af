/*
 * scope.c - per-thread category scopes: allocations with category NULL on
 * this thread (including those the preload shim sees) go to the innermost
 * pushed category.
 */
#include "internal.h"

uint32_t mt__scope_current(mt__thread *t) {
    int d = t->scope_depth;
    if (d <= 0) return MT_CAT_UNCATEGORIZED;
    return t->scope[(d <= MT_SCOPE_DEPTH ? d : MT_SCOPE_DEPTH) - 1];
}

static void scope_key_update(mt__thread *t) { t->scope_key = (uintptr_t)mt__scope_current(t) << 1 | 1; }

void mt_scope_push(const char *category) {
    MT_THREAD_GET(t, locked, return);
    size_t len = mt__cat_normalize(category);
    uint32_t cat = len ? mt__cat_intern(category, len) : MT_CAT_UNCATEGORIZED;
    if (t->scope_depth < MT_SCOPE_DEPTH) t->scope[t->scope_depth] = cat;
    else if (t->scope_depth == MT_SCOPE_DEPTH)
        mt__log(MT_LOG_WARN, "scopes nested deeper than %d; deeper ones count in the outermost %dth", MT_SCOPE_DEPTH,
                MT_SCOPE_DEPTH);
    t->scope_depth++;
    scope_key_update(t);
    MT_THREAD_DONE(locked);
}

void mt_scope_pop(void) {
    MT_THREAD_GET(t, locked, return);
    if (t->scope_depth == 0) mt__log(MT_LOG_ERROR, "mt_scope_pop: no scope pushed on this thread");
    else t->scope_depth--;
    scope_key_update(t);
    MT_THREAD_DONE(locked);
}
