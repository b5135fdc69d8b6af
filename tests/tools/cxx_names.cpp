// cxx_names.cpp - a C++ program whose allocations come from named
// functions: memtally run must give them demangled ("make_name(int)").
#include <string>

namespace shop {
__attribute__((noinline)) std::string *make_name(int n) { return new std::string(n + 40, 'x'); }
} // namespace shop

int main() {
    std::string *s = shop::make_name(2);
    int rc = s->size() == 42 ? 0 : 1;
    delete s;
    return rc;
}
