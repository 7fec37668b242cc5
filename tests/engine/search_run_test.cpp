// `tracenas run` end to end on the real stories260K model: the outputs of a
// search, a run killed with SIGKILL and resumed, every strategy inside the
// parameter window, and the bad inputs of the search sections.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "cli_runner.hpp"
#include "test_dir.hpp"

extern char** environ;

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

using Result = tracenas::testing::CliResult;

Result run_cli(const std::string& args) {
  return tracenas::testing::run_tracenas(args, "tn_search_run");
}

const std::string& model_dir() { return testing::converted_stories260K("tn_search_stories260K"); }

// A small, fast search of stories260K: total parameters in [150000, 200000]
// (the base has 260032).
std::string write_pipeline(const fs::path& dir, const std::string& strategy,
                           const std::string& extra = "") {
  fs::create_directories(dir);
  const fs::path file = dir / "pipeline.yaml";
  std::ofstream out(file);
  out << "schema_version: 1\n"
      << "run: {name: r, seed: 3, output_dir: " << (dir / "runs").string()
      << ", cache_dir: " << (dir / "cache").string() << ", threads: 1}\n"
      << "model: {adapter: llama, params: {path: " << model_dir() << "}}\n"
      << "data: {source: tokens, seq_len: 64, batch_size: 2, num_batches: 2,\n"
      << "       params: {path: " TN_SHARED_DIR "/data/stories260K-samples.u16}}\n"
      << "proxies:\n"
      << "  - {proxy: trace_correlation, objective: true}\n"
      << "  - {proxy: loss}\n"
      << "search: {strategy: " << strategy << ", max_evaluations: 16}\n"
      << "space: {min_layers: 3, mlp_align: 4}\n"
      << "constraints: {min_params: 150000, max_params: 200000}\n"
      << "output: {top_k: 5, export_best: true}\n"
      << extra;
  return file.string();
}

std::vector<json> read_lines(const fs::path& path) {
  return tracenas::testing::read_jsonl(path.string());
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

TEST(SearchRun, WritesEveryOutputAndTheExportedModelEvaluates) {
  tracenas::testing::ScratchDir d;
  const std::string p = write_pipeline(d.path(), "evolutionary", "");
  Result r = run_cli("run " + p + " --set search.params.population_size=8");
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path run = d.path() / "runs" / "r";
  for (const char* f :
       {"config.resolved.yaml", "tracenas.log", "candidates.jsonl", "best.json", "best_arch.json",
        "summary.json", "model/config.json", "model/model.safetensors"}) {
    EXPECT_TRUE(fs::exists(run / f)) << f;
  }
  auto recs = read_lines(run / "candidates.jsonl");
  ASSERT_EQ(recs.size(), 16u);
  EXPECT_EQ(r.last["evaluated"], 16);
  // best.json holds the record with the highest trace_correlation.
  double best = -1e300;
  std::set<std::vector<std::int64_t>> genomes;
  for (const auto& rec : recs) {
    best = std::max(best, rec["objective"].get<double>());
    genomes.insert(rec["genome"].get<std::vector<std::int64_t>>());
    EXPECT_GE(rec["params"].get<std::int64_t>(), 150000);
    EXPECT_LE(rec["params"].get<std::int64_t>(), 200000);
    EXPECT_TRUE(rec["proxies"]["loss"].is_number());
  }
  EXPECT_EQ(genomes.size(), recs.size()) << "a candidate was evaluated twice";
  json b = read_json(run / "best.json");
  EXPECT_EQ(b["objective"].get<double>(), best);
  json s = read_json(run / "summary.json");
  EXPECT_EQ(s["counts"]["evaluated"], 16);
  EXPECT_EQ(s["best"]["objective"].get<double>(), best);
  EXPECT_LE(s["top"].size(), 5u);
  EXPECT_TRUE(s["seconds"]["base_preparation"].is_number());
  // The exported model holds the best candidate's parameter count and evaluates.
  Result e = run_cli("eval --model " + (run / "model").string() +
                     " --data tokens:" TN_SHARED_DIR "/data/stories260K-samples.u16 --seq-len 64");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_TRUE(std::isfinite(e.last["loss"].get<double>()));
  // A second run with another name finds importance and base traces cached.
  Result again = run_cli("run " + p + " --set search.params.population_size=8 --set run.name=r2");
  ASSERT_EQ(again.code, 0) << again.err;
  json s2 = read_json(d.path() / "runs" / "r2" / "summary.json");
  EXPECT_EQ(s2["cache"]["importance"], true);
  EXPECT_EQ(s2["cache"]["base_traces"], true);
  EXPECT_EQ(s2["best"]["objective"].get<double>(), best);
}

// The optional recovery stage: the exported best model is trained (here 12
// steps on the first 256 windows of 64 tokens, distilled from the parent),
// exported to recovered/ and evaluated on held-out windows; its held-out
// loss is below the untrained export's. A resumed finished run reuses it.
TEST(SearchRun, RecoveryStageTrainsTheExportedModel) {
  tracenas::testing::ScratchDir d;
  const std::string held_out = (d.path() / "held_out.u16").string();
  {
    // Windows 1024.. of 64 tokens (the file holds 2048), never trained on.
    std::ifstream in(TN_SHARED_DIR "/data/stories260K-samples.u16", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(held_out, std::ios::binary) << all.substr(all.size() / 2);
    std::ofstream(d.path() / "train.u16", std::ios::binary) << all.substr(0, 256 * 64 * 2);
  }
  const std::string p = write_pipeline(
      d.path(), "random",
      "recovery: {steps: 12, seq_len: 64, batch_size: 4, warmup_steps: 2, lr: 3.0e-3,\n"
      "           train_data: " +
          (d.path() / "train.u16").string() +
          ",\n"
          "           eval_data: " +
          held_out + ", distill: true, kd_alpha: 0.5}\n");
  Result r = run_cli("run " + p);
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path run = d.path() / "runs" / "r";
  ASSERT_TRUE(r.last.contains("recovered")) << r.last.dump();
  EXPECT_EQ(r.last["recovered"]["model"], (run / "recovered").string());
  EXPECT_EQ(r.last["recovered"]["steps"], 12);
  for (const char* f : {"recovered/config.json", "recovered/recovery.json", "model/config.json"}) {
    EXPECT_TRUE(fs::exists(run / f)) << f;
  }
  EXPECT_EQ(read_json(run / "summary.json")["best"]["recovered"], r.last["recovered"]);
  auto eval = [&](const std::string& model) {
    Result e = run_cli("eval --model " + model + " --data tokens:" + held_out + " --seq-len 64");
    EXPECT_EQ(e.code, 0) << e.err;
    return e.last["loss"].get<double>();
  };
  const double before = eval((run / "model").string());
  const double after = eval((run / "recovered").string());
  EXPECT_LT(after, before - 0.1) << "recovery did not lower the held-out loss";
  EXPECT_NEAR(r.last["recovered"]["eval_loss"].get<double>(), after, 1e-4);
  EXPECT_EQ(r.last["recovered"]["params"], r.last["best"]["params"]);

  // --resume of the finished run keeps the recovered model as it is.
  const auto stamp = fs::last_write_time(run / "recovered" / "recovery.json");
  Result again = run_cli("run " + p + " --resume");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(again.last["recovered"], r.last["recovered"]);
  EXPECT_EQ(fs::last_write_time(run / "recovered" / "recovery.json"), stamp);

  // Recovery needs the export.
  Result bad = run_cli("validate " + p + " --set output.export_best=false");
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("error: recovery.steps: the recovery stage trains the exported best "
                         "model: set output.export_best: true"),
            std::string::npos)
      << bad.err;
}

// Starts `tracenas run` in the background; returns its pid.
pid_t spawn_run(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> all = {TN_CLI, "run"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, TN_CLI, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

TEST(SearchRun, KilledAndResumedEndsLikeAnUninterruptedRun) {
  tracenas::testing::ScratchDir d;
  const std::string p = write_pipeline(d.path(), "evolutionary");
  const std::string pop = "search.params.population_size=6";
  Result whole = run_cli("run " + p + " --set " + pop + " --set run.name=whole");
  ASSERT_EQ(whole.code, 0) << whole.err;

  const fs::path log = d.path() / "runs" / "cut" / "candidates.jsonl";
  pid_t pid =
      spawn_run({p, "--set", pop, "--set", "run.name=cut"}, (d.path() / "cut.stderr").string());
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (tracenas::testing::count_lines(log.string()) < 5 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  const std::size_t done_before = tracenas::testing::count_lines(log.string());
  ASSERT_LT(done_before, 16u);

  Result resumed = run_cli("run " + p + " --set " + pop + " --set run.name=cut --resume");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  auto a = read_lines(d.path() / "runs" / "whole" / "candidates.jsonl");
  auto b = read_lines(log);
  ASSERT_EQ(a.size(), b.size());
  std::set<std::vector<std::int64_t>> ga, gb;
  for (const auto& r : a) ga.insert(r["genome"].get<std::vector<std::int64_t>>());
  for (const auto& r : b) gb.insert(r["genome"].get<std::vector<std::int64_t>>());
  EXPECT_EQ(gb.size(), b.size()) << "a candidate was evaluated twice";
  EXPECT_EQ(ga, gb);
  json ba = read_json(d.path() / "runs" / "whole" / "best.json");
  json bb = read_json(d.path() / "runs" / "cut" / "best.json");
  EXPECT_EQ(ba["genome"], bb["genome"]);
  EXPECT_EQ(ba["objective"], bb["objective"]);
  json s = read_json(d.path() / "runs" / "cut" / "summary.json");
  EXPECT_EQ(s["counts"]["replayed_from_log"].get<std::size_t>(), done_before);
}

TEST(SearchRun, EveryStrategyProposesOnlyCandidatesInsideTheWindow) {
  for (const char* strategy : {"random", "evolutionary", "bayesian"}) {
    tracenas::testing::ScratchDir d;
    const std::string p = write_pipeline(d.path(), strategy);
    std::string sets = " --set output.export_best=false";
    if (std::string(strategy) == "evolutionary") sets += " --set search.params.population_size=6";
    if (std::string(strategy) == "bayesian") sets += " --set search.params.initial_samples=6";
    Result r = run_cli("run " + p + sets);
    ASSERT_EQ(r.code, 0) << strategy << ": " << r.err;
    auto recs = read_lines(d.path() / "runs" / "r" / "candidates.jsonl");
    EXPECT_EQ(recs.size(), 16u) << strategy;
    for (const auto& rec : recs) {
      EXPECT_GE(rec["params"].get<std::int64_t>(), 150000) << strategy;
      EXPECT_LE(rec["params"].get<std::int64_t>(), 200000) << strategy;
    }
    json s = read_json(d.path() / "runs" / "r" / "summary.json");
    EXPECT_TRUE(s["counts"]["rejected"].empty()) << strategy << ": " << s["counts"].dump();
  }
}

void expect_error(const std::string& pipeline, const std::string& sets,
                  const std::string& message) {
  Result r = run_cli("run " + pipeline + " " + sets);
  EXPECT_EQ(r.code, 2) << sets << "\n" << r.err;
  EXPECT_NE(r.err.find(message), std::string::npos) << sets << "\n" << r.err;
}

TEST(SearchRun, BadSearchInputIsAOneLineError) {
  tracenas::testing::ScratchDir d;
  const std::string p = write_pipeline(d.path(), "evolutionary");
  expect_error(p,
               "--set constraints.min_params=0 --set constraints.max_params=1000 --set run.name=a",
               "constraints.max_params: no architecture of the space has at most 1000");
  expect_error(p, "--set constraints.min_params=250000 --set run.name=b",
               "constraints.min_params: must not exceed max_params");
  expect_error(p, "--set search.params.population_size=1 --set run.name=c",
               "search.params.population_size: must be >= 2 (got 1)");
  expect_error(p,
               "--set search.params.elites=8 --set search.params.population_size=8 "
               "--set run.name=d",
               "search.params.elites: must be below population_size 8 (got 8)");
  expect_error(p, "--set space.min_layers=6 --set run.name=e", "space.min_layers");
  expect_error(p, "--set space.protected_layers=[7] --set run.name=f", "space.protected_layers");
}

TEST(SearchRun, AnExistingRunNeedsResumeAndTheSamePipeline) {
  tracenas::testing::ScratchDir d;
  const std::string p = write_pipeline(d.path(), "random");
  const std::string sets = " --set search.max_evaluations=4 --set output.export_best=false";
  ASSERT_EQ(run_cli("run " + p + sets).code, 0);
  const fs::path dir = d.path() / "runs" / "r";
  expect_error(p, sets, "run folder '" + dir.string() + "' already holds a run; pass --resume");
  std::ifstream in(dir / "tracenas.log");
  const std::string log_before((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
  Result resumed = run_cli("run " + p + sets + " --resume");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(read_lines(dir / "candidates.jsonl").size(), 4u);  // nothing evaluated again
  EXPECT_EQ(read_json(dir / "summary.json")["counts"]["replayed_from_log"], 4);
  std::ifstream in2(dir / "tracenas.log");
  const std::string log_after((std::istreambuf_iterator<char>(in2)),
                              std::istreambuf_iterator<char>());
  EXPECT_EQ(log_after.rfind(log_before, 0), 0u) << "the log is appended to";
  expect_error(p, sets + " --set run.seed=9 --resume", "--resume: the resolved pipeline differs");
}

}  // namespace
}  // namespace tracenas
