/*
 * preload.c - libmemtally_preload.so: replaces glibc's malloc family for a
 * whole unmodified program (LD_PRELOAD) and hands every call to the core.
 *
 * A thin shim: each exported function works out the calling address (the
 * site), applies glibc's argument rules (overflow, alignment, errno) and
 * calls mt__alloc_pc / mt__realloc_pc / mt__free_ex / mt__usable_size. All
 * counting lives in the core, which is compiled into this library with
 * MT_PRELOAD=1 so that its backend is glibc's __libc_malloc family: no dlsym
 * bootstrap, so calls made before any constructor (the dynamic loader, other
 * libraries' constructors) are tracked like the rest.
 *
 * Recursion guard: a thread-local (initial-exec) counter is raised around
 * every call into the core and around the at-exit report. While it is up,
 * allocations go straight to glibc untracked; the core later recognises
 * those blocks as foreign and gives them back to glibc on free (the shim
 * keeps their addresses: see busy_add).
 *
 * Environment (besides the core's MEMTALLY_REPORT, MEMTALLY_LEAK_CHECK,
 * MEMTALLY_LARGE, MEMTALLY_STACK_DEPTH):
 *   MEMTALLY_PID=<pid>  the process that owns the report. `memtally run`
 *                       sets it in the child to the child's pid before exec.
 *                       When it is absent, a process owns the report unless
 *                       its parent process has this library loaded (then it
 *                       was started by a tracked program: `sh -c 'a | b'`).
 *   MEMTALLY_FOLLOW=1   processes that do not own the report (exec'd
 *                       children, forked children that call exit) write
 *                       their own report, ".<pid>" inserted before the
 *                       extension ("out.json" -> "out.4242.json"; none when
 *                       the report is a descriptor, /dev/stdout), and run
 *                       the leak check too. Off by default: only the owner
 *                       reports, so children never overwrite its report.
 *   MEMTALLY_FOLLOW_OUT=<path>  `memtally run --follow`: where a process
 *                       reports (with ".<pid>") when memtally's temporary
 *                       directory is gone: memtally has read the reports
 *                       in it, and this process outlived the program.
 *   MEMTALLY_NAMES=later  `memtally run`: it names the sites itself after
 *                       the program exits, so the report at exit gives them
 *                       as "module+0xOFF" without searching the symbols
 *                       (reports the program asks for before keep dladdr's
 *                       names).
 *
 * MEMTALLY_STACK_DEPTH=N: with N = 1 (the default) the site is the function
 * that called malloc, read with __builtin_return_address (no unwinding).
 * With N >= 2 the stack is walked; frames inside the C and C++ runtime
 * (libc, libstdc++, libgcc_s, the dynamic loader, this library) are
 * skipped, and the site is the (N-1)-th remaining frame. So N = 2 names
 * the first caller outside the runtime (past strdup, fopen, operator new),
 * N = 3 also looks past one allocation wrapper of the program's own
 * (xmalloc, g_malloc), and so on. The walk goes no higher than main (the
 * process's entry code above it, _start, is not the program's own though
 * the executable holds it) or a thread's start function: where fewer than
 * N - 1 frames of the program's own are found, the site is the outermost
 * of them, and where none is, the function that called malloc.
 *
 * The walker is memtally's own (unwind.c): each code address's unwind rule
 * is decoded from .eh_frame once and kept per thread, so a frame costs a
 * few loads. Where it cannot follow a frame (a signal frame, a frame given
 * by a DWARF expression, code without unwind tables) the walk is redone by
 * libgcc's _Unwind_Backtrace, which decodes the tables afresh for every
 * frame (~0.2 us a frame). Both find frames through _dl_find_object,
 * without locks or allocation. MEMTALLY_UNWIND=libgcc uses libgcc alone;
 * MEMTALLY_UNWIND=check walks every stack both ways and logs at exit how
 * many walks there were, how many went to libgcc and how many found a
 * different frame (the tests require none). (libunwind's cached
 * unw_backtrace was tried before and taken out: in 1.6.2 it takes a global
 * lock around dl_iterate_phdr, which deadlocks against a program whose
 * dl_iterate_phdr callback allocates, is not reset across fork, and keeps
 * stale unwind rules after dlclose.)
 *
 * What it costs (glibc 2.36, 2-core VM; bench/programs.sh): depth 1 adds
 * 15-30 ns to a malloc+free pair. Depth 2 adds a look at the caller's
 * module (a few compares once the thread has seen it) when the program
 * called malloc itself, and a walk when the call came through a runtime
 * wrapper. Depth 3 and more walk every allocation. Run time against
 * plain: see bench/README.md.
 *
 * At exit: a handler registered from the constructor with __cxa_atexit and
 * no DSO handle. The constructor runs before __libc_start_main registers
 * the dynamic loader's destructor pass (_dl_fini), so exit() runs this
 * handler after every other atexit handler and after every ELF destructor
 * of the program and all its libraries (libraries free their memory
 * there), and before stdio is flushed by exit itself. (Plain atexit() from
 * a shared library ties the handler to that library's own finalisation,
 * which _dl_fini runs before the destructors of libraries loaded after
 * it.) The handler calls libstdc++'s __gnu_cxx::__freeres() when the
 * program has libstdc++ and then __libc_freeres() (the runtimes' own
 * buffers are released the way valgrind does; this flushes stdio), and
 * then the core's at-exit actions (leak check, report). Options were read
 * by the constructor,
 * before __libc_freeres frees the environment. A process that ends with
 * _exit, a signal or exec writes no report; one that asked for neither a
 * report nor a leak check is left alone at exit.
 *
 * fork: the shim holds no lock of its own; the core's pthread_atfork
 * handlers cover its registry lock and glibc's fork covers malloc's. A
 * forked child keeps counting (its counters start from the parent's) but
 * does not report unless MEMTALLY_FOLLOW is set.
 *
 * A program that links libmemtally.so itself binds its mt_* calls to the
 * copy of the API this library exports (LD_PRELOAD comes first in symbol
 * lookup), so its scopes and statistics are the shim's: one set of numbers.
 *
 * Known limits: libraries opened with RTLD_DEEPBIND and statically linked
 * programs do not see this malloc; a program linked with the static
 * libmemtally keeps its own separate copy; __libc_freeres at exit assumes
 * no other thread is still using libc's buffers (as valgrind does); a site
 * in a library unloaded with dlclose before exit cannot be named by
 * function at report time.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unwind.h>
#include <wchar.h>

#include "internal.h"

#define SHIM_API __attribute__((visibility("default")))

/* glibc's own allocator, exported for exactly this use. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_freeres(void);
/* libstdc++'s counterpart (__gnu_cxx::__freeres, since GCC 8): frees the
 * exception-handling emergency pool it allocates at start-up. Weak: NULL
 * in a program that did not start with libstdc++ (see cxx_freeres). */
extern void mt_cxx_freeres(void) __asm__("_ZN9__gnu_cxx9__freeresEv") __attribute__((weak));
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

static MT_TLS int in_shim;      /* recursion guard */
static bool shim_started;       /* preload mode set, core told */
static int stack_depth = 1;     /* MEMTALLY_STACK_DEPTH, read by the constructor */
static bool follow;             /* MEMTALLY_FOLLOW */
static char follow_out[4096];   /* MEMTALLY_FOLLOW_OUT: see shim_exit */
static bool names_later;        /* MEMTALLY_NAMES=later: for the report at exit */
static bool owner;              /* this process (as exec'd) owns the report */
static pid_t start_pid;         /* getpid() in the constructor; fork changes it */
static struct link_map *self_map;
static size_t (*libc_usable)(void *);

/* ---- start-up ----------------------------------------------------------- */

/* The first call into the core, from whichever comes first: an early
 * malloc or the constructor. The core must not register its own atexit. */
static MT_NOINLINE MT_COLD void shim_start(void) {
    mt__preload_mode = true;
    shim_started = true;
}

MT_INLINE void shim_enter(void) {
    if (MT_UNLIKELY(!shim_started)) shim_start();
    in_shim++;
}

MT_INLINE void shim_leave(void) { in_shim--; }

/* glibc's malloc_usable_size is a weak alias of an unexported function that
 * this library's malloc_usable_size interposes; find the next definition
 * (libc's) once. The constructor does it; only a call before it comes here. */
static size_t glibc_usable(void *ptr) {
    size_t (*fn)(void *) = __atomic_load_n(&libc_usable, __ATOMIC_ACQUIRE);
    if (MT_UNLIKELY(!fn)) {
        in_shim++;
        fn = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
        in_shim--;
        if (!fn) return 0;
        __atomic_store_n(&libc_usable, fn, __ATOMIC_RELEASE);
    }
    return fn(ptr);
}

/* ---- the calling site --------------------------------------------------- */

/* Whether a module is part of the C/C++ runtime or this library. */
static bool runtime_module(const struct link_map *m) {
    if (m == self_map) return true;
    if (!m || !m->l_name) return false;
    const char *base = strrchr(m->l_name, '/');
    base = base ? base + 1 : m->l_name;
    static const char *const names[] = {"libc.so",  "libstdc++.so", "libc++.so",  "libc++abi.so",
                                        "libgcc_s.so", "ld-linux",   "libmemtally_preload"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strncmp(base, names[i], strlen(names[i])) == 0) return true;
    return false;
}

/* Each thread remembers the address ranges of the last modules it asked
 * about, so a frame in a module seen before costs a few compares instead of
 * a _dl_find_object call and the name test. A dlclose (interposed below)
 * may free a range for another module, so it empties every thread's memo:
 * each thread compares the memo's dlclose count with the current one. */
#define MODULE_MEMO 8u
typedef struct module_range {
    uintptr_t lo, hi; /* [lo, hi); empty when lo == hi */
    bool runtime;
} module_range;
static MT_TLS module_range module_memo[MODULE_MEMO];
static MT_TLS unsigned module_memo_next;
static MT_TLS unsigned module_memo_closes;
static unsigned dlcloses; /* dlclose calls begun and ended, atomically */

/* True for code of the C/C++ runtime and of this library: the frames that
 * MEMTALLY_STACK_DEPTH >= 2 looks past. */
static bool runtime_frame(const void *pc) {
    uintptr_t a = (uintptr_t)pc;
    unsigned closes = __atomic_load_n(&dlcloses, __ATOMIC_ACQUIRE);
    if (MT_UNLIKELY(closes != module_memo_closes)) {
        memset(module_memo, 0, sizeof module_memo);
        module_memo_closes = closes;
    }
    for (unsigned i = 0; i < MODULE_MEMO; i++)
        if (a - module_memo[i].lo < module_memo[i].hi - module_memo[i].lo) return module_memo[i].runtime;
    struct dl_find_object fo;
    if (_dl_find_object((void *)pc, &fo) != 0) return false;
    bool runtime = runtime_module(fo.dlfo_link_map);
    module_range *r = &module_memo[module_memo_next++ % MODULE_MEMO];
    r->lo = (uintptr_t)fo.dlfo_map_start;
    r->hi = (uintptr_t)fo.dlfo_map_end;
    r->runtime = runtime;
    return runtime;
}

/* dlclose, counted before and after the real one: a memo filled while a
 * module was being unloaded is emptied by the second count. */
SHIM_API int dlclose(void *handle) {
    static int (*real)(void *);
    int (*fn)(void *) = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    if (MT_UNLIKELY(!fn)) {
        fn = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
        if (!fn) return -1;
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    __atomic_add_fetch(&dlcloses, 1, __ATOMIC_RELEASE);
    int rc = fn(handle);
    __atomic_add_fetch(&dlcloses, 1, __ATOMIC_RELEASE);
    return rc;
}

/* The process's entry point (_start, from the executable's crt1.o): the
 * outermost frame of the main thread. It calls __libc_start_main, which
 * calls main through __libc_start_call_main, so a return address into it
 * lies a few dozen bytes past the entry point: 0x21 in the start code of
 * glibc 2.36 (crt1.o, Scrt1.o, gcrt1.o), still under ENTRY_SPAN with an
 * endbr64 in front or with older start code's __libc_csu_init and
 * __libc_csu_fini arguments. The walk ends there: _start is in the
 * executable, so it would count as a frame of the program's own, above
 * main. A thread's stack ends in libc (start_thread, clone3), a runtime
 * frame. */
#define ENTRY_SPAN 64u
static uintptr_t process_entry; /* 0 until shim_init: matches no return address */

/* The program is the first object dl_iterate_phdr reports, also when it
 * was started as `ld.so PROGRAM`; its ELF header, which gives the entry
 * point, begins its segment at file offset 0. */
static int program_entry(struct dl_phdr_info *info, size_t size, void *arg) {
    (void)size;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || ph->p_offset != 0) continue;
        const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)(info->dlpi_addr + ph->p_vaddr);
        if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_entry)
            *(uintptr_t *)arg = info->dlpi_addr + eh->e_entry;
        break;
    }
    return 1; /* the program only */
}


typedef struct walk {
    int want;          /* non-runtime frames to pass before taking one */
    int seen;
    int frames;
    const void *found;
    const void *last;  /* last non-runtime frame, if the stack ends early */
} walk;

/* One return address of the walk; false when the walk is done. */
static bool walk_ip(const void *ip, void *arg) {
    walk *w = arg;
    if (!ip || ++w->frames > 64 + w->want) return false;
    /* a return address; the call instruction is just before it */
    if (runtime_frame((const char *)ip - 1)) return true;
    if ((uintptr_t)ip - process_entry < ENTRY_SPAN) return false; /* _start: the walk is past main */
    w->last = ip;
    if (++w->seen == w->want) {
        w->found = ip;
        return false;
    }
    return true;
}

static _Unwind_Reason_Code walk_frame(struct _Unwind_Context *ctx, void *arg) {
    return walk_ip((const void *)_Unwind_GetIP(ctx), arg) ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/* MEMTALLY_UNWIND: which walker finds the frames for depths >= 2. */
typedef enum { UNWIND_MEMTALLY, UNWIND_LIBGCC, UNWIND_CHECK } unwind_mode;
static unwind_mode unwind_with;
static unsigned long check_walks, check_libgcc, check_differ; /* MEMTALLY_UNWIND=check */

static const void *walk_result(const walk *w, const void *ret) {
    if (w->found) return w->found;
    return w->last ? w->last : ret;
}

/* MEMTALLY_UNWIND=check: libgcc walks the same stack into *w; when
 * memtally's walker was done too (mine), a different answer is counted and
 * the first few are logged (the summary comes at exit). */
static MT_NOINLINE MT_COLD void check_walk(const walk *mine, bool done, walk *w, const void *ret) {
    _Unwind_Backtrace(walk_frame, w);
    __atomic_add_fetch(&check_walks, 1, __ATOMIC_RELAXED);
    if (!done) {
        __atomic_add_fetch(&check_libgcc, 1, __ATOMIC_RELAXED);
        return;
    }
    const void *a = walk_result(mine, ret), *b = walk_result(w, ret);
    if (a != b && __atomic_add_fetch(&check_differ, 1, __ATOMIC_RELAXED) <= 10)
        mt__log(MT_LOG_ERROR, "unwind check: memtally's walker found %p, libgcc %p", a, b);
}

static MT_NOINLINE const void *walk_stack(const void *ret) {
    /* depth 2 from code outside the runtime: the caller is the answer, no
     * unwinding needed (the common case: the program calls malloc itself) */
    if (stack_depth == 2 && !runtime_frame((const char *)ret - 1)) return ret;
    walk w = {.want = stack_depth - 1}, gcc = {.want = stack_depth - 1};
    /* memtally's own walker (unwind.c), and libgcc's where it gives up */
    bool done = unwind_with != UNWIND_LIBGCC && mt__unwind(walk_ip, &w, __atomic_load_n(&dlcloses, __ATOMIC_ACQUIRE)) == 0;
    if (MT_UNLIKELY(unwind_with == UNWIND_CHECK)) check_walk(&w, done, &gcc, ret);
    else if (!done) _Unwind_Backtrace(walk_frame, &gcc);
    return walk_result(done ? &w : &gcc, ret);
}

/* Called inside the guard: the unwinder never allocates, but if some
 * future version did, the guard keeps it untracked. */
MT_INLINE const void *site_pc(const void *ret) {
    if (MT_LIKELY(stack_depth <= 1)) return ret;
    return walk_stack(ret);
}

/* ---- glibc's rules for aligned requests ---------------------------------- */

/* ---- blocks glibc served while the shim was busy ---------------------------
 * While the recursion guard is up (memtally's own work: the report's FILE,
 * dladdr's buffers, a hook that allocates), a block comes from glibc
 * untracked, and may reach free() later like any block. Their addresses are
 * kept in a lock-free open-addressing set, so free() and realloc() give
 * glibc exactly those foreign pointers. Anything else without memtally's
 * header, above all a block memtally handed out and the program frees
 * twice (glibc's free lists overwrite its header at once), is named as a
 * bad free and kept from glibc, which would abort on it. A slot once used
 * is never empty again (a removed address leaves BUSY_GONE, which a new one
 * may take), so a search ends at the first empty slot; an address is placed
 * within BUSY_REACH slots of its home. Should that fail (tens of thousands
 * of such blocks alive at once), the set stops vouching: from then on every
 * foreign pointer goes to glibc, as it would without memtally. */
#define BUSY_SLOTS (1u << 16)
#define BUSY_REACH 256u
#define BUSY_GONE ((uintptr_t)1)
static _Atomic(_Atomic uintptr_t *) busy_slots;
static _Atomic bool busy_full;

static _Atomic uintptr_t *busy_table(void) {
    _Atomic uintptr_t *t = atomic_load_explicit(&busy_slots, memory_order_acquire);
    if (t) return t;
    _Atomic uintptr_t *fresh = mt__os_reserve(BUSY_SLOTS * sizeof *fresh);
    if (!fresh) return NULL;
    if (atomic_compare_exchange_strong(&busy_slots, &t, fresh)) return fresh;
    mt__os_release(fresh, BUSY_SLOTS * sizeof *fresh);
    return t;
}

static uint32_t busy_home(uintptr_t p) {
    return (uint32_t)(((uint64_t)p * 0x9E3779B97F4A7C15ull) >> (64 - 16));
}

/* Records a block glibc served while the shim was busy; returns it. */
static void *busy_add(void *ptr) {
    uintptr_t p = (uintptr_t)ptr;
    if (!ptr) return ptr;
    _Atomic uintptr_t *t = busy_table();
    for (uint32_t i = 0, h = busy_home(p); t && i < BUSY_REACH; i++) {
        _Atomic uintptr_t *slot = &t[(h + i) & (BUSY_SLOTS - 1)];
        uintptr_t v = atomic_load_explicit(slot, memory_order_relaxed);
        if ((v == 0 || v == BUSY_GONE) && atomic_compare_exchange_strong(slot, &v, p)) return ptr;
    }
    atomic_store(&busy_full, true);
    return ptr;
}

/* Removes ptr from the set (before glibc gets it back, so that an address
 * glibc hands out again is recorded afresh); true when it was there, or
 * when the set no longer vouches. */
static bool busy_take(const void *ptr) {
    uintptr_t p = (uintptr_t)ptr;
    _Atomic uintptr_t *t = atomic_load_explicit(&busy_slots, memory_order_acquire);
    for (uint32_t i = 0, h = busy_home(p); t && i < BUSY_REACH; i++) {
        _Atomic uintptr_t *slot = &t[(h + i) & (BUSY_SLOTS - 1)];
        uintptr_t v = atomic_load_explicit(slot, memory_order_acquire);
        if (v == p) return atomic_compare_exchange_strong(slot, &v, BUSY_GONE);
        if (v == 0) break;
    }
    return atomic_load(&busy_full);
}

static void foreign_free(void *ptr) {
    if (busy_take(ptr)) {
        __libc_free(ptr);
        return;
    }
    mt__header none = {0};
    mt__block_report_bad("free", ptr, MT_BLOCK_FOREIGN, &none);
}

static void *foreign_realloc(void *ptr, size_t size) {
    if (busy_take(ptr)) {
        void *p = __libc_realloc(ptr, size);
        if (p) busy_add(p);           /* glibc's still, moved or not */
        else if (size) busy_add(ptr); /* failed: the old block stays (size 0 freed it) */
        return p;
    }
    mt__header none = {0};
    mt__block_report_bad("realloc", ptr, MT_BLOCK_FOREIGN, &none);
    errno = EINVAL;
    return NULL;
}

/* memalign/aligned_alloc as glibc 2.36 does them (_mid_memalign): an
 * alignment up to malloc's own (16) is a plain malloc, one above
 * SIZE_MAX / 2 + 1 is EINVAL, one that is not a power of two is rounded up
 * to the next power of two. */
static void *aligned_request(size_t alignment, size_t size, const void *ret) {
    if (alignment <= 16) alignment = 0;
    else if (alignment > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    } else if (alignment & (alignment - 1)) {
        alignment = (size_t)1 << (64 - __builtin_clzll((unsigned long long)alignment));
    }
    if (MT_UNLIKELY(in_shim)) return busy_add(alignment ? __libc_memalign(alignment, size) : __libc_malloc(size));
    shim_enter();
    void *p = mt__alloc_pc(size, alignment, 0, site_pc(ret));
    shim_leave();
    return p;
}

/* ---- the malloc family ---------------------------------------------------- */


SHIM_API void *malloc(size_t size) {
    const void *ret = __builtin_return_address(0);
    if (MT_UNLIKELY(in_shim)) return busy_add(__libc_malloc(size));
    shim_enter();
    void *p = mt__alloc_pc(size, 0, 0, site_pc(ret));
    shim_leave();
    return p;
}

SHIM_API void free(void *ptr) {
    if (!ptr) return;
    int saved = errno; /* glibc's free keeps errno; so must this one */
    shim_enter();
    mt__free_ex(ptr, foreign_free);
    shim_leave();
    errno = saved;
}

/* Obsolete alias that very old binaries still call (glibc keeps it as a
 * compatibility symbol). */
SHIM_API void cfree(void *ptr);
SHIM_API void cfree(void *ptr) { free(ptr); }

SHIM_API void *calloc(size_t count, size_t size) {
    const void *ret = __builtin_return_address(0);
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    if (MT_UNLIKELY(in_shim)) return busy_add(__libc_calloc(count, size));
    shim_enter();
    void *p = mt__alloc_pc(bytes, 0, 1, site_pc(ret));
    shim_leave();
    return p;
}

/* Inside the guard a new block comes from glibc untracked, but a tracked
 * one (a hook or log callback reallocating the program's memory) still
 * goes through the core so its accounting stays right. The core sends a
 * foreign pointer to __libc_realloc. */
static void *realloc_common(void *ptr, size_t size, const void *ret) {
    if (MT_UNLIKELY(in_shim)) {
        if (!ptr) return busy_add(__libc_malloc(size));
        in_shim++;
        void *p = mt__realloc_pc(ptr, size, ret, foreign_realloc); /* a foreign ptr goes to __libc_realloc */
        in_shim--;
        return p;
    }
    shim_enter();
    void *p = mt__realloc_pc(ptr, size, site_pc(ret), foreign_realloc);
    shim_leave();
    return p;
}

SHIM_API void *realloc(void *ptr, size_t size) {
    return realloc_common(ptr, size, __builtin_return_address(0));
}

SHIM_API void *reallocarray(void *ptr, size_t count, size_t size) {
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc_common(ptr, bytes, __builtin_return_address(0));
}

/* In glibc 2.36 aligned_alloc is memalign: any alignment is accepted and
 * size need not be a multiple of it. */
SHIM_API void *aligned_alloc(size_t alignment, size_t size) {
    return aligned_request(alignment, size, __builtin_return_address(0));
}

SHIM_API void *memalign(size_t alignment, size_t size) {
    return aligned_request(alignment, size, __builtin_return_address(0));
}

/* EINVAL unless alignment is a power of two multiple of sizeof(void *),
 * ENOMEM on failure; errno is left as it was either way. */
SHIM_API int posix_memalign(void **out, size_t alignment, size_t size) {
    const void *ret = __builtin_return_address(0);
    if (alignment == 0 || alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    int saved = errno;
    void *p = aligned_request(alignment, size, ret);
    errno = saved;
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

SHIM_API void *valloc(size_t size) {
    return aligned_request((size_t)sysconf(_SC_PAGESIZE), size, __builtin_return_address(0));
}

/* valloc with size rounded up to whole pages. */
SHIM_API void *pvalloc(size_t size) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), rounded;
    if (__builtin_add_overflow(size, page - 1, &rounded)) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned_request(page, rounded & ~(page - 1), __builtin_return_address(0));
}

SHIM_API size_t malloc_usable_size(void *ptr) {
    if (!ptr) return 0;
    shim_enter();
    size_t n = mt__usable_size(ptr, glibc_usable);
    shim_leave();
    return n == SIZE_MAX ? glibc_usable(ptr) : n;
}

/* ---- who reports ------------------------------------------------------------ */

/* True when the parent process has this library mapped: this process was
 * exec'd by a tracked program. Reads /proc/<ppid>/maps with plain syscalls. */
static bool parent_is_tracked(const char *needle) {
    char path[64], buf[4096 + 256];
    size_t nlen = strlen(needle), keep = 0;
    if (nlen == 0 || nlen >= 256) return false;
    int len = snprintf(path, sizeof path, "/proc/%ld/maps", (long)getppid());
    if (len < 0 || (size_t)len >= sizeof path) return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool found = false;
    for (;;) {
        ssize_t n = read(fd, buf + keep, 4096);
        if (n <= 0) break;
        size_t have = keep + (size_t)n;
        if (memmem(buf, have, needle, nlen)) {
            found = true;
            break;
        }
        keep = have < nlen - 1 ? have : nlen - 1;
        memmove(buf, buf + have - keep, keep);
    }
    close(fd);
    return found;
}

static bool decide_owner(void) {
    const char *pid = getenv("MEMTALLY_PID");
    if (pid && *pid) {
        char *end;
        long v = strtol(pid, &end, 10);
        return *end == '\0' && v == (long)start_pid;
    }
    const char *base = NULL;
    if (self_map && self_map->l_name && *self_map->l_name) {
        base = strrchr(self_map->l_name, '/');
        base = base ? base + 1 : self_map->l_name;
    }
    return !parent_is_tracked(base ? base : "libmemtally_preload.so");
}

/* "out.json" -> "out.<pid>.json", "report" -> "report.<pid>": the dot of an
 * extension is searched in the last path component only. A name for a
 * descriptor (/dev/stdout) is the owner's alone: such a process writes no
 * report. A name with no
 * room left for the pid becomes "": this process writes no report rather
 * than the program's. */
static void report_path_for_pid(char *path, size_t cap, long pid) {
    if (mt__path_descriptor(path) >= 0) {
        /* the owner's descriptor: in this process it may be a pipe into
         * another program, or that program's file */
        mt__log(MT_LOG_WARN, "%s is for the process that owns the report; process %ld writes none (name a file for "
                "one report per process)", path, pid);
        path[0] = '\0';
        return;
    }
    char tail[4096], tag[32];
    char *slash = strrchr(path, '/');
    char *base = slash ? slash + 1 : path;
    char *dot = strrchr(base, '.');
    if (!dot || dot == base) dot = path + strlen(path);
    snprintf(tag, sizeof tag, ".%ld", pid);
    size_t tl = strlen(dot);
    if (tl >= sizeof tail || (size_t)(dot - path) + strlen(tag) + tl >= cap) {
        mt__log(MT_LOG_WARN, "no room for the process id in the report name %s; process %ld writes no report", path, pid);
        path[0] = '\0';
        return;
    }
    memcpy(tail, dot, tl + 1);
    snprintf(dot, cap - (size_t)(dot - path), "%s%s", tag, tail);
}

/* The function `name` defined by the loaded object m, or NULL, looked up
 * in its GNU hash table by hand: dlsym wants a handle, and an object that
 * came in as a dependency of a dlopen'd library has none short of dlopen. */
static void *object_function(const struct link_map *m, const char *name) {
    const ElfW(Sym) *symtab = NULL;
    const char *strtab = NULL;
    const uint32_t *gnu = NULL;
    for (const ElfW(Dyn) *d = m->l_ld; d && d->d_tag != DT_NULL; d++) {
        uintptr_t p = d->d_un.d_ptr;
        if (p < m->l_addr) p += m->l_addr; /* glibc relocates them in place where it can */
        if (d->d_tag == DT_SYMTAB) symtab = (const ElfW(Sym) *)p;
        else if (d->d_tag == DT_STRTAB) strtab = (const char *)p;
        else if (d->d_tag == DT_GNU_HASH) gnu = (const uint32_t *)p;
    }
    if (!symtab || !strtab || !gnu || gnu[0] == 0) return NULL;
    uint32_t h = 5381;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) h = h * 33 + *c;
    uint32_t nbuckets = gnu[0], symoffset = gnu[1];
    const uint32_t *buckets = (const uint32_t *)((const ElfW(Addr) *)(gnu + 4) + gnu[2]); /* past the bloom filter */
    const uint32_t *chain = buckets + nbuckets;
    for (uint32_t i = buckets[h % nbuckets]; i >= symoffset; i++) {
        const ElfW(Sym) *sym = &symtab[i];
        if ((chain[i - symoffset] | 1) == (h | 1) && ELF64_ST_TYPE(sym->st_info) == STT_FUNC &&
            sym->st_shndx != SHN_UNDEF && strcmp(strtab + sym->st_name, name) == 0)
            return (void *)(m->l_addr + sym->st_value);
        if (chain[i - symoffset] & 1) break;
    }
    return NULL;
}

/* Runs __gnu_cxx::__freeres if libstdc++ is loaded: linked into the
 * program (the weak reference), or opened later with dlopen by a plugin or
 * a C program's C++ library, which the weak reference never sees. That
 * libstdc++ is found in the list of loaded objects, not with dlopen: the
 * shim's exit comes after _dl_fini, and dlopen would run libstdc++'s
 * constructors again (a second pool). */
static void cxx_freeres(void) {
    void (*fn)(void) = mt_cxx_freeres;
    struct link_map *m = self_map;
    while (m && m->l_prev) m = m->l_prev;
    for (; !fn && m; m = m->l_next) {
        const char *base = m->l_name ? strrchr(m->l_name, '/') : NULL;
        if (base && strncmp(base + 1, "libstdc++.so", 12) == 0)
            *(void **)&fn = object_function(m, "_ZN9__gnu_cxx9__freeresEv");
    }
    if (fn) fn();
}

/* glibc's stdio list (exported by libc.so.6 for its own tools). */
extern FILE *_IO_list_all;
extern void _IO_list_lock(void);
extern void _IO_list_unlock(void);

/* __libc_freeres frees the buffer of a stream only if the stream was
 * oriented when stdio was first cleaned up. exit() does that clean-up after
 * the at-exit handlers, and marks every stream byte-oriented as it goes:
 * valgrind's __libc_freeres comes after it, the shim's before. A stream
 * that got its buffer and no data (a read at end of file: `prog </dev/null`)
 * is unoriented still, and its buffer would be reported as a leak. This
 * orients such streams as exit's clean-up would. */
static void orient_streams(void) {
    _IO_list_lock();
    /* a stream another thread holds (blocked in a read, or in flockfile)
     * is skipped: waiting for it could hang the exit; glibc's own clean-up
     * at exit does not wait for such a stream either */
    for (FILE *f = _IO_list_all; f; f = f->_chain) {
        if (ftrylockfile(f) != 0) continue;
        (void)fwide(f, -1); /* leaves an oriented one alone */
        funlockfile(f);
    }
    _IO_list_unlock();
}

static void shim_exit(void *unused) {
    (void)unused;
    if (unwind_with == UNWIND_CHECK)
        mt__log(MT_LOG_INFO, "unwind check: %lu walks, %lu by libgcc alone, %lu with a different frame",
                __atomic_load_n(&check_walks, __ATOMIC_RELAXED), __atomic_load_n(&check_libgcc, __ATOMIC_RELAXED),
                __atomic_load_n(&check_differ, __ATOMIC_RELAXED));
    if (!mt__opt.report[0] && !mt__opt.leak_check) return; /* nothing asked for: leave libc alone */
    pid_t pid = getpid();
    bool mine = owner && pid == start_pid;
    if (!mine && !follow) return;
    if (!mine && mt__opt.report[0]) {
        /* `memtally run --follow` takes away the directory it reads reports
         * from once the program has exited; a process still running then
         * writes its own report where memtally would have put it */
        report_path_for_pid(mt__opt.report, sizeof mt__opt.report, (long)pid);
        if (follow_out[0]) {
            strcpy(mt__opt.report_else, follow_out);
            report_path_for_pid(mt__opt.report_else, sizeof mt__opt.report_else, (long)pid);
        }
    }
    /* as valgrind does, in every process that reports; their frees are
     * counted: the guard is down */
    cxx_freeres();
    orient_streams();
    __libc_freeres();
    /* only the report at exit goes to `memtally run` to be named: the
     * program's own reports before it keep dladdr's names */
    mt__names_later = names_later;
    in_shim++;
    mt__atexit_actions();
    in_shim--;
}

__attribute__((constructor(101))) static void shim_init(void) {
    in_shim++;
    /* a standard descriptor closed at start will be one of the program's
     * files: no log lines on fd 2, no report through /dev/stdout there */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0) mt__std_closed |= 1u << fd;
    if (mt__std_closed & 4) mt__log_muted = true;
    bool early = atomic_load(&mt__initialized); /* an allocation beat us here */
    if (!shim_started) shim_start();
    if (mt_init() == 0 && early) mt__options_read(); /* environ may have been empty then */
    stack_depth = mt__opt.stack_depth;
    const char *f = getenv("MEMTALLY_FOLLOW");
    follow = f && mt__parse_bool(f) == 1;
    const char *names = getenv("MEMTALLY_NAMES");
    names_later = names && strcmp(names, "later") == 0;
    const char *out = getenv("MEMTALLY_FOLLOW_OUT");
    if (out && strlen(out) < sizeof follow_out) strcpy(follow_out, out);
    const char *u = getenv("MEMTALLY_UNWIND");
    if (u && strcmp(u, "libgcc") == 0) unwind_with = UNWIND_LIBGCC;
    else if (u && strcmp(u, "check") == 0) unwind_with = UNWIND_CHECK;
    else if (u && *u && strcmp(u, "memtally") != 0)
        mt__log(MT_LOG_WARN, "MEMTALLY_UNWIND=%s is not memtally, libgcc or check; memtally's walker is used", u);
    start_pid = getpid();

    struct dl_find_object fo;
    if (_dl_find_object((void *)shim_init, &fo) == 0) self_map = fo.dlfo_link_map;
    dl_iterate_phdr(program_entry, &process_entry);
    size_t (*fn)(void *) = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    if (fn) __atomic_store_n(&libc_usable, fn, __ATOMIC_RELEASE);

    owner = decide_owner();
    __cxa_atexit(shim_exit, NULL, NULL); /* no DSO: runs after _dl_fini, see the top */
    in_shim--;
}
