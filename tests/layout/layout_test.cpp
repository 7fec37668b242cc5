// The source tree keeps the shape core/src/README.md describes:
//   - core/src/<concern>/ are layers; a folder includes only the folders
//     below it (kLayers, lowest first), never one above;
//   - the SDK headers (core/include/tracenas) include only SDK headers;
//   - plugins and the example include only the SDK.
// Each rule is checked by one function, run on the real tree and, as a
// control, on a small tree that breaks it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "plugin/registry.hpp"
#include "test_dir.hpp"

namespace fs = std::filesystem;

namespace {

// The layers of core/src, lowest first (core/src/README.md).
const std::vector<std::string> kLayers = {"base",   "dist",     "plugin", "io",    "model",
                                          "data",   "scoring",  "search", "train", "study",
                                          "report", "pipeline", "run"};

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

// The string literals of C++ source text (escapes kept as written), comments
// and character literals skipped; raw strings R"d(...)d" included.
std::vector<std::string> string_literals(const std::string& src) {
  std::vector<std::string> out;
  const std::size_t n = src.size();
  std::size_t i = 0;
  auto word_char = [&](std::size_t k) {
    return std::isalnum(static_cast<unsigned char>(src[k])) || src[k] == '_';
  };
  while (i < n) {
    const char c = src[i];
    const char next = i + 1 < n ? src[i + 1] : '\0';
    if (c == '/' && next == '/') {
      i = src.find('\n', i);
      if (i == std::string::npos) break;
    } else if (c == '/' && next == '*') {
      i = src.find("*/", i + 2);
      if (i == std::string::npos) break;
      i += 2;
    } else if (c == '\'' && !(i > 0 && word_char(i - 1))) {  // not a digit separator
      for (++i; i < n && src[i] != '\''; ++i) {
        if (src[i] == '\\') ++i;
      }
      ++i;
    } else if (c == 'R' && next == '"' && !(i > 0 && word_char(i - 1))) {
      const std::size_t open = src.find('(', i + 2);
      const std::string end = ")" + src.substr(i + 2, open - i - 2) + "\"";
      const std::size_t close = src.find(end, open);
      if (open == std::string::npos || close == std::string::npos) break;
      out.push_back(src.substr(open + 1, close - open - 1));
      i = close + end.size();
    } else if (c == '"') {
      std::string lit;
      for (++i; i < n && src[i] != '"'; ++i) {
        if (src[i] == '\\' && i + 1 < n) lit += src[i++];
        lit += src[i];
      }
      out.push_back(lit);
      ++i;
    } else {
      ++i;
    }
  }
  return out;
}

// "file: "name"" for every string literal of the sources under `roots` that
// is one of `names` (unit tests *_test.cpp excepted). `allowed` maps a path
// relative to `base` to the names it may use.
std::vector<std::string> named_components(
    const fs::path& base, const std::vector<fs::path>& roots, const std::set<std::string>& names,
    const std::map<std::string, std::set<std::string>>& allowed = {}) {
  std::vector<std::string> out;
  for (const fs::path& root : roots) {
    for (const fs::path& file : sources_under(root)) {
      if (file.filename().string().find("_test.cpp") != std::string::npos) continue;
      const std::string rel = fs::relative(file, base).string();
      const auto allow = allowed.find(rel);
      for (const std::string& lit : string_literals(read_file(file))) {
        if (names.count(lit) == 0) continue;
        if (allow != allowed.end() && allow->second.count(lit) != 0) continue;
        out.push_back(rel + ": \"" + lit + "\"");
      }
    }
  }
  return out;
}

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

// Model families and components are known to the registry alone: the core,
// the CLI and the SDK headers name none of them in code (comments may). The
// names come from the built-in plugins themselves (every component name and
// every claimed model_type), so a new plugin is covered without editing here.
TEST(Layout, CoreAndCliNameNoComponentOrModelFamily) {
  tracenas::Registry registry;
  for (const auto& de : fs::directory_iterator(TN_PLUGIN_DIR)) {
    if (de.path().extension() == ".so") registry.load_file(de.path().string());
  }
  std::set<std::string> names;
  for (const tracenas::ComponentEntry* e : registry.components()) {
    names.insert(e->info.name);
    for (const std::string& h : e->info.claims.handles) {
      if (h.rfind('.', 0) != 0) names.insert(h);  // file extensions (".json") are not names
    }
  }
  // The check is not vacuous: the families and components the core once named.
  for (const char* n : {"llama", "qwen", "qwen2", "qwen3", "sentencepiece", "hf_tokenizer", "wanda",
                        "trace_correlation", "evolutionary"}) {
    EXPECT_EQ(names.count(n), 1u) << n << " is no longer registered by a built-in plugin";
  }
  // Words that are also keys of the JSON results and of pipeline values
  // ({"loss": ...}, {"text": ...}, "tokens:PATH"), not component names there.
  for (const char* generic : {"loss", "text", "tokens"}) names.erase(generic);
  const std::map<std::string, std::set<std::string>> allowed = {
      // A llama2.c checkpoint is a Llama by definition of the format: its
      // converter writes a config.json of model_type "llama".
      {"core/src/io/llama2c.cpp", {"llama"}},
      // GGUF's own names: llama.cpp's tokenizer models ("llama": SentencePiece)
      // and pre-tokenizers ("qwen2": Qwen's split regex), not our families.
      {"core/src/model/gguf_vocab.cpp", {"llama", "qwen2"}},
      // The Nemotron-NAS format's own model_type, which the export writes
      // (the llama adapter also claims it, to read such folders back).
      {"core/src/model/runtime_export.cpp", {"nemotron-nas"}},
  };
  const auto v = named_components(
      kRoot, {kRoot / "core" / "src", kRoot / "core" / "cli", kRoot / "core" / "include"}, names,
      allowed);
  EXPECT_TRUE(v.empty()) << "name the component through the registry (claims, defaults):"
                         << joined(v);
}

TEST(Layout, NameCheckFindsALiteralButNotAComment) {
  EXPECT_EQ(string_literals("a = \"x\"; // \"y\"\n/* \"z\" */ b = 'q'; c = R\"d(w\")d\";"),
            (std::vector<std::string>{"x", "w\""}));
  EXPECT_EQ(string_literals("n = 1'000; s = \"a\\\"b\";"), (std::vector<std::string>{"a\\\"b"}));
  tracenas::testing::ScratchDir dir;
  const fs::path root = fs::path(dir.path()) / "src";
  write(root / "a.cpp", "// the \"wanda\" default\nint f() { return g(\"magnitude\"); }\n");
  write(root / "b_test.cpp", "auto s = \"wanda\";\n");
  write(root / "c.cpp", "auto s = \"wanda\";\n");
  const auto v = named_components(root, {root}, {"wanda"}, {{"c.cpp", {"wanda"}}});
  EXPECT_TRUE(v.empty()) << joined(v);
  const auto w = named_components(root, {root}, {"wanda", "magnitude"});
  EXPECT_EQ(w, (std::vector<std::string>{"a.cpp: \"magnitude\"", "c.cpp: \"wanda\""}));
}
