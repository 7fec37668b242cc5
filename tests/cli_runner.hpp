// Running the `tracenas` CLI under test (TN_CLI) from a test: exit status,
// stderr and the JSON object of its last stdout line.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "test_dir.hpp"
#include "test_util.hpp"

namespace tracenas::testing {

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
  nlohmann::json last;  // discarded when the last line is not JSON
};

// Runs `TN_CLI args`; `tag` names the stderr capture file (unique per test file).
inline CliResult run_tracenas(const std::string& args, const std::string& tag) {
  const std::string err_file = test_path(tag + "_stderr.txt");
  const std::string cmd = std::string(TN_CLI) + " " + args + " 2>" + err_file;
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  while (p != nullptr && fgets(buf.data(), buf.size(), p) != nullptr) r.out += buf.data();
  const int status = p != nullptr ? pclose(p) : -1;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err_file);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  std::string line, last;
  std::istringstream lines(r.out);
  while (std::getline(lines, line)) {
    if (!line.empty()) last = line;
  }
  r.last = nlohmann::json::parse(last, nullptr, false);
  return r;
}

// stories260K converted to Hugging Face layout by `tracenas convert`, once per
// process, into test_path(name).
inline const std::string& converted_stories260K(const std::string& name) {
  static const std::string dir = [&] {
    const std::string d = test_path(name);
    CliResult r = run_tracenas(
        "convert llama2c " TN_SHARED_DIR "/models/stories260K.bin --out " + d, name + "_convert");
    EXPECT_EQ(r.code, 0) << r.err;
    return d;
  }();
  return dir;
}

}  // namespace tracenas::testing
