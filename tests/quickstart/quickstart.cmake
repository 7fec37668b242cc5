# The README's quickstart command, as written, against this build (see
# quickstart_test.sh). Included from tests/CMakeLists.txt.
find_program(TN_BASH bash REQUIRED)
add_test(NAME readme_quickstart
  COMMAND ${TN_BASH} ${CMAKE_CURRENT_LIST_DIR}/quickstart_test.sh
          ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
set_tests_properties(readme_quickstart PROPERTIES TIMEOUT 900 LABELS quickstart)
