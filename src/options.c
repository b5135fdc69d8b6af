/*
 * options.c - the MEMTALLY_* environment, read once by mt_init (and by the
 * preload shim's constructor, before __libc_freeres can clear environ).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

mt__options mt__opt = {.stack_depth = 1};

int mt__parse_bool(const char *s) {
    static const char *yes[] = {"1", "yes", "on", "true"};
    static const char *no[] = {"0", "no", "off", "false", ""};
    if (!s) return -1;
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (strcasecmp(s, yes[i]) == 0) return 1;
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (strcasecmp(s, no[i]) == 0) return 0;
    return -1;
}

int mt__parse_size(const char *s, uint64_t *out) {
    if (!s || !*s) return -1;
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    unsigned shift = 0;
    switch (*p) {
    case 'k': case 'K': shift = 10; p++; break;
    case 'm': case 'M': shift = 20; p++; break;
    case 'g': case 'G': shift = 30; p++; break;
    default: break;
    }
    if (shift) {
        if (*p == 'i' || *p == 'I') p++;
        if (*p == 'b' || *p == 'B') p++;
    } else if (*p == 'b' || *p == 'B') {
        p++;
    }
    if (*p) return -1;
    if (shift && v > (UINT64_MAX >> shift)) return -1;
    *out = v << shift;
    return 0;
}

/* Warnings found while reading the environment. They are logged by
 * mt__options_report_warnings() after initialisation has finished: a log
 * callback may itself call into memtally, which must not re-enter mt_init. */
static char warnings[8][320];
static int nwarnings;

static void opt_warn(const char *fmt, ...) MT_PRINTF(1, 2);
static void opt_warn(const char *fmt, ...) {
    if (nwarnings >= (int)(sizeof warnings / sizeof *warnings)) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(warnings[nwarnings++], sizeof warnings[0], fmt, ap);
    va_end(ap);
}

void mt__options_report_warnings(void) {
    static _Atomic int done;
    if (atomic_load_explicit(&done, memory_order_relaxed) || atomic_exchange(&done, 1)) return;
    for (int i = 0; i < nwarnings; i++) mt__log(MT_LOG_WARN, "%s", warnings[i]);
}

/* One row per option: name, and how to store what the environment says. */
typedef enum { OPT_BOOL, OPT_SIZE, OPT_PATH, OPT_INT } opt_kind;
static const struct {
    const char *name;
    opt_kind kind;
    void *dest;
} options[] = {
    {"MEMTALLY_LEAK_CHECK", OPT_BOOL, &mt__opt.leak_check},
    {"MEMTALLY_REPORT", OPT_PATH, mt__opt.report},
    {"MEMTALLY_LARGE", OPT_SIZE, &mt__opt.large},
    {"MEMTALLY_STACK_DEPTH", OPT_INT, &mt__opt.stack_depth},
};

void mt__options_read(void) {
    for (size_t i = 0; i < sizeof options / sizeof *options; i++) {
        const char *v = getenv(options[i].name);
        if (!v) continue;
        switch (options[i].kind) {
        case OPT_BOOL: {
            int b = mt__parse_bool(v);
            if (b < 0) opt_warn("%s=%s is not a boolean (1/yes/on, 0/no/off); ignored", options[i].name, v);
            else *(bool *)options[i].dest = b;
            break;
        }
        case OPT_SIZE: {
            uint64_t n;
            if (mt__parse_size(v, &n) < 0) opt_warn("%s=%s is not a size (bytes, K, M, G); ignored", options[i].name, v);
            else *(uint64_t *)options[i].dest = n;
            break;
        }
        case OPT_PATH:
            if (strlen(v) >= sizeof mt__opt.report) opt_warn("%s is longer than %zu bytes; ignored", options[i].name, sizeof mt__opt.report - 1);
            else strcpy((char *)options[i].dest, v);
            break;
        case OPT_INT: {
            char *end;
            long n = strtol(v, &end, 10);
            if (*v == '\0' || *end || n < 1 || n > 64) opt_warn("%s=%s is not a number from 1 to 64; ignored", options[i].name, v);
            else *(int *)options[i].dest = (int)n;
            break;
        }
        }
    }
    mt__large_threshold = mt__opt.large ? mt__opt.large : UINT64_MAX;
    mt__watch_update();
}
