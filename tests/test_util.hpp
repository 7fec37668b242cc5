// Small helpers shared by tests: JSONL files and expected errors.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tracenas/error.hpp"

namespace tracenas::testing {

// The JSON objects of a JSONL file, one per non-empty line.
inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

// The non-empty lines of a file (0 when it does not exist): how far an
// append-only log such as candidates.jsonl has got.
inline std::size_t count_lines(const std::string& path) {
  std::ifstream in(path);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) n += line.empty() ? 0 : 1;
  return n;
}

// The message of the tracenas::Error `fn` throws, its exit code into
// `exit_code` when given (a test failure and "" when it throws none).
template <class Fn>
std::string error_of(Fn&& fn, int* exit_code = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (exit_code != nullptr) *exit_code = e.exit_code();
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return "";
}

}  // namespace tracenas::testing
