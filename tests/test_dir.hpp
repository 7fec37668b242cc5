// A scratch folder private to this test process (tests run as parallel
// processes under ctest): <TempDir>/tracenas_test_<pid>, removed at exit.
#pragma once

#include <string>

namespace tracenas::testing {

// The folder (created on first use), without a trailing slash.
const std::string& test_dir();
// test_dir() + "/" + name.
std::string test_path(const std::string& name);
// Removes the folder if it was created (test_main calls it).
void remove_test_dir();

}  // namespace tracenas::testing
