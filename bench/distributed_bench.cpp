// Distributed benchmark: one process against N ranks on this machine, for
// the quickstart search (candidate-parallel, and data-parallel passes with
// run.distributed_split: batches) and for recovery training (data-parallel,
// and with the AdamW state sharded: --shard-optimizer, whose optimizer-state
// bytes per rank it reads from the ranks' logs), with the same cores in all: one process with N
// threads against N processes (ranks on a TCPStore at 127.0.0.1, launched the way torchrun launches
// them) with one thread each. Each command runs the real `tracenas` CLI; the figures are wall-clock
// seconds of the whole command (model load, base preparation or data, the work, the writes), next
// to the dense fp32 matmul rate of this machine measured in the same run. A benchmark, not a test:
// a table, then ONE JSON line.
//
// Run: OMP_WAIT_POLICY=PASSIVE tracenas_bench_distributed [--ranks N] [--evaluations N]
//                                                          [--steps N] [--dir PATH]
// Needs models/stories260K (bash scripts/quickstart.sh converts it).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/version.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_model.hpp"

extern char** environ;

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 29533;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(s);
  return port;
}

pid_t spawn(const std::string& cmd) {
  pid_t pid = -1;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    std::fprintf(stderr, "cannot start: %s\n", cmd.c_str());
    std::exit(1);
  }
  return pid;
}

// Runs `tracenas ARGS` as `n` ranks (1: one plain process); wall seconds of the whole.
// Every rank's output goes to `log`.
double run_ranks(const std::string& name, const std::string& args, int n, const fs::path& log) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  const int port = free_port();
  for (int r = 0; r < n; ++r) {
    std::string env = "OMP_WAIT_POLICY=PASSIVE ";
    if (n > 1) {
      env += "RANK=" + std::to_string(r) + " WORLD_SIZE=" + std::to_string(n) +
             " LOCAL_RANK=" + std::to_string(r) +
             " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) + " ";
    }
    const std::string out = log.string() + (n > 1 ? ".rank" + std::to_string(r) : "");
    pids.push_back(spawn(env + "exec " TN_CLI " " + args + " >" + out + " 2>&1"));
  }
  for (pid_t p : pids) {
    int status = 0;
    waitpid(p, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "%s failed; see %s*\n", name.c_str(), log.string().c_str());
      std::exit(1);
    }
  }
  return tracenas::bench::seconds_since(t0);
}

// The optimizer-state megabytes a training rank logged ("keeps X MB of optimizer state").
double state_mb(const fs::path& log) {
  std::ifstream in(log);
  const std::string key = "keeps ";
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find(key);
    if (at != std::string::npos && line.find("of optimizer state") != std::string::npos) {
      return std::atof(line.c_str() + at + key.size());
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  int ranks = 2;
  int evaluations = 96;
  int steps = 40;
  std::string dir = "/tmp/tracenas_distributed_bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--ranks") ranks = std::max(2, std::atoi(v.c_str()));
    if (a == "--evaluations") evaluations = std::max(8, std::atoi(v.c_str()));
    if (a == "--steps") steps = std::max(2, std::atoi(v.c_str()));
    if (a == "--dir") dir = v;
  }
  const std::string model = fs::absolute(TN_SOURCE_DIR "/models/stories260K").string();
  if (!fs::exists(fs::path(model) / "config.json")) {
    std::fprintf(stderr, "needs %s: run bash scripts/quickstart.sh first\n", model.c_str());
    return 2;
  }
  // The model's weight bytes as stored (float32 safetensors: the master weights training holds).
  std::uintmax_t weight_bytes = 0;
  for (const auto& e : fs::directory_iterator(model)) {
    if (e.path().extension() == ".safetensors") weight_bytes += e.file_size();
  }
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto search = [&](const std::string& name, int n, int threads, const std::string& extra = "") {
    const std::string args =
        "run " TN_SOURCE_DIR "/configs/quickstart.yaml --set run.name=" + name +
        " --set run.output_dir=" + dir + "/runs --set run.cache_dir=" + dir + "/cache-" + name +
        " --set run.threads=" + std::to_string(threads) + " --set model.params.path=" + model +
        " --set search.max_evaluations=" + std::to_string(evaluations) +
        " --set output.export_best=false" + " --set output.export_formats=[]" + extra;
    return run_ranks(name, args, n, fs::path(dir) / (name + ".log"));
  };
  auto train = [&](const std::string& name, int n, int threads, const std::string& extra = "") {
    const std::string args = "train --model " + model +
                             " --data tokens:" TN_SOURCE_DIR
                             "/../shared/data/stories260K-samples.u16 --seq-len 256 --batch 4"
                             " --accumulate " +
                             std::to_string(2 * ranks) + " --steps " + std::to_string(steps) +
                             " --shuffle --threads " + std::to_string(threads) + " --out " + dir +
                             "/" + name + extra;
    return run_ranks(name, args, n, fs::path(dir) / (name + ".log"));
  };

  at::set_num_threads(ranks);
  const double dense_before = tracenas::bench::dense_matmul_gflops();
  const double search_one = search("search-one", 1, ranks);
  const double search_single = search("search-one-thread", 1, 1);
  const double search_many = search("search-ranks", ranks, 1);
  const double search_split =
      search("search-ranks-batches", ranks, 1, " --set run.distributed_split=batches");
  const double train_one = train("train-one", 1, ranks);
  const double train_single = train("train-one-thread", 1, 1);
  const double train_many = train("train-ranks", ranks, 1);
  const double train_sharded = train("train-ranks-sharded", ranks, 1, " --shard-optimizer");
  const double state_full = state_mb(fs::path(dir) / "train-ranks.log.rank0");
  std::vector<double> state_shard;
  for (int r = 0; r < ranks; ++r) {
    state_shard.push_back(
        state_mb(fs::path(dir) / ("train-ranks-sharded.log.rank" + std::to_string(r))));
  }
  const double dense_after = tracenas::bench::dense_matmul_gflops();

  std::printf(
      "dense matmul (1024x1024 fp32 at::mm, %d threads, >= 1 s): %.1f GFLOP/s before, "
      "%.1f after\n",
      ranks, dense_before, dense_after);
  std::printf(
      "| work | 1 process x 1 thread | 1 process x %d threads | %d ranks x 1 thread | "
      "speed-up over 1 x %d | over 1 x 1 |\n",
      ranks, ranks, ranks);
  std::printf("|---|---|---|---|---|---|\n");
  std::printf("| quickstart search, %d candidates | %.2f s | %.2f s | %.2f s | %.2fx | %.2fx |\n",
              evaluations, search_single, search_one, search_many, search_one / search_many,
              search_single / search_many);
  std::printf(
      "| recovery training, %d steps of %d x 4 x 256 tokens | %.2f s | %.2f s | %.2f s | %.2fx | "
      "%.2fx |\n",
      steps, 2 * ranks, train_single, train_one, train_many, train_one / train_many,
      train_single / train_many);
  std::printf(
      "| quickstart search, data-parallel passes (distributed_split: batches) | | | %.2f s "
      "| %.2fx | %.2fx |\n",
      search_split, search_one / search_split, search_single / search_split);
  std::printf(
      "| recovery training, AdamW state sharded (--shard-optimizer) | | | %.2f s | %.2fx | "
      "%.2fx |\n",
      train_sharded, train_one / train_sharded, train_single / train_sharded);
  std::printf("optimizer state per rank: %.2f MB unsharded; sharded:", state_full);
  for (double mb : state_shard) std::printf(" %.2f MB", mb);
  std::printf(" (model weights %.2f MB in float32 safetensors)\n",
              static_cast<double>(weight_bytes) / 1e6);
  const json j = {
      {"benchmark", "tracenas_bench_distributed"},
      {"ranks", ranks},
      {"evaluations", evaluations},
      {"steps", steps},
      {"dense_matmul_gflops_before", dense_before},
      {"dense_matmul_gflops_after", dense_after},
      {"search_seconds",
       {{"one_process_one_thread", search_single},
        {"one_process", search_one},
        {"ranks", search_many},
        {"ranks_split_batches", search_split}}},
      {"train_seconds",
       {{"one_process_one_thread", train_single},
        {"one_process", train_one},
        {"ranks", train_many},
        {"ranks_sharded_optimizer", train_sharded}}},
      {"weight_bytes", weight_bytes},
      {"optimizer_state_mb_per_rank", {{"unsharded", state_full}, {"sharded", state_shard}}},
      {"torch_version", TORCH_VERSION}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}
