#!/usr/bin/env bash
# check_example.sh NAME EXECUTABLE WORKDIR SOURCEDIR [MEMTALLY_COMMAND]
#
# Runs one example program and checks what it prints against numbers worked
# out here from the example's source (sizes, counts, string lengths), and
# checks the JSON reports with jq. Used by tests/examples.cmake.
set -u

name=$1 exe=$2 work=$3 src=$4 cli=${5-}

rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1

fail() {
    echo "FAIL ($name): $*"
    echo "--- exit status: ${status-}"
    echo "--- stdout:"; cat out.txt 2>/dev/null
    echo "--- stderr:"; cat err.txt 2>/dev/null
    exit 1
}
# run [ENV=VALUE...] -- [ARGS...]: runs the example, keeps stdout, stderr, status.
run() {
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    env ${envs[@]+"${envs[@]}"} "$exe" "$@" >out.txt 2>err.txt
    status=$?
}
status_is() { [ "$status" -eq "$1" ] || fail "exit status $status, expected $1"; }
out_has() { grep -qF -- "$1" out.txt || fail "stdout lacks: $1"; }
out_lacks() { ! grep -qF -- "$1" out.txt || fail "stdout should not contain: $1"; }
out_re() { grep -qE -- "$1" out.txt || fail "stdout lacks a line matching: $1"; }
out_not_re() { ! grep -qE -- "$1" out.txt || fail "stdout should have no line matching: $1"; }
err_has() { grep -qF -- "$1" err.txt || fail "stderr lacks: $1"; }
err_re() { grep -qE -- "$1" err.txt || fail "stderr lacks a line matching: $1"; }
err_quiet() { ! grep -q "memtally" err.txt || fail "memtally logged something on stderr"; }
# section TITLE: the stdout lines after the line containing TITLE, up to the next "== " heading.
section() { awk -v t="$1" 'index($0, t) { on = 1; next } on && /^==/ { exit } on' out.txt; }
# jq_is FILE FILTER EXPECTED
jq_is() {
    local got
    got=$("${JQ:-jq}" -r "$2" "$1" 2>&1) || fail "$1: jq '$2' failed: $got"
    [ "$got" = "$3" ] || fail "$1: $2 is '$got', expected '$3'"
}
# line_of FILE TEXT: the line number of the first line of the source file containing TEXT.
line_of() {
    local n
    n=$(grep -nF -- "$2" "$src/$1" | head -n 1 | cut -d: -f1)
    [ -n "$n" ] || fail "no line with '$2' in $1"
    echo "$n"
}
# site_filter FILE CATEGORY LINE: a jq filter for the sites at FILE:LINE in CATEGORY.
site_filter() {
    echo ".sites[] | select(.category == \"$2\" and .line == $3 and (.file | tostring | endswith(\"$1\")))"
}

[ -x "$exe" ] || fail "no executable at $exe"

case $name in

renderer)
    # Sizes from renderer.c: buffers, textures (RGBA8), 32-byte rigid bodies,
    # load_asset(size) = a size/4 staging block (freed) + the size itself.
    vb=$((64 * 1024)) ib=$((16 * 1024)) ub=$((3 * 256))
    diffuse=$((512 * 512 * 4)) normal=$((256 * 256 * 4)) shaders=2048
    renderer_total=$((vb + ib + ub + diffuse + normal + shaders))
    physics=$((128 * 32 + 32 * 32))
    music=$((48000 * 2 * 4)) level=$((24 * 1024))
    live=$((renderer_total + physics + music + level))
    allocated=$((live + music / 4 + level / 4))
    peak=$((renderer_total + physics + music / 4 + music)) # the music's staging block and data
    run MEMTALLY_REPORT=renderer.json --
    status_is 0
    err_quiet
    usage() { out_re "Renderer category: $1 +- usage: +$2 bytes$3"; }
    usage "Renderer::VertexBuffers" $vb ""
    usage "Renderer::IndexBuffers" $ib ""
    usage "Renderer::UniformBuffers" $ub ""
    usage "Renderer::Textures" 0 " \\($((diffuse + normal)) with subcategories\\)"
    usage "Renderer::Textures::Diffuse" $diffuse ""
    usage "Renderer::Textures::Normal" $normal ""
    usage "Renderer::Shaders" $shaders ""
    out_lacks "Renderer category: Audio"
    out_lacks "Renderer category: Renderer "
    out_re "^  Renderer +$renderer_total bytes live in 8 blocks"
    out_re "^  Audio +$music bytes live in 1 blocks"
    out_re "^  Physics +$physics bytes live in 2 blocks"
    out_re "^  Scene +$level bytes live in 1 blocks"
    out_re "^  whole program +$live bytes live, peak $peak bytes"
    out_has "-> $shaders bytes still live"
    section "mt_leak_check" | grep -qF "Renderer::Shaders" || fail "leak check does not name Renderer::Shaders"
    report=$(section "mt_report")
    for c in Renderer Renderer::Textures::Diffuse Audio::Buffers::Music Physics::Bodies::Static Scene::Loader; do
        grep -qF -- "$c" <<<"$report" || fail "text report lacks category $c"
    done
    # The at-exit JSON report (MEMTALLY_REPORT), written after main returned.
    j=renderer.json
    [ -s $j ] || fail "MEMTALLY_REPORT=renderer.json wrote nothing"
    jq_is $j .global.current $shaders
    jq_is $j .global.allocated $allocated
    jq_is $j .global.freed $((allocated - shaders))
    jq_is $j .global.peak $peak
    jq_is $j .global.allocs 14
    jq_is $j .global.frees 13
    jq_is $j '.categories["Renderer"].parent' null
    jq_is $j '.categories["Renderer::Textures"].parent' Renderer
    jq_is $j '.categories["Renderer::Textures"].allocated' 0
    jq_is $j '.categories["Renderer::Textures"].total.allocated' $((diffuse + normal))
    jq_is $j '.categories["Renderer::UniformBuffers"].allocs' 3
    jq_is $j '.categories["Renderer::Shaders"].current' $shaders
    jq_is $j '.categories["Audio::Buffers::Music"].allocated' $((music + music / 4))
    jq_is $j '.categories["Audio::Buffers::Music"].peak' $((music + music / 4))
    jq_is $j '.categories["Scene::Loader"].allocated' $((level + level / 4))
    jq_is $j '.categories["Physics::Bodies"].total.allocated' $physics
    jq_is $j '.categories | has("Uncategorized") and .Uncategorized.allocs > 0' false
    # file:line sites: the texture, the forgotten cache, and load_asset's line
    # counted once per scope it ran in.
    tex=$(line_of renderer.c "MT_ALLOC(texture_size, TEXTURE_CATEGORY)")
    jq_is $j "[$(site_filter renderer.c Renderer::Textures::Diffuse "$tex") | .allocated] | add" $diffuse
    leak=$(line_of renderer.c 'MT_ALLOC(2048, "Renderer::Shaders")')
    jq_is $j "[$(site_filter renderer.c Renderer::Shaders "$leak") | .current] | add" $shaders
    data=$(line_of renderer.c "MT_ALLOC(size, NULL)")
    jq_is $j "[$(site_filter renderer.c Audio::Buffers::Music "$data") | .allocated] | add" $music
    jq_is $j "[$(site_filter renderer.c Scene::Loader "$data") | .allocated] | add" $level
    ;;

tracked_resource)
    vertices=$((1000 * 32)) indices=$((3000 * 4)) # 8 floats per vertex, uint32_t indices
    run --
    status_is 0
    out_has "Geometry::Vertices: $vertices bytes in 1 blocks"
    out_has "Geometry::Indices: $indices bytes in 1 blocks"
    out_has "Geometry (all): $((vertices + indices)) bytes in 2 blocks"
    out_has "Geometry (all): 0 bytes in 0 blocks"
    out_has "global: allocated $((vertices + indices)) bytes, freed $((vertices + indices)) bytes"
    err_has "[app] warning: resource already allocated (1000 vertex objects in Geometry::Vertices)"
    err_has "[app] info: allocated 3000 uint32_t objects in category Geometry::Indices"
    [ "$(grep -c "deallocated resource" err.txt)" -eq 2 ] || fail "expected 2 deallocation messages"
    ! grep -q "memtally:" err.txt || fail "memtally logged something"
    ;;

category_pool)
    run --
    status_is 0
    out_has "pool Pools::Particles: usage $((10 * 256)) bytes, 10 blocks held, allocs 10, frees 0"
    out_has "pool Pools::Strings: usage $((3 * 100)) bytes, 3 blocks held, allocs 3, frees 0"
    out_has "all pools: usage $((10 * 256 + 3 * 100)) bytes"
    out_has "freed all 10 blocks in pool category: Pools::Particles"
    out_has "pool Pools::Particles: usage 0 bytes, 0 blocks held, allocs 10, frees 10"
    [ "$(grep -c "pool Pools::Strings: usage 300 bytes, 3 blocks held" out.txt)" -eq 2 ] ||
        fail "freeing one pool changed the other"
    out_has "all pools destroyed: usage 0 bytes"
    err_quiet
    ;;

leak_detector)
    # perform_complex_operation(): 5 cache entries of 128 bytes, 2 freed; a
    # 4096-byte scratch block, freed. The config string predates the snapshot.
    window=window=1280x720
    leaked=$((3 * 128)) config=$((${#window} + 1))
    run --
    status_is 0
    err_quiet
    out_has "warning: memory usage increased by $leaked bytes between 'before_operation' and 'after_operation'"
    out_re "^  Operation::Cache +current \+$leaked bytes, \+5 allocs, \+2 frees$"
    out_re "^  Operation::Scratch +current \+0 bytes, \+1 allocs, \+1 frees$"
    out_lacks "  Config "
    out_not_re "^  Operation +current" # its own numbers did not change
    section "mt_snapshot_diff_report" | grep -q "Operation::Cache" || fail "diff report lacks Operation::Cache"
    section "mt_snapshot_diff_report" | grep -q "Config" && fail "diff report lists unchanged Config"
    out_has "warning: potential leak in category 'Operation::Cache': $leaked bytes"
    out_has "warning: potential leak in category 'Config': $config bytes"
    [ "$(grep -c "potential leak" out.txt)" -eq 2 ] || fail "expected exactly 2 leaking categories"
    ;;

leak_checker)
    # 3 packets of 1500 bytes, the first freed; "render.vsync=on" duplicated.
    vsync=render.vsync=on
    leaked=$((2 * 1500 + ${#vsync} + 1))
    run --
    status_is 1
    out_has "memory leak detected: $leaked bytes in 3 blocks"
    for c in Network::Packets Config::Strings leak_checker.c; do err_has "$c"; done
    pk=$(line_of leak_checker.c 'MT_ALLOC(PACKET_SIZE, "Network::Packets")')
    err_has "leak_checker.c:$pk"
    run -- --fixed
    status_is 0
    out_has "no memory leaks detected"
    [ ! -s err.txt ] || fail "stderr should be empty without a leak"
    # The at-exit leak check from the environment reports the same bytes.
    run --
    once=$(grep -c "Network::Packets" err.txt)
    run MEMTALLY_LEAK_CHECK=1 --
    status_is 1
    [ "$(grep -c "Network::Packets" err.txt)" -eq $((2 * once)) ] ||
        fail "MEMTALLY_LEAK_CHECK=1 did not repeat the leak report at exit"
    ;;

reporter)
    # 4 text widgets of 64 bytes, 2 buttons of 48 bytes (one freed), 2048
    # float samples of music (freed).
    text=$((4 * 64)) buttons=$((2 * 48)) music=$((2048 * 4))
    allocated=$((text + buttons + music)) freed=$((48 + music))
    current=$((allocated - freed))
    run -- out/report.json
    status_is 1 # the directory out/ does not exist: mt_report_file fails
    [ ! -e out/report.json ] || fail "a failed mt_report_file left a file"
    run -- report.json
    status_is 0
    err_quiet
    out_has "Global - Allocated: $allocated bytes, Freed: $freed bytes, Current: $current bytes"
    out_has "  UI::Widgets::Text: $text bytes (allocated: $text, freed: 0)"
    out_has "  UI::Widgets::Button: 48 bytes (allocated: $buttons, freed: 48)"
    section "Category Breakdown" | grep -q "Audio" && fail "a category with 0 bytes is in the breakdown"
    section "mt_report(stdout" | grep -qF "UI::Widgets::Button" || fail "text report lacks UI::Widgets::Button"
    out_has "JSON report written to report.json"
    j=report.json
    jq_is $j .memtally.version 0.1.0
    jq_is $j .memtally.schema 1
    jq_is $j .global.allocated $allocated
    jq_is $j .global.freed $freed
    jq_is $j .global.current $current
    jq_is $j .global.peak $allocated
    jq_is $j .global.allocs 7
    jq_is $j .global.frees 2
    jq_is $j '.categories["UI"].parent' null
    jq_is $j '.categories["UI::Widgets"].parent' UI
    jq_is $j '.categories["UI::Widgets"].current' 0
    jq_is $j '.categories["UI::Widgets"].total.current' $current
    jq_is $j '.categories["UI::Widgets"].total.allocs' 6
    jq_is $j '.categories["UI::Widgets::Button"] | [.allocated, .freed, .current, .allocs, .frees] | join(" ")' \
        "$buttons 48 48 2 1"
    jq_is $j '.categories["Audio::Buffers::Music"] | [.allocated, .freed, .current, .peak] | join(" ")' \
        "$music $music 0 $music"
    jq_is $j '[.categories[] | .total.current] | max' $current
    w=$(line_of reporter.c 'MT_ALLOC(TEXT_WIDGET_SIZE, "UI::Widgets::Text")')
    jq_is $j "[$(site_filter reporter.c UI::Widgets::Text "$w") | .allocs] | add" 4
    jq_is $j "[.sites[] | .allocated] | add" $allocated
    ;;

basic)
    # 1024 bytes, 100 uint32_t, "hello, memtally" + NUL, then realloc 1024 -> 2048
    # (one free and one allocation).
    hello="hello, memtally"
    total=$((1024 + 100 * 4 + ${#hello} + 1 + 2048))
    run --
    status_is 0
    err_quiet
    out_has "$hello: 100 table entries"
    out_has "allocated $total bytes in 4 blocks, freed $total bytes in 4 blocks"
    out_has "no memory leaks"
    ;;

basic_disabled)
    run --
    status_is 0
    out_has "hello, memtally: 100 table entries"
    out_has "memory tracking disabled at compile time (MEMTALLY_DISABLE)"
    ! "${NM:-nm}" "$exe" | grep -qE '\bmt_' || fail "basic_disabled references mt_ symbols"
    ! "${READELF:-readelf}" -d "$exe" | grep -q "libmemtally" || fail "basic_disabled links libmemtally"
    MEMTALLY_LEAK_CHECK=1 MEMTALLY_REPORT=r.json "$exe" >/dev/null 2>err.txt
    [ ! -e r.json ] && [ ! -s err.txt ] || fail "the environment turned tracking on in basic_disabled"
    ;;

basic_disabled_run)
    # The untracked build, tracked from outside: `memtally run` preloads
    # libmemtally_preload.so and attributes each malloc to its caller's
    # file:line. The three blocks basic.c allocates itself (strdup's block
    # belongs to libc's strdup) must be there with their exact sizes; their
    # lines depend on inlining, so only the file is compared.
    [ -x "$cli" ] || fail "no memtally command at '$cli'"
    "$cli" run -o run.json -- "$exe" >out.txt 2>err.txt
    status=$?
    status_is 0
    out_has "memory tracking disabled at compile time (MEMTALLY_DISABLE)"
    j=run.json
    jq_is $j .global.current 0
    jq_is $j ".global.allocated >= $((1024 + 100 * 4 + 16 + 2048))" true
    jq_is $j '[.sites[] | select(.file // "" | endswith("/basic.c")) | .allocated] | sort | join(" ")' \
        "$((100 * 4)) 1024 2048"
    jq_is $j '[.sites[] | select(.file // "" | endswith("/basic.c")) | .freed] | add' $((100 * 4 + 1024 + 2048))
    ;;

auto_tu)
    # Keys name, version, lang and values memtally, 0.1.0, C, each + NUL.
    keys=$((5 + 8 + 5)) values=$((9 + 6 + 2))
    run --
    status_is 0
    err_quiet
    out_has "name = memtally"
    out_has "lang = C"
    out_has "Config::Parser: $((keys + values)) bytes in 6 blocks"
    out_has "Config::Parser: 0 bytes in 0 blocks"
    k=$(line_of auto_tu.c "pairs[n].key = strdup(line);")
    v=$(line_of auto_tu.c "pairs[n].value = strdup(eq + 1);")
    out_re "site .*auto_tu\.c:$k \[Config::Parser\]: $keys bytes in 3 blocks"
    out_re "site .*auto_tu\.c:$v \[Config::Parser\]: $values bytes in 3 blocks"
    [ "$(grep -c '^  site ' out.txt)" -eq 2 ] || fail "expected exactly 2 sites in auto_tu.c"
    ;;

*)
    fail "no checks for example '$name'"
    ;;
esac
echo "ok ($name)"
