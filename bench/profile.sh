#!/bin/sh
# bench/profile.sh - instructions per free+malloc pair, counted by callgrind.
#
#   bench/profile.sh [VARIANT...]    default: plain header explicit scope runtime sites seed
#
# Runs bench_pairs on one thread under valgrind --tool=callgrind, collecting
# only inside the variant's timed loop (bench_loop_VARIANT), and prints the
# instructions per pair and where they go. Instruction counts do not depend
# on machine load, so they compare builds where timings would be too noisy.
# Uses the Release build of bench/run.sh (build-bench/, or MEMTALLY_BENCH_DIR).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${MEMTALLY_BENCH_DIR:-$root/build-bench}
pairs=${PAIRS:-100000}
command -v valgrind >/dev/null || { echo "bench/profile.sh: valgrind is not installed" >&2; exit 1; }
if [ ! -x "$build/bench/bench_pairs" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMEMTALLY_BUILD_TESTS=OFF \
        -DMEMTALLY_BUILD_EXAMPLES=OFF -DMEMTALLY_BUILD_PRELOAD=OFF >/dev/null
fi
cmake --build "$build" -j2 --target bench_pairs >/dev/null

[ $# -gt 0 ] || set -- plain header explicit scope runtime sites seed
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '| variant | instructions per pair | x plain |\n|---|---:|---:|\n'
plain_ir=""
for v in "$@"; do
    n=$pairs
    [ "$v" = seed ] && n=$((pairs / 10))   # bench_pairs gives the seed a tenth
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$v" --toggle-collect="bench_loop_$v" \
        "$build/bench/bench_pairs" --only "$v" --threads 1 --no-xthread --rounds 1 --pairs "$pairs" \
        --no-warmup >/dev/null 2>"$out/err.$v" || { cat "$out/err.$v" >&2; exit 1; }
    total=$(callgrind_annotate "$out/cg.$v" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
    per=$((total / n))
    [ "$v" = plain ] && plain_ir=$per
    ratio=""
    [ -n "$plain_ir" ] && ratio=$(awk "BEGIN {printf \"%.2f\", $per / $plain_ir}")
    printf '| %s | %d | %s |\n' "$v" "$per" "$ratio"
done
echo
for v in "$@"; do
    [ "$v" = plain ] && continue
    echo "### $v: instructions per pair by function (exclusive)"
    n=$pairs
    [ "$v" = seed ] && n=$((pairs / 10))
    callgrind_annotate "$out/cg.$v" | awk -v n="$n" '
        /file:function/ {on = 1; next}
        on && NF >= 3 && $1 ~ /^[0-9,]+$/ {c = $1; gsub(",", "", c); f = $0; sub(/^ *[0-9,]+ *\([^)]*\) */, "", f);
                          sub(/ \[.*$/, "", f); if (c / n >= 1) printf "  %7.1f  %s\n", c / n, f}'
    echo
done
