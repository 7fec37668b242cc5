// A scratch folder private to this test process (tests run as parallel
// processes under ctest): <TempDir>/tracenas_test_<pid>, removed at exit.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace tracenas::testing {

// The folder (created on first use), without a trailing slash.
const std::string& test_dir();
// test_dir() + "/" + name.
std::string test_path(const std::string& name);
// Removes the folder if it was created (test_main calls it).
void remove_test_dir();

// A scratch folder of one test, removed when it goes out of scope.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = test_path("scratch_XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + tmpl);
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace tracenas::testing
