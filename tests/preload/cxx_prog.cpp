// cxx_prog.cpp - C++ allocation under libmemtally_preload.so: operator new,
// new[], aligned new and std::string reach the shim through libstdc++.
// Run with MEMTALLY_STACK_DEPTH=2, the sites are the cx_* functions
// (past operator new in libstdc++); it prints an "expect" line with what
// they allocated and freed for check_report.py, and exits 1 when an
// aligned new is misaligned.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

struct alignas(128) Wide {
    char bytes[300];
};

// The pointer escapes: compilers may not elide a new/delete pair then.
#define ESCAPE(p) __asm__ volatile("" : : "r"(p) : "memory")

static unsigned long long allocs, frees, allocated, freed;
static int failed;
char *volatile cx_keep; // live at exit

extern "C" __attribute__((noinline)) void cx_arrays() {
    for (int i = 1; i <= 3; i++) {
        char *p = new char[1000 * i];
        std::memset(p, i, 1000 * i);
        ESCAPE(p);
        allocs++;
        allocated += 1000 * i;
        delete[] p;
        frees++;
        freed += 1000 * i;
    }
    cx_keep = new char[77];
    allocs++;
    allocated += 77;
}

extern "C" __attribute__((noinline)) void cx_aligned() {
    Wide *w = new Wide; // operator new(size_t, align_val_t)
    ESCAPE(w);
    if (reinterpret_cast<std::uintptr_t>(w) % 128 != 0) failed = 1;
    allocs++;
    allocated += sizeof(Wide);
    delete w;
    frees++;
    freed += sizeof(Wide);
    Wide *v = new Wide[3];
    ESCAPE(v);
    if (reinterpret_cast<std::uintptr_t>(v) % 128 != 0) failed = 1;
    allocs++;
    allocated += 3 * sizeof(Wide);
    delete[] v;
    frees++;
    freed += 3 * sizeof(Wide);
}

extern "C" __attribute__((noinline)) void cx_nothrow() {
    int *p = new (std::nothrow) int[50];
    ESCAPE(p);
    if (!p) failed = 1;
    allocs++;
    allocated += 50 * sizeof(int);
    delete[] p;
    frees++;
    freed += 50 * sizeof(int);
}

int main() {
    cx_arrays();
    cx_aligned();
    cx_nothrow();
    std::printf("expect prefix=cx_ allocs=%llu frees=%llu allocated=%llu freed=%llu current=77\n", allocs, frees,
                allocated, freed);
    return failed;
}
