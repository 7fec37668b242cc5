// The config corpus (tests/configs/valid and tests/configs/invalid) through
// PipelineSource::validate, plus the pieces of pipeline loading a corpus file
// cannot show: --set overrides, defaults in the resolved YAML, relative paths
// and the implicit objective.
#include "configs/corpus.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "test_dir.hpp"
#include "tracenas/error.hpp"

namespace tracenas {
namespace {

namespace fs = std::filesystem;
using corpus::corpus_dir;
using corpus::corpus_files;
using corpus::expected_error;
using corpus::read_text;
using corpus::split_lines;

// The built-in plugins and the test components, loaded once for the process and never
// destroyed (like the plugins it holds, which are never unloaded).
const Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    corpus::load_test_plugins(*reg);
    return reg;
  }();
  return *r;
}

std::string valid_file(const std::string& name) { return corpus_dir("valid") + "/" + name; }

Pipeline load(const std::string& file, const std::vector<std::string>& sets = {}) {
  return PipelineSource(file, sets).validate(registry());
}

// What loading `file` with `sets` throws: the message of a ConfigError or
// UsageError; any other outcome is a test failure and returns "".
std::string config_error(const std::string& file, const std::vector<std::string>& sets = {}) {
  try {
    load(file, sets);
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const UsageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << file
                  << ": expected a ConfigError or UsageError, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << file << ": expected a ConfigError, but the pipeline validated";
  return "";
}

// A scratch folder removed at the end of the test.
using TempDir = tracenas::testing::ScratchDir;

// ---------------------------------------------------------------------------
// The corpus

TEST(ConfigCorpus, HasFilesToCheck) {
  EXPECT_GE(corpus_files("valid").size(), 5u);
  EXPECT_GE(corpus_files("invalid").size(), 20u);
}

TEST(ConfigCorpus, EveryInvalidFileNamesItsExpectedError) {
  for (const std::string& file : corpus_files("invalid")) {
    auto expected = expected_error(file);
    ASSERT_TRUE(expected.has_value()) << file << " has no '# expect-error: <substring>' line";
    // A substring of a few characters would match almost any message.
    EXPECT_GE(expected->size(), 12u) << file << ": expect-error substring too short";
  }
}

TEST(ConfigCorpus, EveryValidFileValidates) {
  for (const std::string& file : corpus_files("valid")) {
    SCOPED_TRACE(file);
    EXPECT_FALSE(expected_error(file).has_value()) << "a valid file with an expect-error line";
    try {
      Pipeline p = load(file);
      EXPECT_EQ(p.file, file);
      ASSERT_FALSE(p.proxies.empty());
      ASSERT_GE(p.objective, 0);
      ASSERT_LT(p.objective, static_cast<int>(p.proxies.size()));
      int objectives = 0;
      for (const auto& pr : p.proxies) objectives += pr.objective ? 1 : 0;
      EXPECT_EQ(objectives, 1);
      EXPECT_TRUE(p.proxies[p.objective].objective);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "did not validate: " << e.what();
    }
  }
}

TEST(ConfigCorpus, EveryInvalidFileFailsWithItsExpectedError) {
  // file, then ":line:col" or nothing, then ": error: ".
  static const std::regex kPosition("^(:([0-9]+):([0-9]+))?: error: ");
  std::size_t checked = 0;
  for (const std::string& file : corpus_files("invalid")) {
    SCOPED_TRACE(file);
    auto expected = expected_error(file);
    ASSERT_TRUE(expected.has_value());
    const std::string msg = config_error(file);
    if (msg.empty()) continue;  // already reported
    ++checked;
    EXPECT_NE(msg.find(*expected), std::string::npos)
        << "message:  " << msg << "\nexpected: " << *expected;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
    ASSERT_EQ(msg.rfind(file, 0), 0u) << "does not start with the file: " << msg;
    std::smatch m;
    const std::string rest = msg.substr(file.size());
    ASSERT_TRUE(std::regex_search(rest, m, kPosition))
        << "not 'file:line:col: error: ' or 'file: error: ': " << msg;
    if (m[1].matched) {
      // The position must lie inside the file.
      const std::vector<std::string> lines = split_lines(read_text(file));
      const std::size_t line = std::stoul(m[2].str());
      const std::size_t col = std::stoul(m[3].str());
      ASSERT_GE(line, 1u);
      ASSERT_LE(line, lines.size() + 1) << msg;
      if (line <= lines.size()) EXPECT_LE(col, lines[line - 1].size() + 1) << msg;
      EXPECT_GE(col, 1u);
    }
  }
  EXPECT_GE(checked, 20u);
}

// A required component parameter missing together with its whole `params:` map
// is still an error inside the component's section, so it has a position.
TEST(ConfigCorpus, MissingParamsMapHasAPosition) {
  const std::string file = corpus_dir("invalid") + "/missing_params_section.yaml";
  const std::string msg = config_error(file);
  EXPECT_NE(msg.find("data.params: missing required key 'path'"), std::string::npos) << msg;
  EXPECT_TRUE(std::regex_search(msg, std::regex("^" + file + ":[0-9]+:[0-9]+: error: "))) << msg;
}

// The resolved YAML of every valid file validates again and resolves to itself.
TEST(ConfigCorpus, ResolvedYamlIsAFixedPoint) {
  TempDir tmp;
  for (const std::string& file : corpus_files("valid")) {
    SCOPED_TRACE(file);
    std::string first;
    try {
      first = load(file).resolved_yaml();
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    const std::string copy = (tmp.path() / fs::path(file).filename()).string();
    {
      std::ofstream out(copy);
      out << first;
    }
    try {
      EXPECT_EQ(load(copy).resolved_yaml(), first);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "the resolved YAML does not validate: " << e.what() << "\n" << first;
    }
  }
}

// ---------------------------------------------------------------------------
// Defaults, paths, objectives

TEST(ConfigCorpusResolved, DefaultsAreFilledIn) {
  const Pipeline p = load(valid_file("minimal.yaml"));
  const YAML::Node r = YAML::Load(p.resolved_yaml());
  EXPECT_EQ(r["schema_version"].as<int>(), 1);
  EXPECT_EQ(r["run"]["name"].as<std::string>(), "minimal");  // the file's stem
  EXPECT_EQ(r["run"]["seed"].as<int>(), 0);
  EXPECT_EQ(r["run"]["threads"].as<int>(), 0);
  EXPECT_EQ(r["run"]["device"].as<std::string>(), "auto");
  EXPECT_EQ(r["run"]["dtype"].as<std::string>(), "float32");
  EXPECT_EQ(r["run"]["output_dir"].as<std::string>(),
            (fs::current_path() / "runs").lexically_normal().string());
  EXPECT_TRUE(r["plugins"]["search_paths"].IsSequence());
  EXPECT_EQ(r["plugins"]["search_paths"].size(), 0u);
  EXPECT_EQ(r["data"]["source"].as<std::string>(), "tokens");
  EXPECT_EQ(r["data"]["seq_len"].as<int>(), 256);
  EXPECT_EQ(r["data"]["batch_size"].as<int>(), 8);
  EXPECT_EQ(r["data"]["num_batches"].as<int>(), 4);
  EXPECT_FALSE(r["data"]["shuffle"].as<bool>());
  EXPECT_EQ(r["data"]["shuffle_seed"].as<int>(), 0);
  EXPECT_EQ(r["importance"]["criterion"].as<std::string>(), "wanda");
  ASSERT_EQ(r["proxies"].size(), 1u);
  EXPECT_EQ(r["proxies"][0]["proxy"].as<std::string>(), "param_count");
  EXPECT_EQ(r["proxies"][0]["label"].as<std::string>(), "param_count");
  EXPECT_TRUE(r["proxies"][0]["objective"].as<bool>());
  EXPECT_EQ(r["search"]["strategy"].as<std::string>(), "random");
  EXPECT_EQ(r["search"]["max_evaluations"].as<int>(), 100);
  EXPECT_DOUBLE_EQ(r["search"]["time_limit_s"].as<double>(), 0.0);
  EXPECT_DOUBLE_EQ(r["constraints"]["tolerance"].as<double>(), 0.01);
  EXPECT_EQ(r["output"]["top_k"].as<int>(), 10);
  EXPECT_FALSE(r["output"]["export_best"].as<bool>());
  EXPECT_EQ(r["output"]["shard_size_mb"].as<int>(), 4096);
  // Component defaults too.
  const Pipeline f = load(valid_file("proxies_labels.yaml"));
  const YAML::Node rf = YAML::Load(f.resolved_yaml());
  EXPECT_EQ(rf["proxies"][2]["params"]["rank"].as<int>(), 64);
  EXPECT_FALSE(rf["proxies"][2]["params"]["flag"].as<bool>());
  EXPECT_EQ(rf["model"]["params"]["variant"].as<std::string>(), "small");
  EXPECT_DOUBLE_EQ(rf["model"]["params"]["scale"].as<double>(), 1.0);
  EXPECT_EQ(rf["model"]["params"]["layers"].as<std::vector<int>>(), (std::vector<int>{0, 1}));
}

TEST(ConfigCorpusResolved, EveryKeyOfTheFullFileIsKept) {
  const Pipeline p = load(valid_file("full.yaml"));
  EXPECT_EQ(p.run.get_string("name"), "full-run_1.0");
  EXPECT_EQ(p.run.get_int("seed"), 7);
  EXPECT_EQ(p.run.get_int("threads"), 2);
  EXPECT_EQ(p.run.get_string("device"), "cpu");
  EXPECT_EQ(p.run.get_string("dtype"), "bfloat16");
  EXPECT_EQ(p.run.get_string("output_dir"), (fs::current_path() / "runs").string());
  EXPECT_EQ(p.run.get_string("cache_dir"),
            (fs::current_path() / "runs" / ".shared-cache").string());
  EXPECT_EQ(p.run_dir(), (fs::current_path() / "runs" / "full-run_1.0").string());
  EXPECT_EQ(p.model.params.get_string("variant"), "large");
  EXPECT_DOUBLE_EQ(p.model.params.get_float("scale"), 2.5);
  EXPECT_EQ(p.model.params.get_int_list("layers"), (std::vector<std::int64_t>{0, 1, 3}));
  const BatchSpec b = p.batch_spec();
  EXPECT_EQ(b.seq_len, 64);
  EXPECT_EQ(b.batch_size, 2);
  EXPECT_EQ(b.num_batches, 3);
  EXPECT_TRUE(b.shuffle);
  EXPECT_EQ(b.shuffle_seed, 11u);
  EXPECT_EQ(p.importance.name, "random");
  EXPECT_EQ(p.importance.params.get_int("seed"), 5);
  ASSERT_EQ(p.proxies.size(), 3u);
  EXPECT_EQ(p.objective, 0);
  EXPECT_EQ(p.proxies[0].label, "blocks");
  EXPECT_EQ(p.proxies[0].params.get_int("rank"), 16);
  EXPECT_TRUE(p.proxies[0].params.get_bool("flag"));
  EXPECT_EQ(p.proxies[1].label, "size");
  EXPECT_FALSE(p.proxies[1].objective);
  EXPECT_EQ(p.proxies[2].label, "control");
  EXPECT_EQ(p.proxies[2].params.get_int("seed"), 3);
  EXPECT_EQ(p.search_budget.get_int("max_evaluations"), 50);
  EXPECT_DOUBLE_EQ(p.search_budget.get_float("time_limit_s"), 120.5);
  EXPECT_DOUBLE_EQ(p.constraints.get_float("min_params"), 0.25);
  EXPECT_DOUBLE_EQ(p.constraints.get_float("max_params"), 0.75);
  EXPECT_FALSE(p.constraints.has("target_params"));
  EXPECT_DOUBLE_EQ(p.constraints.get_float("tolerance"), 0.02);
  EXPECT_DOUBLE_EQ(p.constraints.get_float("max_flops_per_token"), 1.5e9);
  EXPECT_DOUBLE_EQ(p.constraints.get_float("max_kv_cache_bytes_per_token"), 4096);
  EXPECT_EQ(p.output.get_int("top_k"), 5);
  EXPECT_TRUE(p.output.get_bool("export_best"));
  EXPECT_EQ(p.output.get_int("shard_size_mb"), 512);
}

TEST(ConfigCorpusResolved, RelativePathsResolveAgainstThePipelineFolder) {
  const fs::path folder = fs::path(corpus_dir("valid")).lexically_normal();
  const fs::path data =
      (fs::path(TN_SOURCE_DIR) / ".." / "shared" / "data" / "stories260K-samples.u16")
          .lexically_normal();
  const Pipeline p = load(valid_file("full.yaml"));
  EXPECT_EQ(p.model.params.get_string("path"), folder.string());
  EXPECT_EQ(p.data.params.get_string("path"), data.string());
  EXPECT_TRUE(fs::is_regular_file(p.data.params.get_string("path")));
  EXPECT_EQ(p.plugins.get_string_list("search_paths"), std::vector<std::string>{folder.string()});
  // The same through a path relative to the working directory, which is not the file's folder.
  const std::string relative = fs::relative(valid_file("full.yaml"), fs::current_path()).string();
  ASSERT_NE(fs::path(relative).parent_path(), fs::path());
  const Pipeline q = load(relative);
  EXPECT_EQ(q.model.params.get_string("path"), folder.string());
  EXPECT_EQ(q.data.params.get_string("path"), data.string());
}

TEST(ConfigCorpusResolved, OverriddenPathsResolveAgainstTheWorkingDirectory) {
  const Pipeline p = load(valid_file("minimal.yaml"), {"model.params.path=some/checkpoint"});
  EXPECT_EQ(p.model.params.get_string("path"),
            (fs::current_path() / "some" / "checkpoint").string());
  // Untouched paths still resolve against the file's folder.
  EXPECT_TRUE(fs::is_regular_file(p.data.params.get_string("path")));
}

TEST(ConfigCorpusResolved, SingleProxyIsTheImplicitObjective) {
  const Pipeline p = load(valid_file("minimal.yaml"));
  ASSERT_EQ(p.proxies.size(), 1u);
  EXPECT_EQ(p.objective, 0);
  EXPECT_TRUE(p.proxies[0].objective);
  EXPECT_EQ(p.proxies[0].label, "param_count");  // the label defaults to the proxy name
}

TEST(ConfigCorpusResolved, ExplicitObjectiveAndLabels) {
  const Pipeline p = load(valid_file("proxies_labels.yaml"));
  ASSERT_EQ(p.proxies.size(), 4u);
  EXPECT_EQ(p.objective, 2);
  EXPECT_EQ(p.proxies[2].name, "fixture_proxy");
  EXPECT_EQ(p.proxies[0].label, "random_a");
  EXPECT_EQ(p.proxies[1].label, "random_b");
  EXPECT_EQ(p.proxies[0].params.get_int("seed"), 1);
  EXPECT_EQ(p.proxies[1].params.get_int("seed"), 2);
  EXPECT_EQ(p.proxies[3].label, "param_count");
  for (int i : {0, 1, 3}) EXPECT_FALSE(p.proxies[i].objective) << i;
}

TEST(ConfigCorpusResolved, YamlFormsAndNullSections) {
  const Pipeline p = load(valid_file("yaml_forms.yaml"));
  EXPECT_EQ(p.data_batches.get_int("seq_len"), 100);
  EXPECT_TRUE(p.data_batches.get_bool("shuffle"));
  EXPECT_EQ(p.importance.name, "wanda");
  ASSERT_EQ(p.proxies.size(), 2u);
  EXPECT_EQ(p.proxies[1].params.get_int("seed"), 4);  // through the alias
  EXPECT_EQ(p.output.get_int("top_k"), 10);
}

TEST(ConfigCorpusResolved, TargetWindowAndMixedKinds) {
  const Pipeline t = load(valid_file("constraints_target.yaml"));
  EXPECT_DOUBLE_EQ(t.constraints.get_float("target_params"), 150000);
  EXPECT_DOUBLE_EQ(t.constraints.get_float("tolerance"), 5000);
  EXPECT_FALSE(t.constraints.has("min_params"));
  EXPECT_FALSE(t.constraints.has("max_params"));
  EXPECT_EQ(t.search_budget.get_int("max_evaluations"), 0);
  const Pipeline m = load(valid_file("constraints_mixed.yaml"));
  EXPECT_DOUBLE_EQ(m.constraints.get_float("min_params"), 1000);
  EXPECT_DOUBLE_EQ(m.constraints.get_float("max_params"), 0.9);
}

// ---------------------------------------------------------------------------
// --set overrides

TEST(ConfigCorpusOverrides, Scalar) {
  const std::string file = valid_file("overrides.yaml");
  EXPECT_EQ(load(file).run.get_int("seed"), 1);
  EXPECT_EQ(load(file, {"run.seed=5"}).run.get_int("seed"), 5);
  EXPECT_EQ(load(file, {"run.dtype=float16"}).run.get_string("dtype"), "float16");
  EXPECT_EQ(load(file, {"data.shuffle=true"}).data_batches.get_bool("shuffle"), true);
  // The last of two overrides of one key wins.
  EXPECT_EQ(load(file, {"run.seed=5", "run.seed=6"}).run.get_int("seed"), 6);
}

TEST(ConfigCorpusOverrides, CreatesMissingSections) {
  const std::string file = valid_file("overrides.yaml");
  const Pipeline p = load(file, {"output.top_k=3", "constraints.max_params=0.5",
                                 "importance.criterion=random", "importance.params.seed=9"});
  EXPECT_EQ(p.output.get_int("top_k"), 3);
  EXPECT_DOUBLE_EQ(p.constraints.get_float("max_params"), 0.5);
  EXPECT_EQ(p.importance.name, "random");
  EXPECT_EQ(p.importance.params.get_int("seed"), 9);
}

TEST(ConfigCorpusOverrides, ListIndex) {
  const std::string file = valid_file("overrides.yaml");
  const Pipeline p = load(file, {"proxies.0.params.rank=8", "proxies.1.label=size"});
  ASSERT_EQ(p.proxies.size(), 2u);
  EXPECT_EQ(p.proxies[0].params.get_int("rank"), 8);
  EXPECT_EQ(p.proxies[1].label, "size");
  // A value that is itself YAML: a whole map.
  const Pipeline q = load(file, {"proxies.1.params={}", "model.params={path: ., variant: large}"});
  EXPECT_EQ(q.model.params.get_string("variant"), "large");
}

TEST(ConfigCorpusOverrides, RejectsBadPaths) {
  const std::string file = valid_file("overrides.yaml");
  auto error = [&](const std::string& set) { return config_error(file, {set}); };
  std::string e = error("run.seed.value=1");
  EXPECT_EQ(e.rfind("--set run.seed.value=1: ", 0), 0u) << e;
  EXPECT_NE(e.find("'run.seed' is a value, not a section"), std::string::npos) << e;
  e = error("proxies.5.label=x");
  EXPECT_EQ(e.rfind("--set proxies.5.label=x: ", 0), 0u) << e;
  EXPECT_NE(e.find("'proxies.5' is past the end of the list (2 items)"), std::string::npos) << e;
  // An index too large for any integer type: past the end, not a conversion error.
  e = error("proxies.99999999999999999999999.label=x");
  EXPECT_NE(e.find("'proxies.99999999999999999999999' is past the end of the list (2 items)"),
            std::string::npos)
      << e;
  e = error("proxies.-1.label=x");
  EXPECT_NE(e.find("'proxies.-1' indexes a list; use a number from 0"), std::string::npos) << e;
  e = error("proxies.first.label=x");
  EXPECT_NE(e.find("'proxies.first' indexes a list; use a number"), std::string::npos) << e;
  e = error("run.seed");
  EXPECT_NE(e.find("--set run.seed: expected dotted.path=value"), std::string::npos) << e;
  e = error("=5");
  EXPECT_NE(e.find("expected dotted.path=value"), std::string::npos) << e;
  e = error("run..seed=1");
  EXPECT_NE(e.find("--set run..seed=1: empty component in the path"), std::string::npos) << e;
  for (const std::string& msg : {error("run.seed.value=1"), error("run.seed")}) {
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

// "proxies.00" reaches proxies.0; an error there must still name the override (or the
// index must be refused), never a position in the file the value did not come from.
TEST(ConfigCorpusOverrides, NonCanonicalListIndexNamesTheOverride) {
  const std::string file = valid_file("overrides.yaml");
  const std::string e = config_error(file, {"proxies.00.params.rank=0"});
  EXPECT_NE(e.find("proxies.0"), std::string::npos) << e;
  EXPECT_EQ(e.rfind("--set proxies.00.params.rank=0: ", 0), 0u) << e;
}

TEST(ConfigCorpusOverrides, RejectsValuesThatAreNotYaml) {
  const std::string e = config_error(valid_file("overrides.yaml"), {"run.name=[oops"});
  EXPECT_EQ(e.rfind("--set run.name=[oops: ", 0), 0u) << e;
  EXPECT_NE(e.find("value is not valid YAML"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(ConfigCorpusOverrides, ErrorsInOverriddenValuesNameTheOverride) {
  const std::string file = valid_file("overrides.yaml");
  EXPECT_EQ(config_error(file, {"run.seed=-1"}),
            "--set run.seed=-1: error: run.seed: must be >= 0 (got -1)");
  EXPECT_EQ(config_error(file, {"proxies.0.params.rank=0"}),
            "--set proxies.0.params.rank=0: error: proxies.0.params.rank: must be >= 1 (got 0)");
  EXPECT_EQ(config_error(file, {"data.seq_len=long"}),
            "--set data.seq_len=long: error: data.seq_len: expected an integer (got long)");
  std::string e = config_error(file, {"run.sed=1"});
  EXPECT_EQ(e.rfind("--set run.sed=1: error: run.sed: unknown key (did you mean 'seed'?", 0), 0u)
      << e;
  e = config_error(file, {"search.strategy=randon"});
  EXPECT_EQ(e.rfind("--set search.strategy=randon: error: search.strategy: unknown search "
                    "strategy 'randon' (did you mean 'random'?",
                    0),
            0u)
      << e;
  // An error below an overridden section names the override too.
  e = config_error(file, {"model.params={path: ., variant: tiny}"});
  EXPECT_EQ(e.rfind("--set model.params={path: ., variant: tiny}: error: model.params.variant: "
                    "must be one of small, large (got tiny)",
                    0),
            0u)
      << e;
  // A cross-key rule broken by an override names the override.
  e = config_error(file, {"search.max_evaluations=0"});
  EXPECT_EQ(e.rfind("--set search.max_evaluations=0: error: search.max_evaluations: the search "
                    "needs a budget",
                    0),
            0u)
      << e;
  // An error elsewhere still names the file position, not an unrelated override.
  const std::string bad = corpus_dir("invalid") + "/range_component_param.yaml";
  e = config_error(bad, {"run.seed=2", "proxies.0.label=x"});
  EXPECT_EQ(e.rfind(bad + ":", 0), 0u) << e;
  EXPECT_NE(e.find(": error: proxies.0.params.rank: must be <= 4096 (got 5000)"), std::string::npos)
      << e;
}

}  // namespace
}  // namespace tracenas
