/*
 * log.c - the log callback. The default writes "memtally: ..." lines to
 * stderr with write(2): no stdio buffer, no allocation, so it is safe from
 * inside the preload shim's malloc.
 */
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

typedef struct log_sink {
    mt_log_fn fn;
    void *user;
} log_sink;

/* The sink is replaced as a whole: readers load one pointer to a record
 * that never changes afterwards. */
static mt__records sink_records;
static _Atomic(const log_sink *) current_sink;

void mt_set_log(mt_log_fn fn, void *user) {
    const log_sink *s = NULL;
    if (fn) {
        log_sink rec;
        memset(&rec, 0, sizeof rec);
        rec.fn = fn;
        rec.user = user;
        s = mt__records_intern(&sink_records, &rec, sizeof rec);
        if (!s) {
            mt__log(MT_LOG_ERROR, "mt_set_log: more than %u different log callbacks; keeping the current one", MT_RECORDS_MAX);
            return;
        }
    }
    atomic_store_explicit(&current_sink, s, memory_order_release);
}

static const char *level_name(mt_log_level level) {
    switch (level) {
    case MT_LOG_INFO: return "";
    case MT_LOG_WARN: return "warning: ";
    default: return "error: ";
    }
}

bool mt__log_muted;

void mt__log(mt_log_level level, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    const log_sink *s = atomic_load_explicit(&current_sink, memory_order_acquire);
    if (s) {
        s->fn(level, msg, s->user);
        return;
    }
    if (mt__log_muted) return;
    char line[1100];
    int len = snprintf(line, sizeof line, "memtally: %s%s\n", level_name(level), msg);
    if (len < 0) return;
    if ((size_t)len >= sizeof line) len = sizeof line - 1;
    mt__os_write_all(STDERR_FILENO, line, (size_t)len);
}
