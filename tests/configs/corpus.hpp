// The config corpus under tests/configs/: valid pipelines that must load and
// invalid ones that must fail with the substring on their `# expect-error:` line.
// Shared by the library-level corpus test and the CLI test.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "plugin/registry.hpp"

namespace tracenas::corpus {

// tests/configs/<kind> in the source tree (kind: "valid" or "invalid").
inline std::string corpus_dir(const std::string& kind) {
  return (std::filesystem::path(TN_SOURCE_DIR) / "tests" / "configs" / kind).string();
}

// The *.yaml files of tests/configs/<kind>, sorted.
inline std::vector<std::string> corpus_files(const std::string& kind) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(corpus_dir(kind))) {
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string read_text(const std::string& file) {
  std::ifstream in(file);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// The lines of `text` (without their '\n'); a last line without '\n' counts too.
inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  return out;
}

// The text after "# expect-error: " in `file`, or nothing when it has no such line.
inline std::optional<std::string> expected_error(const std::string& file) {
  static const std::string kTag = "# expect-error: ";
  for (const std::string& line : split_lines(read_text(file))) {
    if (line.rfind(kTag, 0) == 0 && line.size() > kTag.size()) return line.substr(kTag.size());
  }
  return std::nullopt;
}

// Loads the built-in plugins and the test components into `registry`: every
// plugin file of the two folders, whatever TRACENAS_PLUGIN_PATH holds (other
// tests in this process may change it).
inline void load_test_plugins(Registry& registry) {
  for (const std::string dir :
       {std::string(TN_FIXTURE_DIR "/components"), Registry::installed_plugin_dir()}) {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.is_regular_file() && e.path().extension() == ".so") files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    for (const std::string& f : files) registry.load_file(f);
  }
}

}  // namespace tracenas::corpus
