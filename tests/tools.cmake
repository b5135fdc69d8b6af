# Tests of the `memtally` command (tools/): run, report, diff. Included
# from tests/CMakeLists.txt. Each case of tests/tools/tools_test.sh is its
# own ctest.
if(TARGET memtally_cli)
  # leaky: -g -O0 so its leak sites resolve to file:line from DWARF
  add_executable(mt_tools_leaky ${CMAKE_CURRENT_SOURCE_DIR}/tools/leaky.c)
  target_compile_options(mt_tools_leaky PRIVATE -g -O0)
  add_executable(mt_tools_passthru ${CMAKE_CURRENT_SOURCE_DIR}/tools/passthru.c)
  target_link_libraries(mt_tools_passthru PRIVATE Threads::Threads)
  # inlined: -g -O2, its allocations two levels of inlining deep
  add_executable(mt_tools_inlined ${CMAKE_CURRENT_SOURCE_DIR}/tools/inlined.c)
  target_compile_options(mt_tools_inlined PRIVATE -g -O2)
  # names: categories and files named with bytes that are not UTF-8. The
  # shared libmemtally, whose API the preload library stands in for under
  # `memtally run`
  add_executable(mt_tools_names ${CMAKE_CURRENT_SOURCE_DIR}/tools/names.c)
  target_link_libraries(mt_tools_names PRIVATE memtally)

  # `memtally run` cases need the preload library inside an ordinary
  # program: not possible next to ASan/TSan, which insist on being the
  # first malloc. report, diff and bad input run in every build.
  set(mt_tools_cases report_text report_bytes diff bad_input)
  if(TARGET memtally_preload AND NOT MEMTALLY_SANITIZE)
    list(APPEND mt_tools_cases leak_check leak_status stack_depth exit_status passthrough
         output_names signal_forward signal_ignored follow inlined_site run_bytes)
  endif()
  # cxx_names: C++ function names demangled (needs a C++ compiler)
  include(CheckLanguage)
  check_language(CXX)
  if(CMAKE_CXX_COMPILER AND TARGET memtally_preload AND NOT MEMTALLY_SANITIZE)
    enable_language(CXX)
    add_executable(mt_tools_cxx ${CMAKE_CURRENT_SOURCE_DIR}/tools/cxx_names.cpp)
    list(APPEND mt_tools_cases cxx_names)
  endif()
  foreach(c ${mt_tools_cases})
    add_test(NAME tools_${c}
      COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tools/tools_test.sh ${c})
    set_tests_properties(tools_${c} PROPERTIES TIMEOUT 60 LABELS tools
      ENVIRONMENT "MEMTALLY=$<TARGET_FILE:memtally_cli>;LEAKY=$<TARGET_FILE:mt_tools_leaky>;PASSTHRU=$<TARGET_FILE:mt_tools_passthru>;INLINED=$<TARGET_FILE:mt_tools_inlined>;NAMES=$<TARGET_FILE:mt_tools_names>;CXXPROG=$<$<TARGET_EXISTS:mt_tools_cxx>:$<TARGET_FILE:mt_tools_cxx>>;SRC=${CMAKE_CURRENT_SOURCE_DIR};WORK=${CMAKE_CURRENT_BINARY_DIR}/tools-work/${c}")
  endforeach()
endif()
