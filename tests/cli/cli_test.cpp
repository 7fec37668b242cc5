// The `tracenas` executable as a user runs it (SPEC.md section 6): exit
// status, one-line errors on stderr, one JSON object on the last stdout line,
// and the run folder `run` leaves behind.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "configs/corpus.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "test_dir.hpp"
#include "tracenas/version.hpp"

extern char** environ;

namespace tracenas {
namespace {

namespace fs = std::filesystem;
using corpus::corpus_dir;
using corpus::corpus_files;
using corpus::expected_error;
using corpus::read_text;
using corpus::split_lines;
using nlohmann::json;

constexpr const char* kFixturePlugins = TN_FIXTURE_DIR "/components";
constexpr const char* kFixturePluginId = "org.tracenas.test.components";

struct CliResult {
  int status = -1;  // exit status; 128 + signal when killed
  std::string out;
  std::string err;

  // The last non-empty stdout line parsed as JSON (not an object when it is not JSON).
  json result() const {
    std::vector<std::string> lines = split_lines(out);
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    if (lines.empty()) return nullptr;
    return json::parse(lines.back(), nullptr, /*allow_exceptions=*/false);
  }
  std::vector<std::string> err_lines() const { return split_lines(err); }
  std::string describe() const {
    return "exit " + std::to_string(status) + "\n--- stdout\n" + out + "--- stderr\n" + err;
  }
};

// Where the child finds plugins besides the installed folder: the value of
// TRACENAS_PLUGIN_PATH, or nothing to leave it unset.
const std::optional<std::string> kWithFixtures = std::string(kFixturePlugins);
const std::optional<std::string> kBuiltInOnly = std::nullopt;

// A started `tracenas` process whose stdout and stderr go to files.
struct CliProcess {
  pid_t pid = -1;
  std::string out_file;
  std::string err_file;
};

// Starts TN_CLI with `args`. OMP_WAIT_POLICY is set as ctest sets it, so the
// CLI does not re-execute itself (that only doubles the start-up time).
CliProcess start_cli(const std::vector<std::string>& args,
                     const std::optional<std::string>& plugin_path) {
  char out_tmpl[] = "/tmp/tn_cli_out_XXXXXX";
  char err_tmpl[] = "/tmp/tn_cli_err_XXXXXX";
  const int out_fd = mkstemp(out_tmpl);
  const int err_fd = mkstemp(err_tmpl);
  if (out_fd < 0 || err_fd < 0) throw std::runtime_error("mkstemp failed");

  // Everything the child needs is built before fork (only exec-safe calls after it).
  std::vector<std::string> argv_s = {TN_CLI};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  bool has_omp_policy = false;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "TRACENAS_PLUGIN_PATH=", 21) == 0) continue;
    if (std::strncmp(*e, "OMP_WAIT_POLICY=", 16) == 0) has_omp_policy = true;
    env_s.push_back(*e);
  }
  if (plugin_path) env_s.push_back("TRACENAS_PLUGIN_PATH=" + *plugin_path);
  if (!has_omp_policy) env_s.push_back("OMP_WAIT_POLICY=PASSIVE");
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(out_fd);
  close(err_fd);
  return {pid, out_tmpl, err_tmpl};
}

// Waits for `p` and collects what it wrote.
CliResult finish_cli(const CliProcess& p) {
  int wstatus = 0;
  while (waitpid(p.pid, &wstatus, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  }
  CliResult r;
  if (WIFEXITED(wstatus)) {
    r.status = WEXITSTATUS(wstatus);
  } else if (WIFSIGNALED(wstatus)) {
    r.status = 128 + WTERMSIG(wstatus);
  }
  r.out = read_text(p.out_file);
  r.err = read_text(p.err_file);
  unlink(p.out_file.c_str());
  unlink(p.err_file.c_str());
  return r;
}

CliResult run_cli(const std::vector<std::string>& args,
                  const std::optional<std::string>& plugin_path = kWithFixtures) {
  return finish_cli(start_cli(args, plugin_path));
}

// Runs `validate FILE` for every file, a few processes at a time.
std::vector<CliResult> validate_all(const std::vector<std::string>& files) {
  constexpr std::size_t kParallel = 4;
  std::vector<CliResult> out;
  for (std::size_t i = 0; i < files.size(); i += kParallel) {
    std::vector<CliProcess> running;
    for (std::size_t j = i; j < std::min(files.size(), i + kParallel); ++j) {
      running.push_back(start_cli({"validate", files[j]}, kWithFixtures));
    }
    for (const CliProcess& p : running) out.push_back(finish_cli(p));
  }
  return out;
}

// A scratch folder removed at the end of the test.
using TempDir = tracenas::testing::ScratchDir;

std::string valid_file(const std::string& name) { return corpus_dir("valid") + "/" + name; }
std::string pipeline_file(const std::string& name) {
  return std::string(TN_SOURCE_DIR) + "/tests/cli/pipelines/" + name;
}
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Checks the shape of a failure: `status`, the message on ONE stderr line
// containing `part`, and a JSON object with "error" and "exit_code" on the last
// stdout line. Commands that fail before they log print nothing else on
// stderr; `run` may log first, so `after_logs` allows timestamped log lines
// ("[hh:mm:ss.mmm] [level] ...") before the message.
void expect_failure(const CliResult& r, int status, const std::string& part,
                    bool after_logs = false) {
  EXPECT_EQ(r.status, status) << r.describe();
  const std::vector<std::string> lines = r.err_lines();
  ASSERT_FALSE(lines.empty()) << r.describe();
  if (!after_logs) {
    ASSERT_EQ(lines.size(), 1u) << "stderr is not one line\n" << r.describe();
  }
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(lines[i].rfind("[", 0), 0u) << "not a log line: " << lines[i] << "\n" << r.describe();
  }
  EXPECT_TRUE(contains(lines.back(), part)) << "missing: " << part << "\n" << r.describe();
  const json j = r.result();
  ASSERT_TRUE(j.is_object()) << r.describe();
  ASSERT_TRUE(j.contains("error")) << r.describe();
  EXPECT_TRUE(contains(j["error"].get<std::string>(), part)) << j.dump();
  EXPECT_EQ(j.value("exit_code", -1), status) << j.dump();
}

// The component entry `kind/name` of plugin `id` in `plugins --json` output.
const json* find_component(const json& plugins, const std::string& id, const std::string& kind,
                           const std::string& name) {
  for (const json& p : plugins) {
    if (p["id"] != id) continue;
    for (const json& c : p["components"]) {
      if (c["kind"] == kind && c["name"] == name) return &c;
    }
  }
  return nullptr;
}

const json* find_param(const json& component, const std::string& name) {
  for (const json& p : component["params"]) {
    if (p["name"] == name) return &p;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------
// validate

TEST(CliValidate, EveryInvalidCorpusFileExitsTwoWithItsError) {
  const std::vector<std::string> files = corpus_files("invalid");
  ASSERT_GE(files.size(), 20u);
  const std::vector<CliResult> results = validate_all(files);
  ASSERT_EQ(results.size(), files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE(files[i]);
    auto expected = expected_error(files[i]);
    ASSERT_TRUE(expected.has_value());
    expect_failure(results[i], 2, *expected);
    // The message is the library's: it starts with the file.
    EXPECT_EQ(results[i].err.rfind(files[i], 0), 0u) << results[i].err;
  }
}

TEST(CliValidate, EveryValidCorpusFileIsValid) {
  const std::vector<std::string> files = corpus_files("valid");
  ASSERT_FALSE(files.empty());
  const std::vector<CliResult> results = validate_all(files);
  ASSERT_EQ(results.size(), files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE(files[i]);
    const CliResult& r = results[i];
    ASSERT_EQ(r.status, 0) << r.describe();
    const json j = r.result();
    ASSERT_TRUE(j.is_object()) << r.describe();
    EXPECT_EQ(j.value("valid", false), true) << j.dump();
    EXPECT_EQ(j.value("file", ""), files[i]) << j.dump();
    ASSERT_TRUE(j.contains("components")) << j.dump();
    EXPECT_EQ(j["components"]["model"], "fixture_model") << j.dump();
    EXPECT_EQ(j["components"]["data"], "tokens") << j.dump();
    EXPECT_TRUE(j["components"]["proxies"].is_array()) << j.dump();
  }
}

TEST(CliValidate, PrintsTheResolvedPipeline) {
  const CliResult r = run_cli({"validate", valid_file("minimal.yaml"), "--set", "run.seed=4"});
  ASSERT_EQ(r.status, 0) << r.describe();
  const json j = r.result();
  EXPECT_EQ(j["components"]["importance"], "wanda");
  EXPECT_EQ(j["components"]["search"], "random");
  ASSERT_EQ(j["components"]["proxies"].size(), 1u);
  EXPECT_EQ(j["components"]["proxies"][0]["proxy"], "param_count");
  EXPECT_EQ(j["components"]["proxies"][0]["label"], "param_count");
  EXPECT_EQ(j["components"]["proxies"][0]["objective"], true);
  EXPECT_EQ(j["run_dir"], (fs::current_path() / "runs" / "minimal").string());
  // The resolved YAML goes to stderr (stdout holds only the JSON line).
  EXPECT_EQ(split_lines(r.out).size(), 1u) << r.describe();
  EXPECT_TRUE(contains(r.err, "seq_len: 256")) << r.err;
  EXPECT_TRUE(contains(r.err, "seed: 4")) << r.err;
}

TEST(CliValidate, OverrideErrorsNameTheOverride) {
  CliResult r = run_cli({"validate", valid_file("overrides.yaml"), "--set", "run.seed=-1"});
  expect_failure(r, 2, "--set run.seed=-1: error: run.seed: must be >= 0 (got -1)");
  r = run_cli({"validate", valid_file("overrides.yaml"), "--set=proxies.0.params.rank=9999"});
  expect_failure(r, 2,
                 "--set proxies.0.params.rank=9999: error: proxies.0.params.rank: must be <= 4096 "
                 "(got 9999)");
  r = run_cli({"validate", valid_file("overrides.yaml"), "--set", "run.seed.x=1"});
  expect_failure(r, 2, "--set run.seed.x=1: ");
  EXPECT_TRUE(contains(r.err, "'run.seed' is a value, not a section")) << r.err;
  r = run_cli({"validate", valid_file("overrides.yaml"), "--set", "run.name=[oops"});
  expect_failure(r, 2, "--set run.name=[oops: ");
  EXPECT_TRUE(contains(r.err, "value is not valid YAML")) << r.err;
}

TEST(CliValidate, UsageErrors) {
  expect_failure(run_cli({"validate"}), 2,
                 "validate: expected one pipeline file (got 0 arguments)");
  expect_failure(run_cli({"validate", valid_file("minimal.yaml"), valid_file("full.yaml")}), 2,
                 "validate: expected one pipeline file (got 2 arguments)");
  expect_failure(run_cli({"validate", valid_file("minimal.yaml"), "--sett", "run.seed=1"}), 2,
                 "validate: unknown option '--sett' (did you mean '--set'?");
  const std::string missing = corpus_dir("valid") + "/no_such_pipeline.yaml";
  expect_failure(run_cli({"validate", missing}), 2,
                 missing + ": error: cannot read the pipeline file");
}

TEST(CliValidate, FolderIsNotAPipelineFile) {
  const std::string folder = corpus_dir("valid");
  const CliResult r = run_cli({"validate", folder});
  EXPECT_EQ(r.status, 2) << r.describe();
  expect_failure(r, 2, folder + ": error: cannot read the pipeline file");
}

TEST(CliValidate, WithoutTheFixturePluginTheAdapterIsUnknown) {
  // Proves the fixture components come from TRACENAS_PLUGIN_PATH, not from the file.
  const std::string file = valid_file("minimal.yaml");
  const CliResult r = run_cli({"validate", file}, kBuiltInOnly);
  expect_failure(r, 2, file + ":4:12: error: model.adapter: unknown model adapter 'fixture_model'");
}

// ---------------------------------------------------------------------------
// plugins, --version, dispatch

TEST(CliPlugins, JsonListsTheBuiltInPlugins) {
  const CliResult r = run_cli({"plugins", "--json"}, kBuiltInOnly);
  ASSERT_EQ(r.status, 0) << r.describe();
  const json j = r.result();
  ASSERT_TRUE(j.is_object()) << r.describe();
  EXPECT_EQ(j["tracenas"], TN_VERSION);
  EXPECT_TRUE(j["search_paths"].is_array());
  const json& plugins = j["plugins"];
  ASSERT_TRUE(plugins.is_array());
  std::vector<std::string> ids;
  for (const json& p : plugins) {
    ids.push_back(p["id"]);
    EXPECT_FALSE(p["version"].get<std::string>().empty()) << p.dump();
    EXPECT_FALSE(p["license"].get<std::string>().empty()) << p.dump();
    EXPECT_TRUE(fs::is_regular_file(p["file"].get<std::string>())) << p.dump();
  }
  for (const char* id : {"org.tracenas.data.tokens", "org.tracenas.importance.criteria",
                         "org.tracenas.proxy.baselines", "org.tracenas.search.random"}) {
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end()) << id << " missing";
  }
  EXPECT_EQ(std::find(ids.begin(), ids.end(), kFixturePluginId), ids.end())
      << "the fixture plugin is listed without TRACENAS_PLUGIN_PATH";

  const json* tokens = find_component(plugins, "org.tracenas.data.tokens", "data", "tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ((*tokens)["params"].size(), 1u);
  const json* path = find_param(*tokens, "path");
  ASSERT_NE(path, nullptr);
  EXPECT_EQ((*path)["type"], "path");
  EXPECT_EQ(path->value("required", false), true);
  EXPECT_FALSE((*path)["doc"].get<std::string>().empty());

  for (const char* name : {"wanda", "magnitude", "random"}) {
    const json* c = find_component(plugins, "org.tracenas.importance.criteria", "importance", name);
    ASSERT_NE(c, nullptr) << name;
    EXPECT_FALSE((*c)["doc"].get<std::string>().empty()) << name;
  }
  // Claims: the model types an adapter reads, tokenizer file extensions, defaults.
  const json* qwen = find_component(plugins, "org.tracenas.model.qwen", "model", "qwen");
  ASSERT_NE(qwen, nullptr);
  EXPECT_EQ((*qwen)["handles"], json::array({"qwen2", "qwen3"}));
  const json* sp =
      find_component(plugins, "org.tracenas.tokenizer.sentencepiece", "tokenizer", "sentencepiece");
  ASSERT_NE(sp, nullptr);
  EXPECT_EQ((*sp)["handles"], json::array({".model"}));
  EXPECT_EQ(find_component(plugins, "org.tracenas.importance.criteria", "importance", "wanda")
                ->value("default", false),
            true);
  EXPECT_FALSE(
      find_component(plugins, "org.tracenas.importance.criteria", "importance", "magnitude")
          ->contains("default"));
  const json* imp_random =
      find_component(plugins, "org.tracenas.importance.criteria", "importance", "random");
  const json* imp_seed = find_param(*imp_random, "seed");
  ASSERT_NE(imp_seed, nullptr);
  EXPECT_EQ((*imp_seed)["type"], "int");
  EXPECT_EQ((*imp_seed)["default"], -1);
  EXPECT_EQ((*imp_seed)["min"], -1);
  EXPECT_EQ((*find_component(plugins, "org.tracenas.importance.criteria", "importance",
                             "wanda"))["params"]
                .size(),
            0u);

  ASSERT_NE(find_component(plugins, "org.tracenas.proxy.baselines", "proxy", "param_count"),
            nullptr);
  const json* proxy_random =
      find_component(plugins, "org.tracenas.proxy.baselines", "proxy", "random");
  ASSERT_NE(proxy_random, nullptr);
  const json* proxy_seed = find_param(*proxy_random, "seed");
  ASSERT_NE(proxy_seed, nullptr);
  EXPECT_EQ((*proxy_seed)["type"], "int");
  EXPECT_EQ((*proxy_seed)["default"], -1);

  EXPECT_NE(find_component(plugins, "org.tracenas.search.random", "search", "random"), nullptr);
}

TEST(CliPlugins, PluginPathAddsTheFixtureComponents) {
  const CliResult r =
      run_cli({"plugins", "--json", "--plugin-path", kFixturePlugins}, kBuiltInOnly);
  ASSERT_EQ(r.status, 0) << r.describe();
  const json j = r.result();
  ASSERT_TRUE(j.is_object()) << r.describe();
  EXPECT_EQ(j["search_paths"][0], kFixturePlugins);
  const json* model = find_component(j["plugins"], kFixturePluginId, "model", "fixture_model");
  ASSERT_NE(model, nullptr) << r.out;
  const json* variant = find_param(*model, "variant");
  ASSERT_NE(variant, nullptr);
  EXPECT_EQ((*variant)["type"], "choice");
  EXPECT_EQ((*variant)["default"], "small");
  EXPECT_EQ((*variant)["choices"], json::array({"small", "large"}));
  const json* scale = find_param(*model, "scale");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ((*scale)["type"], "float");
  EXPECT_EQ((*scale)["default"], 1.0);
  EXPECT_EQ((*scale)["min"], 0.0);
  EXPECT_EQ((*scale)["max"], 10.0);
  const json* layers = find_param(*model, "layers");
  ASSERT_NE(layers, nullptr);
  EXPECT_EQ((*layers)["type"], "int_list");
  EXPECT_EQ((*layers)["default"], json::array({0, 1}));
  const json* proxy = find_component(j["plugins"], kFixturePluginId, "proxy", "fixture_proxy");
  ASSERT_NE(proxy, nullptr);
  const json* flag = find_param(*proxy, "flag");
  ASSERT_NE(flag, nullptr);
  EXPECT_EQ((*flag)["type"], "bool");
  EXPECT_EQ((*flag)["default"], false);
}

TEST(CliPlugins, TextListingEndsWithCounts) {
  const CliResult r = run_cli({"plugins"}, kBuiltInOnly);
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_TRUE(contains(r.out, "org.tracenas.data.tokens")) << r.out;
  EXPECT_TRUE(contains(r.out, "data/tokens")) << r.out;
  const json j = r.result();
  ASSERT_TRUE(j.is_object()) << r.describe();
  EXPECT_GE(j.value("plugins", 0), 4);
  EXPECT_GE(j.value("components", 0), 7);
}

TEST(CliPlugins, MissingPluginPathIsAnInputError) {
  const CliResult r =
      run_cli({"plugins", "--json", "--plugin-path", "/nonexistent/tn_plugins"}, kBuiltInOnly);
  expect_failure(r, 2, "plugin search path '/nonexistent/tn_plugins'");
  EXPECT_TRUE(contains(r.err, "does not exist")) << r.err;
  EXPECT_TRUE(contains(r.err, "--plugin-path")) << r.err;
}

TEST(CliPlugins, MissingSearchPathNamesWhereItCameFrom) {
  CliResult r = run_cli({"validate", valid_file("minimal.yaml"), "--set",
                         "plugins.search_paths=[/nonexistent/tn_a]"});
  expect_failure(r, 2,
                 "plugin search path '/nonexistent/tn_a' (from plugins.search_paths) does not "
                 "exist");
  r = run_cli({"validate", valid_file("minimal.yaml")}, std::string("/nonexistent/tn_b"));
  expect_failure(r, 2,
                 "plugin search path '/nonexistent/tn_b' (from TRACENAS_PLUGIN_PATH) does not "
                 "exist");
}

TEST(CliMisc, VersionPrintsJson) {
  const CliResult r = run_cli({"--version"});
  ASSERT_EQ(r.status, 0) << r.describe();
  const json j = r.result();
  ASSERT_TRUE(j.is_object()) << r.describe();
  EXPECT_EQ(j["version"], TN_VERSION);
  EXPECT_TRUE(j["plugin_abi"].is_number_integer()) << j.dump();
  EXPECT_TRUE(j["torch"].is_string()) << j.dump();
  EXPECT_TRUE(j["cuda"].is_boolean()) << j.dump();
}

TEST(CliMisc, UnknownCommandSuggestsTheClosest) {
  const CliResult r = run_cli({"valdiate", valid_file("minimal.yaml")});
  expect_failure(r, 2, "unknown command 'valdiate' (did you mean 'validate'?");
  EXPECT_EQ(r.err.rfind("tracenas: error: ", 0), 0u) << r.err;
}

TEST(CliMisc, NoCommandIsAUsageError) {
  const CliResult r = run_cli({});
  EXPECT_EQ(r.status, 2) << r.describe();
  EXPECT_EQ(r.err.rfind("tracenas: error: no command given", 0), 0u) << r.err;
  const json j = r.result();
  ASSERT_TRUE(j.is_object()) << r.describe();
  EXPECT_EQ(j["error"], "no command given");
}

// ---------------------------------------------------------------------------
// run

// The run folder, the resolved config and the log exist before any model is
// loaded (the fixture adapter refuses to load weights; the search itself is
// tested on a real model in tests/engine).
TEST(CliRun, CreatesTheRunFolderBeforeLoadingTheModel) {
  TempDir tmp;
  const std::string file = valid_file("full.yaml");
  const std::string set = "run.output_dir=" + tmp.str();
  const std::string cache = "run.cache_dir=" + (tmp.path() / "cache").string();
  const CliResult r = run_cli({"run", file, "--set", set, "--set", cache});
  expect_failure(r, 2, "fixture_model loads no weights", /*after_logs=*/true);
  const fs::path dir = tmp.path() / "full-run_1.0";
  ASSERT_TRUE(fs::is_regular_file(dir / "config.resolved.yaml"));
  ASSERT_TRUE(fs::is_regular_file(dir / "tracenas.log"));
  EXPECT_GT(fs::file_size(dir / "tracenas.log"), 0u);
  EXPECT_TRUE(fs::is_directory(tmp.path() / "cache")) << "cache_dir not created";
  EXPECT_FALSE(fs::exists(dir / "candidates.jsonl"));

  // The resolved config is the library's resolution of the same file and overrides.
  Registry registry;
  corpus::load_test_plugins(registry);
  const Pipeline p = PipelineSource(file, {set, cache}).validate(registry);
  EXPECT_EQ(read_text((dir / "config.resolved.yaml").string()), p.resolved_yaml());
  const YAML::Node resolved = YAML::LoadFile((dir / "config.resolved.yaml").string());
  EXPECT_EQ(resolved["run"]["output_dir"].as<std::string>(), tmp.str());
  EXPECT_EQ(resolved["data"]["seq_len"].as<int>(), 64);

  // A folder left by a run that failed before its first candidate is reused.
  const CliResult again = run_cli({"run", file, "--set", set, "--set", cache});
  expect_failure(again, 2, "fixture_model loads no weights", /*after_logs=*/true);
}

TEST(CliRun, ThrowingFactoryNamesPluginAndComponent) {
  TempDir tmp;
  const CliResult r = run_cli(
      {"run", pipeline_file("throwing_proxy.yaml"), "--set", "run.output_dir=" + tmp.str()});
  expect_failure(r, 1, "fixture factory failed on purpose", /*after_logs=*/true);
  // The message itself (not the log lines before it) names the plugin and the component.
  const std::string message = r.err_lines().empty() ? "" : r.err_lines().back();
  EXPECT_TRUE(contains(message, std::string("plugin '") + kFixturePluginId + "'")) << message;
  EXPECT_TRUE(contains(message, "proxy 'fixture_throwing'")) << message;
}

TEST(CliRun, MissingTokenFileIsAnInputError) {
  TempDir tmp;
  const std::string missing =
      (fs::path(TN_SOURCE_DIR) / "tests" / "cli" / "pipelines" / "no_such_tokens.u16").string();
  const CliResult r =
      run_cli({"run", pipeline_file("missing_data.yaml"), "--set", "run.output_dir=" + tmp.str()});
  expect_failure(r, 2, "data.params.path: no such token file (got " + missing + ")",
                 /*after_logs=*/true);
}

TEST(CliRun, MissingCheckpointIsAnInputError) {
  TempDir tmp;
  const std::string missing =
      (fs::path(TN_SOURCE_DIR) / "tests" / "cli" / "pipelines" / "no_such_checkpoint").string();
  const CliResult r =
      run_cli({"run", pipeline_file("missing_model.yaml"), "--set", "run.output_dir=" + tmp.str()});
  expect_failure(r, 2, "model.params.path: no such checkpoint folder (got " + missing + ")",
                 /*after_logs=*/true);
}

TEST(CliRun, InvalidPipelineWritesNothing) {
  TempDir tmp;
  const std::string file = corpus_dir("invalid") + "/range_run_seed.yaml";
  const CliResult r = run_cli({"run", file, "--set", "run.output_dir=" + tmp.str()});
  expect_failure(r, 2, "run.seed: must be >= 0 (got -3)");
  EXPECT_TRUE(fs::is_empty(tmp.path()));
}

}  // namespace
}  // namespace tracenas
