// The source tree keeps the shape core/src/README.md describes:
//   - core/src/<concern>/ are layers; a folder includes only the folders
//     below it (kLayers, lowest first), never one above;
//   - the SDK headers (core/include/tracenas) include only SDK headers;
//   - plugins and the example include only the SDK.
// Each rule is checked by one function, run on the real tree and, as a
// control, on a small tree that breaks it.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "test_dir.hpp"

namespace fs = std::filesystem;

namespace {

// The layers of core/src, lowest first (core/src/README.md).
const std::vector<std::string> kLayers = {"base",  "plugin",   "io",     "model",
                                          "data",  "scoring",  "search", "train",
                                          "study", "pipeline", "run"};

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<fs::path> sources_under(const fs::path& root) {
  std::vector<fs::path> out;
  if (!fs::exists(root)) return out;
  for (const auto& de : fs::recursive_directory_iterator(root)) {
    const std::string ext = de.path().extension().string();
    if (de.is_regular_file() && (ext == ".cpp" || ext == ".hpp" || ext == ".h")) {
      out.push_back(de.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The quoted includes of a file ("a/b.hpp").
std::vector<std::string> quoted_includes(const fs::path& file) {
  static const std::regex re(R"re(^\s*#\s*include\s*"([^"]+)")re");
  std::vector<std::string> out;
  std::istringstream lines(read_file(file));
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, re)) out.push_back(m[1]);
  }
  return out;
}

int layer_of(const std::string& folder) {
  auto it = std::find(kLayers.begin(), kLayers.end(), folder);
  return it == kLayers.end() ? -1 : static_cast<int>(it - kLayers.begin());
}

// "file: includes x" for every include of core/src/<layer>/ that names a
// layer above its own, or a folder that is not a layer. Unit tests
// (*_test.cpp) may also include the shared test helpers in `test_helpers`.
std::vector<std::string> layering_violations(const fs::path& src,
                                             const fs::path& test_helpers = {}) {
  std::vector<std::string> out;
  for (const fs::path& file : sources_under(src)) {
    const std::string folder = fs::relative(file, src).begin()->string();
    const int own = layer_of(folder);
    if (own < 0) {
      out.push_back(file.string() + ": folder '" + folder + "' is not a layer");
      continue;
    }
    for (const std::string& inc : quoted_includes(file)) {
      const auto slash = inc.find('/');
      const bool is_test = file.filename().string().find("_test.cpp") != std::string::npos;
      if (slash == std::string::npos && is_test && !test_helpers.empty() &&
          fs::exists(test_helpers / inc)) {
        continue;
      }
      if (slash == std::string::npos) {
        out.push_back(file.string() + ": includes \"" + inc + "\" without its folder");
        continue;
      }
      const std::string target = inc.substr(0, slash);
      if (target == "tracenas") continue;  // the SDK, below every layer
      const int other = layer_of(target);
      if (other < 0 || other > own) {
        out.push_back(file.string() + ": includes \"" + inc + "\" (layer '" + target +
                      "' is not below '" + folder + "')");
      }
    }
  }
  return out;
}

// "file: includes x" for every include outside the SDK (tracenas/...), apart
// from the file's own folder-local headers (no slash) when `allow_local`.
// Unit tests (*_test.cpp) may include the core's internals.
std::vector<std::string> non_sdk_includes(const fs::path& root, bool allow_local) {
  std::vector<std::string> out;
  for (const fs::path& file : sources_under(root)) {
    if (file.filename().string().find("_test.cpp") != std::string::npos) continue;
    for (const std::string& inc : quoted_includes(file)) {
      if (inc.rfind("tracenas/", 0) == 0) continue;
      if (allow_local && inc.find('/') == std::string::npos &&
          fs::exists(file.parent_path() / inc)) {
        continue;
      }
      out.push_back(file.string() + ": includes \"" + inc + "\"");
    }
  }
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += "\n  " + x;
  return s;
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

const fs::path kRoot = TN_SOURCE_DIR;

}  // namespace

TEST(Layout, CoreFoldersIncludeOnlyTheFoldersBelowThem) {
  const auto v = layering_violations(kRoot / "core" / "src", kRoot / "tests");
  EXPECT_TRUE(v.empty()) << joined(v);
  // Every layer exists (a renamed folder must be renamed here and in the README).
  for (const auto& layer : kLayers) {
    EXPECT_TRUE(fs::is_directory(kRoot / "core" / "src" / layer)) << layer;
  }
}

TEST(Layout, LayeringCheckFindsAnUpwardInclude) {
  tracenas::testing::ScratchDir dir;
  const fs::path src = fs::path(dir.path()) / "src";
  write(src / "model" / "a.cpp", "#include \"base/util.hpp\"\n#include \"tracenas/arch.hpp\"\n");
  EXPECT_TRUE(layering_violations(src).empty());
  write(src / "model" / "b.cpp", "#include \"search/engine.hpp\"\n");
  write(src / "misc" / "c.cpp", "\n");
  const auto v = layering_violations(src);
  ASSERT_EQ(v.size(), 2u) << joined(v);
  EXPECT_NE(v[0].find("folder 'misc' is not a layer"), std::string::npos) << v[0];
  EXPECT_NE(v[1].find("\"search/engine.hpp\" (layer 'search' is not below 'model')"),
            std::string::npos)
      << v[1];
}

TEST(Layout, SdkHeadersIncludeOnlySdkHeaders) {
  const auto v = non_sdk_includes(kRoot / "core" / "include", /*allow_local=*/false);
  EXPECT_TRUE(v.empty()) << joined(v);
}

TEST(Layout, PluginsAndTheExampleIncludeOnlyTheSdk) {
  for (const char* root : {"plugins", "examples"}) {
    const auto v = non_sdk_includes(kRoot / root, /*allow_local=*/true);
    EXPECT_TRUE(v.empty()) << root << ":" << joined(v);
  }
}

TEST(Layout, SdkCheckFindsAnInternalInclude) {
  tracenas::testing::ScratchDir dir;
  const fs::path root = fs::path(dir.path()) / "include";
  write(root / "tracenas" / "x.hpp", "#include \"tracenas/error.hpp\"\n");
  EXPECT_TRUE(non_sdk_includes(root, false).empty());
  write(root / "tracenas" / "y.hpp", "#include \"plugin/registry.hpp\"\n");
  const auto v = non_sdk_includes(root, false);
  ASSERT_EQ(v.size(), 1u) << joined(v);
  EXPECT_NE(v[0].find("y.hpp: includes \"plugin/registry.hpp\""), std::string::npos) << v[0];
}
