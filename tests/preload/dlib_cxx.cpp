/* dlib_cxx.cpp - dlib.c's dl_make in a C++ library: a C program that
 * opens it with dlopen loads libstdc++ (and the emergency pool libstdc++
 * allocates at start-up) long after the preload library has started. */
#include <cstdlib>
#include <string>

extern "C" __attribute__((visibility("default"))) void *dl_make(size_t n) {
    void *p = std::malloc(n);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

/* C++ state of the library's own, freed by its destructor at exit */
static std::string dl_name(40, 'x');
