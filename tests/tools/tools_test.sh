#!/bin/sh
# tools_test.sh CASE - tests of the `memtally` command, one case per ctest.
#
# Environment (set by tests/tools.cmake):
#   MEMTALLY   the memtally executable      LEAKY     tests/tools/leaky.c built -g -O0
#   PASSTHRU   tests/tools/passthru.c       SRC       the tests/ source directory
#   WORK       a scratch directory for this case
set -u
case_name=$1
fails=0

fail() {
    echo "FAIL [$case_name]: $*" >&2
    fails=$((fails + 1))
}

# expect_rc WANT GOT WHAT
expect_rc() {
    [ "$2" -eq "$1" ] || fail "$3: exit status $2, expected $1"
}

# expect_grep PATTERN FILE WHAT   (basic regular expression)
expect_grep() {
    grep -q -e "$1" "$2" || {
        fail "$3: no line matching '$1' in $2:"
        sed 's/^/    | /' "$2" >&2
    }
}

rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK" || exit 1
leak_line=$(grep -n 'LEAK-SITE' "$SRC/tools/leaky.c" | cut -d: -f1)

case $case_name in
leak_check)
    # exit 23, and the leak report names the function, its file:line (from
    # DWARF, at report time) and the bytes
    "$MEMTALLY" run --leak-check -o leak.json -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 23 $? "leaking program exiting 0"
    expect_grep '^leaky: done$' out.txt "program output"
    expect_grep '^memtally: leak check: .* in 4 blocks still live$' err.txt "leak headline"
    expect_grep "^memtally: *3000 bytes in 3 blocks: leak_buffers (.*leaky\.c:$leak_line) \[Uncategorized\]$" \
        err.txt "leaking function with file:line"
    if grep -q 'tidy' err.txt; then fail "tidy() frees everything but is listed as leaking"; fi
    # the written report carries the names too, and `report` shows them
    expect_grep '"function": *"leak_buffers"' leak.json "symbolised JSON report"
    expect_grep "\"line\": *$leak_line" leak.json "line in JSON report"
    "$MEMTALLY" report leak.json >report.txt 2>&1
    expect_rc 0 $? "report of the run"
    expect_grep "leak_buffers (.*leaky\.c:$leak_line) \[Uncategorized\]" report.txt "site in text report"
    ;;
leak_status)
    # a leaking program that fails keeps its own status
    "$MEMTALLY" run --leak-check -o leak.json -- "$LEAKY" 3 >out.txt 2>err.txt
    expect_rc 3 $? "leaking program exiting 3"
    expect_grep 'leak_buffers' err.txt "leak report still printed"
    # MEMTALLY_LEAK_CHECK=1 is the same as --leak-check
    MEMTALLY_LEAK_CHECK=1 "$MEMTALLY" run -o leak2.json -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 23 $? "MEMTALLY_LEAK_CHECK=1"
    # no leak, no 23
    printf 'abc' | "$MEMTALLY" run --leak-check -o clean.json -- "$PASSTHRU" 0 >out.txt 2>err.txt
    expect_rc 0 $? "program without leaks"
    expect_grep '^memtally: no leaks$' err.txt "no-leak line"
    # nor when its stdin is empty: the stdin buffer a read at end of file
    # gets is freed at exit (as under valgrind), not left to look leaked
    "$MEMTALLY" run --leak-check -o clean2.json -- "$PASSTHRU" 0 </dev/null >out.txt 2>err.txt
    expect_rc 0 $? "program reading an empty stdin"
    expect_grep '^memtally: no leaks$' err.txt "no-leak line with an empty stdin"
    # a thread blocked reading stdin holds its lock: the exit must not wait for it
    mkfifo held.fifo
    sleep 30 >held.fifo &
    holder=$!
    timeout 20 "$MEMTALLY" run -o held.json -- "$PASSTHRU" held <held.fifo >out.txt 2>err.txt
    expect_rc 0 $? "exit while a thread reads stdin"
    kill $holder 2>/dev/null
    expect_grep '^exiting$' out.txt "program output"
    [ -f held.json ] || fail "no report from the program that exited while a thread read stdin"
    # without --leak-check a leak does not change the status
    "$MEMTALLY" run -o leak3.json -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "leak without --leak-check"
    # a block of 0 bytes left allocated is a leak (valgrind: "0 bytes in 1 blocks")
    printf '' | "$MEMTALLY" run --leak-check -o empty.json -- "$PASSTHRU" empty >out.txt 2>err.txt
    expect_rc 23 $? "a leaked 0-byte block"
    expect_grep 'in 1 block still live$' err.txt "0-byte leak headline"
    ;;
stack_depth)
    # at depth 1 the block strdup makes belongs to strdup, inside libc;
    # depth 2 looks past the C runtime to strdup's caller, leak_copy
    "$MEMTALLY" run --leak-check --stack-depth 2 -o deep.json -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 23 $? "leak with --stack-depth 2"
    strdup_line=$(grep -n 'STRDUP-SITE' "$SRC/tools/leaky.c" | cut -d: -f1)
    expect_grep "^memtally: *22 bytes in 1 block: leak_copy (.*leaky\.c:$strdup_line) \[Uncategorized\]$" \
        err.txt "strdup attributed to its caller"
    # past main there is only the C runtime: at depth 3 the buffer printf
    # allocates for stdout (a file here) is main's, with its line, as at
    # depth 2, and no site is _start
    printf_line=$(grep -n 'PRINTF-SITE' "$SRC/tools/leaky.c" | cut -d: -f1)
    "$MEMTALLY" run --stack-depth 3 -o deep3.json -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "--stack-depth 3"
    jq -r '.sites[] | "\(.function) \(.file // "-"):\(.line)"' deep3.json >sites.txt
    expect_grep "^main .*leaky\.c:$printf_line$" sites.txt "printf's buffer attributed to main"
    if grep -q '^_start ' sites.txt; then fail "a site above main: $(grep '^_start ' sites.txt)"; fi
    "$MEMTALLY" run --stack-depth 0 -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 2 $? "--stack-depth 0"
    ;;
exit_status)
    printf 'x' | "$MEMTALLY" run -o r.json -- "$PASSTHRU" 3 >out.txt 2>err.txt
    expect_rc 3 $? "program exiting 3"
    printf 'x' | "$MEMTALLY" run -o r.json -- "$PASSTHRU" kill 15 >out.txt 2>err.txt
    expect_rc 143 $? "program killed by SIGTERM"
    "$MEMTALLY" run -o r.json -- ./does-not-exist >out.txt 2>err.txt
    expect_rc 127 $? "missing program"
    expect_grep '^memtally: cannot run ./does-not-exist: ' err.txt "exec error"
    ;;
passthrough)
    # stdin, stdout and stderr byte for byte as without memtally
    i=0
    : >in.bin
    while [ $i -lt 2000 ]; do
        printf 'line %d \001\377\t\r\n' $i >>in.bin
        i=$((i + 1))
    done
    "$PASSTHRU" 0 <in.bin >plain.out 2>plain.err
    "$MEMTALLY" run -o r.json -- "$PASSTHRU" 0 <in.bin >tracked.out 2>tracked.err
    expect_rc 0 $? "passthru"
    cmp -s in.bin tracked.out || fail "stdout differs from stdin"
    cmp -s plain.out tracked.out || fail "stdout differs from the plain run"
    cmp -s plain.err tracked.err || fail "stderr differs from the plain run"
    # the report counts the program's buffer
    expect_grep '"allocs": *[1-9]' r.json "allocations counted"
    ;;
output_names)
    # default name memtally.<pid>.json, announced in one line
    "$MEMTALLY" run -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "default output"
    expect_grep '^memtally: report written to memtally\.[0-9]*\.json$' err.txt "announcement"
    name=$(sed -n 's/^memtally: report written to //p' err.txt)
    [ -f "$name" ] || fail "$name was not written"
    "$MEMTALLY" report "$name" >/dev/null 2>&1 || fail "$name is not a readable report"
    # a name not ending in .json gets the text report
    "$MEMTALLY" run -o r.txt -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "text output"
    [ -s err.txt ] && fail "stderr not empty with -o: $(cat err.txt)"
    expect_grep '^memtally [0-9.]* report$' r.txt "text report header"
    expect_grep 'leak_buffers (.*leaky\.c:' r.txt "text report site"
    ls memtally.*.tmp.* r.txt.tmp.* 2>/dev/null && fail "temporary files left behind"
    # MEMTALLY_PRELOAD must name a shared library; the program does not run
    MEMTALLY_PRELOAD=/nonexistent/libx.so "$MEMTALLY" run -o p.json -- sh -c 'touch ran' >out.txt 2>err.txt
    expect_rc 2 $? "MEMTALLY_PRELOAD missing"
    expect_grep '^memtally: MEMTALLY_PRELOAD=/nonexistent/libx.so: cannot read it$' err.txt "missing preload named"
    printf 'not a library\n' >notlib.so
    MEMTALLY_PRELOAD=$PWD/notlib.so "$MEMTALLY" run -o p.json -- sh -c 'touch ran' >out.txt 2>err.txt
    expect_rc 2 $? "MEMTALLY_PRELOAD not ELF"
    expect_grep 'notlib.so: not a shared library$' err.txt "non-library preload named"
    [ -e ran ] && fail "the program ran with an unusable MEMTALLY_PRELOAD"
    # a boolean variable with a value that is not one is named
    MEMTALLY_LEAK_CHECK=maybe "$MEMTALLY" run -o b.json -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "MEMTALLY_LEAK_CHECK=maybe counts as off"
    expect_grep '^memtally: ignoring MEMTALLY_LEAK_CHECK=maybe' err.txt "bad boolean named"
    # MEMTALLY_REPORT names the report when -o does not; -o wins over it
    MEMTALLY_REPORT=env.json "$MEMTALLY" run -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "MEMTALLY_REPORT output"
    "$MEMTALLY" report env.json >/dev/null 2>&1 || fail "MEMTALLY_REPORT=env.json was not written"
    MEMTALLY_REPORT=unused.json "$MEMTALLY" run -o flag.json -- "$LEAKY" >out.txt 2>err.txt
    [ -f flag.json ] && [ ! -e unused.json ] || fail "-o flag.json did not win over MEMTALLY_REPORT"
    # a report that cannot be written is named before the program runs
    "$MEMTALLY" run -o no/such/dir/r.json -- sh -c 'touch ran' >out.txt 2>err.txt
    expect_rc 2 $? "output into a missing directory"
    expect_grep '^memtally: cannot write no/such/dir/r.json: No such file or directory$' err.txt "missing directory"
    [ -e ran ] && fail "the program ran although its report could not be written"
    # so is a report name that is a directory
    mkdir d.json
    "$MEMTALLY" run -o d.json -- sh -c 'touch ran' >out.txt 2>err.txt
    expect_rc 2 $? "output named like a directory"
    expect_grep '^memtally: cannot write d.json: Is a directory$' err.txt "directory named"
    [ -e ran ] && fail "the program ran although its report name is a directory"
    # so is a link to a file in a missing directory
    ln -s no/such/dir/x.json dangling.json
    "$MEMTALLY" run -o dangling.json -- sh -c 'touch ran' >out.txt 2>err.txt
    expect_rc 2 $? "output through a link into a missing directory"
    expect_grep '^memtally: cannot write dangling.json: No such file or directory$' err.txt "dangling link named"
    [ -e ran ] && fail "the program ran although its report's link leads nowhere"
    ln -s dangling.json chain.json # two links deep
    "$MEMTALLY" run -o chain.json -- sh -c 'touch ran' >out.txt 2>err.txt
    expect_rc 2 $? "output through two links into a missing directory"
    [ -e ran ] && fail "the program ran although its report's chain of links leads nowhere"
    # a link is followed: its target is replaced, the link stays
    printf 'old\n' >target.json
    ln -s target.json link.json
    "$MEMTALLY" run -o link.json -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "output through a link"
    [ -L link.json ] || fail "the link was replaced"
    "$MEMTALLY" report target.json >/dev/null 2>&1 || fail "the link's target does not hold the report"
    # -o /dev/stdout with stdout a file: the report follows the program's
    # own output, which stays
    printf 'earlier\n' >both.txt
    "$MEMTALLY" run -o /dev/stdout -- "$LEAKY" >>both.txt 2>err.txt
    expect_rc 0 $? "output to /dev/stdout"
    [ "$(sed -n 1p both.txt)" = earlier ] || fail "-o /dev/stdout dropped what the file held"
    expect_grep '^leaky: done$' both.txt "the program's output beside the report"
    expect_grep '^memtally [0-9.]* report$' both.txt "the report after the program's output"
    # other names of stdout's file are stdout too
    ln -s /dev/stdout to_stdout.txt
    for name in //dev/stdout /dev/./stdout to_stdout.txt; do
        "$MEMTALLY" run -o "$name" -- "$LEAKY" >spelled.txt 2>err.txt
        expect_rc 0 $? "output to $name"
        expect_grep '^leaky: done$' spelled.txt "the program's output kept with -o $name"
        expect_grep '^memtally [0-9.]* report$' spelled.txt "the report with -o $name"
    done
    # ... and with ".." in the way
    "$MEMTALLY" run -o /dev/../dev/fd/1 -- "$LEAKY" >spelled.txt 2>err.txt
    expect_rc 0 $? "output to /dev/../dev/fd/1"
    expect_grep '^leaky: done$' spelled.txt "the program's output kept with -o /dev/../dev/fd/1"
    # ... also for the reports of the program's children
    "$MEMTALLY" run --follow -o //dev/stdout -- bash -c '"$0"; "$0"; true' "$LEAKY" >spelled.txt 2>err.txt
    expect_rc 0 $? "--follow -o //dev/stdout"
    grep -q 'written to //dev/stdout\.' err.txt && fail "a child's report went to a file next to /dev/stdout: $(cat err.txt)"
    [ "$(grep -c '^memtally [0-9.]* report$' spelled.txt)" -eq 3 ] ||
        fail "$(grep -c '^memtally [0-9.]* report$' spelled.txt) reports on stdout, expected 3 (bash and two children)"
    # the plain name of the file stdout holds is replaced by a whole report
    "$MEMTALLY" run -o same.json -- "$LEAKY" >same.json 2>err.txt
    expect_rc 0 $? "-o naming stdout's file"
    "$MEMTALLY" report same.json >/dev/null 2>&1 || fail "same.json is not a whole report: $(head -c 200 same.json)"
    # stdout and stderr one file: memtally's own lines after the report
    # come after it, not over its start
    "$MEMTALLY" run --leak-check -o /dev/stdout -- "$LEAKY" >one.txt 2>&1
    expect_rc 23 $? "report and leak check into one file"
    head_line=$(grep -n '^memtally [0-9.]* report$' one.txt | cut -d: -f1)
    leak_line=$(grep -n '^memtally: leak check:' one.txt | cut -d: -f1)
    [ -n "$head_line" ] && [ -n "$leak_line" ] && [ "$head_line" -lt "$leak_line" ] ||
        fail "report header at line '$head_line', leak check at '$leak_line' in one.txt"
    expect_grep '^  allocated ' one.txt "the report's first figures intact"
    # with stdout closed, /dev/stdout is nobody's file: nothing else is written
    cp "$LEAKY" leaky_copy
    "$MEMTALLY" run -o /dev/stdout -- ./leaky_copy >&- 2>err.txt
    expect_rc 2 $? "-o /dev/stdout with stdout closed"
    expect_grep '^memtally: cannot write /dev/stdout: Bad file descriptor$' err.txt "closed stdout named"
    cmp -s "$LEAKY" leaky_copy || fail "-o /dev/stdout with stdout closed wrote into another file"
    # a report into a pipe whose reader is gone is no error of memtally's
    # (the program itself writes nothing to it)
    { "$MEMTALLY" run -o /dev/stdout -- "$PASSTHRU" 0 </dev/null 2>err.txt; echo $? >rc.txt; } | true
    expect_rc 0 "$(cat rc.txt)" "-o /dev/stdout into a pipe closed early"
    # ... and a leak is still a leak (exit 23)
    { "$MEMTALLY" run --leak-check -o /dev/stdout -- "$PASSTHRU" empty 2>err.txt; echo $? >rc.txt; } | true
    expect_rc 23 "$(cat rc.txt)" "--leak-check with the report into a closed pipe"
    grep -q 'cannot write' err.txt && fail "a message for the closed pipe: $(cat err.txt)"
    # memtally report with stdout closed says so
    "$MEMTALLY" report "$SRC/tools/before.json" >&- 2>err.txt
    expect_rc 2 $? "report with stdout closed"
    expect_grep '^memtally: cannot write the report to standard output: Bad file descriptor$' err.txt "closed stdout named by report"
    # with stderr closed, memtally's messages do not go into the file the
    # program opens on descriptor 2
    "$MEMTALLY" run -o data.json -- "$PASSTHRU" data data.txt 2>&-
    expect_rc 0 $? "a program started with stderr closed"
    [ "$(cat data.txt)" = DATA ] || fail "memtally wrote into the program's file on descriptor 2: $(cat data.txt)"
    # the program gets its standard descriptors as memtally got them
    "$MEMTALLY" run -o closed.json -- bash -c 'if [ -e /proc/self/fd/0 ]; then echo open; else echo closed; fi' \
        <&- >fd0.txt 2>err.txt
    expect_rc 0 $? "a program started with stdin closed"
    expect_grep '^closed$' fd0.txt "stdin closed for the program as for memtally"
    # a FIFO is written in place, not replaced
    mkfifo fifo.txt
    timeout 20 cat fifo.txt >from_fifo.txt & # (a FIFO replaced by a file never gets a writer)
    reader=$!
    "$MEMTALLY" run -o fifo.txt -- "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "output into a FIFO"
    wait $reader
    [ -p fifo.txt ] || fail "the FIFO was replaced by a file"
    expect_grep 'leak_buffers (.*leaky\.c:' from_fifo.txt "text report read from the FIFO"
    ;;
signal_forward)
    "$MEMTALLY" run -o r.json -- "$PASSTHRU" wait >out.txt 2>err.txt &
    pid=$!
    i=0
    while ! grep -q ready out.txt 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -TERM $pid
    wait $pid
    expect_rc 7 $? "program that handles SIGTERM"
    expect_grep '^got SIGTERM$' out.txt "SIGTERM reached the program"
    [ -f r.json ] || fail "no report after a forwarded signal"
    ;;
signal_ignored)
    # a signal memtally's caller ignores (nohup, trap '') stays ignored in
    # the program, and memtally does not catch it either (bash: dash ends
    # with _exit, which writes no report)
    (trap '' HUP; "$MEMTALLY" run -o r.json -- bash -c 'kill -HUP $$; echo alive') >out.txt 2>err.txt
    expect_rc 0 $? "program started with SIGHUP ignored"
    expect_grep '^alive$' out.txt "the program survived SIGHUP"
    [ -f r.json ] || fail "no report from the program that ignored SIGHUP"
    # one its caller does not ignore is the default in the program
    "$MEMTALLY" run -o r2.json -- sh -c 'kill -HUP $$; echo alive' >out2.txt 2>err2.txt
    expect_rc 129 $? "program killed by SIGHUP"
    grep -q alive out2.txt && fail "the program outlived SIGHUP with its default action"
    ;;
follow)
    # by default only the program reports; --follow adds one report per
    # process it starts, named after the main one. (bash, not dash: dash
    # ends with _exit, which runs no at-exit report.)
    "$MEMTALLY" run -o main.json -- bash -c '"$0" >/dev/null; true' "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "bash running leaky"
    [ -f main.json ] || fail "no report of the shell"
    ls main.*.json >/dev/null 2>&1 && fail "child reports without --follow"
    "$MEMTALLY" run --follow -o f.json -- bash -c '"$0" >/dev/null; true' "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "--follow"
    expect_grep '^memtally: report of process [0-9]* written to f\.[0-9]*\.json$' err.txt "child report line"
    [ -f f.json ] || fail "no report of the shell with --follow"
    grep -q leak_buffers f.json 2>/dev/null && fail "the shell's report names leaky's function"
    child=$(grep -l '"function": *"leak_buffers"' f.*.json 2>/dev/null | head -1)
    [ -n "$child" ] || fail "no child report naming leak_buffers"
    # a child's report, like the program's, counts stdio's buffers freed
    # (the C runtime's memory is released at exit in every process that reports)
    [ -n "$child" ] && live=$(jq -r '[.sites[] | select(.current > 0) | .function] | unique | join(",")' "$child") &&
        case $live in
        *_IO_file_doallocate*) fail "stdio's buffer live in the child's report: $live" ;;
        esac
    # a process still running when memtally is done writes its own report
    # later, by the name memtally would have given it (its sites named by
    # module and offset: memtally is no longer there to read the symbols)
    mkdir late && cd late || fail "mkdir late"
    # (the child waits until memtally has moved its temporary directory away)
    "$MEMTALLY" run --follow -o bg.json -- bash -c \
        '(i=0; while [ -d "${MEMTALLY_REPORT%/*}" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
          "$0" >/dev/null) & echo started' "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "--follow with a background child"
    leaky=$(basename "$LEAKY")
    i=0
    while ! grep -l "\"function\": *\"$leaky+0x" bg.*.json >/dev/null 2>&1 && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    late=$(grep -l "\"function\": *\"$leaky+0x" bg.*.json 2>/dev/null | head -1)
    [ -n "$late" ] || fail "no report from the child that outlived memtally: $(ls) $(cat err.txt)"
    "$MEMTALLY" report "$late" >/dev/null || fail "the late report $late does not read back"
    # exported functions are named by the process itself (strdup's site)
    [ -n "$late" ] && ! grep -q '"function": *"_*strdup"' "$late" &&
        fail "the late report does not name strdup: $(grep -o '"function": *"[^"]*"' "$late" | tr '\n' ' ')"
    sleep 0.2
    grep -q 'cannot write' err.txt && fail "a late child could not write its report: $(cat err.txt)"
    cd ..
    # -o /dev/stdout: a late child's stdout is not memtally's (here a pipe
    # into a file); its report goes to memtally.<pid>.<child pid>.json
    mkdir late_fd && cd late_fd || fail "mkdir late_fd"
    "$MEMTALLY" run --follow -o /dev/stdout -- bash -c \
        '(i=0; while [ -d "${MEMTALLY_REPORT%/*}" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
          "$0") | cat >piped.txt & echo started' "$LEAKY" >out.txt 2>err.txt
    expect_rc 0 $? "--follow -o /dev/stdout with a background child"
    i=0
    while ! ls memtally.*.*.json >/dev/null 2>&1 && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    sleep 0.3
    ls memtally.*.*.json >/dev/null 2>&1 || fail "no memtally.<pid>.<child>.json from the late child: $(ls) $(cat err.txt)"
    expect_grep '^leaky: done$' piped.txt "the late child's own output"
    grep -q 'memtally' piped.txt && fail "a report went into the late child's pipe: $(cat piped.txt)"
    cd ..
    # children ending around the moment memtally collects the reports:
    # each report is collected or written by its process, none is lost, and
    # no temporary directory is left behind
    mkdir race && cd race && mkdir tmp || fail "mkdir race"
    TMPDIR=$PWD/tmp "$MEMTALLY" run --follow -o r.json -- bash -c \
        'for i in 0 1 2 3 4 5 6 7 8 9; do (sleep 0.0$i; "$0" >/dev/null) & done; sleep 0.04' "$LEAKY" \
        >out.txt 2>err.txt
    expect_rc 0 $? "--follow with children ending around the program's exit"
    i=0
    while [ "$(grep -l "\"function\": *\"\\(leak_buffers\\|$leaky+0x[0-9a-f]*\\)\"" r.*.json 2>/dev/null | wc -l)" -lt 10 ] &&
        [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    n=$(grep -l "\"function\": *\"\\(leak_buffers\\|$leaky+0x[0-9a-f]*\\)\"" r.*.json 2>/dev/null | wc -l)
    [ "$n" -eq 10 ] || fail "$n reports of the 10 leaky processes: $(ls) $(cat err.txt)"
    sleep 0.2
    grep -q 'cannot write' err.txt && fail "a child could not write its report: $(cat err.txt)"
    [ -z "$(ls tmp)" ] || fail "temporary directories left behind: $(ls tmp)"
    cd ..
    ;;
inlined_site)
    # an allocation inlined two levels deep is named by the line of the
    # function that holds it (each of main's two lines), not a line inside
    # the inlined functions
    "$MEMTALLY" run -o r.json -- "$INLINED" >out.txt 2>err.txt
    expect_rc 0 $? "inlined"
    want=$(grep -n 'outer(.*the site' "$SRC/tools/inlined.c" | cut -d: -f1 | tr '\n' ' ')
    got=$(jq -r '[.sites[] | select(.allocated == 4321 or .allocated == 1234) | select(.file != null) |
                  select(.file | endswith("inlined.c")) | .line] | sort | map(tostring) | join(" ")' r.json)
    [ "$got " = "$want" ] || fail "inlined allocations at lines '$got', expected '$want' ($(jq -c '.sites' r.json))"
    ;;
cxx_names)
    # C++ functions are named as a C++ programmer writes them
    "$MEMTALLY" run --stack-depth 2 -o r.json -- "$CXXPROG" >out.txt 2>err.txt
    expect_rc 0 $? "cxx_names"
    jq -r '.sites[].function' r.json > functions.txt
    expect_grep '^shop::make_name\[abi:cxx11\](int)$\|^shop::make_name(int)$' functions.txt "demangled make_name"
    grep -q '^_Z' functions.txt && fail "a mangled name is left: $(grep '^_Z' functions.txt)"
    ;;
report_text)
    "$MEMTALLY" report "$SRC/tools/before.json" >out.txt 2>err.txt
    expect_rc 0 $? "report"
    # "--" before the file name, as in every command line
    "$MEMTALLY" report -- "$SRC/tools/before.json" >dashdash.txt 2>err.txt
    expect_rc 0 $? "report -- FILE"
    cmp -s out.txt dashdash.txt || fail "report -- FILE differs from report FILE"
    expect_grep '^  current *4\.00 KiB  (4096 bytes)$' out.txt "global current"
    expect_grep '^  allocs *6$' out.txt "global allocs"
    expect_grep '^ *0 B *0 B *0 *3\.00 KiB *4\.00 KiB *3  Renderer$' out.txt "parent category"
    expect_grep '^ *2\.00 KiB *3\.00 KiB *2 *2\.00 KiB *3\.00 KiB *2    Textures$' out.txt "child category"
    expect_grep '^ *2\.00 KiB *3\.00 KiB *4 *2  renderer\.c:42 \[Renderer::Textures\]$' out.txt "top site"
    expect_grep '^ *1\.00 KiB *1\.00 KiB *1 *1  load_config \[Uncategorized\]$' out.txt "function site"
    # the library's golden pair: the same state written as JSON and as text,
    # names with control bytes and bytes that are not UTF-8 included
    "$MEMTALLY" report "$SRC/golden/report.json" >golden.txt 2>err.txt
    expect_rc 0 $? "report of the golden JSON"
    cmp -s "$SRC/golden/report.txt" golden.txt || {
        fail "text from the golden JSON differs from golden/report.txt"
        diff "$SRC/golden/report.txt" golden.txt >&2
    }
    ;;
report_bytes)
    # The JSON report stores a byte that is not UTF-8 as \udcXX, so "x\xff"
    # and "xÿ" ("x\xc3\xbf") come back as two categories, each with its own
    # numbers, as do the files "f\xff.c" and "fÿ.c".
    "$NAMES" names.json names.txt >out.txt 2>err.txt
    expect_rc 0 $? "names"
    grep -q -F '"x\udcff": {' names.json || fail "no category \"x\\udcff\" in names.json"
    grep -q -F '"file": "f\udcff.c"' names.json || fail "no file \"f\\udcff.c\" in names.json"
    "$MEMTALLY" report names.json >report.txt 2>err.txt
    expect_rc 0 $? "report of names.json"
    expect_grep '^Categories (7;' report.txt "all categories"
    expect_grep '^ *1 B *1 B *1 *1 B *1 B *1  x\\xff$' report.txt "category x\\xff"
    expect_grep '^ *2 B *2 B *1 *2 B *2 B *1  xÿ$' report.txt "category xÿ"
    expect_grep '^ *0 B *0 B *0 *4 B *4 B *1  p\\xfe$' report.txt "parent p\\xfe"
    expect_grep '^ *4 B *4 B *1 *4 B *4 B *1    c\\x80$' report.txt "its child c\\x80"
    expect_grep '^ *1 B *1 B *1 *1  f\\xff\.c:1 \[x\\xff\]$' report.txt "site f\\xff.c"
    expect_grep '^ *2 B *2 B *1 *1  fÿ\.c:2 \[xÿ\]$' report.txt "site fÿ.c"
    # ... and the text is the program's own text report, byte for byte
    cmp -s names.txt report.txt || {
        fail "memtally report of names.json differs from the program's text report"
        diff names.txt report.txt >&2
    }
    "$MEMTALLY" diff "$SRC/tools/before.json" names.json >diff.txt 2>err.txt
    expect_rc 0 $? "diff to names.json"
    expect_grep '^ *+1 (+1 B) *+1 *0  x\\xff$' diff.txt "diff: category x\\xff"
    expect_grep '^ *+2 (+2 B) *+1 *0  xÿ$' diff.txt "diff: category xÿ"
    expect_grep '^ *+1 (+1 B) *+1 *0  f\\xff\.c:1 \[x\\xff\]$' diff.txt "diff: site f\\xff.c"
    expect_grep '^ *+2 (+2 B) *+1 *0  fÿ\.c:2 \[xÿ\]$' diff.txt "diff: site fÿ.c"
    # Written by hand: \u00XX is the character U+00XX (what older versions
    # wrote for such a byte), \udcXX the byte, whatever the case of its
    # digits, in function and file names too; a surrogate pair is its
    # character, and "\\udcfd" is a backslash and text.
    "$MEMTALLY" report "$SRC/tools/escapes.json" >escapes.txt 2>err.txt
    expect_rc 0 $? "report of escapes.json"
    expect_grep '^Categories (4;' escapes.txt "escapes.json: all categories"
    expect_grep '^ *1 B *1 B *1 *1 B *1 B *1  yþ$' escapes.txt "y\\u00fe"
    expect_grep '^ *2 B *2 B *1 *2 B *2 B *1  y\\xfe$' escapes.txt "y\\uDCFE"
    expect_grep '^ *4 B *4 B *1 *4 B *4 B *1  y😀\\x80💩$' escapes.txt "surrogate pairs around \\udc80"
    expect_grep '^ *56 B *56 B *3 *56 B *56 B *3  y\\\\udcfd"\\xfd$' escapes.txt "an escaped backslash"
    expect_grep '^ *1 B *1 B *1 *1  gþ \[yþ\]$' escapes.txt "function g\\u00fe"
    expect_grep '^ *2 B *2 B *1 *1  g\\xfe \[y\\xfe\]$' escapes.txt "function g\\udcfe"
    expect_grep '^ *4 B *4 B *1 *1  g😀\\x80💩 \[y😀\\x80💩\]$' escapes.txt "function with surrogate pairs"
    expect_grep '^ *56 B *56 B *3 *3  h\\xfd\\xfc\\xfb\.c:7 \[y' escapes.txt "file h\\udcfd\\udcfc\\udcfb.c"
    # a parse error is placed by the file's own bytes, escapes and all
    printf '{"a\\udcff\\udcfe": 1, "b": [1,,2]}\n' >broken.json
    "$MEMTALLY" report broken.json >out.txt 2>err.txt
    expect_rc 2 $? "report broken.json"
    expect_grep '^memtally: broken\.json: not JSON: .* near byte 29$' err.txt "where the parse failed"
    ;;
run_bytes)
    # `memtally run` writes the report again after naming the sites: bytes
    # that are not UTF-8 stay \udcXX there, and the file valid UTF-8
    "$MEMTALLY" run -o run.json -- "$NAMES" >out.txt 2>err.txt
    expect_rc 0 $? "names under memtally run"
    grep -q -F '"x\udcff": {' run.json || fail "no category \"x\\udcff\" in run.json"
    grep -q -F '"file": "f\udcff.c"' run.json || fail "no file \"f\\udcff.c\" in run.json"
    iconv -f UTF-8 -t UTF-8 run.json >/dev/null 2>&1 || fail "run.json is not valid UTF-8"
    "$MEMTALLY" report run.json >report.txt 2>err.txt
    expect_rc 0 $? "report of run.json"
    expect_grep '^ *0 B *1 B *0 *0 B *1 B *0  x\\xff$' report.txt "category x\\xff"
    expect_grep '^ *0 B *2 B *0 *0 B *2 B *0  xÿ$' report.txt "category xÿ"
    expect_grep '^ *0 B *4 B *0 *0 B *4 B *0    c\\x80$' report.txt "category p\\xfe::c\\x80"
    expect_grep '^ *0 B *1 B *1 *0  f\\xff\.c:1 \[x\\xff\]$' report.txt "site f\\xff.c"
    expect_grep '^ *0 B *2 B *1 *0  fÿ\.c:2 \[xÿ\]$' report.txt "site fÿ.c"
    # the text report `memtally run` writes says the same of them
    "$MEMTALLY" run -o run.txt -- "$NAMES" >out.txt 2>err.txt
    expect_rc 0 $? "names under memtally run, text report"
    grep -F -e 'x\xff' -e 'xÿ' -e 'c\x80' report.txt >a.txt
    grep -F -e 'x\xff' -e 'xÿ' -e 'c\x80' run.txt >b.txt
    [ -s a.txt ] && cmp -s a.txt b.txt || {
        fail "x\\xff, xÿ or c\\x80 differ between run.txt and the report of run.json"
        diff b.txt a.txt >&2
    }
    ;;
diff)
    "$MEMTALLY" diff "$SRC/tools/before.json" "$SRC/tools/after.json" >out.txt 2>err.txt
    expect_rc 0 $? "diff"
    # sites are told apart by the whole of their names: category "a\x1fb"
    # at c.c:1 is not category "a" at "b\x1fc.c":1
    "$MEMTALLY" diff "$SRC/tools/sep_before.json" "$SRC/tools/sep_after.json" >sep.txt 2>err.txt
    expect_rc 0 $? "diff of sites whose names hold a separator byte"
    expect_grep '^ *+100 (+100 B) *+1 *0  b\\x1fc\.c:1 \[a\]$' sep.txt "the new site"
    expect_grep '^ *-100 (-100 B) *-1 *0  c\.c:1 \[a\\x1fb\]$' sep.txt "the old site"
    if [ -w /dev/full ]; then
        # an output error is named
        "$MEMTALLY" diff "$SRC/tools/before.json" "$SRC/tools/after.json" >/dev/full 2>full.txt
        expect_rc 2 $? "diff to a full device"
        expect_grep '^memtally: cannot write the difference to standard output: No space left on device$' full.txt \
            "diff output error"
        "$MEMTALLY" report "$SRC/tools/before.json" >/dev/full 2>full.txt
        expect_rc 2 $? "report to a full device"
        expect_grep '^memtally: cannot write the report to standard output: No space left on device$' full.txt \
            "report output error"
    fi
    sed -n 3p out.txt >first.txt
    expect_grep '^ *+3072 (+3\.00 KiB) *+7 *+4  global$' first.txt "global line first"
    expect_grep '^ *+3072 (+3\.00 KiB) *+5 *+3  Renderer::Textures$' out.txt "category change"
    expect_grep '^ *-1024 (-1\.00 KiB) *0 *+1  Uncategorized$' out.txt "category shrinking"
    expect_grep '^ *+1024 (+1\.00 KiB) *+2 *0  Audio$' out.txt "new category"
    expect_grep '^ *+3072 (+3\.00 KiB) *+5 *+3  renderer\.c:42 \[Renderer::Textures\]$' out.txt "site by file:line"
    expect_grep '^ *-1024 (-1\.00 KiB) *0 *+1  load_config \[Uncategorized\]$' out.txt "site by function"
    expect_grep '^ *+1024 (+1\.00 KiB) *+2 *0  audio\.c:99 \[Audio\]$' out.txt "new site"
    expect_grep '^  (1 unchanged)$' out.txt "unchanged site counted"
    grep -q 'mesh\.c' out.txt && fail "unchanged site listed"
    # sorted by |change|: Textures (3072) before Audio (1024)
    a=$(grep -n '  Renderer::Textures$' out.txt | cut -d: -f1)
    b=$(grep -n '  Audio$' out.txt | cut -d: -f1)
    [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] || fail "categories not sorted by change"
    # a report against itself: nothing changed
    "$MEMTALLY" diff "$SRC/tools/after.json" "$SRC/tools/after.json" >same.txt 2>&1
    expect_rc 0 $? "diff with itself"
    expect_grep '^ *0 *0 *0  global$' same.txt "no change"
    # reports with no categories and no sites (sanitizer builds check that
    # nothing is sorted or summed out of bounds)
    printf '{"memtally": {"version": "0.1.0", "schema": 1}, "global": {"allocated": 0, "freed": 0, "current": 0, "peak": 0, "allocs": 0, "frees": 0}, "categories": {}, "sites": []}\n' >none.json
    "$MEMTALLY" diff none.json none.json >none.txt 2>&1
    expect_rc 0 $? "diff of empty reports"
    expect_grep '^ *0 *0 *0  global$' none.txt "empty reports: global line"
    "$MEMTALLY" diff none.json "$SRC/tools/after.json" >grow.txt 2>&1
    expect_rc 0 $? "diff from an empty report"
    expect_grep '^ *+1024 (+1\.00 KiB) *+2 *0  Audio$' grow.txt "empty report: new category"
    ;;
bad_input)
    printf 'this is not json\n' >not.json
    printf '{"memtally": {"version": "9.0.0", "schema": 2}}\n' >schema2.json
    printf '{"memtally": {"schema": 1}, "global": {"allocated": 1}}\n' >partial.json
    printf '' >empty.json
    printf '[1, 2]\n' >array.json
    for f in missing.json not.json schema2.json partial.json empty.json array.json; do
        "$MEMTALLY" report $f >out.txt 2>err.txt
        expect_rc 2 $? "report $f"
        [ "$(wc -l <err.txt)" -eq 1 ] || fail "report $f: not one line of error: $(cat err.txt)"
        expect_grep "^memtally: $f: " err.txt "message for $f"
        [ -s out.txt ] && fail "report $f printed to stdout"
    done
    "$MEMTALLY" report missing.json 2>err.txt
    expect_grep 'cannot read: No such file' err.txt "unreadable file"
    "$MEMTALLY" report not.json 2>err.txt
    expect_grep 'not JSON' err.txt "not JSON"
    "$MEMTALLY" report schema2.json 2>err.txt
    expect_grep 'schema 2 is not supported' err.txt "wrong schema"
    "$MEMTALLY" report partial.json 2>err.txt
    expect_grep 'not a memtally report: global has no "freed"' err.txt "missing field"
    printf '{"memtally": {"schema": 1}, "global": {"allocated": 1, "freed": 0, "current": 1, "peak": 1, "allocs": 1, "frees": 9223372036854775808}}\n' >huge.json
    "$MEMTALLY" report huge.json >out.txt 2>err.txt
    expect_rc 2 $? "report huge.json"
    expect_grep 'not a memtally report: global.frees is out of range' err.txt "counter past INT64_MAX"
    # a name in a message is escaped: no raw control byte reaches the terminal
    printf '{"memtally": {"schema": 1}, "global": {"allocated": 0, "freed": 0, "current": 0, "peak": 0, "allocs": 0, "frees": 0}, "categories": {"x\\u001b[2J": {"parent": null}}, "sites": []}\n' >esc.json
    "$MEMTALLY" report esc.json >out.txt 2>err.txt
    expect_rc 2 $? "report esc.json"
    expect_grep 'not a memtally report: categories\["x\\x1b\[2J"\] has no' err.txt "escaped name in a message"
    tr -d '\n' <err.txt | tr -d '[:print:]' | grep -q . && fail "a control byte in the message: $(od -c err.txt | head -3)"
    "$MEMTALLY" diff "$SRC/tools/before.json" not.json >out.txt 2>err.txt
    expect_rc 2 $? "diff with a bad file"
    # help of each command: the usage on stdout, exit 0
    for cmd in report diff; do
        "$MEMTALLY" $cmd --help >out.txt 2>err.txt
        expect_rc 0 $? "$cmd --help"
        expect_grep '^usage: memtally run' out.txt "$cmd --help prints the usage"
    done
    # usage errors: usage text, exit 2
    for args in "" "bogus" "report" "diff a.json" "run" "run -o" "run --nope -- true"; do
        # shellcheck disable=SC2086
        "$MEMTALLY" $args >out.txt 2>err.txt
        expect_rc 2 $? "memtally $args"
        expect_grep '^usage: memtally run' err.txt "usage for 'memtally $args'"
    done
    ;;
*)
    echo "unknown case $case_name" >&2
    exit 2
    ;;
esac

if [ $fails -ne 0 ]; then
    echo "$case_name: $fails failure(s)" >&2
    exit 1
fi
echo "$case_name: ok"
