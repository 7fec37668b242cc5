// Plugin discovery: search paths, TRACENAS_PLUGIN_PATH and the installed
// plugin folder, in that order; every *.so of a folder; each file once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "plugin/registry.hpp"
#include "plugin_test_util.hpp"
#include "tracenas/error.hpp"

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using tracenas::PluginError;
using tracenas::Registry;

namespace {

constexpr const char* kEnv = "TRACENAS_PLUGIN_PATH";

using tracenas::testing::plugin_error_of;
using tracenas::testing::Thrown;

using tracenas::testing::canon;
std::string folder_of(const std::string& file) { return fs::path(file).parent_path().string(); }

// The *.so files of a folder, canonical and sorted.
std::vector<std::string> so_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& de : fs::directory_iterator(dir)) {
    if (de.is_regular_file() && de.path().extension() == ".so") {
      out.push_back(canon(de.path().string()));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> files_of(const Registry& registry) {
  std::vector<std::string> out;
  for (const auto& rec : registry.plugins()) out.push_back(rec.file);
  return out;
}

int count_id(const Registry& registry, const std::string& id) {
  return static_cast<int>(std::count_if(registry.plugins().begin(), registry.plugins().end(),
                                        [&](const auto& rec) { return rec.id == id; }));
}

// Unsets TRACENAS_PLUGIN_PATH for the test and restores it afterwards, so the
// tests neither see nor leak the caller's value.
class RegistryDiscovery : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* v = std::getenv(kEnv)) saved_ = v;
    ::unsetenv(kEnv);
  }
  void TearDown() override {
    if (saved_) {
      ::setenv(kEnv, saved_->c_str(), 1);
    } else {
      ::unsetenv(kEnv);
    }
    if (!temp_.empty()) fs::remove_all(temp_);
  }

  static void set_env(const std::string& value) { ::setenv(kEnv, value.c_str(), 1); }

  // A fresh folder of this test's own.
  fs::path temp_dir() {
    if (temp_.empty()) {
      const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
      temp_ = fs::path(::testing::TempDir()) /
              ("tn_discovery_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
      fs::remove_all(temp_);
      fs::create_directories(temp_);
    }
    return temp_;
  }

  const std::string installed_ = canon(TN_PLUGIN_DIR);

 private:
  std::optional<std::string> saved_;
  fs::path temp_;
};

}  // namespace

TEST_F(RegistryDiscovery, InstalledPluginDirIsTheBuiltInPluginFolder) {
  EXPECT_EQ(canon(Registry::installed_plugin_dir()), installed_);
  EXPECT_GE(so_files(installed_).size(), 4u);
}

TEST_F(RegistryDiscovery, PathsAreSearchPathsThenEnvironmentThenInstalled) {
  const std::string installed = Registry::installed_plugin_dir();
  EXPECT_THAT(Registry::discovery_paths({}), ElementsAre(installed));
  EXPECT_THAT(Registry::discovery_paths({"/s/one", "/s/two"}),
              ElementsAre("/s/one", "/s/two", installed));

  set_env("/env/a::/env/b:");
  EXPECT_THAT(Registry::discovery_paths({"/s/one", "/s/two"}),
              ElementsAre("/s/one", "/s/two", "/env/a", "/env/b", installed));
  EXPECT_THAT(Registry::discovery_paths({}), ElementsAre("/env/a", "/env/b", installed));

  set_env("");
  EXPECT_THAT(Registry::discovery_paths({"/s/one"}), ElementsAre("/s/one", installed));
}

TEST_F(RegistryDiscovery, NoSearchPathsLoadsTheInstalledPlugins) {
  Registry registry;
  registry.discover({});
  EXPECT_EQ(files_of(registry), so_files(installed_));
  EXPECT_GE(registry.plugins().size(), 4u);
  for (const auto& rec : registry.plugins()) EXPECT_FALSE(rec.components.empty()) << rec.id;
}

TEST_F(RegistryDiscovery, LoadsEverySharedLibraryOfAFolderAndNothingElse) {
  const fs::path dir = temp_dir();
  fs::create_symlink(TN_FIXTURE_GOOD_SO, dir / "a_good.so");
  fs::create_symlink(TN_FIXTURE_DUP_ID_A_SO, dir / "b_dup.so");
  // Not *.so: never opened (opening them would fail, the entry point is missing).
  fs::create_symlink(TN_FIXTURE_NO_ENTRY_SO, dir / "c_not_a_plugin.so.1");
  fs::create_symlink(TN_FIXTURE_NO_ENTRY_SO, dir / "d_not_a_plugin.txt");
  std::ofstream(dir / "README") << "not a plugin\n";
  fs::create_directories(dir / "e_folder.so");

  Registry registry;
  registry.discover({dir.string()});
  std::vector<std::string> expected = {canon(TN_FIXTURE_GOOD_SO), canon(TN_FIXTURE_DUP_ID_A_SO)};
  for (const auto& f : so_files(installed_)) expected.push_back(f);
  EXPECT_EQ(files_of(registry), expected);
  ASSERT_GE(registry.plugins().size(), 2u);
  EXPECT_EQ(registry.plugins()[0].id, "org.tracenas.test.good");
  EXPECT_EQ(registry.plugins()[1].id, "org.tracenas.test.dup");
}

TEST_F(RegistryDiscovery, SearchPathMayNameOneFile) {
  Registry registry;
  registry.discover({TN_FIXTURE_GOOD_SO});
  ASSERT_FALSE(registry.plugins().empty());
  EXPECT_EQ(registry.plugins()[0].file, canon(TN_FIXTURE_GOOD_SO));
  EXPECT_EQ(registry.plugins().size(), 1 + so_files(installed_).size());
}

TEST_F(RegistryDiscovery, SameFileReachedTwiceIsLoadedOnce) {
  const std::string good_dir = folder_of(TN_FIXTURE_GOOD_SO);
  {
    // The folder twice, the file itself, and the installed folder once more.
    Registry registry;
    registry.discover({good_dir, good_dir + "/", TN_FIXTURE_GOOD_SO, TN_PLUGIN_DIR});
    EXPECT_EQ(count_id(registry, "org.tracenas.test.good"), 1);
    EXPECT_EQ(registry.plugins().size(), 1 + so_files(installed_).size());
  }
  {
    // Through the environment and a search path.
    set_env(good_dir + ":" + TN_PLUGIN_DIR);
    Registry registry;
    registry.discover({good_dir});
    EXPECT_EQ(count_id(registry, "org.tracenas.test.good"), 1);
    EXPECT_EQ(registry.plugins().size(), 1 + so_files(installed_).size());
  }
  {
    // Through a symbolic link to the file.
    const fs::path link = temp_dir() / "libalias.so";
    fs::create_symlink(TN_FIXTURE_GOOD_SO, link);
    Registry registry;
    registry.discover({good_dir, temp_dir().string()});
    EXPECT_EQ(count_id(registry, "org.tracenas.test.good"), 1);
  }
}

TEST_F(RegistryDiscovery, MissingSearchPathIsAnErrorNamingIt) {
  const std::string missing = "/nonexistent/tn_discovery/plugins";
  Registry registry;
  Thrown t = plugin_error_of([&] { registry.discover({missing}); });
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_EQ(t.message,
            "plugin search path '" + missing + "' (from plugins.search_paths) does not exist");
  EXPECT_TRUE(registry.plugins().empty());

  // The same for an entry of TRACENAS_PLUGIN_PATH.
  set_env(folder_of(TN_FIXTURE_GOOD_SO) + ":" + missing + "/env");
  Registry from_env;
  Thrown e = plugin_error_of([&] { from_env.discover({}); });
  ASSERT_TRUE(e.thrown);
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_THAT(e.message, HasSubstr("'" + missing + "/env' (from TRACENAS_PLUGIN_PATH)"));
  // Entries before it were loaded.
  EXPECT_EQ(count_id(from_env, "org.tracenas.test.good"), 1);
}

TEST_F(RegistryDiscovery, SearchPathsAreLoadedBeforeTheEnvironment) {
  // Two files with one id: the error names the one loaded first first.
  const std::string a = canon(TN_FIXTURE_DUP_ID_A_SO);
  const std::string b = canon(TN_FIXTURE_DUP_ID_B_SO);
  const std::string a_dir = folder_of(TN_FIXTURE_DUP_ID_A_SO);
  const std::string b_dir = folder_of(TN_FIXTURE_DUP_ID_B_SO);
  auto message = [](const std::string& first, const std::string& second) {
    return "plugin id 'org.tracenas.test.dup' is provided by two files: " + first + " and " +
           second;
  };
  auto discover_error = [](const std::vector<std::string>& paths) {
    Registry registry;
    Thrown t = plugin_error_of([&] { registry.discover(paths); });
    EXPECT_TRUE(t.thrown);
    EXPECT_EQ(t.exit_code, 2);
    return t.message;
  };

  EXPECT_EQ(discover_error({a_dir, b_dir}), message(a, b));
  EXPECT_EQ(discover_error({b_dir, a_dir}), message(b, a));
  set_env(a_dir);
  EXPECT_EQ(discover_error({b_dir}), message(b, a));
  set_env(b_dir + ":" + a_dir);
  EXPECT_EQ(discover_error({}), message(b, a));
  set_env(a_dir + ":" + b_dir);
  EXPECT_EQ(discover_error({}), message(a, b));
}

TEST_F(RegistryDiscovery, InstalledPluginsComeLast) {
  set_env(folder_of(TN_FIXTURE_DUP_ID_A_SO));
  Registry registry;
  registry.discover({folder_of(TN_FIXTURE_GOOD_SO)});
  std::vector<std::string> expected = {canon(TN_FIXTURE_GOOD_SO), canon(TN_FIXTURE_DUP_ID_A_SO)};
  for (const auto& f : so_files(installed_)) expected.push_back(f);
  EXPECT_EQ(files_of(registry), expected);
}

TEST_F(RegistryDiscovery, BadPluginInAFolderStopsDiscoveryNamingIt) {
  Registry registry;
  Thrown t = plugin_error_of([&] { registry.discover({folder_of(TN_FIXTURE_ABI_SO)}); });
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_THAT(t.message, HasSubstr("plugin file '" + canon(TN_FIXTURE_ABI_SO) + "'"));
  EXPECT_THAT(t.message, HasSubstr("plugin ABI version"));
  EXPECT_TRUE(registry.plugins().empty());
}
