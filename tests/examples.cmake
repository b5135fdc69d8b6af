# The example programs (examples/), each run and its output checked by
# examples/check_example.sh against numbers worked out from its source; the
# JSON reports are checked with jq. Included from tests/CMakeLists.txt.

if(NOT TARGET renderer)  # examples not built (MEMTALLY_BUILD_EXAMPLES=OFF)
  return()
endif()

find_program(MT_JQ jq)
if(NOT MT_JQ)
  message(WARNING "jq not found: the example tests that read JSON reports will fail")
  set(MT_JQ jq)
endif()
find_program(MT_BASH bash REQUIRED)

foreach(example ${MT_EXAMPLES} basic_disabled)
  add_test(NAME example_${example}
    COMMAND ${MT_BASH} ${PROJECT_SOURCE_DIR}/examples/check_example.sh
            ${example} $<TARGET_FILE:${example}>
            ${CMAKE_CURRENT_BINARY_DIR}/example-work/${example}
            ${PROJECT_SOURCE_DIR}/examples)
  set_tests_properties(example_${example} PROPERTIES
    TIMEOUT 60
    LABELS examples
    # Some examples leak on purpose for memtally to find; LeakSanitizer
    # (MEMTALLY_SANITIZE=address) must not turn that into a failure.
    ENVIRONMENT "JQ=${MT_JQ};NM=${CMAKE_NM};READELF=${CMAKE_READELF};ASAN_OPTIONS=detect_leaks=0")
endforeach()

# The MEMTALLY_DISABLE build of basic.c, tracked from outside by the memtally
# command (preload library): the blocks basic.c allocates appear at their
# file:line without any change to the program.
if(TARGET memtally_cli AND TARGET memtally_preload)
  add_test(NAME example_basic_disabled_run
    COMMAND ${MT_BASH} ${PROJECT_SOURCE_DIR}/examples/check_example.sh
            basic_disabled_run $<TARGET_FILE:basic_disabled>
            ${CMAKE_CURRENT_BINARY_DIR}/example-work/basic_disabled_run
            ${PROJECT_SOURCE_DIR}/examples $<TARGET_FILE:memtally_cli>)
  # A sanitizer runtime must come first in the process, which LD_PRELOAD of
  # the preload library breaks: .ci/run leaves no_sanitizer tests out there.
  set_tests_properties(example_basic_disabled_run PROPERTIES
    TIMEOUT 60
    LABELS "examples;no_sanitizer"
    ENVIRONMENT "JQ=${MT_JQ}")
endif()
