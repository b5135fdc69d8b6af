/*
 * registry.c - categories, file names and sites.
 *
 * Everything here is created once and never moves or dies, so readers need
 * no lock: the hash tables hold indices published with a release store and
 * every record is complete before its index appears. Writers (a new
 * category, file or site: the slow path) serialise on the registry lock,
 * which also guards the thread list in counters.c.
 *
 * Memory comes from anonymous mappings, never from malloc, so the registry
 * can grow while the preload shim is inside malloc.
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"

#define CAT_SLOTS  (MT_MAX_CATS * 2u)
#define SITE_SLOTS (MT_MAX_SITES * 2u)
#define FILE_SLOTS (1u << 17)
#define MAX_FILES  (FILE_SLOTS / 2u)
#define ARENA_CHUNK (256u * 1024u)

mt__cat *mt__cats;
mt__site *_Atomic *mt__sites;
_Atomic uint32_t mt__ncats;
_Atomic uint32_t mt__nsites;
_Atomic uint32_t mt__npnodes;

static _Atomic uint32_t *cat_slots;   /* category index + 1, 0 = empty */
static _Atomic uint32_t *site_slots;  /* site index + 1 */
typedef struct file_rec {
    uint64_t hash;
    uint32_t len;
    char text[];
} file_rec;
static file_rec *_Atomic *file_slots;
static uint32_t nfiles;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
/* A table-full warning found under the lock: 1 categories, 2 sites. It is
 * logged after the lock is released, since a log callback may allocate. */
static _Atomic int warn_pending;

void mt__registry_lock(void) { pthread_mutex_lock(&registry_lock); }
void mt__registry_unlock(void) {
    pthread_mutex_unlock(&registry_lock);
    int w = atomic_load_explicit(&warn_pending, memory_order_relaxed) ? atomic_exchange(&warn_pending, 0) : 0;
    if (w == 1) mt__log(MT_LOG_WARN, "category table full (%u); further categories count as Uncategorized", MT_MAX_CATS);
    if (w == 2) mt__log(MT_LOG_WARN, "site table full; further sites count under their category's unknown site");
}

/* ---- bump arena for names and site records (under the lock) ---------- */

static char *arena_cur;
static size_t arena_left;

static void *arena_alloc(size_t bytes) {
    bytes = (bytes + 15) & ~(size_t)15;
    if (bytes > arena_left) {
        size_t chunk = bytes > ARENA_CHUNK / 4 ? bytes : ARENA_CHUNK;
        char *p = mt__meta_alloc(chunk);
        if (!p) return NULL;
        if (chunk != ARENA_CHUNK) return p; /* a big one-off record */
        arena_cur = p;
        arena_left = chunk;
    }
    void *p = arena_cur;
    arena_cur += bytes;
    arena_left -= bytes;
    return p;
}

static char *arena_strdup(const char *s, size_t len) {
    char *p = arena_alloc(len + 1);
    if (!p) return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* ---- hashing ------------------------------------------------------- */

/* Word-at-a-time, with the tail read as overlapping loads instead of a
 * variable-length copy: the run-time category path hashes every call. */
static inline uint64_t load64(const char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t load32(const char *p) {
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    uint64_t tail;
    if (n >= 8) {
        const char *end = s + n - 8;
        for (; s < end; s += 8) {
            h = (h ^ load64(s)) * 0xbf58476d1ce4e5b9ull;
            h ^= h >> 29;
        }
        tail = load64(end); /* the last 8 bytes, overlapping what came before */
    } else if (n >= 4) {
        tail = load32(s) << 32 | load32(s + n - 4);
    } else if (n > 0) {
        tail = (uint64_t)(unsigned char)s[0] << 16 | (uint64_t)(unsigned char)s[n / 2] << 8 | (unsigned char)s[n - 1];
    } else {
        tail = 0;
    }
    h ^= tail;
    /* murmur3's finaliser: every input bit reaches the low bits the tables use */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_site(uint32_t cat, const char *file, int line, const void *pc) {
    uint64_t h = (uint64_t)cat * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t)(uintptr_t)file * 0xbf58476d1ce4e5b9ull;
    h ^= ((uint64_t)(uint32_t)line + ((uint64_t)(uintptr_t)pc << 7)) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    return h;
}

/* ---- read-only ranges: pointers whose text can never change -------- */
/* The read-only segments of the modules loaded when memtally starts, read
 * once. A category or file pointer into them is used as a cache key by
 * itself. Modules loaded later do not count, so their text is always read
 * by content; a module loaded before memtally's first call and unloaded
 * later (a plugin dlclose'd) could leave a stale key: see README, limits. */

typedef struct ro_ranges {
    size_t n;
    size_t mapped;
    struct { uintptr_t lo, hi; } r[];
} ro_ranges;
static _Atomic(ro_ranges *) ro_current;

typedef struct ro_collect {
    ro_ranges *out;
    size_t cap;
} ro_collect;

static int ro_phdr_cb(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    ro_collect *c = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W) || ph->p_memsz == 0) continue;
        if (c->out->n == c->cap) return 1;
        c->out->r[c->out->n].lo = info->dlpi_addr + ph->p_vaddr;
        c->out->r[c->out->n].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        c->out->n++;
    }
    return 0;
}

/* Rebuilds the range list (registry lock held). Old lists are kept: a
 * reader may still be searching one. */
static void ro_refresh(void) {
    size_t cap = 2048, bytes = sizeof(ro_ranges) + cap * sizeof(((ro_ranges *)0)->r[0]);
    ro_ranges *r = mt__meta_alloc(bytes);
    if (!r) return;
    r->mapped = bytes;
    ro_collect c = {r, cap};
    dl_iterate_phdr(ro_phdr_cb, &c);
    /* insertion sort by lo: a few hundred entries at most */
    for (size_t i = 1; i < r->n; i++) {
        uintptr_t lo = r->r[i].lo, hi = r->r[i].hi;
        size_t j = i;
        for (; j > 0 && r->r[j - 1].lo > lo; j--) r->r[j] = r->r[j - 1];
        r->r[j].lo = lo;
        r->r[j].hi = hi;
    }
    atomic_store_explicit(&ro_current, r, memory_order_release);
}

bool mt__is_immutable(const void *p) {
    const ro_ranges *r = atomic_load_explicit(&ro_current, memory_order_acquire);
    if (!r) return false;
    uintptr_t a = (uintptr_t)p;
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a < r->r[mid].lo) hi = mid;
        else if (a >= r->r[mid].hi) lo = mid + 1;
        else return true;
    }
    return false;
}

/* ---- categories ------------------------------------------------------ */

static uint32_t cat_lookup(const char *name, size_t len, uint64_t h) {
    for (uint32_t i = (uint32_t)h & (CAT_SLOTS - 1);; i = (i + 1) & (CAT_SLOTS - 1)) {
        uint32_t v = atomic_load_explicit(&cat_slots[i], memory_order_acquire);
        if (v == 0) return UINT32_MAX;
        const mt__cat *c = &mt__cats[v - 1];
        if (c->hash == h && c->len == len && memcmp(c->name, name, len) == 0) return v - 1;
    }
}

uint32_t mt__cat_find(const char *name, size_t len) {
    if (!mt__cats) return UINT32_MAX;
    return cat_lookup(name, len, hash_bytes(name, len));
}

static uint32_t site_create_locked(uint32_t cat, const char *file, int line, const void *pc, uint64_t h);

static uint32_t alloc_pnodes(uint32_t n) {
    uint32_t first = atomic_load_explicit(&mt__npnodes, memory_order_relaxed);
    if (first + n > MT_MAX_PNODES) return UINT32_MAX;
    atomic_store_explicit(&mt__npnodes, first + n, memory_order_release);
    return first;
}

static uint32_t cat_intern_locked(const char *name, size_t len, uint64_t h) {
    uint32_t found = cat_lookup(name, len, h);
    if (found != UINT32_MAX) return found;
    static bool warned;
    uint32_t idx = atomic_load_explicit(&mt__ncats, memory_order_relaxed);
    if (idx >= MT_MAX_CATS) goto full;
    /* the parent first: "A::B::C" -> "A::B" -> "A" */
    uint32_t parent = UINT32_MAX;
    for (size_t i = len; i >= 3; i--) {
        if (name[i - 2] == ':' && name[i - 3] == ':') {
            size_t plen = i - 3;
            if (plen > 0) parent = cat_intern_locked(name, plen, hash_bytes(name, plen));
            break;
        }
    }
    idx = atomic_load_explicit(&mt__ncats, memory_order_relaxed); /* parents took slots */
    if (idx >= MT_MAX_CATS) goto full;
    uint32_t nodes = alloc_pnodes(2);
    char *text = arena_strdup(name, len);
    if (nodes == UINT32_MAX || !text) goto full;
    mt__cat *c = &mt__cats[idx];
    c->name = text;
    c->len = (uint32_t)len;
    c->parent = parent;
    c->self_pnode = nodes;
    c->total_pnode = nodes + 1;
    c->depth = parent == UINT32_MAX ? 0 : mt__cats[parent].depth + 1;
    c->hash = h;
    c->anon_site = UINT32_MAX;
    atomic_store_explicit(&mt__ncats, idx + 1, memory_order_release);
    /* the category's unknown-file site also serves when the site table is full */
    c->anon_site = site_create_locked(idx, NULL, 0, NULL, hash_site(idx, NULL, 0, NULL));
    for (uint32_t i = (uint32_t)h & (CAT_SLOTS - 1);; i = (i + 1) & (CAT_SLOTS - 1)) {
        if (atomic_load_explicit(&cat_slots[i], memory_order_relaxed) == 0) {
            atomic_store_explicit(&cat_slots[i], idx + 1, memory_order_release);
            break;
        }
    }
    return idx;
full:
    if (!warned) {
        warned = true;
        atomic_store(&warn_pending, 1); /* logged once the lock is released */
    }
    return MT_CAT_UNCATEGORIZED;
}

uint32_t mt__cat_intern(const char *name, size_t len) {
    uint64_t h = hash_bytes(name, len);
    uint32_t found = cat_lookup(name, len, h);
    if (MT_LIKELY(found != UINT32_MAX)) return found;
    mt__registry_lock();
    found = cat_intern_locked(name, len, h);
    mt__registry_unlock();
    return found;
}

size_t mt__cat_normalize(const char *name) {
    if (!name) return 0;
    size_t len = strnlen(name, MT_MAX_NAME + 1);
    if (MT_UNLIKELY(len > MT_MAX_NAME)) {
        static _Atomic int warned;
        if (!atomic_exchange(&warned, 1))
            mt__log(MT_LOG_WARN, "category name longer than %u bytes cut to %u: \"%.40s...\"", MT_MAX_NAME, MT_MAX_NAME, name);
        len = MT_MAX_NAME;
    }
    return len;
}

/* ---- file names -------------------------------------------------------- */

static const char *file_intern_locked(const char *file) {
    size_t len = strnlen(file, 4095);
    uint64_t h = hash_bytes(file, len);
    uint32_t i = (uint32_t)h & (FILE_SLOTS - 1);
    for (;; i = (i + 1) & (FILE_SLOTS - 1)) {
        file_rec *r = atomic_load_explicit(&file_slots[i], memory_order_relaxed);
        if (!r) break;
        if (r->hash == h && r->len == len && memcmp(r->text, file, len) == 0) return r->text;
    }
    if (nfiles >= MAX_FILES) return "(too many files)";
    file_rec *r = arena_alloc(sizeof *r + len + 1);
    if (!r) return "(out of memory)";
    r->hash = h;
    r->len = (uint32_t)len;
    memcpy(r->text, file, len);
    r->text[len] = '\0';
    nfiles++;
    atomic_store_explicit(&file_slots[i], r, memory_order_release);
    return r->text;
}

/* ---- sites --------------------------------------------------------------- */

static uint32_t site_lookup(uint32_t cat, const char *file, int line, const void *pc, uint64_t h) {
    for (uint32_t i = (uint32_t)h & (SITE_SLOTS - 1);; i = (i + 1) & (SITE_SLOTS - 1)) {
        uint32_t v = atomic_load_explicit(&site_slots[i], memory_order_acquire);
        if (v == 0) return UINT32_MAX;
        const mt__site *s = atomic_load_explicit(&mt__sites[v - 1], memory_order_relaxed);
        if (s->cat == cat && s->file == file && s->line == line && s->pc == pc) return v - 1;
    }
}

static uint32_t site_create_locked(uint32_t cat, const char *file, int line, const void *pc, uint64_t h) {
    uint32_t found = site_lookup(cat, file, line, pc, h);
    if (found != UINT32_MAX) return found;
    static bool warned;
    uint32_t idx = atomic_load_explicit(&mt__nsites, memory_order_relaxed);
    uint32_t depth = (uint32_t)mt__cats[cat].depth;
    uint32_t npeak = 2 + depth + 1;
    mt__site *s = NULL;
    if (idx < MT_MAX_SITES) s = arena_alloc(sizeof *s + npeak * sizeof(uint32_t));
    if (!s) {
        if (!warned) {
            warned = true;
            atomic_store(&warn_pending, 2);
        }
        return mt__cats[cat].anon_site != UINT32_MAX ? mt__cats[cat].anon_site : MT_SITE_NONE;
    }
    s->file = file;
    s->line = line;
    s->pc = pc;
    s->cat = cat;
    s->index = idx;
    atomic_store_explicit(&s->function, NULL, memory_order_relaxed);
    uint32_t k = 0;
    s->poff[k++] = mt__cats[cat].self_pnode * (uint32_t)sizeof(mt__pnode);
    for (uint32_t c = cat; c != UINT32_MAX; c = mt__cats[c].parent)
        s->poff[k++] = mt__cats[c].total_pnode * (uint32_t)sizeof(mt__pnode);
    s->poff[k++] = MT_PNODE_GLOBAL * (uint32_t)sizeof(mt__pnode);
    s->npeak = k;
    atomic_store_explicit(&mt__sites[idx], s, memory_order_release);
    atomic_store_explicit(&mt__nsites, idx + 1, memory_order_release);
    for (uint32_t i = (uint32_t)h & (SITE_SLOTS - 1);; i = (i + 1) & (SITE_SLOTS - 1)) {
        if (atomic_load_explicit(&site_slots[i], memory_order_relaxed) == 0) {
            atomic_store_explicit(&site_slots[i], idx + 1, memory_order_release);
            break;
        }
    }
    return idx;
}

uint32_t mt__site_intern(uint32_t cat, const char *file, int line, const void *pc) {
    if (!file) line = 0;
    mt__registry_lock();
    const char *f = file ? file_intern_locked(file) : NULL;
    uint32_t idx = site_create_locked(cat, f, line, pc, hash_site(cat, f, line, pc));
    mt__registry_unlock();
    return idx;
}

/* Lock-free lookup of an interned file: for the per-thread cache miss path. */
static const char *file_find(const char *file) {
    size_t len = strnlen(file, 4095);
    uint64_t h = hash_bytes(file, len);
    for (uint32_t i = (uint32_t)h & (FILE_SLOTS - 1);; i = (i + 1) & (FILE_SLOTS - 1)) {
        file_rec *r = atomic_load_explicit(&file_slots[i], memory_order_acquire);
        if (!r) return NULL;
        if (r->hash == h && r->len == len && memcmp(r->text, file, len) == 0) return r->text;
    }
}

const char *mt__file_intern(const char *file) {
    const char *f = file_find(file);
    if (f) return f;
    mt__registry_lock();
    f = file_intern_locked(file);
    mt__registry_unlock();
    return f;
}

/* Site index for a request, lock-free when the site exists. file may be
 * an interned pointer already (then it is found as itself). */
uint32_t mt__site_find_or_create(uint32_t cat, const char *file, int line, const void *pc) {
    if (!file) line = 0;
    const char *f = file ? file_find(file) : NULL;
    if (!file || f) {
        uint32_t idx = site_lookup(cat, f, line, pc, hash_site(cat, f, line, pc));
        if (idx != UINT32_MAX) return idx;
    }
    return mt__site_intern(cat, file, line, pc);
}

/* ---- function names for preload sites ----------------------------------- */

_Atomic bool mt__names_later; /* written at exit, read by any thread naming a site */

void mt__site_names_forget(void) {
    uint32_t n = atomic_load_explicit(&mt__nsites, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        mt__site *s = atomic_load_explicit(&mt__sites[i], memory_order_acquire);
        if (s->pc) atomic_store_explicit(&s->function, NULL, memory_order_release);
    }
}

const char *mt__site_function(mt__site *s) {
    if (!s->pc) return NULL;
    const char *f = atomic_load_explicit(&s->function, memory_order_acquire);
    if (f) return f;
    Dl_info info = {0};
    char buf[4096];
    const char *text, *file;
    uintptr_t start;
    if (!mt__names_later && dladdr(s->pc, &info) && info.dli_sname) {
        text = info.dli_sname;
    } else if (mt__os_pc_module_start(s->pc, &file, &start)) {
        const char *base = strrchr(file, '/');
        base = base ? base + 1 : file;
        snprintf(buf, sizeof buf, "%s+0x%lx", base, (unsigned long)((uintptr_t)s->pc - start));
        text = buf;
    } else {
        snprintf(buf, sizeof buf, "0x%lx", (unsigned long)(uintptr_t)s->pc);
        text = buf;
    }
    mt__registry_lock();
    f = atomic_load_explicit(&s->function, memory_order_relaxed);
    if (!f) {
        f = arena_strdup(text, strlen(text));
        if (f) atomic_store_explicit(&s->function, f, memory_order_release);
    }
    mt__registry_unlock();
    return f ? f : "(out of memory)";
}

/* ---- published records ------------------------------------------------- */

const void *mt__records_intern(mt__records *r, const void *rec, size_t size) {
    const void *out = NULL;
    mt__registry_lock();
    if (!r->base) r->base = mt__os_reserve(MT_RECORDS_MAX * size);
    if (r->base) {
        for (unsigned i = 0; i < r->count && !out; i++)
            if (memcmp(r->base + i * size, rec, size) == 0) out = r->base + i * size;
        if (!out && r->count < MT_RECORDS_MAX) {
            char *slot = r->base + r->count++ * size;
            memcpy(slot, rec, size);
            out = slot;
        }
    }
    mt__registry_unlock();
    return out;
}

/* ---- set-up ----------------------------------------------------------- */

int mt__registry_init(void) {
    mt__cats = mt__os_reserve(MT_MAX_CATS * sizeof(mt__cat));
    mt__sites = mt__os_reserve(MT_MAX_SITES * sizeof(*mt__sites));
    cat_slots = mt__os_reserve(CAT_SLOTS * sizeof(*cat_slots));
    site_slots = mt__os_reserve(SITE_SLOTS * sizeof(*site_slots));
    file_slots = mt__os_reserve(FILE_SLOTS * sizeof(*file_slots));
    if (!mt__cats || !mt__sites || !cat_slots || !site_slots || !file_slots) return -1;
    mt__registry_lock();
    atomic_store(&mt__npnodes, 1); /* peak slot 0: the whole program */
    static const char uncategorized[] = "Uncategorized";
    cat_intern_locked(uncategorized, sizeof uncategorized - 1, hash_bytes(uncategorized, sizeof uncategorized - 1));
    ro_refresh();
    mt__registry_unlock();
    return 0;
}
