# The SDK test: install TraceNAS into a temporary prefix, build
# examples/custom_proxy against that install with find_package(TraceNAS), check
# the plugin exports one symbol, and load it with the installed CLI
# (`plugins --json`, `validate`, `run`). Included from tests/CMakeLists.txt.
find_program(TN_BASH bash REQUIRED)

# The example is built with the host's compiler (the build fingerprint must
# match) and, with Ninja, the same ninja.
set(TN_SDK_MAKE_PROGRAM "")
if(CMAKE_GENERATOR MATCHES "Ninja")
  set(TN_SDK_MAKE_PROGRAM "${CMAKE_MAKE_PROGRAM}")
endif()

add_test(NAME sdk_install_and_example
  COMMAND ${TN_BASH} ${CMAKE_CURRENT_LIST_DIR}/sdk_test.sh
          ${PROJECT_BINARY_DIR}            # build tree to install
          ${PROJECT_SOURCE_DIR}            # source tree (examples/custom_proxy)
          ${TN_FIXTURE_DIR}/components     # test components (fixture_model)
          ${CMAKE_COMMAND}
          ${CMAKE_CXX_COMPILER}
          "${TN_SDK_MAKE_PROGRAM}")
set_tests_properties(sdk_install_and_example PROPERTIES
  TIMEOUT 600
  LABELS sdk
  ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE")
