#!/bin/sh
# bench/ablate.sh - where the time of a tracked free+malloc pair goes.
#
#   bench/ablate.sh [RUNS]     RUNS interleaved runs (default 5), about 1 minute
#
# Builds bench_pairs four times from a copy of the tree with
# bench/ablate.patch applied: memtally as it is, memtally counting nothing
# (MT_ABLATE_COUNTING: the site lookup, the header and every check stay),
# memtally reduced to its 16-byte header (MT_ABLATE_ALL), and memtally as
# it is with 64 instructions more per pair in the header-only reference
# (BENCH_PAD=64), which prices one instruction of a pair on this machine
# (callgrind's counts of memtally's own are in bench/profile.sh). The builds
# take turns, RUNS times, each run timing plain malloc, the header-only
# reference, the explicit-category and the scope rows side by side
# (bench_pairs --rounds 11, 1 and 2 threads). The table shows the median
# over the runs of each run's median ratio to plain malloc.
#
# The ablated builds count wrongly on purpose, so their own checks fail;
# only their timings are read. The tree itself is never changed.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-5}
case $runs in
'' | *[!0-9]*) runs=0 ;;
esac
if [ "$runs" -lt 1 ]; then
    echo "usage: bench/ablate.sh [RUNS]   (RUNS: 1 or more)" >&2
    exit 2
fi
git -C "$root" rev-parse --git-dir >/dev/null 2>&1 || {
    echo "bench/ablate.sh: needs a git checkout of memtally (it copies the tracked files)" >&2
    exit 1
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/src"
(cd "$root" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$work/src"
if ! (cd "$work/src" && git apply "$root/bench/ablate.patch"); then
    echo "bench/ablate.sh: bench/ablate.patch no longer applies to src/; update it with the hot path" >&2
    exit 1
fi

builds="full counting all pad"
pad=64
for b in $builds; do
    case $b in
    full) flags="" ;;
    counting) flags="-DMT_ABLATE_COUNTING" ;;
    all) flags="-DMT_ABLATE_ALL" ;;
    pad) flags="-DBENCH_PAD=$pad" ;;
    esac
    if ! { cmake -S "$work/src" -B "$work/$b" -DCMAKE_BUILD_TYPE=Release -DMEMTALLY_BUILD_BENCH=ON \
        -DMEMTALLY_BUILD_TESTS=OFF -DMEMTALLY_BUILD_EXAMPLES=OFF -DMEMTALLY_BUILD_PRELOAD=OFF \
        -DCMAKE_C_FLAGS="$flags" &&
        cmake --build "$work/$b" -j2 --target bench_pairs; } >"$work/build-$b.log" 2>&1; then
        cat "$work/build-$b.log" >&2
        exit 1
    fi
done

# One tab-separated line per (run, build, threads, variant): the row's "x plain".
tab=$(printf '\t')
for i in $(seq "$runs"); do
    for b in $builds; do
        rows="--only explicit --only scope"
        [ "$b" = pad ] && rows="" # its memtally rows are the full build's
        # shellcheck disable=SC2086
        "$work/$b/bench/bench_pairs" --threads 1,2 --no-xthread --rounds 11 \
            --only plain --only header $rows 2>/dev/null |
            awk -F' *[|] *' -v b="$b" '/^[|] own working set/ && $6 + 0 > 0 { print b "\t" $3 "\t" $4 "\t" $6 }' || true
    done
    echo "bench/ablate.sh: run $i of $runs done" >&2
done >"$work/ratios"

ratio_of() { awk -F"$tab" -v b="$1" -v t="$2" -v v="$3" '$1 == b && $2 == t && $3 == v { print $4 }' "$work/ratios"; }
median() { sort -n | awk '{ a[NR] = $1 } END { if (!NR) print "-"; else printf "%.2fx", NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "## Where the time goes (bench/ablate.sh, $runs runs, $(date -u +%Y-%m-%d))"
echo
echo "Median over the runs of each run's median ratio to plain malloc."
echo
echo "| build | threads | 16-byte header only | explicit category | scope |"
echo "|---|---:|---:|---:|---:|"
for b in $builds; do
    case $b in
    full) name="memtally" ;;
    counting) name="memtally counting nothing" ;;
    all) name="memtally's header alone" ;;
    pad) name="reference with $pad instructions more" ;;
    esac
    for t in 1 2; do
        row="| $name | $t"
        for v in "16-byte header only (reference)" "explicit category" "scope (category NULL)"; do
            if [ "$b" = pad ] && [ "$v" != "16-byte header only (reference)" ]; then
                row="$row | (as memtally)"
                continue
            fi
            row="$row | $(ratio_of "$b" "$t" "$v" | median)"
        done
        echo "$row |"
    done
done

# The price of one instruction: the padded reference against the plain one,
# run by run (the same run's figures), per thread count.
echo
for t in 1 2; do
    awk -F"$tab" -v t="$t" -v pad="$pad" -v v="16-byte header only (reference)" '
        $2 == t && $3 == v && $1 == "full" { full[++nf] = $4 }
        $2 == t && $3 == v && $1 == "pad" { padded[++np] = $4 }
        END {
            n = nf < np ? nf : np
            for (i = 1; i <= n; i++) d[i] = (padded[i] - full[i]) / pad * 100
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (d[j] < d[i]) { x = d[i]; d[i] = d[j]; d[j] = x }
            if (n) printf "One instruction more per pair, %d thread%s: %.2f %% of plain malloc (median of %d runs).\n", t, (t > 1 ? "s" : ""), n % 2 ? d[(n + 1) / 2] : (d[n / 2] + d[n / 2 + 1]) / 2, n
        }' "$work/ratios"
done
