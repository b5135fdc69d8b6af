# tests/preload.cmake - libmemtally_preload.so under small test programs and
# under real programs from Debian's packages (sqlite3, jq, python3, bash,
# git, valgrind for the reference counts). Included by tests/CMakeLists.txt.
#
# The test programs do not link memtally (except scope_prog, which checks
# that a program linking it sees the shim's statistics); they count what
# they allocate themselves and check_report.py compares that with the
# report. They are built with -rdynamic so the report can name their
# functions.
#
# Not registered in sanitizer builds: ASan and TSan replace malloc
# themselves and insist on being first in the library list, so a malloc
# interposer cannot run next to them.
if(NOT TARGET memtally_preload OR MEMTALLY_SANITIZE)
  return()
endif()

set(MT_PL_SRC ${CMAKE_CURRENT_SOURCE_DIR}/preload)
set(MT_PL_WORK ${CMAKE_CURRENT_BINARY_DIR}/preload-work)
set(MT_PL_SHIM $<TARGET_FILE:memtally_preload>)

function(mt_preload_prog name)
  add_executable(${name} ${ARGN})
  set_target_properties(${name} PROPERTIES ENABLE_EXPORTS ON) # -rdynamic
  add_dependencies(${name} memtally_preload)
endfunction()

mt_preload_prog(mt_pl_stress ${MT_PL_SRC}/stress.c)
target_link_libraries(mt_pl_stress PRIVATE Threads::Threads)
mt_preload_prog(mt_pl_align ${MT_PL_SRC}/align.c)
mt_preload_prog(mt_pl_forkexec ${MT_PL_SRC}/forkexec.c)
mt_preload_prog(mt_pl_leaky ${MT_PL_SRC}/leaky.c)
# the same, not position-independent: a file address is not an offset
mt_preload_prog(mt_pl_leaky_nopie ${MT_PL_SRC}/leaky.c)
set_target_properties(mt_pl_leaky_nopie PROPERTIES POSITION_INDEPENDENT_CODE OFF)
target_link_options(mt_pl_leaky_nopie PRIVATE -no-pie)
mt_preload_prog(mt_pl_depth ${MT_PL_SRC}/depth.c)
# every function keeps its own frame: the expected sites depend on it
target_compile_options(mt_pl_depth PRIVATE -fno-optimize-sibling-calls -fno-inline)
mt_preload_prog(mt_pl_dlopen ${MT_PL_SRC}/dlopen_prog.c)
target_link_libraries(mt_pl_dlopen PRIVATE ${CMAKE_DL_LIBS})
add_library(mt_pl_dlib MODULE ${MT_PL_SRC}/dlib.c)
mt_preload_prog(mt_pl_twice ${MT_PL_SRC}/twice.c)
add_executable(mt_pl_noprobe ${MT_PL_SRC}/noprobe.c)
mt_preload_prog(mt_pl_twice_nopie ${MT_PL_SRC}/twice.c)
set_target_properties(mt_pl_twice_nopie PROPERTIES POSITION_INDEPENDENT_CODE OFF)
target_link_options(mt_pl_twice_nopie PRIVATE -no-pie)
mt_preload_prog(mt_pl_scope ${MT_PL_SRC}/scope_prog.c)
target_link_libraries(mt_pl_scope PRIVATE memtally)

# One ctest per case of run_case.sh.
function(mt_preload_case name timeout)
  add_test(NAME preload_${name}
    COMMAND sh ${MT_PL_SRC}/run_case.sh ${name} ${MT_PL_SHIM} ${MT_PL_WORK}/${name} ${ARGN})
  set_tests_properties(preload_${name} PROPERTIES TIMEOUT ${timeout})
endfunction()

mt_preload_case(stress 120 $<TARGET_FILE:mt_pl_stress> 4 50000 1)
mt_preload_case(stress_depth2 120 $<TARGET_FILE:mt_pl_stress> 4 20000 2)
mt_preload_case(align 60 $<TARGET_FILE:mt_pl_align>)
mt_preload_case(scope 60 $<TARGET_FILE:mt_pl_scope> $<TARGET_FILE:mt_pl_noprobe>)
mt_preload_case(dlopen 60 $<TARGET_FILE:mt_pl_dlopen> $<TARGET_FILE:mt_pl_dlib>)
mt_preload_case(twice 60 $<TARGET_FILE:mt_pl_twice>)
mt_preload_case(twice_nopie 60 $<TARGET_FILE:mt_pl_twice_nopie>)
mt_preload_case(forkexec 60 $<TARGET_FILE:mt_pl_forkexec>)
mt_preload_case(forkexec_follow 60 $<TARGET_FILE:mt_pl_forkexec>)
mt_preload_case(forkexec_pid 60 $<TARGET_FILE:mt_pl_forkexec>)
mt_preload_case(leak 60 $<TARGET_FILE:mt_pl_leaky>)
mt_preload_case(large 60 $<TARGET_FILE:mt_pl_leaky>)
mt_preload_case(names_later 60 $<TARGET_FILE:mt_pl_leaky>)
mt_preload_case(large_nopie 60 $<TARGET_FILE:mt_pl_leaky_nopie>)
mt_preload_case(depth 60 $<TARGET_FILE:mt_pl_depth>)

# memtally's stack walker (preload/unwind.c) against libgcc's on every
# walk (MEMTALLY_UNWIND=check): a signal frame (the depth program's one
# handler walk goes to libgcc), threads and fork, and python3's
# interpreter frames.
mt_preload_case(unwind_depth 60 $<TARGET_FILE:mt_pl_depth>)
set_tests_properties(preload_unwind_depth PROPERTIES ENVIRONMENT "EXPECT_LIBGCC=1")
mt_preload_case(unwind_stress 120 $<TARGET_FILE:mt_pl_stress> 4 20000 3)
find_program(MT_PYTHON3 NAMES python3)
if(MT_PYTHON3)
  mt_preload_case(unwind_python3 120 ${MT_PYTHON3} -c
    "import json; d = {str(i): [i, str(i)] for i in range(20000)}; print(len(json.loads(json.dumps(d))))")
  set_tests_properties(preload_unwind_python3 PROPERTIES ENVIRONMENT "PYTHONMALLOC=malloc")
endif()

# Real programs: output, stderr and exit status unchanged under the shim;
# for the deterministic ones memtally's totals equal valgrind's.
foreach(prog sqlite3 jq python3 bash git)
  add_test(NAME preload_real_${prog}
    COMMAND sh ${MT_PL_SRC}/real_program.sh ${MT_PL_SHIM} ${MT_PL_WORK}/real_${prog} ${prog})
  set_tests_properties(preload_real_${prog} PROPERTIES TIMEOUT 120)
endforeach()
foreach(prog sqlite3 jq)
  add_test(NAME preload_valgrind_${prog}
    COMMAND sh ${MT_PL_SRC}/real_program.sh ${MT_PL_SHIM} ${MT_PL_WORK}/valgrind_${prog} ${prog} valgrind)
  set_tests_properties(preload_valgrind_${prog} PROPERTIES TIMEOUT 300)
endforeach()

# The counting rules themselves (realloc(p, 0), realloc(NULL, n), aligned
# blocks...) on a small deterministic program, against valgrind; its
# library frees a block in its destructor, before the report.
add_library(mt_pl_xdtor SHARED ${MT_PL_SRC}/xdtor.c)
mt_preload_prog(mt_pl_vgcount ${MT_PL_SRC}/vgcount.c)
target_link_libraries(mt_pl_vgcount PRIVATE mt_pl_xdtor)
mt_preload_case(valgrind 120 $<TARGET_FILE:mt_pl_vgcount>)

# C++: operator new, new[], aligned new (C++17) reach the shim through
# libstdc++; at MEMTALLY_STACK_DEPTH=2 the sites are the program's
# functions. Needs a C++ compiler, which the build itself does not.
include(CheckLanguage)
check_language(CXX)
if(CMAKE_CXX_COMPILER)
  enable_language(CXX)
  mt_preload_prog(mt_pl_cxx ${MT_PL_SRC}/cxx_prog.cpp)
  set_target_properties(mt_pl_cxx PROPERTIES CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON)
  mt_preload_case(cxx 60 $<TARGET_FILE:mt_pl_cxx>)
  mt_preload_case(unwind_cxx 60 $<TARGET_FILE:mt_pl_cxx>)
  mt_preload_case(valgrind_cxx 120 $<TARGET_FILE:mt_pl_cxx>)
  add_library(mt_pl_dlib_cxx MODULE ${MT_PL_SRC}/dlib_cxx.cpp)
  mt_preload_case(dlopen_cxx 60 $<TARGET_FILE:mt_pl_dlopen> $<TARGET_FILE:mt_pl_dlib_cxx>)
else()
  message(STATUS "memtally: no C++ compiler; the preload_cxx test is not built")
endif()
