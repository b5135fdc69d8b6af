/*
 * symbolize.c - turns a site's (module, offset) into a function name and,
 * where debug information exists, file:line. This runs once, when the
 * report is written, never while the program allocates.
 *
 * The reader is elfutils' libdwfl (libdw-dev): the library behind
 * eu-addr2line, eu-stack and systemd-coredump, maintained in Debian. It
 * reads .symtab as well as .dynsym (so static functions of a program get
 * their names, which dladdr cannot give), finds separate debug files by
 * build ID or .gnu_debuglink (/usr/lib/debug), and decodes DWARF 5 line
 * tables. Each module is opened once and each (module, offset) looked up
 * once.
 *
 * An offset is counted from the module's load address as dladdr reports it
 * (dli_fbase: the start of the first PT_LOAD segment, page-aligned), the
 * same number the library prints in "module+0xOFF". It is a return
 * address, so the call itself is looked up one byte earlier.
 *
 * C++ names ("_Z4worki") are demangled ("work(int)") with libstdc++'s own
 * __cxa_demangle, looked up in libstdc++.so.6 with dlopen the first time
 * one is met: the command does not link the C++ runtime, and names stay
 * mangled where it is not installed.
 */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "tool.h"

/* A function symbol of a module, for the sorted index below. */
typedef struct sym_fn {
    GElf_Addr addr, size;
    const char *name;   /* in libelf's string table */
    int rank;           /* 0 global, 1 weak, 2 local: the lowest names an address */
} sym_fn;

typedef struct sym_module {
    char *path;         /* as a site named it */
    Dwfl *dwfl;         /* NULL when the file could not be read */
    Dwfl_Module *mod;
    GElf_Addr base;     /* libdwfl address of the module's load address */
    sym_fn *fns;        /* function symbols by address, one per address */
    size_t nfns;
    bool indexed;
} sym_module;

typedef struct sym_entry {
    uint32_t module;    /* index + 1; 0 = empty slot */
    uint64_t offset;
    char *function;
    char *file;
    int line;
} sym_entry;

struct mt__sym {
    char *program;      /* absolute path of the program run, or NULL */
    sym_module *mods;
    size_t nmods, capmods;
    sym_entry *tab;     /* open addressing, power-of-two size */
    size_t cap, n;
};

static const Dwfl_Callbacks offline_callbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

mt__sym *mt__sym_new(const char *program) {
    mt__sym *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    if (program) s->program = strdup(program);
    elf_version(EV_CURRENT);
    return s;
}

void mt__sym_free(mt__sym *s) {
    if (!s) return;
    for (size_t i = 0; i < s->nmods; i++) {
        if (s->mods[i].dwfl) dwfl_end(s->mods[i].dwfl);
        free(s->mods[i].path);
        free(s->mods[i].fns);
    }
    for (size_t i = 0; i < s->cap; i++) {
        free(s->tab[i].function);
        free(s->tab[i].file);
    }
    free(s->mods);
    free(s->tab);
    free(s->program);
    free(s);
}

/* The libdwfl address that corresponds to dladdr's dli_fbase: the module
 * bias plus the first PT_LOAD's address rounded down to a page, as the
 * dynamic loader maps it. */
static int module_base(Dwfl_Module *mod, GElf_Addr *base) {
    GElf_Addr bias = 0;
    Elf *elf = dwfl_module_getelf(mod, &bias);
    size_t nph = 0;
    if (!elf || elf_getphdrnum(elf, &nph) != 0) return -1;
    GElf_Addr low = (GElf_Addr)-1;
    for (size_t i = 0; i < nph; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && ph.p_vaddr < low) low = ph.p_vaddr;
    }
    if (low == (GElf_Addr)-1) return -1;
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) page = 4096;
    *base = bias + (low & ~(GElf_Addr)(page - 1));
    return 0;
}

static sym_module *module_get(mt__sym *s, const char *path, uint32_t *index) {
    for (size_t i = 0; i < s->nmods; i++) {
        if (strcmp(s->mods[i].path, path) == 0) {
            *index = (uint32_t)i;
            return &s->mods[i];
        }
    }
    if (s->nmods == s->capmods) {
        size_t cap = s->capmods ? s->capmods * 2 : 16;
        sym_module *m = realloc(s->mods, cap * sizeof *m);
        if (!m) return NULL;
        s->mods = m;
        s->capmods = cap;
    }
    sym_module *m = &s->mods[s->nmods];
    memset(m, 0, sizeof *m);
    m->path = strdup(path);
    if (!m->path) return NULL;
    *index = (uint32_t)s->nmods++;

    Dwfl *d = dwfl_begin(&offline_callbacks);
    if (!d) return m;
    dwfl_report_begin(d);
    /* ET_DYN placed at 0 and ET_EXEC where it links: libdwfl addresses are
     * then the file's own addresses plus a bias of 0 */
    Dwfl_Module *mod = dwfl_report_elf(d, base_name(path), path, -1, 0, false);
    dwfl_report_end(d, NULL, NULL);
    if (!mod || module_base(mod, &m->base) != 0) {
        dwfl_end(d);
        return m;
    }
    m->dwfl = d;
    m->mod = mod;
    return m;
}

static uint64_t entry_hash(uint32_t module, uint64_t offset) {
    uint64_t x = offset ^ ((uint64_t)module << 48);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static sym_entry *entry_find(mt__sym *s, uint32_t module, uint64_t offset, bool *fresh) {
    if (s->n * 2 >= s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        sym_entry *tab = calloc(cap, sizeof *tab);
        if (!tab) return NULL;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->tab[i].module) continue;
            size_t j = entry_hash(s->tab[i].module, s->tab[i].offset) & (cap - 1);
            while (tab[j].module) j = (j + 1) & (cap - 1);
            tab[j] = s->tab[i];
        }
        free(s->tab);
        s->tab = tab;
        s->cap = cap;
    }
    size_t j = entry_hash(module + 1, offset) & (s->cap - 1);
    while (s->tab[j].module) {
        if (s->tab[j].module == module + 1 && s->tab[j].offset == offset) {
            *fresh = false;
            return &s->tab[j];
        }
        j = (j + 1) & (s->cap - 1);
    }
    s->tab[j].module = module + 1;
    s->tab[j].offset = offset;
    s->n++;
    *fresh = true;
    return &s->tab[j];
}

/* The compile unit holding addr. libdwfl finds it through .debug_aranges;
 * clang does not write that section and elfutils before 0.191 does not
 * fall back to the units' own address ranges, so without it every unit is
 * asked (dwarf_haspc reads DW_AT_low_pc/high_pc/ranges in any form). */
static Dwarf_Die *find_cu(Dwfl_Module *mod, GElf_Addr addr, Dwarf_Addr *bias) {
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, bias);
    if (cu) return cu;
    while ((cu = dwfl_module_nextcu(mod, cu, bias)))
        if (dwarf_haspc(cu, addr - *bias) == 1) return cu;
    return NULL;
}

/* When addr lies in code inlined into the function (a malloc wrapper
 * marked inline, say), the line table gives a line of the inlined code,
 * often in a header. The line that belongs to the function the symbol table
 * names is the call site of the outermost inlined call: DW_AT_call_file and
 * DW_AT_call_line of the last inlined_subroutine scope before the
 * subprogram. Replaces *file and *line when there is one. */
static void outer_call_site(Dwarf_Die *cu, Dwarf_Addr pc, const char **file, int *line) {
    Dwarf_Die *scopes = NULL;
    int n = dwarf_getscopes(cu, pc, &scopes);
    /* past an inlined_subroutine dwarf_getscopes goes on with the scopes
     * of the inlined function's own definition; the scopes the code is
     * physically nested in (every level of inlining, then the subprogram)
     * are those of the innermost scope's DIE, as eu-addr2line -i reads them */
    if (n > 0) {
        Dwarf_Die inner = scopes[0];
        free(scopes);
        scopes = NULL;
        n = dwarf_getscopes_die(&inner, &scopes);
    }
    Dwarf_Die *outer = NULL;
    for (int i = 0; i < n; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_inlined_subroutine) outer = &scopes[i];
        else if (tag == DW_TAG_subprogram) break;
    }
    Dwarf_Attribute attr;
    Dwarf_Word fileidx, lineno;
    Dwarf_Files *files;
    size_t nfiles;
    if (outer && dwarf_formudata(dwarf_attr(outer, DW_AT_call_file, &attr), &fileidx) == 0 &&
        dwarf_formudata(dwarf_attr(outer, DW_AT_call_line, &attr), &lineno) == 0 && lineno > 0 &&
        lineno < INT32_MAX && dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && fileidx < nfiles) {
        const char *f = dwarf_filesrc(files, fileidx, NULL, NULL);
        if (f && *f) {
            *file = f;
            *line = (int)lineno;
        }
    }
    free(scopes);
}

/* ---- function names: a sorted index of the symbol table -------------- */

/* dwfl_module_addrinfo searches the whole symbol table for every address:
 * 1,382 sites of cc1 (28,898 symbols) took 0.4 s. The function symbols
 * are sorted once per module instead, and each address is a binary
 * search. An address no sized function symbol covers is left to
 * dwfl_module_addrinfo. */
static int fn_cmp(const void *a, const void *b) {
    const sym_fn *x = a, *y = b;
    if (x->addr != y->addr) return x->addr < y->addr ? -1 : 1;
    return x->rank - y->rank;
}

static void fns_build(sym_module *m) {
    m->indexed = true;
    int n = dwfl_module_getsymtab(m->mod);
    if (n <= 1) return;
    sym_fn *v = malloc((size_t)n * sizeof *v);
    if (!v) return;
    size_t k = 0;
    for (int i = 1; i < n; i++) {
        GElf_Sym sym;
        GElf_Addr addr;
        GElf_Word shndx;
        const char *name = dwfl_module_getsym_info(m->mod, i, &sym, &addr, &shndx, NULL, NULL);
        int type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);
        if (!name || !*name || shndx == SHN_UNDEF || addr == 0 || sym.st_size == 0) continue;
        if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
        v[k++] = (sym_fn){addr, sym.st_size, name, bind == STB_GLOBAL ? 0 : bind == STB_WEAK ? 1 : 2};
    }
    qsort(v, k, sizeof *v, fn_cmp);
    size_t u = 0; /* one per address: the best-ranked */
    for (size_t i = 0; i < k; i++)
        if (u == 0 || v[u - 1].addr != v[i].addr) v[u++] = v[i];
    m->fns = v;
    m->nfns = u;
}

/* The function symbol covering addr, NULL when none does. */
static const char *fn_lookup(sym_module *m, GElf_Addr addr) {
    if (!m->indexed) fns_build(m);
    size_t lo = 0, hi = m->nfns; /* the last symbol at or below addr: lo - 1 */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->fns[mid].addr <= addr) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return NULL;
    const sym_fn *f = &m->fns[lo - 1];
    return addr - f->addr < f->size ? f->name : NULL;
}

/* name itself (malloc'd), or its demangled form when it is a C++ name. */
static char *demangled(const char *name) {
    typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);
    static demangle_fn demangle;
    static bool looked;
    if (strncmp(name, "_Z", 2) != 0) return strdup(name);
    if (!looked) {
        looked = true;
        void *lib = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
        if (lib) *(void **)&demangle = dlsym(lib, "__cxa_demangle");
    }
    if (demangle) {
        int status = -1;
        char *d = demangle(name, NULL, NULL, &status);
        if (d && status == 0) return d;
        free(d);
    }
    return strdup(name);
}

static void resolve(sym_module *m, uint64_t offset, sym_entry *e) {
    if (!m->mod) return;
    /* a return address: the call is the instruction before it */
    GElf_Addr addr = m->base + offset - (offset > 0);
    GElf_Off off = 0;
    GElf_Sym sym;
    const char *name = fn_lookup(m, addr);
    if (!name) name = dwfl_module_addrinfo(m->mod, addr, &off, &sym, NULL, NULL, NULL);
    if (name && *name) e->function = demangled(name);

    Dwarf_Addr bias = 0;
    Dwarf_Die *cu = find_cu(m->mod, addr, &bias);
    Dwarf_Line *line = cu ? dwarf_getsrc_die(cu, addr - bias) : NULL;
    const char *src = line ? dwarf_linesrc(line, NULL, NULL) : NULL;
    int lineno = 0;
    if (!src || dwarf_lineno(line, &lineno) != 0) return;
    outer_call_site(cu, addr - bias, &src, &lineno);
    if (*src && lineno > 0) {
        e->file = strdup(src);
        e->line = lineno;
    }
}

int mt__sym_lookup(mt__sym *s, const char *module, uint64_t offset,
                   const char **function, const char **file, int *line) {
    uint32_t index;
    sym_module *m = module_get(s, module, &index);
    if (!m) return -1;
    bool fresh;
    sym_entry *e = entry_find(s, index, offset, &fresh);
    if (!e) return -1;
    if (fresh) resolve(m, offset, e);
    *function = e->function;
    *file = e->file;
    *line = e->line;
    return e->function || e->file ? 0 : -1;
}

/* ---- finding a site's module ----------------------------------------- */

static bool readable(const char *path) {
    return access(path, R_OK) == 0;
}

/* A module named only by its base name: the program itself, a program in
 * PATH, or a library in the directories the dynamic loader searches by
 * default. */
static char *find_by_name(const mt__sym *s, const char *name) {
    if (s->program && strcmp(base_name(s->program), name) == 0) return strdup(s->program);
    char path[4096];
    if (!strstr(name, ".so")) {
        /* a program a child process ran, found the way execvp finds it */
        const char *dirs = getenv("PATH");
        for (const char *p = dirs ? dirs : ""; *p;) {
            size_t n = strcspn(p, ":");
            if (n > 0 && n < 2048) {
                snprintf(path, sizeof path, "%.*s/%s", (int)n, p, name);
                if (access(path, X_OK) == 0) return strdup(path);
            }
            p += n;
            if (*p) p++;
        }
        return NULL;
    }
    struct utsname u;
    char multiarch[sizeof u.machine + 32] = "";
    if (uname(&u) == 0) snprintf(multiarch, sizeof multiarch, "%s-linux-gnu", u.machine);
    const char *env = getenv("LD_LIBRARY_PATH");
    if (env) {
        for (const char *p = env; *p;) {
            size_t n = strcspn(p, ":;");
            if (n > 0 && n < 2048) {
                snprintf(path, sizeof path, "%.*s/%s", (int)n, p, name);
                if (readable(path)) return strdup(path);
            }
            p += n;
            if (*p) p++;
        }
    }
    const char *dirs[] = {"/lib/%s", "/usr/lib/%s", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char dir[512];
        snprintf(dir, sizeof dir, dirs[i], multiarch);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (readable(path)) return strdup(path);
    }
    return NULL;
}

/* "name+0xHEX" -> name length and offset; false when function is not that. */
static bool split_module_offset(const char *function, size_t *name_len, uint64_t *offset) {
    const char *plus = strrchr(function, '+');
    if (!plus || plus == function || strncmp(plus, "+0x", 3) != 0 || !plus[3]) return false;
    char *end;
    unsigned long long v = strtoull(plus + 3, &end, 16);
    if (*end) return false;
    *name_len = (size_t)(plus - function);
    *offset = v;
    return true;
}

/* The module file and offset of a site, or NULL when it has neither. */
static char *site_module(const mt__sym *s, const mt__rpt_site *site, uint64_t *offset) {
    size_t name_len = 0;
    uint64_t off = 0;
    bool split = site->function && split_module_offset(site->function, &name_len, &off);
    if (site->module && *site->module) {
        if (site->has_offset) off = site->offset;
        else if (!split || strncmp(site->function, base_name(site->module), name_len) != 0 ||
                 base_name(site->module)[name_len] != '\0')
            return NULL;
        *offset = off;
        /* the main program is often named as it was started ("./prog"),
         * relative to a directory that may not be ours */
        if (s->program && (site->module[0] != '/' || !readable(site->module)) &&
            strcmp(base_name(site->module), base_name(s->program)) == 0)
            return strdup(s->program);
        return strdup(site->module);
    }
    if (!split) return NULL;
    char name[1024];
    if (name_len >= sizeof name) return NULL;
    memcpy(name, site->function, name_len);
    name[name_len] = '\0';
    *offset = off;
    return find_by_name(s, name);
}

size_t mt__sym_report(mt__sym *s, mt__rpt *r) {
    size_t resolved = 0;
    for (size_t i = 0; i < r->nsites; i++) {
        mt__rpt_site *site = &r->sites[i];
        uint64_t offset = 0;
        char *module = site_module(s, site, &offset);
        if (!module) continue;
        const char *function = NULL, *file = NULL;
        int line = 0;
        if (mt__sym_lookup(s, module, offset, &function, &file, &line) == 0) {
            /* a site that came with file:line keeps it */
            mt__rpt_site_update(site, function, site->file ? NULL : file, line);
            resolved++;
        }
        free(module);
    }
    return resolved;
}
