#!/bin/sh
# bench/run.sh - builds memtally's benchmarks in Release and prints the table.
#
#   bench/run.sh           full run (about 5 minutes on 2 cores)
#   bench/run.sh --smoke   tiny iteration counts, seconds; checks still apply
#
# The benchmark programs link the static library; bench/programs.sh then
# times whole programs (python3, sqlite3) under `memtally run`, so the
# preload library and the memtally command are built too.
#
# Builds into build-bench/ at the top of the source tree (override with
# MEMTALLY_BENCH_DIR). The table is also saved to build-bench/bench-results.md.
# MEMTALLY_BENCH_COMMIT names the measured commit when the tree is not a git
# checkout (e.g. a `git archive` copy, which keeps a moving tree out of a run).
# Exit status is non-zero when a build fails or a benchmark's own check of
# memtally's counts fails; timings never fail the run.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMTALLY_BENCH_DIR:-$root/build-bench}
smoke=""
for arg in "$@"; do
    case $arg in
    --smoke) smoke="--smoke" ;;
    *) echo "usage: bench/run.sh [--smoke]" >&2; exit 2 ;;
    esac
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# A build directory configured without the preload library (by an older
# run.sh, or by profile.sh) is switched on; other settings are kept.
if [ ! -f "$build/CMakeCache.txt" ] || ! grep -q '^MEMTALLY_BUILD_PRELOAD:BOOL=ON$' "$build/CMakeCache.txt"; then
    if [ -f "$build/CMakeCache.txt" ]; then
        set -- -DMEMTALLY_BUILD_PRELOAD=ON
    else
        set -- -DCMAKE_BUILD_TYPE=Release -DMEMTALLY_BUILD_BENCH=ON -DMEMTALLY_BUILD_TESTS=OFF \
            -DMEMTALLY_BUILD_EXAMPLES=OFF -DMEMTALLY_BUILD_PRELOAD=ON
    fi
    if ! cmake -S "$root" -B "$build" "$@" >"$log" 2>&1; then
        cat "$log" >&2
        exit 1
    fi
fi
if ! cmake --build "$build" -j2 --target bench_pairs bench_rss bench_readers memtally_cli memtally_preload \
    >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi

bin=$build/bench
out=$build/bench-results.md
{
    echo "## memtally benchmarks${smoke:+ (smoke run: tiny counts, figures not meaningful)}"
    echo
    echo "- command: \`bench/run.sh${smoke:+ $smoke}\`"
    commit=${MEMTALLY_BENCH_COMMIT:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}
    if [ -z "${MEMTALLY_BENCH_COMMIT:-}" ] && [ -n "$(git -C "$root" status --porcelain -- src include 2>/dev/null)" ]; then
        commit="$commit + uncommitted changes in src/ or include/"
    fi
    echo "- commit: $commit, $(date -u +%Y-%m-%d)"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores, $(uname -sr)"
    cc=$(grep -m1 '^CMAKE_C_COMPILER:' "$build/CMakeCache.txt" | sed 's/.*=//')
    echo "- $(ldd --version 2>&1 | head -n1); $("$cc" --version | head -n1), -O2, Release"
    echo
} | tee "$out"

# run_saved NAME COMMAND...: runs it, its output also appended to $out; a
# non-zero exit of the command itself (not of tee) fails the run.
status=0
rc_file=$build/bench-status
run_saved() {
    name=$1; shift
    { rc=0; "$@" || rc=$?; echo $rc >"$rc_file"; } | tee -a "$out"
    if [ "$(cat "$rc_file")" != 0 ]; then
        echo "bench/run.sh: $name failed" >&2
        status=1
    fi
    rm -f "$rc_file"
}
for prog in bench_pairs bench_rss bench_readers; do
    run_saved "$prog" "$bin/$prog" $smoke
done
echo | tee -a "$out"
run_saved programs.sh env MEMTALLY="$build/tools/memtally" "$root/bench/programs.sh" $smoke
echo "(saved to $out)"
exit $status
