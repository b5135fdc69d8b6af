#!/bin/sh
# real_program.sh - runs a real program from Debian's packages with and
# without libmemtally_preload.so and checks that nothing the program shows
# changes: stdout, stderr and exit status byte for byte. The run under the
# shim must leave exactly one report (children of the program do not
# write their own) with a sane global line.
#
# With "valgrind" as fourth argument it runs the program under valgrind
# instead of plainly and also requires memtally's global numbers to equal
# valgrind's "total heap usage" and "in use at exit" lines (only for
# deterministic programs: sqlite3 on a script, jq).
#
# usage: real_program.sh SHIM.so WORKDIR sqlite3|jq|python3|bash|git [valgrind]
set -eu

shim=$1
work=$2
name=$3
mode=${4:-plain}

fail() {
    echo "real_program.sh ($name): $*" >&2
    exit 1
}

[ -f "$shim" ] || fail "no shim at $shim"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
# a quiet, fixed environment: the same for both runs
export LC_ALL=C TZ=UTC HOME="$work"
unset MEMTALLY_REPORT MEMTALLY_LEAK_CHECK MEMTALLY_LARGE MEMTALLY_STACK_DEPTH MEMTALLY_PID MEMTALLY_FOLLOW MEMTALLY_UNWIND LD_PRELOAD || true

python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

# ---- the programs --------------------------------------------------------

setup() {
    case $name in
    sqlite3)
        cat > script.sql <<'EOF'
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, v REAL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
INSERT INTO t SELECT i, 'name-' || (i * 7919 % 2000), i * 0.5 FROM c;
CREATE INDEX t_name ON t(name);
SELECT count(*), sum(v), min(name), max(name) FROM t;
SELECT substr(name, 1, 6) AS p, count(*) FROM t GROUP BY p ORDER BY p;
UPDATE t SET v = v * 2 WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT id, name, v FROM t ORDER BY v DESC LIMIT 5;
SELECT group_concat(name, ',') FROM (SELECT name FROM t ORDER BY id LIMIT 20);
EOF
        ;;
    jq)
        "$python" -c '
import json
items = [{"id": i, "name": "item-%d" % (i * 37 % 500), "v": i * 3, "tags": ["t%d" % (i % 7), "x"]} for i in range(500)]
print(json.dumps({"items": items}))' > input.json
        ;;
    git)
        mkdir repo
        (cd repo && git init -q -b main . && git config user.name Memtally && git config user.email m@example.org)
        for i in 1 2 3 4 5; do seq 1 $((i * 50)) > repo/file$i.txt; done
        cp -r repo repo-plain
        cp -r repo repo-shim
        ;;
    esac
}

# Runs the program once; "$1" = plain or shim (only git cares).
program() {
    case $name in
    sqlite3) sqlite3 :memory: < script.sql ;;
    jq)
        jq -c '.items | map(select(.v % 2 == 0)) | sort_by(.name) | .[0:5] | map({name, t: (.tags | join("+"))})' input.json &&
        jq '[.items[].v] | add' input.json &&
        jq -e '.missing' input.json
        ;;
    python3)
        PYTHONMALLOC=malloc PYTHONHASHSEED=0 "$python" -c '
d = {}
for i in range(20000):
    d["k%d" % (i * 7919 % 20000)] = [i, str(i) * 3]
keys = sorted(d, key=lambda k: (len(d[k][1]), k))
print(len(d), keys[:3], keys[-3:])
print(sum(v[0] for v in d.values()))
import sys; sys.exit(4)'
        ;;
    bash) bash -c 'seq 1 1000 | sort -r | head -3; echo "done" >&2; exit 3' ;;
    git)
        # fixed names and dates: the commit hash is the same in both runs
        (cd "repo-$1" &&
            export GIT_AUTHOR_DATE='2024-01-02T03:04:05Z' GIT_COMMITTER_DATE='2024-01-02T03:04:05Z' &&
            git add . &&
            git commit -q -m 'first commit' &&
            seq 1 10 >> file1.txt &&
            git commit -q -a -m 'second commit' &&
            git log --stat &&
            git diff HEAD~1 --stat &&
            git status --short &&
            git rev-parse HEAD)
        ;;
    *) fail "unknown program" ;;
    esac
}

# ---- run it both ways ----------------------------------------------------------

setup
status=0
if [ "$mode" = valgrind ]; then
    # the program's own output as usual; valgrind's heap summary to vg.log
    case $name in
    sqlite3) valgrind --log-file=vg.log sqlite3 :memory: < script.sql > plain.out 2> plain.err || status=$? ;;
    jq) valgrind --log-file=vg.log jq -c '.items | map(select(.v % 2 == 0)) | sort_by(.name) | .[0:5]' input.json \
            > plain.out 2> plain.err || status=$? ;;
    *) fail "valgrind comparison is for sqlite3 and jq" ;;
    esac
else
    program plain > plain.out 2> plain.err || status=$?
fi
echo "$status" > plain.status

mkdir reports
status=0
if [ "$mode" = valgrind ]; then
    case $name in
    sqlite3) LD_PRELOAD=$shim MEMTALLY_REPORT=$work/reports/out.json sqlite3 :memory: < script.sql \
            > shim.out 2> shim.err || status=$? ;;
    jq) LD_PRELOAD=$shim MEMTALLY_REPORT=$work/reports/out.json \
            jq -c '.items | map(select(.v % 2 == 0)) | sort_by(.name) | .[0:5]' input.json \
            > shim.out 2> shim.err || status=$? ;;
    esac
else
    export LD_PRELOAD="$shim" MEMTALLY_REPORT="$work/reports/out.json"
    program shim > shim.out 2> shim.err || status=$?
    unset LD_PRELOAD MEMTALLY_REPORT
fi
echo "$status" > shim.status

cmp -s plain.out shim.out || { diff plain.out shim.out | head -20 >&2; fail "stdout differs under the shim"; }
cmp -s plain.err shim.err || { diff plain.err shim.err | head -20 >&2; fail "stderr differs under the shim"; }
cmp -s plain.status shim.status || fail "exit status $(cat plain.status) plain, $(cat shim.status) under the shim"
[ -s plain.out ] || fail "the program printed nothing"
echo "output identical ($(wc -c < plain.out) bytes stdout, exit status $(cat plain.status))"

# exactly one report: children (seq, sort, git's helpers) wrote none
nreports=$(ls reports | wc -l)
[ "$nreports" -eq 1 ] && [ -f reports/out.json ] || fail "expected reports/out.json alone, found: $(ls reports)"
jq -e '.global | .allocs > 0 and .frees <= .allocs and .current == .allocated - .freed' reports/out.json > /dev/null ||
    fail "the report's global line is not sane: $(jq -c .global reports/out.json)"
echo "report: $(jq -c .global reports/out.json)"

[ "$mode" = valgrind ] || exit 0

# ---- valgrind's numbers ------------------------------------------------------------
# ==123==     in use at exit: 21,821 bytes in 31 blocks
# ==123==   total heap usage: 240 allocs, 209 frees, 79,308 bytes allocated
heap=$(grep 'total heap usage:' vg.log | tr -d ',' | sed 's/.*usage: \([0-9]*\) allocs \([0-9]*\) frees \([0-9]*\) bytes.*/\1 \2 \3/')
inuse=$(grep 'in use at exit:' vg.log | tr -d ',' | sed 's/.*exit: \([0-9]*\) bytes in \([0-9]*\) blocks.*/\1 \2/')
[ -n "$heap" ] && [ -n "$inuse" ] || fail "no heap summary in valgrind's log: $(cat vg.log)"
set -- $heap $inuse
vg="allocs=$1 frees=$2 allocated=$3 current=$4 blocks=$5"
mt=$(jq -r '.global | "allocs=\(.allocs) frees=\(.frees) allocated=\(.allocated) current=\(.current) blocks=\(.allocs - .frees)"' reports/out.json)
echo "valgrind: $vg"
echo "memtally: $mt"
[ "$vg" = "$mt" ] || fail "memtally's totals differ from valgrind's"
