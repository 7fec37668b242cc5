// Helpers shared by the plugin loader and discovery tests.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "tracenas/error.hpp"

namespace tracenas::testing {

// What a failed call threw.
struct Thrown {
  bool thrown = false;
  std::string message;
  int exit_code = -1;
};

inline Thrown plugin_error_of(const std::function<void()>& fn) {
  Thrown t;
  try {
    fn();
  } catch (const PluginError& e) {
    t.thrown = true;
    t.message = e.what();
    t.exit_code = e.exit_code();
  }
  return t;
}

inline std::string canon(const std::string& file) {
  return std::filesystem::canonical(file).string();
}

}  // namespace tracenas::testing
