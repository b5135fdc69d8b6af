/*
 * unwind.c - the stack walker behind MEMTALLY_STACK_DEPTH >= 2 in the
 * preload library: return addresses read with the unwind tables
 * (.eh_frame), each code address's rule decoded once and kept per thread.
 *
 * libgcc's _Unwind_Backtrace finds and decodes a frame's call frame
 * information afresh for every frame of every call, about 0.2 us a frame.
 * The code GCC and Clang emit for x86-64 needs little of it to be walked:
 * the canonical frame address (CFA) is rsp or rbp plus an offset, and the
 * return address and the caller's rbp are saved at offsets from the CFA.
 * This walker decodes a code address's frame description once into such a
 * rule, keeps it in a small per-thread cache and walks with it: a few
 * loads per frame. Anything else (a CFA or register given by a DWARF
 * expression, as in signal trampolines; a stack realigned through another
 * register; code without unwind information; a module whose .eh_frame_hdr
 * has no search table) makes it give up, and the caller asks libgcc, which
 * handles everything.
 *
 * Inside malloc: frames are found with _dl_find_object, which takes no lock
 * and never allocates. A rule depends only on the code at its address, and
 * code changes only when a module is unloaded: every frame asks
 * _dl_find_object, and a rule is used only while the module it was read
 * from (its link map, start and unwind tables) is still the one there;
 * glibc unloads some modules (iconv's gconv modules) without a dlclose this
 * library sees. The cache is also emptied when the caller's dlclose count
 * moves. Before reading the stack, each step checks that the CFA lies
 * above the last one, by at most 1 MiB, and that the saved words lie
 * inside the frame.
 */
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

#if defined(__x86_64__)

enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* How a frame is walked: CFA = (rsp or rbp) + cfa_off; the return address
 * is at CFA + ra_off; the caller's rbp is at CFA + rbp_off when rbp_saved,
 * else rbp is unchanged. */
typedef struct rule {
    uintptr_t pc;              /* the code address it is for; 0: empty slot */
    int32_t cfa_off : 28;      /* at most MAX_FRAME */
    unsigned cfa_rbp : 1;      /* the CFA is rbp-based (else rsp-based) */
    unsigned rbp_saved : 1;
    unsigned outermost : 1;    /* no caller (return address undefined: _start, thread start) */
    unsigned none : 1;         /* no rule: this walker gives up here (kept so as not to search again) */
    int16_t ra_off;
    int16_t rbp_off;
    /* the module the rule was read from, as _dl_find_object named it: a
     * rule is used only while the same module is there (glibc unloads
     * some modules, iconv's, without a dlclose this library sees) */
    const void *map, *eh;
    uintptr_t map_start;
} rule;

#define RULES 256u /* per thread, direct-mapped by code address */
#define RULES_BYTES (RULES * sizeof(rule))
#define MAX_FRAME ((uintptr_t)1 << 20)
/* Mapped on a thread's first walk (not static TLS, which glibc takes out
 * of every thread's stack) and unmapped when the thread exits. A walk in a
 * later thread-exit destructor finds rules_gone and leaves the walk to
 * libgcc. */
static MT_TLS rule *rules;
static MT_TLS unsigned rules_closes;
static MT_TLS bool rules_gone;
static pthread_key_t rules_key;
static bool rules_key_made;

static void rules_release(void *p) {
    rules = NULL;
    rules_gone = true;
    mt__os_release(p, RULES_BYTES);
}

__attribute__((constructor)) static void rules_key_make(void) {
    rules_key_made = pthread_key_create(&rules_key, rules_release) == 0;
}

/* This thread's rules, emptied when the dlclose count moved; NULL when
 * they cannot be had. */
static rule *rules_get(unsigned closes) {
    if (MT_UNLIKELY(!rules)) {
        if (!rules_key_made || rules_gone) return NULL;
        rule *fresh = mt__os_reserve(RULES_BYTES);
        if (!fresh) return NULL;
        if (pthread_setspecific(rules_key, fresh) != 0) {
            mt__os_release(fresh, RULES_BYTES);
            return NULL;
        }
        rules = fresh;
        rules_closes = closes;
    }
    if (MT_UNLIKELY(closes != rules_closes)) {
        memset(rules, 0, RULES_BYTES);
        rules_closes = closes;
    }
    return rules;
}

/* ---- reading .eh_frame ---------------------------------------------------- */

typedef struct cursor {
    const uint8_t *p, *end;
    bool bad;
} cursor;

static uint8_t u8(cursor *c) {
    if (c->p >= c->end) {
        c->bad = true;
        return 0;
    }
    return *c->p++;
}

static uint64_t uleb(cursor *c) {
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        uint8_t b = u8(c);
        if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80) || c->bad) return v;
    }
}

static int64_t sleb(cursor *c) {
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        b = u8(c);
        if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
    } while ((b & 0x80) && !c->bad);
    if (shift < 64 && (b & 0x40)) v |= ~(uint64_t)0 << shift;
    return (int64_t)v;
}

static uint64_t fixed(cursor *c, size_t n) {
    if ((size_t)(c->end - c->p) < n) {
        c->bad = true;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, c->p, n); /* little-endian */
    c->p += n;
    return v;
}

/* A pointer in DWARF's exception-header encoding (DW_EH_PE_*); data: the
 * base of datarel values (.eh_frame_hdr). Marks the cursor bad for the
 * encodings compilers do not use here. */
static uintptr_t encoded(cursor *c, uint8_t enc, uintptr_t data) {
    if (enc == 0xff) return 0; /* omit */
    uintptr_t at = (uintptr_t)c->p, v;
    switch (enc & 0x0f) {
    case 0x00: v = (uintptr_t)fixed(c, 8); break;
    case 0x01: v = (uintptr_t)uleb(c); break;
    case 0x02: v = (uintptr_t)fixed(c, 2); break;
    case 0x03: v = (uintptr_t)fixed(c, 4); break;
    case 0x04: v = (uintptr_t)fixed(c, 8); break;
    case 0x09: v = (uintptr_t)sleb(c); break;
    case 0x0a: v = (uintptr_t)(int16_t)fixed(c, 2); break;
    case 0x0b: v = (uintptr_t)(int32_t)fixed(c, 4); break;
    case 0x0c: v = (uintptr_t)fixed(c, 8); break;
    default: c->bad = true; return 0;
    }
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += at; break;   /* pcrel */
    case 0x30: v += data; break; /* datarel */
    default: c->bad = true; return 0;
    }
    if (enc & 0x80) c->bad = true; /* indirect: only personality routines use it */
    return v;
}

static int32_t table_entry(const uint8_t *table, size_t i) {
    int32_t v;
    memcpy(&v, table + 4 * i, sizeof v);
    return v;
}

/* The FDE covering pc, from .eh_frame_hdr's binary search table; NULL when
 * there is none or the table is not in the usual form. */
static const uint8_t *find_fde(uintptr_t pc, const uint8_t *hdr) {
    if (!hdr || hdr[0] != 1) return NULL;
    uint8_t fde_count_enc = hdr[2], table_enc = hdr[3];
    if (table_enc != 0x3b) return NULL; /* datarel sdata4, what linkers write */
    cursor c = {hdr + 4, hdr + 4 + 16, false};
    encoded(&c, hdr[1], (uintptr_t)hdr); /* eh_frame_ptr */
    uintptr_t count = encoded(&c, fde_count_enc, (uintptr_t)hdr);
    if (c.bad || !count) return NULL;
    const uint8_t *table = c.p; /* (initial location, FDE) pairs of 4-byte offsets */
    uintptr_t base = (uintptr_t)hdr;
    size_t lo = 0, hi = count;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (base + (intptr_t)table_entry(table, 2 * mid) <= pc) lo = mid;
        else hi = mid;
    }
    if (base + (intptr_t)table_entry(table, 2 * lo) > pc) return NULL;
    return (const uint8_t *)(base + (intptr_t)table_entry(table, 2 * lo + 1));
}

/* What the frame-description program leaves for the registers we follow. */
typedef struct regs_rule {
    uint8_t cfa_reg;   /* DWARF register, or 0xff: an expression */
    int64_t cfa_off;
    uint8_t rbp_how;   /* 0 unchanged, 1 saved at CFA + rbp_off, 2 anything else */
    int64_t rbp_off;
    uint8_t ra_how;    /* 1 saved at CFA + ra_off, 3 undefined, 2 anything else */
    int64_t ra_off;
} regs_rule;

/* Runs call frame instructions up to pc. init: the state after the CIE's
 * initial instructions (DW_CFA_restore), NULL while running those. */
static bool run_cfa(cursor *c, regs_rule *st, const regs_rule *init, uintptr_t loc, uintptr_t pc, uint64_t code_align,
                    int64_t data_align, uint8_t fde_enc) {
    regs_rule stack[8];
    unsigned depth = 0;
    while (c->p < c->end && !c->bad) {
        uint8_t op = u8(c);
        uint64_t reg = op & 0x3f, delta = 0;
        int64_t off = 0;
        switch (op & 0xc0) {
        case 0x40: /* advance_loc */
            delta = (op & 0x3f) * code_align;
            goto advance;
        case 0x80: /* offset */
            off = (int64_t)uleb(c) * data_align;
            goto set_offset;
        case 0xc0: /* restore */
            goto restore;
        }
        switch (op) {
        case 0x00: break; /* nop */
        case 0x01:        /* set_loc */
            loc = encoded(c, fde_enc, 0);
            if (loc > pc) return !c->bad;
            break;
        case 0x02: delta = fixed(c, 1) * code_align; goto advance;
        case 0x03: delta = fixed(c, 2) * code_align; goto advance;
        case 0x04: delta = fixed(c, 4) * code_align; goto advance;
        case 0x05: /* offset_extended */
            reg = uleb(c);
            off = (int64_t)uleb(c) * data_align;
            goto set_offset;
        case 0x06: /* restore_extended */
            reg = uleb(c);
            goto restore;
        case 0x07: /* undefined */
            reg = uleb(c);
            if (reg == REG_RA) st->ra_how = 3;
            else if (reg == REG_RBP) st->rbp_how = 2;
            break;
        case 0x08: /* same_value */
            reg = uleb(c);
            if (reg == REG_RBP) st->rbp_how = 0;
            else if (reg == REG_RA) st->ra_how = 2;
            break;
        case 0x09: /* register */
            reg = uleb(c);
            uleb(c);
            if (reg == REG_RBP) st->rbp_how = 2;
            else if (reg == REG_RA) st->ra_how = 2;
            break;
        case 0x0a: /* remember_state */
            if (depth == sizeof stack / sizeof *stack) return false;
            stack[depth++] = *st;
            break;
        case 0x0b: /* restore_state: the CFA rule too, as GCC's epilogues expect */
            if (!depth) return false;
            *st = stack[--depth];
            break;
        case 0x0c: /* def_cfa */
            reg = uleb(c);
            st->cfa_reg = reg < 0xff ? (uint8_t)reg : 0xff;
            st->cfa_off = (int64_t)uleb(c);
            break;
        case 0x0d: /* def_cfa_register */
            reg = uleb(c);
            st->cfa_reg = reg < 0xff ? (uint8_t)reg : 0xff;
            break;
        case 0x0e: st->cfa_off = (int64_t)uleb(c); break; /* def_cfa_offset */
        case 0x0f:                                          /* def_cfa_expression */
            st->cfa_reg = 0xff;
            c->p += uleb(c);
            break;
        case 0x10: /* expression */
        case 0x16: /* val_expression */
            reg = uleb(c);
            c->p += uleb(c);
            if (reg == REG_RBP) st->rbp_how = 2;
            else if (reg == REG_RA) st->ra_how = 2;
            break;
        case 0x11: /* offset_extended_sf */
            reg = uleb(c);
            off = sleb(c) * data_align;
            goto set_offset;
        case 0x12: /* def_cfa_sf */
            reg = uleb(c);
            st->cfa_reg = reg < 0xff ? (uint8_t)reg : 0xff;
            st->cfa_off = sleb(c) * data_align;
            break;
        case 0x13: st->cfa_off = sleb(c) * data_align; break; /* def_cfa_offset_sf */
        case 0x14:                                            /* val_offset */
        case 0x15:                                            /* val_offset_sf */
            reg = uleb(c);
            if (op == 0x14) uleb(c);
            else sleb(c);
            if (reg == REG_RBP) st->rbp_how = 2;
            else if (reg == REG_RA) st->ra_how = 2;
            break;
        case 0x2e: uleb(c); break; /* GNU_args_size */
        case 0x2f:                 /* GNU_negative_offset_extended */
            reg = uleb(c);
            off = -(int64_t)uleb(c) * data_align;
            goto set_offset;
        default: return false;
        }
        continue;
    advance:
        if (loc + delta > pc) return !c->bad;
        loc += delta;
        continue;
    set_offset:
        if (reg == REG_RBP) {
            st->rbp_how = 1;
            st->rbp_off = off;
        } else if (reg == REG_RA) {
            st->ra_how = 1;
            st->ra_off = off;
        }
        continue;
    restore:
        if (!init) return false;
        if (reg == REG_RBP) {
            st->rbp_how = init->rbp_how;
            st->rbp_off = init->rbp_off;
        } else if (reg == REG_RA) {
            st->ra_how = init->ra_how;
            st->ra_off = init->ra_off;
        }
        continue;
    }
    return !c->bad && c->p <= c->end;
}

/* Decodes the rule for code address pc (a return address minus one, or
 * the walker's own address). False when pc has no usable description. */
static bool decode(uintptr_t pc, const struct dl_find_object *fo, rule *out) {
    const uint8_t *fde = find_fde(pc, fo->dlfo_eh_frame);
    if (!fde) return false;
    uint32_t len;
    memcpy(&len, fde, 4);
    if (len == 0 || len == 0xffffffffu) return false;
    int32_t cie_delta;
    memcpy(&cie_delta, fde + 4, 4);
    if (cie_delta <= 0) return false;
    const uint8_t *cie = fde + 4 - cie_delta;
    uint32_t cie_len, cie_id;
    memcpy(&cie_len, cie, 4);
    memcpy(&cie_id, cie + 4, 4);
    if (cie_len == 0 || cie_len == 0xffffffffu || cie_id != 0) return false;

    cursor c = {cie + 8, cie + 4 + cie_len, false};
    uint8_t version = u8(&c);
    if (version != 1 && version != 3) return false;
    const char *aug = (const char *)c.p;
    size_t aug_len = strnlen(aug, (size_t)(c.end - c.p));
    if (aug_len == (size_t)(c.end - c.p)) return false;
    c.p += aug_len + 1;
    uint64_t code_align = uleb(&c);
    int64_t data_align = sleb(&c);
    uint64_t ra_reg = version == 1 ? u8(&c) : uleb(&c);
    if (ra_reg != REG_RA) return false;
    uint8_t fde_enc = 0x00;
    bool has_z = aug[0] == 'z';
    if (has_z) {
        uint64_t n = uleb(&c);
        const uint8_t *after = c.p + n;
        for (const char *a = aug + 1; *a && !c.bad; a++) {
            if (*a == 'R') fde_enc = u8(&c);
            else if (*a == 'L') u8(&c);
            else if (*a == 'P') {
                uint8_t e = u8(&c);
                encoded(&c, (uint8_t)(e & 0x7f), 0); /* skipped, not followed */
            } else return false; /* 'S' (signal frame) and anything unknown */
        }
        c.p = after;
    } else if (aug[0]) {
        return false;
    }
    if (c.bad || c.p > c.end) return false;

    regs_rule st = {.cfa_reg = 0xff, .rbp_how = 0, .ra_how = 2};
    if (!run_cfa(&c, &st, NULL, 0, 0, code_align, data_align, fde_enc)) return false;
    regs_rule init = st;

    cursor f = {fde + 8, fde + 4 + len, false};
    uintptr_t begin = encoded(&f, fde_enc, 0);
    uintptr_t range = encoded(&f, (uint8_t)(fde_enc & 0x0f), 0);
    if (f.bad || pc < begin || pc - begin >= range) return false;
    if (has_z) f.p += uleb(&f);
    if (!run_cfa(&f, &st, &init, begin, pc, code_align, data_align, fde_enc)) return false;

    if (st.cfa_reg != REG_RSP && st.cfa_reg != REG_RBP) return false;
    if (st.cfa_off <= 0 || (uint64_t)st.cfa_off > MAX_FRAME || st.rbp_how == 2) return false;
    if (st.ra_how != 1 && st.ra_how != 3) return false;
    if (st.ra_how == 1 && (st.ra_off >= 0 || st.ra_off < INT16_MIN)) return false;
    if (st.rbp_how == 1 && (st.rbp_off >= 0 || st.rbp_off < INT16_MIN)) return false;
    out->pc = pc;
    out->cfa_off = (int32_t)st.cfa_off;
    out->cfa_rbp = st.cfa_reg == REG_RBP;
    out->ra_off = (int16_t)(st.ra_how == 1 ? st.ra_off : 0);
    out->outermost = st.ra_how == 3;
    out->rbp_saved = st.rbp_how == 1;
    out->rbp_off = (int16_t)(st.rbp_how == 1 ? st.rbp_off : 0);
    return true;
}

/* The rule for pc, NULL when this walker cannot follow the frame there.
 * Either answer is kept: code without unwind information, or with a
 * description only libgcc follows, is searched once, not on every walk. */
static const rule *rule_for(rule *table, uintptr_t pc) {
    struct dl_find_object fo;
    if (_dl_find_object((void *)pc, &fo) != 0) return NULL;
    rule *r = &table[(pc ^ (pc >> 9)) % RULES];
    if (MT_LIKELY(r->pc == pc && r->map == fo.dlfo_link_map && r->eh == fo.dlfo_eh_frame &&
                  r->map_start == (uintptr_t)fo.dlfo_map_start))
        return r->none ? NULL : r;
    rule fresh = {0};
    bool ok = decode(pc, &fo, &fresh);
    if (!ok) fresh = (rule){.none = 1};
    fresh.pc = pc;
    fresh.map = fo.dlfo_link_map;
    fresh.eh = fo.dlfo_eh_frame;
    fresh.map_start = (uintptr_t)fo.dlfo_map_start;
    *r = fresh;
    return ok ? r : NULL;
}

MT_NOINLINE int mt__unwind(bool (*frame)(const void *ret, void *arg), void *arg, unsigned closes) {
    rule *table = rules_get(closes);
    if (!table) return -1;
    uintptr_t pc, rsp, rbp;
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(pc), "=r"(rsp), "=r"(rbp));
    for (unsigned n = 0; n < 256; n++) {
        /* the walker's own address is exact; a return address follows its
         * call, whose rule is the one that applies */
        const rule *r = rule_for(table, n ? pc - 1 : pc);
        if (!r) return -1;
        if (r->outermost) return 0;
        uintptr_t cfa = (r->cfa_rbp ? rbp : rsp) + (uintptr_t)(intptr_t)r->cfa_off;
        /* the saved words lie between this frame's stack pointer and its
         * CFA, which lies above it by at most MAX_FRAME */
        uintptr_t ra_at = cfa + (uintptr_t)(intptr_t)r->ra_off, rbp_at = cfa + (uintptr_t)(intptr_t)r->rbp_off;
        if (cfa <= rsp || cfa - rsp > MAX_FRAME || (cfa & 7) || ra_at < rsp || (r->rbp_saved && rbp_at < rsp))
            return -1;
        uintptr_t ret;
        memcpy(&ret, (const void *)ra_at, sizeof ret);
        if (r->rbp_saved) memcpy(&rbp, (const void *)rbp_at, sizeof rbp);
        rsp = cfa;
        pc = ret;
        if (!pc) return 0;
        if (!frame((const void *)pc, arg)) return 0;
    }
    return -1;
}

#else /* not x86-64: libgcc walks every frame */

int mt__unwind(bool (*frame)(const void *ret, void *arg), void *arg, unsigned closes) {
    (void)frame;
    (void)arg;
    (void)closes;
    return -1;
}

#endif
