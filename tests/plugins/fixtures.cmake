# Fixture plugins for the loader tests (tests/plugins/*_test.cpp). Each is a
# real shared library in its own folder under ${TN_FIXTURE_DIR}/<name>/, so a
# test can discover one folder without picking up the others.
#
#   good             a well-formed plugin (tracenas_add_plugin): two proxies
#   abi              entry struct with abi_version = TN_PLUGIN_ABI_VERSION + 1
#   torch_minor      fingerprint with LibTorch minor + 1
#   compiler_major   fingerprint with compiler major + 1
#   cxx11_abi        fingerprint with the libstdc++ C++11 ABI flag flipped
#   struct_size      entry struct_size smaller than the host's
#   no_entry         a plain shared library that exports something else
#   dup_id_a/_b      two files, one folder each, declaring the same plugin id
#   dup_component    two plugins (different ids) registering the same tokenizer
#   claim_a/_b/_c    tokenizers claiming ".tok" (a: also default; b: same claim;
#                    c: default without claims), one folder each
#   register_throws  a plugin whose register callback throws
#   bad_id           plugin id that is not reverse-DNS
#   bad_version      plugin version that is not semver
#   bad_license      plugin license that is not an SPDX expression
#
# The test executable gets each file's path as TN_FIXTURE_<NAME>_SO, and the
# files built with tracenas_add_plugin as TN_EXPORT_CHECKED_PLUGINS ('|'-joined)
# for the exports test.
set(_tn_pf_dir ${CMAKE_CURRENT_LIST_DIR})
set(_tn_pf_targets)
set(_tn_pf_sdk_files)

# A fixture that follows the rules: built with the SDK function.
function(_tn_sdk_fixture name folder source)
  set(target tn_fixture_${name})
  tracenas_add_plugin(${target} SOURCES ${_tn_pf_dir}/${source}
    OUTPUT_DIRECTORY ${TN_FIXTURE_DIR}/${folder})
  target_compile_options(${target} PRIVATE ${TRACENAS_WARNING_FLAGS})
  target_compile_definitions(${target} PRIVATE ${ARGN})
  string(TOUPPER ${name} upper)
  target_compile_definitions(tracenas_tests PRIVATE
    TN_FIXTURE_${upper}_SO="$<TARGET_FILE:${target}>")
  set(_tn_pf_targets ${_tn_pf_targets} ${target} PARENT_SCOPE)
  set(_tn_pf_sdk_files ${_tn_pf_sdk_files} "$<TARGET_FILE:${target}>" PARENT_SCOPE)
endfunction()

# A fixture that deliberately breaks the rules: a plain MODULE whose entry
# struct (if any) is written by hand.
function(_tn_raw_fixture name source)
  set(target tn_fixture_${name})
  add_library(${target} MODULE ${_tn_pf_dir}/${source})
  target_link_libraries(${target} PRIVATE TraceNAS::core)
  target_compile_options(${target} PRIVATE ${TRACENAS_WARNING_FLAGS})
  target_compile_definitions(${target} PRIVATE ${ARGN})
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${TN_FIXTURE_DIR}/${name})
  string(TOUPPER ${name} upper)
  target_compile_definitions(tracenas_tests PRIVATE
    TN_FIXTURE_${upper}_SO="$<TARGET_FILE:${target}>")
  set(_tn_pf_targets ${_tn_pf_targets} ${target} PARENT_SCOPE)
endfunction()

_tn_sdk_fixture(good good good_plugin.cpp)

_tn_raw_fixture(abi raw_entry_plugin.cpp TN_FIXTURE_ID="org.tracenas.test.abi"
                TN_FIXTURE_ABI_DELTA=1)
_tn_raw_fixture(torch_minor raw_entry_plugin.cpp TN_FIXTURE_ID="org.tracenas.test.torch-minor"
                TN_FIXTURE_TORCH_MINOR_DELTA=1)
_tn_raw_fixture(compiler_major raw_entry_plugin.cpp
                TN_FIXTURE_ID="org.tracenas.test.compiler-major" TN_FIXTURE_COMPILER_MAJOR_DELTA=1)
_tn_raw_fixture(cxx11_abi raw_entry_plugin.cpp TN_FIXTURE_ID="org.tracenas.test.cxx11-abi"
                TN_FIXTURE_CXX11_ABI_FLIP=1)
_tn_raw_fixture(struct_size raw_entry_plugin.cpp TN_FIXTURE_ID="org.tracenas.test.struct-size"
                TN_FIXTURE_STRUCT_SIZE_DELTA=8)
_tn_raw_fixture(no_entry not_a_plugin.cpp)

_tn_sdk_fixture(dup_id_a dup_id_a configurable_plugin.cpp
                TN_FIXTURE_ID="org.tracenas.test.dup" TN_FIXTURE_TOKENIZER="dup_a_tokenizer")
_tn_sdk_fixture(dup_id_b dup_id_b configurable_plugin.cpp
                TN_FIXTURE_ID="org.tracenas.test.dup" TN_FIXTURE_TOKENIZER="dup_b_tokenizer")
_tn_sdk_fixture(clash_a dup_component configurable_plugin.cpp
                TN_FIXTURE_ID="org.tracenas.test.clash-a" TN_FIXTURE_TOKENIZER="clash_tokenizer")
_tn_sdk_fixture(clash_b dup_component configurable_plugin.cpp
                TN_FIXTURE_ID="org.tracenas.test.clash-b" TN_FIXTURE_TOKENIZER="clash_tokenizer")
_tn_sdk_fixture(claim_a claim_a configurable_plugin.cpp
                TN_FIXTURE_ID="org.tracenas.test.claim-a" TN_FIXTURE_TOKENIZER="claim_a_tokenizer"
                TN_FIXTURE_HANDLE=".tok" TN_FIXTURE_DEFAULT=1)
_tn_sdk_fixture(claim_b claim_b configurable_plugin.cpp
                TN_FIXTURE_ID="org.tracenas.test.claim-b" TN_FIXTURE_TOKENIZER="claim_b_tokenizer"
                TN_FIXTURE_HANDLE=".tok")
_tn_sdk_fixture(claim_c claim_c configurable_plugin.cpp
                TN_FIXTURE_ID="org.tracenas.test.claim-c" TN_FIXTURE_TOKENIZER="claim_c_tokenizer"
                TN_FIXTURE_DEFAULT=1)
_tn_sdk_fixture(register_throws register_throws configurable_plugin.cpp
                TN_FIXTURE_ID="org.tracenas.test.register-throws"
                TN_FIXTURE_TOKENIZER="half_registered" TN_FIXTURE_REGISTER_THROWS=1)
_tn_sdk_fixture(bad_id bad_id configurable_plugin.cpp TN_FIXTURE_ID="My_Plugin")
_tn_sdk_fixture(bad_version bad_version configurable_plugin.cpp
                TN_FIXTURE_ID="org.tracenas.test.bad-version" TN_FIXTURE_VERSION="1.2")
_tn_sdk_fixture(bad_license bad_license configurable_plugin.cpp
                TN_FIXTURE_ID="org.tracenas.test.bad-license" TN_FIXTURE_LICENSE="MIT/GPL")

string(JOIN "|" _tn_pf_exports ${_tn_pf_sdk_files} "$<TARGET_FILE:tracenas_test_components>")
target_compile_definitions(tracenas_tests PRIVATE
  TN_EXPORT_CHECKED_PLUGINS="${_tn_pf_exports}"
  TN_COMPONENTS_FIXTURE_SO="$<TARGET_FILE:tracenas_test_components>")
add_dependencies(tracenas_tests ${_tn_pf_targets})
