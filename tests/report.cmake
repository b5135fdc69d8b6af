# Tests of reports, snapshots and the leak check (included from
# tests/CMakeLists.txt).
#
# test_report compares the text and JSON reports of a fixed program state
# byte for byte with tests/golden/report.txt and tests/golden/report.json.
# After an intended change to a report format, rewrite them with
#   MEMTALLY_UPDATE_GOLDEN=1 ctest -R test_report
# and review the difference with git diff before committing.
foreach(t test_report test_snapshot test_leak)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
  target_link_libraries(${t} PRIVATE mt_test_util memtally_core json-c::json-c)
  add_test(NAME ${t} COMMAND ${t})
  set_tests_properties(${t} PROPERTIES TIMEOUT 60)
endforeach()
# a snapshot taken while threads allocate
set_tests_properties(test_snapshot PROPERTIES LABELS threads)
target_compile_definitions(test_report PRIVATE MT_GOLDEN_DIR="${CMAKE_CURRENT_SOURCE_DIR}/golden")
