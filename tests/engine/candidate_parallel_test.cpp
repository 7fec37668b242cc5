// Distributed search (search/engine.hpp) with two ranks as two threads of
// this process, each with its own Gloo group on one store, its own model and
// its own evaluator:
//   candidate-parallel: the candidates, their proxy values and the best are
//     those of one process, and rank 1 writes nothing;
//   data-parallel (run.distributed_split: batches): the same candidates, and
//     every proxy value equal to one process's up to float rounding, for
//     every kind of trace a pass collects (full gradients, sketches, LoRA
//     sketches, per-batch moments, logits, losses), the base pass split too.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/runtime.hpp"
#include "cli_runner.hpp"
#include "dist/communicator.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "run/search_run.hpp"
#include "scoring/trace.hpp"
#include "test_dir.hpp"
#include "thread_ranks.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

std::vector<json> candidates(const fs::path& run_dir) {
  std::vector<json> out;
  for (json j : testing::read_jsonl((run_dir / "candidates.jsonl").string())) {
    for (const char* k : {"seconds", "pass_seconds", "proxy_seconds"}) j.erase(k);
    out.push_back(j);
  }
  return out;
}

TEST(CandidateParallel, TwoThreadRanksFindWhatOneProcessFinds) {
  if (!process_groups_available("cpu")) GTEST_SKIP() << "this LibTorch has no c10d Gloo";
  testing::ScratchDir d;
  const fs::path file = d.path() / "pipeline.yaml";
  std::ofstream(file) << "schema_version: 1\n"
                      << "run: {name: r, seed: 3, output_dir: " << (d.path() / "runs").string()
                      << ", cache_dir: " << (d.path() / "cache").string() << ", threads: 1}\n"
                      << "model: {adapter: llama, params: {path: "
                      << testing::converted_stories260K("tn_cp_stories260K") << "}}\n"
                      << "data: {source: tokens, seq_len: 64, batch_size: 2, num_batches: 2,\n"
                      << "       params: {path: " TN_SHARED_DIR "/data/stories260K-samples.u16}}\n"
                      << "proxies:\n"
                      << "  - {proxy: trace_correlation, objective: true}\n"
                      << "  - {proxy: loss}\n"
                      << "  - {proxy: snip}\n"
                      << "search: {strategy: evolutionary, max_evaluations: 20,\n"
                      << "         params: {population_size: 6, elites: 2}}\n"
                      << "space: {min_layers: 3, mlp_align: 4}\n"
                      << "constraints: {min_params: 150000, max_params: 200000}\n"
                      << "output: {top_k: 5, export_best: false}\n";
  Registry registry;
  const Pipeline p = load_pipeline(file.string(), {}, registry);
  auto context = [&](const std::string& name) {
    RunContext run = apply_runtime(p.run_context());
    run.run_dir = (d.path() / "runs" / name).string();
    fs::create_directories(run.run_dir);
    return run;
  };
  const SearchRunResult one = run_search(p, registry, context("one"), false);

  SearchRunResult got[2];
  const std::vector<std::string> failures =
      testing::run_thread_ranks(2, [&](int rank, Communicator& comm) {
        got[rank] = run_search(p, registry, context(rank == 0 ? "two" : "rank1"), false, &comm);
      });
  ASSERT_EQ(failures, (std::vector<std::string>{"", ""}));

  const std::vector<json> want = candidates(d.path() / "runs" / "one");
  ASSERT_EQ(want.size(), 20u);
  EXPECT_EQ(candidates(d.path() / "runs" / "two"), want);
  EXPECT_EQ(got[0].best_proxies, one.best_proxies);
  EXPECT_EQ(got[0].best_params, one.best_params);
  EXPECT_GT(got[1].evaluated, 0);
  EXPECT_EQ(got[0].evaluated, 20);
  EXPECT_TRUE(fs::is_empty(d.path() / "runs" / "rank1")) << "rank 1 wrote into its run folder";
  std::ifstream in(d.path() / "runs" / "two" / "summary.json");
  const json summary = json::parse(in);
  EXPECT_EQ(summary["distributed"]["evaluated_per_rank"],
            json::array({20 - got[1].evaluated, got[1].evaluated}));

  // search.ask_size sets the round: 2 ranks asking 3 genomes a round find what one
  // process asking 3 finds.
  const Pipeline p3 = load_pipeline(file.string(), {"search.ask_size=3"}, registry);
  run_search(p3, registry, context("one3"), false);
  ASSERT_EQ(testing::run_thread_ranks(
                2,
                [&](int rank, Communicator& comm) {
                  run_search(p3, registry, context(rank == 0 ? "two3" : "rank1_3"), false, &comm);
                }),
            (std::vector<std::string>{"", ""}));
  const std::vector<json> want3 = candidates(d.path() / "runs" / "one3");
  EXPECT_EQ(candidates(d.path() / "runs" / "two3"), want3);
  EXPECT_NE(want3, want) << "the round size changes what the strategy proposes";
  std::ifstream in3(d.path() / "runs" / "two3" / "summary.json");
  EXPECT_GE(json::parse(in3)["counts"]["rounds"].get<int>(), 7);  // 20 in rounds of 3
}

// The proxy values of `a` and `b` (candidates() records), equal to a relative `tol`.
void expect_values_near(const std::vector<json>& a, const std::vector<json>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["genome"], b[i]["genome"]) << "candidate " << i;
    EXPECT_EQ(a[i]["params"], b[i]["params"]) << "candidate " << i;
    for (const auto& [name, v] : a[i]["proxies"].items()) {
      const double x = v.get<double>(), y = b[i]["proxies"][name].get<double>();
      // zico divides by std(g) = sqrt(E[g^2] - mean^2) over 3 batches in float32, which
      // cancels where the batches agree: its rounding is amplified tenfold.
      const double t = name == "zico" ? 10 * tol : tol;
      EXPECT_NEAR(x, y, t * std::max(1.0, std::abs(y))) << "candidate " << i << ", " << name;
    }
  }
}

TEST(DataParallelPass, TwoThreadRanksScoreEveryCandidateLikeOneProcess) {
  if (!process_groups_available("cpu")) GTEST_SKIP() << "this LibTorch has no c10d Gloo";
  testing::ScratchDir d;
  auto write = [&](const std::string& name, const std::string& split, int batch_size) {
    const fs::path file = d.path() / (name + ".yaml");
    std::ofstream(file) << "schema_version: 1\n"
                        << "run: {name: r, seed: 5, output_dir: " << (d.path() / "runs").string()
                        << ", cache_dir: " << (d.path() / ("cache-" + split)).string()
                        << ", threads: 1, distributed_split: " << split << "}\n"
                        << "model: {adapter: llama, params: {path: "
                        << testing::converted_stories260K("tn_dp_stories260K") << "}}\n"
                        << "data: {source: tokens, seq_len: 32, batch_size: " << batch_size
                        << ", num_batches: 3,\n"
                        << "       params: {path: " TN_SHARED_DIR
                           "/data/stories260K-samples.u16}}\n"
                        << "proxies:\n"
                        << "  - {proxy: trace_correlation, objective: true}\n"
                        << "  - {proxy: trace_correlation, label: sketch,\n"
                        << "     params: {gradient: sketch, sketch_rank: 8}}\n"
                        << "  - {proxy: trace_correlation, label: lora,\n"
                        << "     params: {gradient: lora, lora_rank: 4}}\n"
                        << "  - {proxy: zico}\n"
                        << "  - {proxy: kl_to_parent}\n"
                        << "  - {proxy: loss}\n"
                        << "search: {strategy: random, max_evaluations: 6}\n"
                        << "space: {min_layers: 3, mlp_align: 4}\n"
                        << "constraints: {min_params: 150000, max_params: 200000}\n"
                        << "output: {top_k: 3, export_best: false}\n";
    return file.string();
  };
  Registry registry;
  auto context = [&](const Pipeline& p, const std::string& name) {
    RunContext run = apply_runtime(p.run_context());
    run.run_dir = (d.path() / "runs" / name).string();
    fs::create_directories(run.run_dir);
    return run;
  };
  const Pipeline one = load_pipeline(write("one", "candidates", 3), {}, registry);
  run_search(one, registry, context(one, "one"), false);
  const Pipeline split = load_pipeline(write("split", "batches", 3), {}, registry);
  const std::vector<std::string> failures =
      testing::run_thread_ranks(2, [&](int rank, Communicator& comm) {
        run_search(split, registry, context(split, rank == 0 ? "two" : "rank1"), false, &comm);
      });
  ASSERT_EQ(failures, (std::vector<std::string>{"", ""}));
  const std::vector<json> want = candidates(d.path() / "runs" / "one");
  ASSERT_EQ(want.size(), 6u);
  // Each batch of 3 is cut over the ranks: the sums differ from one process's in rounding only.
  expect_values_near(candidates(d.path() / "runs" / "two"), want, 1e-5);
  EXPECT_TRUE(fs::is_empty(d.path() / "runs" / "rank1")) << "rank 1 wrote into its run folder";
  std::ifstream in(d.path() / "runs" / "two" / "summary.json");
  const json summary = json::parse(in);
  EXPECT_EQ(summary["distributed"]["split"], "batches");
  // Its own cache: the base pass too was split over the ranks, and rank 0 cached it.
  EXPECT_EQ(summary["cache"]["base_traces"], false);
  EXPECT_FALSE(fs::is_empty(d.path() / "cache-batches" / "base_traces"));
  EXPECT_EQ(summary["distributed"]["evaluated_per_rank"], json::array({6, 6}));

  // Gradient moments need every batch on every rank: a batch of 1 cannot be split over 2.
  const Pipeline narrow = load_pipeline(write("narrow", "batches", 1), {}, registry);
  const std::vector<std::string> refused =
      testing::run_thread_ranks(2, [&](int rank, Communicator& comm) {
        run_search(narrow, registry, context(narrow, rank == 0 ? "n0" : "n1"), false, &comm);
      });
  for (const std::string& f : refused) {
    EXPECT_NE(f.find("run.distributed_split: batches"), std::string::npos) << f;
    EXPECT_NE(f.find("batch_size 1 is smaller than the 2 ranks"), std::string::npos) << f;
  }
}

// The calibration sets a data-parallel pass refuses, by what they lack.
TEST(DataParallelPass, CalibrationSetsTooSmallToSplitAreNamed) {
  if (!process_groups_available("cpu")) GTEST_SKIP() << "this LibTorch has no c10d Gloo";
  std::string few, narrow, fine[2];
  ASSERT_EQ(testing::run_thread_ranks(
                2,
                [&](int rank, Communicator& comm) {
                  PassOptions o;
                  o.ranks = &comm;
                  const std::vector<at::Tensor> one = {at::zeros({1, 8}, at::kLong)};
                  const std::vector<at::Tensor> two = {at::zeros({1, 8}, at::kLong),
                                                       at::zeros({1, 8}, at::kLong)};
                  if (rank == 0) {
                    few = data_parallel_problem(o, one, false);
                    narrow = data_parallel_problem(o, two, true);
                  }
                  fine[rank] = data_parallel_problem(o, two, false);
                }),
            (std::vector<std::string>{"", ""}));
  EXPECT_EQ(few, "the calibration set's 1 sequences are fewer than the 2 ranks");
  EXPECT_EQ(narrow,
            "a proxy reads gradient moments, whose pass splits each batch over the ranks: "
            "batch_size 1 is smaller than the 2 ranks");
  EXPECT_EQ(fine[0], "");  // two batches of one sequence: one piece per rank
  EXPECT_EQ(fine[1], "");
}

}  // namespace
}  // namespace tracenas
