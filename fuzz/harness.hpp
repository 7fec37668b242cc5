// What every fuzz harness shares: the input written to a file in a scratch
// folder of this process (the readers under test take paths, as the CLI
// does), and the rule each input is held to.
//
// The rule: reading the input either succeeds or throws tracenas::Error whose
// message names the file it read (or the folder, for a checkpoint folder). A
// crash, a sanitizer report, any other exception (a JSON or YAML library
// error, std::bad_alloc, std::out_of_range, ...) or an error that does not
// name the file is a finding: the harness aborts, and libFuzzer (or the replay
// program) reports the input.
#pragma once

#include <ATen/Parallel.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "base/util.hpp"
#include "tracenas/error.hpp"

namespace tracenas::fuzz {

namespace fs = std::filesystem;

// A folder of this process's own (removed at exit).
inline const fs::path& scratch_dir() {
  static const fs::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    fs::path d = fs::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") /
                 ("tracenas-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    at::set_num_threads(1);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(scratch_dir(), ec);
    });
    return d;
  }();
  return dir;
}

// Writes the input to `name` in the scratch folder; returns its path.
inline std::string write_input(const std::string& name, const std::uint8_t* data,
                               std::size_t size) {
  const fs::path p = scratch_dir() / name;
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", p.c_str());
    std::abort();
  }
  return p.string();
}

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz finding: %s\n", printable_text(what).c_str());
  std::abort();
}

// Aborts unless `cond` holds (a property of an accepted input).
inline void check(bool cond, const std::string& what) {
  if (!cond) finding(what);
}

// Runs `read`: an accepted input is fine, a tracenas::Error must name one of
// `named` (the file, or an option such as "--set "), anything else propagates
// and ends the process.
template <typename Read>
void accept_or_refuse(const std::vector<std::string>& named, Read&& read) {
  try {
    read();
  } catch (const Error& e) {
    const std::string msg = e.what();
    bool names = false;
    for (const std::string& n : named) names = names || msg.find(n) != std::string::npos;
    if (!names) finding("the error does not name " + named.front() + ": " + msg);
  }
}

template <typename Read>
void accept_or_refuse(const std::string& named, Read&& read) {
  accept_or_refuse(std::vector<std::string>{named}, std::forward<Read>(read));
}

}  // namespace tracenas::fuzz
