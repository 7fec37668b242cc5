#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "test_dir.hpp"

namespace tracenas::testing {
namespace {
bool created = false;
}

const std::string& test_dir() {
  static const std::string dir = [] {
    std::filesystem::path p = std::filesystem::path(::testing::TempDir()) /
                              ("tracenas_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    created = true;
    return p.string();
  }();
  return dir;
}

std::string test_path(const std::string& name) { return test_dir() + "/" + name; }

void remove_test_dir() {
  if (created) {
    std::error_code ec;
    std::filesystem::remove_all(test_dir(), ec);
  }
}

}  // namespace tracenas::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  tracenas::testing::remove_test_dir();
  return rc;
}
