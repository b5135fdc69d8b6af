#!/bin/sh
# bench/programs.sh - how long allocation-heavy real programs take under
# `memtally run`, next to the same programs plain and under heaptrack.
#
#   bench/programs.sh [--smoke] [--rounds N]
#
# Programs (each from Debian's packages, its input generated here):
#   python   PYTHONMALLOC=malloc python3 on a dict/sort workload: a dict of
#            300,000 string keys, its items sorted, list/tuple/set churn
#   sqlite   sqlite3 on an insert-heavy script: 200,000 INSERT statements in
#            one transaction into an in-memory database, two indexes, an
#            UPDATE, a self-join, a DELETE and a few aggregate queries
# Variants: plain; `memtally run -o r.json --` (default stack depth 1);
# `--stack-depth 2`; `--stack-depth 3`; `heaptrack -o ht` (recording only,
# heaptrack's analysis is not run).
#
# Every round runs each variant of a program once, back to back, the order
# rotating by round, after one warm-up round that is not counted. A figure
# is the median over the rounds; "x plain" is the median of the per-round
# ratios to the plain run of the same round, so machine noise that lasts a
# round lands on every variant alike. Wall time is the whole command,
# including what `memtally run` does after the program exits (naming the
# sites, writing the report); cpu time is user + sys of the command and all
# its child processes (heaptrack records through a second process).
#
# The warm-up round (the only round with --smoke, on tiny inputs) checks
# that the program's output under `memtally run` is byte for byte its plain
# output, that the JSON report exists with allocs > 0, that sqlite3's
# allocation count is the same at every stack depth, and that heaptrack
# wrote its file. Exit status 1 when a check fails or a program fails;
# timings never fail the run.
#
# MEMTALLY: the memtally command (default build-bench/tools/memtally, which
# bench/run.sh builds). PYTHON: the python3 to run (default /usr/bin/python3,
# Debian's, rather than whatever python3 is first on PATH).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
memtally=${MEMTALLY:-${MEMTALLY_BENCH_DIR:-$root/build-bench}/tools/memtally}
smoke=""
rounds=7
while [ $# -gt 0 ]; do
    case $1 in
    --smoke) smoke=1 ;;
    --rounds) [ $# -ge 2 ] || { echo "bench/programs.sh: --rounds needs a number" >&2; exit 2; }
              rounds=$2; shift ;;
    *) echo "usage: bench/programs.sh [--smoke] [--rounds N]" >&2; exit 2 ;;
    esac
    shift
done
case $rounds in
''|*[!0-9]*|0) echo "bench/programs.sh: --rounds wants a positive number" >&2; exit 2 ;;
esac

fail() { echo "bench/programs.sh: $*" >&2; exit 1; }
[ -x "$memtally" ] || fail "no memtally command at $memtally (build the memtally_cli target, or set MEMTALLY)"
if [ -z "${PYTHON:-}" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=$(command -v python3 || true); fi
fi
[ -n "$PYTHON" ] || fail "python3 is not installed"
command -v sqlite3 >/dev/null || fail "sqlite3 is not installed"
command -v jq >/dev/null || fail "jq is not installed (it reads the reports)"
have_heaptrack=""
command -v heaptrack >/dev/null && have_heaptrack=1

if [ -n "$smoke" ]; then
    py_keys=2000 sql_rows=2000 rounds=0
else
    py_keys=300000 sql_rows=200000
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/smoke"

# --- the workloads -------------------------------------------------------
cat >"$tmp/work.py" <<'EOF'
import sys
n = int(sys.argv[1])
d = {}
for i in range(n):
    d["key%07d" % ((i * 7919) % n)] = (i, str(i))
items = sorted(d.items())
total = 0
for r in range(4):
    l = [(k, v[1]) for k, v in items[r::2]]
    l.sort(key=lambda t: t[1])
    total += len(l)
    t = tuple(x[0][-3:] for x in l)
    total += len(set(t))
print(len(d), total)
EOF

{
    echo "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL);"
    echo "BEGIN;"
    awk -v n="$sql_rows" 'BEGIN {
        for (i = 1; i <= n; i++)
            printf "INSERT INTO t(name, grp, val) VALUES(\047name-%08d\047, %d, %d.5);\n", (i * 7919) % n, i % 97, i
    }'
    cat <<'EOF'
COMMIT;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, val);
SELECT count(*), sum(val) FROM t;
SELECT grp, count(*), max(name) FROM t GROUP BY grp ORDER BY 2 DESC, 1 LIMIT 3;
SELECT count(DISTINCT substr(name, 1, 9)) FROM t;
UPDATE t SET name = name || '-x' WHERE grp % 3 = 0;
SELECT count(*) FROM t a JOIN t b ON a.name = b.name WHERE a.grp < 10;
DELETE FROM t WHERE grp % 2 = 1;
SELECT count(*), total(grp) FROM t;
EOF
} >"$tmp/work.sql"

programs="python sqlite"
variants="plain memtally depth2 depth3"
[ -n "$have_heaptrack" ] && variants="$variants heaptrack"
nvariants=$(echo "$variants" | wc -w)

variant_label() {
    case $1 in
    plain) echo "plain" ;;
    memtally) echo "memtally run (default: depth 1)" ;;
    depth2) echo "memtally run --stack-depth 2" ;;
    depth3) echo "memtally run --stack-depth 3" ;;
    heaptrack) echo "heaptrack (recording)" ;;
    esac
}
program_label() {
    case $1 in
    python) echo "python3 dict/sort" ;;
    sqlite) echo "sqlite3 inserts" ;;
    esac
}

# child_cpu FILE: user + sys seconds of this shell's reaped children, from
# `times`, which has to run in this shell (in a subshell it sees none).
child_cpu() {
    times >"$1"
}
cpu_seconds() {
    awk 'NR == 2 {
        t = 0
        for (f = 1; f <= 2; f++) { split($f, a, "m"); t += a[1] * 60 + a[2] }
        printf "%.3f\n", t
    }' "$1"
}

# run_one PROGRAM VARIANT: runs it once, stdout and stderr to
# $tmp/out.PROGRAM.VARIANT and $tmp/err.PROGRAM.VARIANT; sets $wall and $cpu
# (seconds).
run_one() {
    p=$1 v=$2
    set --
    case $v in
    plain) ;;
    memtally) set -- "$memtally" run -o "$tmp/r.json" -- ;;
    depth2) set -- "$memtally" run -o "$tmp/r.json" --stack-depth 2 -- ;;
    depth3) set -- "$memtally" run -o "$tmp/r.json" --stack-depth 3 -- ;;
    heaptrack) set -- heaptrack -o "$tmp/ht" ;;
    esac
    rm -f "$tmp/r.json" "$tmp"/ht.*
    t0=$(date +%s%N)
    child_cpu "$tmp/cpu0"
    rc=0
    case $p in
    python) PYTHONMALLOC=malloc PYTHONHASHSEED=0 "$@" "$PYTHON" "$tmp/work.py" "$py_keys" \
                </dev/null >"$tmp/out.$p.$v" 2>"$tmp/err.$p.$v" || rc=$? ;;
    sqlite) "$@" sqlite3 <"$tmp/work.sql" >"$tmp/out.$p.$v" 2>"$tmp/err.$p.$v" || rc=$? ;;
    esac
    child_cpu "$tmp/cpu1"
    t1=$(date +%s%N)
    if [ $rc -ne 0 ]; then
        echo "bench/programs.sh: $p under $v exited with status $rc; its stderr:" >&2
        cat "$tmp/err.$p.$v" >&2
        exit 1
    fi
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
    cpu=$(awk -v a="$(cpu_seconds "$tmp/cpu0")" -v b="$(cpu_seconds "$tmp/cpu1")" 'BEGIN { printf "%.3f", b - a }')
}

status=0
check() {   # check CONDITION-TEXT, then the test as arguments
    what=$1; shift
    if ! "$@"; then
        echo "bench/programs.sh: check failed: $what" >&2
        status=1
    fi
}

# The warm-up round, with the checks.
allocs_memtally="" allocs_depth2="" allocs_depth3=""
check_run() {
    p=$1 v=$2
    run_one "$p" "$v"
    case $v in
    plain)
        check "$p prints its result" test -s "$tmp/out.$p.plain" ;;
    memtally|depth2|depth3)
        check "$p under $v prints what it prints plain" cmp -s "$tmp/out.$p.plain" "$tmp/out.$p.$v"
        allocs=$(jq -r '.global.allocs // 0' "$tmp/r.json" 2>/dev/null) || allocs=0
        case $allocs in ''|*[!0-9]*) allocs=0 ;; esac
        check "$p under $v: the JSON report exists and counts allocations (allocs $allocs)" \
            test "$allocs" -gt 0
        case $v in
        memtally) allocs_memtally=$allocs ;;
        depth2) allocs_depth2=$allocs ;;
        depth3) allocs_depth3=$allocs ;;
        esac
        echo "- $(program_label "$p"), $(variant_label "$v"): $allocs allocations in the report; output $(cmp -s "$tmp/out.$p.plain" "$tmp/out.$p.$v" && echo "the same as plain" || echo "DIFFERS from plain")" >>"$tmp/smoke" ;;
    heaptrack)
        ht=""
        for f in "$tmp"/ht.*; do [ -f "$f" ] && ht=$f; done
        check "$p under heaptrack: heaptrack wrote its file" test -n "$ht" -a -s "${ht:-/nonexistent}"
        echo "- $(program_label "$p"), $(variant_label "$v"): $( [ -s "${ht:-/nonexistent}" ] && echo "wrote $(wc -c <"$ht") bytes" || echo "wrote NO file")" >>"$tmp/smoke" ;;
    esac
}

for p in $programs; do
    for v in $variants; do check_run "$p" "$v"; done
    if [ "$p" = sqlite ]; then
        check "sqlite3's allocation count does not depend on the stack depth ($allocs_memtally, $allocs_depth2, $allocs_depth3)" \
            test "$allocs_memtally" = "$allocs_depth2" -a "$allocs_memtally" = "$allocs_depth3"
    fi
done

# The counted rounds: "program variant round wall cpu" lines.
data=$tmp/data
: >"$data"
r=1
while [ "$r" -le "$rounds" ]; do
    for p in $programs; do
        # the order rotates: round r starts with the r-th variant (wrapping)
        skip=$(( (r - 1) % nvariants ))
        order=$(echo "$variants" | awk -v s="$skip" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + s) % NF + 1) }')
        for v in $order; do
            run_one "$p" "$v"
            echo "$p $v $r $wall $cpu" >>"$data"
        done
    done
    r=$((r + 1))
done

heaptrack_version=""
[ -n "$have_heaptrack" ] && heaptrack_version=", $(heaptrack --version 2>/dev/null | head -n 1)"
echo "### Whole programs under \`memtally run\` ($([ -n "$smoke" ] && echo "smoke run: tiny inputs, no timings" || echo "median of $rounds rounds, seconds per run"))"
echo
echo "- $("$PYTHON" --version 2>&1) ($PYTHON), PYTHONMALLOC=malloc, $py_keys keys; SQLite $(sqlite3 --version | cut -d' ' -f1), $sql_rows INSERTs$heaptrack_version"
[ -n "$have_heaptrack" ] || echo "- heaptrack is not installed: its row is missing"
echo
echo "checked in the warm-up round (not counted in a full run):"
echo
cat "$tmp/smoke"
echo
[ -z "$smoke" ] || exit $status

echo "| program | variant | wall s | x plain | (range) | cpu s | cpu x plain | target | |"
echo "|---|---|---:|---:|---|---:|---:|---|---|"
for p in $programs; do
    for v in $variants; do
        awk -v p="$p" -v v="$v" -v prog="$(program_label "$p")" -v label="$(variant_label "$v")" '
        function median(a, n,   i, j, x) {
            for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        $1 == p && $2 == "plain" { pw[$3] = $4; pc[$3] = $5 }
        $1 == p && $2 == v { n++; w[n] = $4; c[n] = $5; round[n] = $3 }
        END {
            lo = ""; hi = ""
            for (i = 1; i <= n; i++) {
                rw[i] = w[i] / pw[round[i]]
                rc[i] = pc[round[i]] > 0 ? c[i] / pc[round[i]] : 0
                if (lo == "" || rw[i] < lo) lo = rw[i]
                if (hi == "" || rw[i] > hi) hi = rw[i]
            }
            mw = median(w, n); mc = median(c, n); xw = median(rw, n); xc = median(rc, n)
            range = v == "plain" ? "" : sprintf("%.2f-%.2f", lo, hi)
            target = ""; verdict = ""
            if (v == "memtally") {
                target = "<= 1.25 x plain"
                verdict = sprintf("%.2f", xw) + 0 <= 1.25 ? "PASS" : "MISS"
            }
            printf "| %s | %s | %.2f | %.2f | %s | %.2f | %.2f | %s | %s |\n",
                prog, label, mw, xw, range, mc, xc, target, verdict
        }' "$data"
    done
done
exit $status
