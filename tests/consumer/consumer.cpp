// consumer.cpp - memtally.h used from C++ (extern "C"), linked against the
// installed library.
#include <memtally.h>

#include <cstdio>
#include <cstring>

struct widget {
    int id;
    double weight;
};

int main() {
    widget *w = MT_NEW(widget, "Cxx::Widgets");
    w->id = 7;
    char *s = MT_STRDUP("from C++", "Cxx::Strings");
    mt_stats st;
    if (mt_category_stats("Cxx", 1, &st) != 0) return 1;
    std::printf("cxx %s allocs=%llu current=%llu\n", mt_version(), (unsigned long long)st.alloc_count,
                (unsigned long long)st.current);
    MT_FREE(s);
    MT_FREE(w);
    return 0;
}
