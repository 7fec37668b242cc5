// Every plugin built with tracenas_add_plugin exports exactly one dynamic
// symbol, the entry point: hidden visibility plus the version script keep
// everything else (LibTorch templates, spdlog, the plugin's own classes) local.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Symbols {
  bool ok = false;  // nm ran and exited 0
  std::set<std::string> names;
  std::string listing;  // nm's output, for failure messages
};

// The defined dynamic symbols of a shared library, by `nm -D --defined-only`.
Symbols defined_dynamic_symbols(const std::string& file) {
  Symbols s;
  const std::string cmd = "nm -D --defined-only '" + file + "' 2>/dev/null";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return s;
  char buf[4096];
  while (::fgets(buf, sizeof buf, pipe) != nullptr) s.listing += buf;
  const int status = ::pclose(pipe);
  s.ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::istringstream lines(s.listing);
  std::string line;
  while (std::getline(lines, line)) {
    // "<address> <type> <name>"; the name is the last field.
    std::istringstream fields(line);
    std::string field;
    std::string last;
    while (fields >> field) last = field;
    if (!last.empty()) s.names.insert(last);
  }
  return s;
}

std::vector<std::string> so_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& de : fs::directory_iterator(dir)) {
    if (de.is_regular_file() && de.path().extension() == ".so") {
      out.push_back(de.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

void expect_only_entry_point(const std::string& file) {
  SCOPED_TRACE(file);
  ASSERT_TRUE(fs::is_regular_file(file));
  Symbols s = defined_dynamic_symbols(file);
  ASSERT_TRUE(s.ok) << "nm -D failed on " << file;
  EXPECT_EQ(s.names, std::set<std::string>{"tracenas_plugin_entry_v1"}) << s.listing;
}

}  // namespace

TEST(Exports, NmListsTheDefinedDynamicSymbols) {
  // A control: a library that exports another name shows that name, so the
  // checks below cannot pass on an empty or unparsed listing.
  Symbols s = defined_dynamic_symbols(TN_FIXTURE_NO_ENTRY_SO);
  ASSERT_TRUE(s.ok);
  EXPECT_EQ(s.names.count("tn_fixture_not_a_plugin"), 1u) << s.listing;
  EXPECT_EQ(s.names.count("tracenas_plugin_entry_v1"), 0u) << s.listing;
  EXPECT_FALSE(defined_dynamic_symbols("/nonexistent/tn_exports/libnothing.so").ok);
}

TEST(Exports, BuiltinPluginsExportOnlyTheEntryPoint) {
  const std::vector<std::string> files = so_files(TN_PLUGIN_DIR);
  ASSERT_GE(files.size(), 4u) << "expected the built-in plugins in " << TN_PLUGIN_DIR;
  for (const auto& f : files) expect_only_entry_point(f);
}

TEST(Exports, FixturePluginsExportOnlyTheEntryPoint) {
  const std::vector<std::string> files = split(TN_EXPORT_CHECKED_PLUGINS, '|');
  ASSERT_GE(files.size(), 2u);
  EXPECT_NE(std::find(files.begin(), files.end(), std::string(TN_FIXTURE_GOOD_SO)), files.end());
  for (const auto& f : files) expect_only_entry_point(f);
}
