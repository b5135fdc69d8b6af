#!/bin/sh
# Installs a memtally build tree into a temporary prefix, then builds the
# programs in this directory against the installed copy, with pkg-config
# and with CMake's find_package(memtally), runs them and compares their
# output with expected.txt.
#
#   run.sh CMAKE BUILD_DIR THIS_DIR CC WORK_DIR [PREFIX_PATH]
#
# PREFIX_PATH: where the build found its dependencies (Tracy, in a
# MEMTALLY_WITH_TRACY build), for find_package(memtally) to find them too.
set -eu
CMAKE=$1 BUILD=$2 HERE=$3 CC=$4 WORK=$5 DEPS=${6:-}

fail() { echo "consumer test: $*" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"
PREFIX=$WORK/prefix

"$CMAKE" --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log" 2>&1 ||
    { cat "$WORK/install.log" >&2; fail "cmake --install failed"; }

# The files a user relies on.
test -f "$PREFIX/include/memtally.h" || fail "include/memtally.h not installed"
test -f "$PREFIX/include/memtally/auto.h" || fail "include/memtally/auto.h not installed"
PC=$(find "$PREFIX" -name memtally.pc | head -n 1)
test -n "$PC" || fail "memtally.pc not installed"
LIBDIR=$(dirname "$(dirname "$PC")")
ls "$LIBDIR"/libmemtally.so* >/dev/null 2>&1 || fail "libmemtally.so not installed in $LIBDIR"
test -f "$LIBDIR/libmemtally.a" || fail "libmemtally.a not installed in $LIBDIR"
test -f "$LIBDIR/cmake/memtally/memtallyConfig.cmake" || fail "memtallyConfig.cmake not installed"

# 1. pkg-config, shared library.
export PKG_CONFIG_PATH="$(dirname "$PC")"
test "$(pkg-config --modversion memtally)" = "0.1.0" || fail "pkg-config --modversion is not 0.1.0"
FLAGS=$(pkg-config --cflags --libs memtally) || fail "pkg-config --cflags --libs memtally failed"
case "$FLAGS" in
*"$PREFIX"*) ;;
*) fail "pkg-config flags do not point into the install prefix: $FLAGS" ;;
esac
# shellcheck disable=SC2086
"$CC" -std=c11 -Wall -Wextra -Werror -o "$WORK/consumer_pc" "$HERE/consumer.c" $FLAGS ||
    fail "building consumer.c with pkg-config flags failed"
LD_LIBRARY_PATH="$LIBDIR" "$WORK/consumer_pc" >"$WORK/pc.out" || fail "consumer_pc exited with $?"
diff -u "$HERE/expected.txt" "$WORK/pc.out" || fail "consumer_pc printed something else"
LD_LIBRARY_PATH="$LIBDIR" ldd "$WORK/consumer_pc" | grep -q "$LIBDIR/libmemtally.so" ||
    fail "consumer_pc is not linked against the installed libmemtally.so"

# 2. pkg-config, static library.
# shellcheck disable=SC2086
"$CC" -std=c11 -o "$WORK/consumer_pc_static" "$HERE/consumer.c" $(pkg-config --cflags memtally) \
    $(pkg-config --static --libs memtally | sed 's/-lmemtally/-l:libmemtally.a/') ||
    fail "building consumer.c against libmemtally.a failed"
"$WORK/consumer_pc_static" >"$WORK/pc_static.out" || fail "consumer_pc_static exited with $?"
diff -u "$HERE/expected.txt" "$WORK/pc_static.out" || fail "consumer_pc_static printed something else"

# 3. C++ through the same header.
if command -v c++ >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    c++ -Wall -Wextra -Werror -o "$WORK/consumer_cxx" "$HERE/consumer.cpp" $FLAGS ||
        fail "building consumer.cpp (C++) failed"
    OUT=$(LD_LIBRARY_PATH="$LIBDIR" "$WORK/consumer_cxx") || fail "consumer_cxx failed"
    test "$OUT" = "cxx 0.1.0 allocs=2 current=25" || fail "consumer_cxx printed: $OUT"
fi

# 4. CMake find_package(memtally), shared and static targets.
"$CMAKE" -S "$HERE" -B "$WORK/cmake-build" -DCMAKE_PREFIX_PATH="$PREFIX${DEPS:+;$DEPS}" -DCMAKE_C_COMPILER="$CC" \
    >"$WORK/cmake-configure.log" 2>&1 || { cat "$WORK/cmake-configure.log" >&2; fail "find_package(memtally) project did not configure"; }
"$CMAKE" --build "$WORK/cmake-build" >"$WORK/cmake-build.log" 2>&1 ||
    { cat "$WORK/cmake-build.log" >&2; fail "find_package(memtally) project did not build"; }
for exe in consumer_shared consumer_static; do
    "$WORK/cmake-build/$exe" >"$WORK/$exe.out" || fail "$exe exited with $?"
    diff -u "$HERE/expected.txt" "$WORK/$exe.out" || fail "$exe printed something else"
done
ldd "$WORK/cmake-build/consumer_static" | grep -q libmemtally && fail "consumer_static uses the shared library"

echo "consumer test passed"
