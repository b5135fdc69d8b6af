/*
 * dlopen_prog.c - loads dlib.so with dlopen after start-up; the library's
 * malloc calls reach the shim like everyone else's. dl_make allocates
 * 5 x 555 bytes, four are freed, one stays live at exit; dlopen and dlsym
 * themselves allocate (through the dynamic loader) without harm.
 *
 * usage: dlopen_prog PATH/TO/dlib.so
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen_prog: %s\n", dlerror());
        return 1;
    }
    void *(*make)(size_t) = (void *(*)(size_t))dlsym(h, "dl_make");
    if (!make) return 1;
    void *v[5];
    for (int i = 0; i < 5; i++) v[i] = make(555);
    for (int i = 1; i < 5; i++) free(v[i]);
    /* a second library, opened and closed again */
    void *m = dlopen("libz.so.1", RTLD_NOW);
    if (m) dlclose(m);
    printf("expect prefix=dl_make allocs=5 frees=4 allocated=2775 freed=2220 current=555\n");
    return v[0] ? 0 : 1;
}
