#!/bin/sh
# run_case.sh - one test of libmemtally_preload.so with the small programs
# in this directory (tests/preload.cmake registers one ctest per case).
#
# usage: run_case.sh CASE SHIM.so WORKDIR PROGRAM [ARGS...]
#   stress PROG THREADS ITERS SEED  exact per-site totals, fork, no deadlock
#   stress_depth2 PROG ...          the same with MEMTALLY_STACK_DEPTH=2
#   align PROG                      aligned allocation rules, exact totals
#   cxx PROG                        C++ new/delete, sites past operator new
#   scope PROG                      a program linking libmemtally: one set of stats
#   dlopen PROG LIB                 a library loaded with dlopen is tracked
#   dlopen_cxx PROG LIB             the same for a C++ library: libstdc++'s pool freed
#   twice PROG, twice_nopie PROG    blocks freed twice: logged, no crash, exact counts
#   scope PROG NOPROBE              (scope runs PROG under NOPROBE too)
#   forkexec PROG                   only the parent writes the report
#   forkexec_follow PROG            MEMTALLY_FOLLOW=1: one report per pid
#   forkexec_pid PROG               MEMTALLY_PID names the owner
#   leak PROG                       MEMTALLY_LEAK_CHECK=1 names the leaks
#   large PROG, large_nopie PROG    MEMTALLY_LARGE logs a block addr2line can name
#   depth PROG                      MEMTALLY_STACK_DEPTH=1/2/3/10 sites
#   unwind_* PROG [ARGS...]         MEMTALLY_UNWIND=check: memtally's walker agrees with libgcc
#   names_later PROG                MEMTALLY_NAMES=later: sites named module+offset
#   valgrind PROG                   global numbers equal valgrind's
#   valgrind_cxx PROG               the same for a C++ program (libstdc++'s pool freed)
set -eu

case_name=$1
shim=$2
work=$3
prog=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)

fail() {
    echo "run_case.sh ($case_name): $*" >&2
    exit 1
}

[ -f "$shim" ] || fail "no shim at $shim"
rm -rf "$work"
mkdir -p "$work/reports"
cd "$work"
unset MEMTALLY_REPORT MEMTALLY_LEAK_CHECK MEMTALLY_LARGE MEMTALLY_STACK_DEPTH MEMTALLY_PID MEMTALLY_FOLLOW MEMTALLY_UNWIND LD_PRELOAD || true
report=$work/reports/out.json

# Runs the program under the shim with the report at $report; extra
# environment assignments come first: shim_run VAR=x ... -- ARGS
shim_run() {
    env_args=""
    while [ "$1" != "--" ]; do
        env_args="$env_args $1"
        shift
    done
    shift
    # shellcheck disable=SC2086
    env $env_args LD_PRELOAD="$shim" MEMTALLY_REPORT="$report" "$@"
}

# The functions of the report's sites, one per line.
site_functions() { jq -r '.sites[].function // empty' "$1"; }

# allocs/allocated/current of the sites whose function is exactly $2.
site_sum() {
    jq -r --arg f "$2" '[.sites[] | select(.function == $f)] |
        "allocs=\(map(.allocs) | add // 0) allocated=\(map(.allocated) | add // 0) current=\(map(.current) | add // 0)"' "$1"
}

# The parent's report of forkexec: its own sites and none of a child's.
check_parent_report() {
    got=$(site_sum "$report" fe_parent_work)
    [ "$got" = "allocs=6 allocated=9242 current=4242" ] || fail "parent's report: fe_parent_work $got"
    site_functions "$report" | grep -q '^fe_.*child' && fail "a child's allocations are in the parent's report"
    return 0
}

check_expect() {
    python3 "$here/check_report.py" "$report" out.txt || fail "the report disagrees with the program's own count"
}

case $case_name in
stress | stress_depth2)
    depth=1
    [ "$case_name" = stress_depth2 ] && depth=2
    status=0
    shim_run MEMTALLY_STACK_DEPTH=$depth -- "$prog" "$@" > out.txt || status=$?
    [ "$status" -eq 0 ] || fail "the stress program failed with status $status"
    check_expect
    ;;
align | scope | cxx)
    depth=1
    [ "$case_name" = cxx ] && depth=2
    status=0
    shim_run MEMTALLY_STACK_DEPTH=$depth -- "$prog" > out.txt 2> err.txt || status=$?
    cat err.txt >&2
    [ "$status" -eq 0 ] || fail "the program's own checks failed (status $status)"
    check_expect
    grep -q 'memtally: error' err.txt && fail "memtally logged an error: $(grep 'memtally: error' err.txt)"
    if [ "$case_name" = scope ]; then
        # under `memtally run` (MEMTALLY_NAMES=later) the program's own
        # reports still name functions; only the one at exit need not
        rm -f "$report"
        shim_run MEMTALLY_NAMES=later -- "$prog" > out.txt || fail "the program's own checks failed with MEMTALLY_NAMES=later"
        check_expect
        # where process_vm_readv is forbidden (containers' seccomp profiles),
        # the block the hook got from glibc is still freed quietly by glibc
        rm -f "$report"
        shim_run -- "$1" "$prog" > out.txt 2> err.txt || fail "the program failed with process_vm_readv forbidden"
        cat err.txt >&2
        check_expect
        grep -q 'memtally: error' err.txt && fail "an error with process_vm_readv forbidden: $(grep 'memtally: error' err.txt)"
    fi
    ;;
dlopen | dlopen_cxx)
    status=0
    shim_run -- "$prog" "$1" > out.txt || status=$?
    [ "$status" -eq 0 ] || fail "dlopen_prog failed with status $status"
    check_expect
    # the library's site keeps its module after __libc_freeres at exit,
    # also when named module+offset (what memtally run asks for)
    lib=$(basename "$1")
    rm -f "$report"
    shim_run MEMTALLY_NAMES=later -- "$prog" "$1" > out.txt || fail "dlopen_prog failed with MEMTALLY_NAMES=later"
    got=$(jq -r '[.sites[] | select(.allocated == 2775) | "\(.function) \(.module)"] | join(",")' "$report")
    case $got in
    "$lib+0x"*" "*/"$lib") ;;
    *) fail "the dlopen'd library's site reads '$got'" ;;
    esac
    # libstdc++, loaded by the library, gives back its emergency pool at
    # exit as in a program linked with it: no C++ runtime block is live
    if [ "$case_name" = dlopen_cxx ]; then
        jq -e '[.sites[] | select(.module // "" | test("libstdc\\+\\+"))] | length > 0' "$report" >/dev/null ||
            fail "libstdc++ made no allocation: the library did not bring it in"
        live=$(jq -r '[.sites[] | select(.current > 0) | select(.module // "" | test("libstdc\\+\\+")) |
                       "\(.function) \(.current)"] | join(", ")' "$report")
        [ -z "$live" ] || fail "libstdc++ blocks live at exit: $live"
    fi
    ;;
twice | twice_nopie)
    status=0
    shim_run -- "$prog" > out.txt 2> err.txt || status=$?
    cat err.txt
    [ "$status" -eq 0 ] || fail "a program freeing blocks twice ended with status $status"
    # (named "already freed" while the header is intact, else "not a block
    # memtally handed out": glibc's free lists write over it)
    n=$(grep -c '^memtally: error: free(0x[0-9a-f]*): \(block already freed\|not a block memtally handed out\)' err.txt || true)
    [ "$n" -eq 5 ] || fail "$n of the 5 second frees were named"
    grep -q '^memtally: error: realloc(0x[0-9a-f]*): \(block already freed\|not a block memtally handed out\)' err.txt ||
        fail "the realloc of a freed block was not named"
    grep -q '^realloc of a freed block: NULL$' out.txt || fail "the realloc of a freed block did not return NULL"
    check_expect
    ;;
forkexec)
    status=0
    shim_run -- "$prog" > out.txt || status=$?
    [ "$status" -eq 0 ] || fail "forkexec failed (status $status): a child wrote the report or failed"
    [ "$(ls reports)" = out.json ] || fail "expected reports/out.json alone, found: $(ls reports)"
    check_parent_report
    echo "one report, the parent's: fe_parent_work $got"
    ;;
forkexec_follow)
    status=0
    shim_run MEMTALLY_FOLLOW=1 -- "$prog" > out.txt || status=$?
    [ "$status" -eq 0 ] || fail "forkexec failed (status $status)"
    fork_pid=$(sed -n 's/.*fork_child=\([0-9]*\).*/\1/p' out.txt)
    exec_pid=$(sed -n 's/.*exec_child=\([0-9]*\).*/\1/p' out.txt)
    want=$(printf '%s\n' out.json "out.$fork_pid.json" "out.$exec_pid.json" | sort)
    [ "$(ls reports | sort)" = "$want" ] || fail "expected $want, found: $(ls reports)"
    got=$(site_sum "reports/out.$exec_pid.json" fe_exec_child_work)
    [ "$got" = "allocs=10 allocated=27999 current=999" ] || fail "exec'd child's report: fe_exec_child_work $got"
    site_functions "reports/out.$exec_pid.json" | grep -q '^fe_parent_work$' && fail "the exec'd child's report has the parent's sites"
    got=$(site_sum "reports/out.$fork_pid.json" fe_fork_child_work)
    [ "$got" = "allocs=8 allocated=14777 current=777" ] || fail "forked child's report: fe_fork_child_work $got"
    check_parent_report
    echo "three reports, one per process"
    ;;
forkexec_pid)
    # MEMTALLY_PID of another process: this one owns no report
    status=0
    shim_run MEMTALLY_PID=1 -- "$prog" > out.txt || status=$?
    [ "$status" -eq 0 ] || fail "forkexec failed (status $status)"
    [ -z "$(ls reports)" ] || fail "MEMTALLY_PID=1, yet a report was written: $(ls reports)"
    # MEMTALLY_PID of the program itself (what `memtally run` sets)
    export LD_PRELOAD="$shim" MEMTALLY_REPORT="$report" MEMTALLY_PROG="$prog"
    sh -c 'MEMTALLY_PID=$$ exec "$MEMTALLY_PROG"' > out.txt || fail "forkexec failed with MEMTALLY_PID set"
    unset LD_PRELOAD
    [ "$(ls reports)" = out.json ] || fail "expected reports/out.json alone, found: $(ls reports)"
    got=$(site_sum "$report" fe_parent_work)
    [ "$got" = "allocs=6 allocated=9242 current=4242" ] || fail "fe_parent_work in the report: $got"
    echo "MEMTALLY_PID decides who reports"
    ;;
leak)
    status=0
    LD_PRELOAD="$shim" MEMTALLY_LEAK_CHECK=1 "$prog" > out.txt 2> err.txt || status=$?
    cat err.txt
    [ "$status" -eq 0 ] || fail "leaky exited $status"
    [ "$(cat out.txt)" = "leaky: done" ] || fail "stdout changed: $(cat out.txt)"
    grep -q '1234 .*leak_here' err.txt || fail "the leak check does not name leak_here with 1234 bytes"
    grep -q '4321 .*leak_there' err.txt || fail "the leak check does not name leak_there with 4321 bytes"
    grep -q 'no_leak' err.txt && fail "the leak check names no_leak, which freed its block"
    grep -q '5555 bytes' err.txt || fail "the leak check's total is not 5555 bytes (libc's own buffers must be released first)"
    ;;
names_later)
    # the program names its sites from its symbols (dladdr) unless memtally
    # run will (MEMTALLY_NAMES=later): then module+offset, the same offset
    shim_run -- "$prog" > out.txt || fail "leaky failed"
    named=$(jq -r '[.sites[] | select(.allocated == 1234) | "\(.function) \(.module) \(.offset)"] | join(",")' "$report")
    rm -f "$report"
    shim_run MEMTALLY_NAMES=later -- "$prog" > out.txt || fail "leaky failed with MEMTALLY_NAMES=later"
    later=$(jq -r '[.sites[] | select(.allocated == 1234) | "\(.function) \(.module) \(.offset)"] | join(",")' "$report")
    echo "named: $named; later: $later"
    set -- $named
    [ "$1" = leak_here ] || fail "without MEMTALLY_NAMES the site is not named leak_here: $named"
    name=$(basename "$prog")
    off=$(printf '0x%x' "$3")
    [ "$later" = "$name+$off $2 $3" ] || fail "with MEMTALLY_NAMES=later: $later, expected $name+$off $2 $3"
    ;;
large | large_nopie)
    status=0
    LD_PRELOAD="$shim" MEMTALLY_LARGE=4200 "$prog" > out.txt 2> err.txt || status=$?
    cat err.txt
    [ "$status" -eq 0 ] || fail "leaky exited $status"
    # module+offset (no symbol lookup inside malloc); addr2line names the function
    name=$(basename "$prog")
    off=$(sed -n "s/.*large allocation: 4321 bytes in category Uncategorized from $name+\\(0x[0-9a-f]*\\) (0x[0-9a-f]*)\$/\\1/p" err.txt)
    [ -n "$off" ] || fail "the 4321-byte block is not logged with its module and offset"
    fn=$(addr2line -f -e "$prog" "$off" | head -n1)
    [ "$fn" = leak_there ] || fail "the logged offset $off is in $fn, not leak_there"
    [ "$(grep -c 'large allocation' err.txt)" = 1 ] || fail "expected one large allocation (4321 bytes), found: $(grep 'large allocation' err.txt)"
    ;;
depth)
    # main's own strndup is main's at every depth past 1, and at depth 10
    # every site is in main: the walk never goes past main to _start
    for depth in 1 2 3 10; do
        rm -f "$report"
        shim_run MEMTALLY_STACK_DEPTH=$depth -- "$prog" > out.txt || fail "depth exited non-zero"
        a=$(jq -r '[.sites[] | select(.allocated == 4321) | .function] | join(",")' "$report")
        b=$(jq -r '[.sites[] | select(.allocated == 24) | .function] | join(",")' "$report")
        c=$(jq -r '[.sites[] | select(.allocated == 77) | .function] | join(",")' "$report")
        d=$(jq -r '[.sites[] | select(.allocated == 99) | .function] | join(",")' "$report")
        e=$(jq -r '[.sites[] | select(.allocated == 36) | .function] | join(",")' "$report")
        all=$(jq -r '[.sites[].function] | unique | join(",")' "$report")
        echo "MEMTALLY_STACK_DEPTH=$depth: 4321 bytes from $a, strdup's 24 bytes from $b, 77 bytes under qsort from $c, 99 bytes in a signal handler from $d, main's strndup from $e; sites in $all"
        case $depth in
        1) [ "$a" = dp_wrapper ] && case $b in *strdup*) true ;; *) false ;; esac && [ "$c" = dp_compare ] && [ "$d" = dp_on_signal ] &&
            case $e in *strndup*) true ;; *) false ;; esac ;;
        2) [ "$a" = dp_wrapper ] && [ "$b" = dp_caller_b ] && [ "$c" = dp_compare ] && [ "$d" = dp_on_signal ] && [ "$e" = main ] ;;
        3) [ "$a" = dp_caller_a ] && [ "$b" = dp_top ] && [ "$c" = dp_sort ] && [ "$d" = dp_raise ] && [ "$e" = main ] ;;
        10) [ "$all" = main ] && [ "$e" = main ] ;;
        esac || fail "wrong sites at depth $depth"
    done
    ;;
unwind_*)
    # MEMTALLY_UNWIND=check: libgcc walks every stack that memtally's walker
    # walks, and the frames they find must agree. EXPECT_LIBGCC: how many
    # walks memtally's walker must hand to libgcc (signal frames).
    for depth in 3 6; do
        rm -f "$report"
        shim_run MEMTALLY_STACK_DEPTH=$depth MEMTALLY_UNWIND=check -- "$prog" "$@" > out.txt 2> err.txt ||
            fail "exited non-zero at depth $depth: $(cat err.txt)"
        # one summary per process (a forked child writes its own)
        sums=$(sed -n 's/.*unwind check: \([0-9]*\) walks, \([0-9]*\) by libgcc alone, \([0-9]*\) with a different frame.*/\1 \2 \3/p' err.txt |
            awk '{ w += $1; l += $2; d += $3 } END { print w + 0, l + 0, d + 0, NR }')
        echo "MEMTALLY_STACK_DEPTH=$depth: walks, by libgcc alone, different, processes: $sums"
        # shellcheck disable=SC2086
        set -- $sums "$@"
        walks=$1 libgcc=$2 differ=$3 procs=$4
        shift 4
        [ "$procs" -ge 1 ] || fail "no unwind check summary at depth $depth"
        [ "$walks" -gt 0 ] || fail "nothing was walked at depth $depth"
        [ "$differ" = 0 ] || fail "memtally's walker and libgcc found different frames: $(grep 'unwind check' err.txt)"
        [ "$libgcc" = "${EXPECT_LIBGCC:-0}" ] || fail "$libgcc walks went to libgcc, expected ${EXPECT_LIBGCC:-0}"
    done
    ;;
valgrind | valgrind_cxx)
    # valgrind_cxx: libstdc++'s own pool must be released at exit as
    # valgrind releases it, or every C++ program "leaks" it. Debian's
    # valgrind script sets GLIBCXX_FORCE_NEW; the shim's run gets it too.
    depth=1
    [ "$case_name" = valgrind_cxx ] && depth=2
    valgrind --log-file=vg.log "$prog" > plain.txt || fail "the program failed under valgrind"
    shim_run MEMTALLY_STACK_DEPTH=$depth GLIBCXX_FORCE_NEW=1 GLIBCPP_FORCE_NEW=1 -- "$prog" > out.txt ||
        fail "the program failed under the shim"
    cmp -s plain.txt out.txt || fail "stdout differs under the shim"
    # ==1==     in use at exit: 12,366 bytes in 2 blocks
    # ==1==   total heap usage: 15 allocs, 13 frees, 23,317 bytes allocated
    heap=$(grep 'total heap usage:' vg.log | tr -d ',' | sed 's/.*usage: \([0-9]*\) allocs \([0-9]*\) frees \([0-9]*\) bytes.*/\1 \2 \3/')
    inuse=$(grep 'in use at exit:' vg.log | tr -d ',' | sed 's/.*exit: \([0-9]*\) bytes in \([0-9]*\) blocks.*/\1 \2/')
    [ -n "$heap" ] && [ -n "$inuse" ] || fail "no heap summary in valgrind's log"
    # shellcheck disable=SC2086
    set -- $heap $inuse
    vg="allocs=$1 frees=$2 allocated=$3 current=$4 blocks=$5"
    mt=$(jq -r '.global | "allocs=\(.allocs) frees=\(.frees) allocated=\(.allocated) current=\(.current) blocks=\(.allocs - .frees)"' "$report")
    echo "valgrind: $vg"
    echo "memtally: $mt"
    [ "$vg" = "$mt" ] || fail "memtally's totals differ from valgrind's"
    check_expect
    ;;
*) fail "unknown case" ;;
esac
echo "ok"
