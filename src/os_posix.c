/*
 * os_posix.c - the few operating-system calls memtally makes: anonymous
 * mappings for metadata, a fault-free readability probe, entropy, writes,
 * naming a code address. Nothing here allocates through malloc or takes a
 * lock, so it is safe inside the preload shim's malloc.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

void *mt__os_reserve(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void mt__os_release(void *p, size_t bytes) {
    if (p) munmap(p, bytes);
}

static size_t page_round(size_t bytes) {
    size_t page = 4096;
    return (bytes + page - 1) & ~(page - 1);
}

void *mt__meta_alloc(size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (bytes > SIZE_MAX - 4096) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = mmap(NULL, page_round(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    return p;
}

void mt__meta_free(void *p, size_t bytes) {
    if (p) munmap(p, page_round(bytes ? bytes : 1));
}

/* process_vm_readv on our own pid reports EFAULT instead of raising SIGSEGV,
 * which is exactly the probe we need for a pointer whose header may sit on
 * an unmapped or protected page. */
bool mt__os_readable(const void *p, size_t len) {
    char buf[64];
    if (len > sizeof buf) len = sizeof buf;
    struct iovec local = {buf, len};
    struct iovec remote = {(void *)(uintptr_t)p, len};
    ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    return n == (ssize_t)len;
}

uint64_t mt__os_entropy(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)&ts;
    x ^= (uint64_t)getpid() << 17;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x | 1;
}

void mt__os_write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

const char *mt__os_exe_path(char *buf, size_t cap) {
    ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

const char *mt__os_pc_module(const void *pc, char *buf, size_t cap) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
    struct dl_find_object fo;
    if (_dl_find_object((void *)pc, &fo) == 0 && fo.dlfo_link_map) {
        const char *name = fo.dlfo_link_map->l_name;
        char exe[4096];
        if (!name || !*name) /* the main program: its file, not argv[0] */
            name = *mt__os_exe_path(exe, sizeof exe) ? exe : program_invocation_short_name;
        const char *base = strrchr(name, '/');
        if (base) name = base + 1;
        snprintf(buf, cap, "%s+0x%lx", name, (unsigned long)((uintptr_t)pc - fo.dlfo_link_map->l_addr));
        return buf;
    }
#endif
    snprintf(buf, cap, "%p", pc);
    return buf;
}

bool mt__os_pc_module_start(const void *pc, const char **file, uintptr_t *start) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
    struct dl_find_object fo;
    if (_dl_find_object((void *)pc, &fo) == 0 && fo.dlfo_link_map) {
        const char *name = fo.dlfo_link_map->l_name;
        *file = name && *name ? name : program_invocation_name; /* as dladdr */
        *start = (uintptr_t)fo.dlfo_map_start;
        return true;
    }
    /* at exit, after __libc_freeres, _dl_find_object no longer knows the
     * dlopen'd modules: dladdr still walks the loader's lists */
#endif
    Dl_info info = {0};
    if (!dladdr(pc, &info) || !info.dli_fname) return false;
    *file = info.dli_fname;
    *start = (uintptr_t)info.dli_fbase;
    return true;
}
