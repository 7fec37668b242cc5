// Loading one plugin file: identity, ABI and fingerprint checks, duplicate
// ids and components, and the guard around plugin code. Each fixture is a real
// shared library built by tests/plugins/fixtures.cmake.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "plugin/registry.hpp"
#include "plugin_test_util.hpp"
#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/proxy.hpp"
#include "tracenas/tokenizer.hpp"

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using tracenas::ComponentKind;
using tracenas::PluginError;
using tracenas::Registry;

namespace {

using tracenas::testing::plugin_error_of;
using tracenas::testing::Thrown;

Thrown load_error(Registry& registry, const std::string& file) {
  return plugin_error_of([&] { registry.load_file(file); });
}

// The canonical path the loader reports.
using tracenas::testing::canon;

// "plugin file '<canonical path>'": how the loader names a file it refuses.
std::string who(const std::string& file) { return "plugin file '" + canon(file) + "'"; }

std::string compiler_name() { return TN_COMPILER_ID == 2 ? "Clang" : "GCC"; }

void expect_empty(const Registry& registry) {
  EXPECT_TRUE(registry.plugins().empty());
  EXPECT_TRUE(registry.components().empty());
}

tracenas::ParamValues failing_params(const std::string& error, const std::string& stage) {
  tracenas::ParamValues p;
  p.set("error", error);
  p.set("stage", stage);
  return p;
}

}  // namespace

TEST(PluginLoader, GoodPluginLoadsAndRegistersItsComponents) {
  Registry registry;
  registry.load_file(TN_FIXTURE_GOOD_SO);

  ASSERT_EQ(registry.plugins().size(), 1u);
  const tracenas::PluginRecord& rec = registry.plugins()[0];
  EXPECT_EQ(rec.id, "org.tracenas.test.good");
  EXPECT_EQ(rec.version, "1.2.3-rc.1+build.7");
  EXPECT_EQ(rec.license, "Apache-2.0 OR MIT");
  EXPECT_EQ(rec.summary, "loader fixture: a good plugin");
  EXPECT_EQ(rec.file, canon(TN_FIXTURE_GOOD_SO));
  EXPECT_TRUE(fs::path(rec.file).is_absolute());
  EXPECT_THAT(rec.components, ElementsAre("proxy/good_proxy", "proxy/good_failing"));

  EXPECT_THAT(registry.names(ComponentKind::kProxy), ElementsAre("good_failing", "good_proxy"));
  EXPECT_TRUE(registry.names(ComponentKind::kTokenizer).empty());
  const tracenas::ComponentEntry* entry = registry.find(ComponentKind::kProxy, "good_proxy");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->info.doc, "loader fixture: scores `value`");
  ASSERT_EQ(entry->info.params.size(), 1u);
  EXPECT_EQ(entry->info.params[0].name, "value");
  EXPECT_EQ(entry->origin.plugin_id, "org.tracenas.test.good");
  EXPECT_EQ(entry->origin.file, canon(TN_FIXTURE_GOOD_SO));
  EXPECT_EQ(entry->origin.kind, ComponentKind::kProxy);
  EXPECT_EQ(entry->origin.component, "good_proxy");
  EXPECT_EQ(entry->origin.describe(), "proxy 'good_proxy' of plugin 'org.tracenas.test.good' (" +
                                          canon(TN_FIXTURE_GOOD_SO) + ")");
  EXPECT_EQ(registry.find(ComponentKind::kTokenizer, "good_proxy"), nullptr);
}

TEST(PluginLoader, GoodPluginComponentCanBeCreatedAndCalled) {
  Registry registry;
  registry.load_file(TN_FIXTURE_GOOD_SO);
  tracenas::ParamValues params;
  params.set("value", 2.5);
  tracenas::Instance<tracenas::Proxy> proxy =
      registry.create<tracenas::Proxy>("good_proxy", params, tracenas::RunContext{});
  ASSERT_TRUE(static_cast<bool>(proxy));
  EXPECT_EQ(proxy.origin().component, "good_proxy");
  EXPECT_EQ(proxy.origin().plugin_id, "org.tracenas.test.good");

  tracenas::Candidate candidate;
  tracenas::Trace trace;
  double score = proxy.call("score", [&](tracenas::Proxy& p) { return p.score(candidate, trace); });
  EXPECT_DOUBLE_EQ(score, 2.5);
  EXPECT_EQ(proxy.get().direction(), tracenas::Direction::kLowerIsBetter);
  EXPECT_TRUE(proxy.call("needs", [](tracenas::Proxy& p) { return p.needs(); }).loss);

  // Names are per kind: a proxy is not found among the tokenizers.
  try {
    registry.create<tracenas::Tokenizer>("good_proxy", params, tracenas::RunContext{});
    ADD_FAILURE() << "a tokenizer lookup found a proxy";
  } catch (const tracenas::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown tokenizer 'good_proxy'"));
  }
}

TEST(PluginLoader, SameFileLoadedTwiceIsLoadedOnce) {
  Registry registry;
  registry.load_file(TN_FIXTURE_GOOD_SO);
  fs::path so(TN_FIXTURE_GOOD_SO);
  // The same file, spelled differently.
  std::string detour =
      (so.parent_path() / ".." / so.parent_path().filename() / so.filename()).string();
  registry.load_file(detour);
  registry.load_file(TN_FIXTURE_GOOD_SO);
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.components().size(), 2u);
}

TEST(PluginLoader, EachRegistryIsFresh) {
  Registry first;
  first.load_file(TN_FIXTURE_GOOD_SO);
  Registry second;
  expect_empty(second);
  second.load_file(TN_FIXTURE_GOOD_SO);
  ASSERT_EQ(second.plugins().size(), 1u);
  EXPECT_EQ(second.plugins()[0].id, "org.tracenas.test.good");
  EXPECT_NE(second.find(ComponentKind::kProxy, "good_proxy"), nullptr);
}

TEST(PluginLoader, RefusesWrongAbiVersion) {
  Registry registry;
  Thrown t = load_error(registry, TN_FIXTURE_ABI_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_THAT(t.message, HasSubstr(who(TN_FIXTURE_ABI_SO)));
  EXPECT_THAT(t.message,
              HasSubstr(": plugin ABI version " + std::to_string(TN_PLUGIN_ABI_VERSION + 1) + " "));
  EXPECT_THAT(t.message,
              HasSubstr("the host's plugin ABI version " + std::to_string(TN_PLUGIN_ABI_VERSION)));
  EXPECT_THAT(t.message, Not(HasSubstr("\n")));
  expect_empty(registry);
}

TEST(PluginLoader, RefusesSmallerEntryStruct) {
  Registry registry;
  Thrown t = load_error(registry, TN_FIXTURE_STRUCT_SIZE_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_THAT(t.message, HasSubstr(who(TN_FIXTURE_STRUCT_SIZE_SO)));
  EXPECT_THAT(t.message,
              HasSubstr("entry struct size " + std::to_string(sizeof(tn_plugin_info) - 8) +
                        " is smaller than the host's " + std::to_string(sizeof(tn_plugin_info))));
  expect_empty(registry);
}

TEST(PluginLoader, RefusesOtherLibTorchVersion) {
  Registry registry;
  Thrown t = load_error(registry, TN_FIXTURE_TORCH_MINOR_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  const std::string major = std::to_string(TORCH_VERSION_MAJOR);
  EXPECT_THAT(t.message, HasSubstr(who(TN_FIXTURE_TORCH_MINOR_SO)));
  EXPECT_THAT(t.message, HasSubstr("built with LibTorch " + major + "." +
                                   std::to_string(TORCH_VERSION_MINOR + 1) + ","));
  EXPECT_THAT(t.message, HasSubstr("the host was built with LibTorch " + major + "." +
                                   std::to_string(TORCH_VERSION_MINOR) + ";"));
  EXPECT_THAT(t.message, HasSubstr("rebuild the plugin"));
  expect_empty(registry);
}

TEST(PluginLoader, RefusesOtherCompilerMajor) {
  Registry registry;
  Thrown t = load_error(registry, TN_FIXTURE_COMPILER_MAJOR_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_THAT(t.message, HasSubstr(who(TN_FIXTURE_COMPILER_MAJOR_SO)));
  EXPECT_THAT(t.message, HasSubstr("built with compiler " + compiler_name() + " " +
                                   std::to_string(TN_COMPILER_MAJOR + 1) + ","));
  EXPECT_THAT(t.message, HasSubstr("the host was built with compiler " + compiler_name() + " " +
                                   std::to_string(TN_COMPILER_MAJOR) + ";"));
  expect_empty(registry);
}

TEST(PluginLoader, RefusesOtherCxx11Abi) {
  Registry registry;
  Thrown t = load_error(registry, TN_FIXTURE_CXX11_ABI_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  const int flipped = TN_CXX11_ABI == 1 ? 0 : 1;
  EXPECT_THAT(t.message, HasSubstr(who(TN_FIXTURE_CXX11_ABI_SO)));
  EXPECT_THAT(t.message,
              HasSubstr("built with _GLIBCXX_USE_CXX11_ABI " + std::to_string(flipped) + ","));
  EXPECT_THAT(t.message, HasSubstr("the host was built with _GLIBCXX_USE_CXX11_ABI " +
                                   std::to_string(TN_CXX11_ABI) + ";"));
  expect_empty(registry);
}

TEST(PluginLoader, RefusesLibraryWithoutEntryPoint) {
  Registry registry;
  Thrown t = load_error(registry, TN_FIXTURE_NO_ENTRY_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_THAT(t.message, HasSubstr(who(TN_FIXTURE_NO_ENTRY_SO)));
  EXPECT_THAT(t.message, HasSubstr("no entry point 'tracenas_plugin_entry_v1'"));
  expect_empty(registry);
}

TEST(PluginLoader, RefusesFileThatIsNotASharedLibrary) {
  const fs::path dir =
      fs::path(::testing::TempDir()) / ("tn_loader_not_elf_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string file = (dir / "libgarbage.so").string();
  std::ofstream(file) << "not an ELF file\n";
  Registry registry;
  Thrown t = load_error(registry, file);
  fs::remove_all(dir);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_THAT(t.message, HasSubstr("plugin file '" + fs::weakly_canonical(file).string() +
                                   "': cannot be loaded: "));
  EXPECT_THAT(t.message, Not(HasSubstr("\n")));

  Thrown missing = load_error(registry, "/nonexistent/tn_loader/libmissing.so");
  ASSERT_TRUE(missing.thrown);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.message,
              HasSubstr("plugin file '/nonexistent/tn_loader/libmissing.so': cannot be loaded"));
  expect_empty(registry);
}

TEST(PluginLoader, RefusesDuplicatePluginId) {
  Registry registry;
  registry.load_file(TN_FIXTURE_DUP_ID_A_SO);
  Thrown t = load_error(registry, TN_FIXTURE_DUP_ID_B_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_EQ(t.message, "plugin id 'org.tracenas.test.dup' is provided by two files: " +
                           canon(TN_FIXTURE_DUP_ID_A_SO) + " and " + canon(TN_FIXTURE_DUP_ID_B_SO));
  // The first one stays; nothing of the second was registered.
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0].file, canon(TN_FIXTURE_DUP_ID_A_SO));
  EXPECT_THAT(registry.names(ComponentKind::kTokenizer), ElementsAre("dup_a_tokenizer"));
}

TEST(PluginLoader, RefusesDuplicateComponentName) {
  Registry registry;
  registry.load_file(TN_FIXTURE_CLASH_A_SO);
  Thrown t = load_error(registry, TN_FIXTURE_CLASH_B_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_EQ(t.message,
            "tokenizer 'clash_tokenizer' is registered twice: by plugin "
            "'org.tracenas.test.clash-a' (" +
                canon(TN_FIXTURE_CLASH_A_SO) + ") and by plugin 'org.tracenas.test.clash-b' (" +
                canon(TN_FIXTURE_CLASH_B_SO) + ")");
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0].id, "org.tracenas.test.clash-a");
  const tracenas::ComponentEntry* entry =
      registry.find(ComponentKind::kTokenizer, "clash_tokenizer");
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->origin.plugin_id, "org.tracenas.test.clash-a");
  EXPECT_EQ(registry.components().size(), 1u);

  // The surviving component is the first plugin's and works.
  auto tokenizer = registry.create<tracenas::Tokenizer>("clash_tokenizer", {}, {});
  EXPECT_EQ(tokenizer.call("fingerprint", [](tracenas::Tokenizer& k) { return k.fingerprint(); }),
            "org.tracenas.test.clash-a");
}

TEST(PluginLoader, ClaimsPickComponentsAndAreUniquePerKind) {
  Registry registry;
  // Nothing loaded: no default, no claimant.
  EXPECT_EQ(registry.claimant(ComponentKind::kTokenizer, ".tok"), nullptr);
  try {
    registry.require_default(ComponentKind::kTokenizer, "--tokenizer");
    FAIL();
  } catch (const tracenas::ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "--tokenizer: no tokenizer is named and no loaded plugin provides a default one "
                 "(known: )");
  }
  registry.load_file(TN_FIXTURE_CLAIM_A_SO);
  const tracenas::ComponentEntry* a = registry.claimant(ComponentKind::kTokenizer, ".tok");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->info.name, "claim_a_tokenizer");
  EXPECT_EQ(registry.claimant(ComponentKind::kTokenizer, ".model"), nullptr);
  EXPECT_EQ(registry.claimant(ComponentKind::kModel, ".tok"), nullptr);  // per kind
  EXPECT_EQ(registry.handles(ComponentKind::kTokenizer), std::vector<std::string>{".tok"});
  EXPECT_EQ(registry.require_default(ComponentKind::kTokenizer, "x")->info.name,
            "claim_a_tokenizer");

  // A second claim of ".tok" is refused whole; the first stays.
  Thrown t = load_error(registry, TN_FIXTURE_CLAIM_B_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_EQ(t.message, "tokenizer 'claim_b_tokenizer' of plugin 'org.tracenas.test.claim-b' (" +
                           canon(TN_FIXTURE_CLAIM_B_SO) +
                           ") claims \".tok\", which tokenizer 'claim_a_tokenizer' of plugin "
                           "'org.tracenas.test.claim-a' (" +
                           canon(TN_FIXTURE_CLAIM_A_SO) + ") already claims");
  EXPECT_EQ(registry.find(ComponentKind::kTokenizer, "claim_b_tokenizer"), nullptr);
  EXPECT_EQ(registry.claimant(ComponentKind::kTokenizer, ".tok"), a);

  // Two defaults of one kind: asking for the default names both.
  registry.load_file(TN_FIXTURE_CLAIM_C_SO);
  EXPECT_EQ(registry.defaults(ComponentKind::kTokenizer).size(), 2u);
  try {
    registry.require_default(ComponentKind::kTokenizer, "--tokenizer");
    FAIL();
  } catch (const tracenas::ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--tokenizer: no tokenizer is named and several plugins "
                                    "mark one default: tokenizer 'claim_a_tokenizer' of plugin "
                                    "'org.tracenas.test.claim-a'"));
    EXPECT_THAT(e.what(), HasSubstr("; tokenizer 'claim_c_tokenizer' of plugin "
                                    "'org.tracenas.test.claim-c'"));
  }
}

TEST(PluginLoader, RegisterCallbackThatThrowsIsNamed) {
  Registry registry;
  Thrown t = load_error(registry, TN_FIXTURE_REGISTER_THROWS_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 1);
  EXPECT_EQ(t.message, "plugin 'org.tracenas.test.register-throws' (" +
                           canon(TN_FIXTURE_REGISTER_THROWS_SO) +
                           "): register: register failed on purpose");
  // What it registered before throwing is dropped.
  expect_empty(registry);
  EXPECT_EQ(registry.find(ComponentKind::kTokenizer, "half_registered"), nullptr);
}

TEST(PluginLoader, FactoryThatThrowsIsNamed) {
  Registry registry;
  registry.load_file(TN_COMPONENTS_FIXTURE_SO);
  Thrown t = plugin_error_of(
      [&] { registry.create<tracenas::Proxy>("fixture_throwing", {}, tracenas::RunContext{}); });
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 1);
  EXPECT_EQ(t.message, "proxy 'fixture_throwing' of plugin 'org.tracenas.test.components' (" +
                           canon(TN_COMPONENTS_FIXTURE_SO) +
                           "): create: fixture factory failed on purpose");

  // A tracenas::Error thrown by a factory keeps its exit status.
  registry.load_file(TN_FIXTURE_GOOD_SO);
  Thrown data = plugin_error_of([&] {
    registry.create<tracenas::Proxy>("good_failing", failing_params("data", "create"),
                                     tracenas::RunContext{});
  });
  ASSERT_TRUE(data.thrown);
  EXPECT_EQ(data.exit_code, 2);
  EXPECT_EQ(data.message, "proxy 'good_failing' of plugin 'org.tracenas.test.good' (" +
                              canon(TN_FIXTURE_GOOD_SO) +
                              "): create: good_failing factory failed on purpose (data)");
}

TEST(PluginLoader, MethodThatThrowsIsNamedAndKeepsItsExitCode) {
  Registry registry;
  registry.load_file(TN_FIXTURE_GOOD_SO);
  const std::string origin =
      "proxy 'good_failing' of plugin 'org.tracenas.test.good' (" + canon(TN_FIXTURE_GOOD_SO) + ")";
  tracenas::Candidate candidate;
  tracenas::Trace trace;

  auto data = registry.create<tracenas::Proxy>("good_failing", failing_params("data", "score"),
                                               tracenas::RunContext{});
  Thrown d = plugin_error_of(
      [&] { data.call("score", [&](tracenas::Proxy& p) { return p.score(candidate, trace); }); });
  ASSERT_TRUE(d.thrown);
  EXPECT_EQ(d.exit_code, 2);  // a tracenas::DataError
  EXPECT_EQ(d.message, origin + ": score: good_failing score failed on purpose (data)");

  auto runtime = registry.create<tracenas::Proxy>(
      "good_failing", failing_params("runtime", "score"), tracenas::RunContext{});
  Thrown r = plugin_error_of([&] {
    runtime.call("score", [&](tracenas::Proxy& p) { return p.score(candidate, trace); });
  });
  ASSERT_TRUE(r.thrown);
  EXPECT_EQ(r.exit_code, 1);  // a std::runtime_error
  EXPECT_EQ(r.message, origin + ": score: good_failing score failed on purpose (runtime)");

  // The PluginError is a tracenas::Error, so the CLI maps it like any other.
  EXPECT_THROW(runtime.call("score", [&](tracenas::Proxy& p) { return p.score(candidate, trace); }),
               tracenas::Error);
}

TEST(PluginLoader, RefusesNonReverseDnsId) {
  Registry registry;
  Thrown t = load_error(registry, TN_FIXTURE_BAD_ID_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_THAT(t.message, HasSubstr(who(TN_FIXTURE_BAD_ID_SO)));
  EXPECT_THAT(t.message, HasSubstr("plugin id \"My_Plugin\" is not a reverse-DNS name"));
  expect_empty(registry);
}

TEST(PluginLoader, RefusesNonSemverVersion) {
  Registry registry;
  Thrown t = load_error(registry, TN_FIXTURE_BAD_VERSION_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_THAT(t.message, HasSubstr(who(TN_FIXTURE_BAD_VERSION_SO)));
  EXPECT_THAT(t.message, HasSubstr("version \"1.2\" of plugin 'org.tracenas.test.bad-version' "
                                   "is not semver"));
  expect_empty(registry);
}

TEST(PluginLoader, RefusesNonSpdxLicense) {
  Registry registry;
  Thrown t = load_error(registry, TN_FIXTURE_BAD_LICENSE_SO);
  ASSERT_TRUE(t.thrown);
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_THAT(t.message, HasSubstr(who(TN_FIXTURE_BAD_LICENSE_SO)));
  EXPECT_THAT(t.message, HasSubstr("license \"MIT/GPL\" of plugin 'org.tracenas.test.bad-license' "
                                   "is not an SPDX expression"));
  expect_empty(registry);
}

TEST(PluginLoader, RefusedFileCanBeFollowedByAGoodOne) {
  Registry registry;
  EXPECT_TRUE(load_error(registry, TN_FIXTURE_ABI_SO).thrown);
  EXPECT_TRUE(load_error(registry, TN_FIXTURE_BAD_ID_SO).thrown);
  registry.load_file(TN_FIXTURE_GOOD_SO);
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0].id, "org.tracenas.test.good");
  // A refused file is refused again, not silently skipped as already loaded.
  Thrown again = load_error(registry, TN_FIXTURE_ABI_SO);
  EXPECT_TRUE(again.thrown);
  EXPECT_THAT(again.message, HasSubstr("plugin ABI version"));
}
