// `tracenas run` on two ranks: two processes of the real CLI on this machine,
// launched the way torchrun launches them (RANK, WORLD_SIZE, LOCAL_RANK,
// MASTER_ADDR, MASTER_PORT; rank 0 hosts the TCPStore on 127.0.0.1), on the
// real stories260K model.
//
//   - The search gives the same candidates, proxy values and best as one
//     process, with only rank 0 writing the folder and printing the result.
//   - A rank killed mid-search ends the other with one line naming its rank
//     and step; every recorded candidate is kept, and --resume with one
//     process continues to the uninterrupted result.
//   - With run.distributed_split: batches both ranks score every candidate
//     together, to one process's values up to float rounding.
//   - examples/slurm/search.sbatch runs a two-rank search under a stand-in srun.
//   - Ranks started with different pipelines are refused before any work.
//   - run.distributed: off runs a launched process alone.
//   - `tracenas study` on two ranks trains each architecture on one rank and
//     records what one process records; a rank killed mid-study ends the
//     other with one line, and --resume with one process completes it.
//   - `tracenas train` on two ranks (data-parallel) gives one rank's loss at
//     every step with the same global batch, and its checkpoint resumes on
//     one rank to one rank's losses.
//   - A rank killed in a two-rank training with the optimizer state sharded
//     ends the other with one line; the latest checkpoint resumes on one rank.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "cli_runner.hpp"

extern char** environ;

namespace tracenas {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CliResult;

// A TCP port nobody listens on now (the kernel's pick; freed for the store).
int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(s);
    return 29517;
  }
  const int port = ntohs(a.sin_port);
  close(s);
  return port;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json last_json(const std::string& out) {
  std::string line, last;
  std::istringstream lines(out);
  while (std::getline(lines, line)) {
    if (!line.empty()) last = line;
  }
  return json::parse(last, nullptr, false);
}

// One rank of `tracenas ARGS`, its stdout and stderr in dir/rank<R>.{out,err}.
struct Rank {
  pid_t pid = -1;
  fs::path out, err;
};

Rank start_rank(int rank, int size, int port, const std::string& args, const fs::path& dir) {
  Rank r;
  r.out = dir / ("rank" + std::to_string(rank) + ".out");
  r.err = dir / ("rank" + std::to_string(rank) + ".err");
  const std::string cmd = "RANK=" + std::to_string(rank) + " WORLD_SIZE=" + std::to_string(size) +
                          " LOCAL_RANK=" + std::to_string(rank) +
                          " MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port) +
                          " exec " TN_CLI " " + args + " >" + r.out.string() + " 2>" +
                          r.err.string();
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  if (posix_spawn(&r.pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    r.pid = -1;
  }
  return r;
}

// The exit status of `r`, or -1 when it has not ended within `seconds` (then killed).
int wait_rank(const Rank& r, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  while (waitpid(r.pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(r.pid, SIGKILL);
      waitpid(r.pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::vector<json> records(const fs::path& file) {
  std::vector<json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    json j = json::parse(line);
    for (const char* k : {"seconds", "pass_seconds", "proxy_seconds"}) j.erase(k);
    out.push_back(j);
  }
  return out;
}

std::string run_args(const fs::path& dir, const std::string& name, const std::string& extra = "") {
  return "run " TN_SOURCE_DIR "/configs/quickstart.yaml --set run.name=" + name +
         " --set run.output_dir=" + (dir / "runs").string() +
         " --set run.cache_dir=" + (dir / "cache").string() +
         " --set run.threads=1 --set run.distributed_timeout_s=60" +
         " --set model.params.path=" + testing::converted_stories260K("tn_dist_stories260K") +
         " --set data.params.path=" TN_SHARED_DIR "/data/stories260K-samples.u16" +
         " --set search.max_evaluations=48 --set output.export_best=false"
         " --set output.export_formats=[]" +
         extra;
}

TEST(DistributedCli, TwoRanksSearchLikeOneKilledRankEndsTheOtherAndResumeContinues) {
  testing::ScratchDir d;
  // One process: the reference.
  CliResult one = testing::run_tracenas(run_args(d.path(), "one"), "tn_dist_one");
  ASSERT_EQ(one.code, 0) << one.err;
  const std::vector<json> want = records(d.path() / "runs" / "one" / "candidates.jsonl");
  ASSERT_EQ(want.size(), 48u);

  // Two ranks: the same candidates in the same order, the same values and best.
  const int port = free_port();
  Rank r0 = start_rank(0, 2, port, run_args(d.path(), "two"), d.path());
  Rank r1 = start_rank(1, 2, port, run_args(d.path(), "two"), d.path());
  ASSERT_EQ(wait_rank(r0, 300), 0) << read_text(r0.err);
  ASSERT_EQ(wait_rank(r1, 60), 0) << read_text(r1.err);
  const fs::path two = d.path() / "runs" / "two";
  EXPECT_EQ(records(two / "candidates.jsonl"), want);
  const json best_one = json::parse(read_text(d.path() / "runs" / "one" / "best.json"));
  const json best_two = json::parse(read_text(two / "best.json"));
  EXPECT_EQ(best_two["proxies"], best_one["proxies"]);
  EXPECT_EQ(best_two["genome"], best_one["genome"]);
  const json summary = json::parse(read_text(two / "summary.json"));
  EXPECT_EQ(summary["distributed"]["world_size"], 2);
  const auto per_rank = summary["distributed"]["evaluated_per_rank"].get<std::vector<int>>();
  ASSERT_EQ(per_rank.size(), 2u);
  EXPECT_EQ(per_rank[0] + per_rank[1], 48);
  EXPECT_GT(per_rank[1], 0);
  EXPECT_EQ(last_json(read_text(r0.out))["evaluated"], 48);
  EXPECT_EQ(read_text(r1.out), "") << "only rank 0 prints the result line";
  EXPECT_NE(read_text(r1.err).find("[rank 1/2]"), std::string::npos);

  // Rank 1 killed once candidates are recorded: rank 0 ends with one line naming its rank
  // and step, within the timeout; what was recorded stays.
  const int port2 = free_port();
  const fs::path killed = d.path() / "runs" / "killed";
  Rank k0 = start_rank(0, 2, port2, run_args(d.path(), "killed"), d.path());
  Rank k1 = start_rank(1, 2, port2, run_args(d.path(), "killed"), d.path());
  const auto t0 = std::chrono::steady_clock::now();
  while (testing::count_lines((killed / "candidates.jsonl").string()) < 8 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(k1.pid, SIGKILL);
  wait_rank(k1, 10);
  const int code = wait_rank(k0, 60);
  const std::size_t kept = testing::count_lines((killed / "candidates.jsonl").string());
  ASSERT_NE(code, -1) << "rank 0 did not end after rank 1 died";
  if (kept < 48) {  // rank 1 died before the search ended (else nothing was left to notice)
    EXPECT_EQ(code, 1) << read_text(k0.err);
    const std::string error = last_json(read_text(k0.out)).value("error", "");
    EXPECT_EQ(error.rfind("rank 0 of 2: ", 0), 0u) << error;
    EXPECT_NE(error.find("candidates"), std::string::npos) << error;
  }
  EXPECT_GE(kept, 8u);

  // --resume with one process: no candidate evaluated twice, the uninterrupted result.
  CliResult resumed = testing::run_tracenas(run_args(d.path(), "killed", " --resume"), "tn_dist_r");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(records(killed / "candidates.jsonl"), want);
  EXPECT_EQ(json::parse(read_text(killed / "best.json"))["genome"], best_one["genome"]);
}

// run.distributed_split: batches through the CLI: each of the quickstart's candidates
// scored by both processes together, the proxy values those of one process up to float
// rounding, and both ranks counted for every candidate.
TEST(DistributedCli, TwoRanksSplittingTheBatchesScoreLikeOneProcess) {
  testing::ScratchDir d;
  const std::string eight = " --set search.max_evaluations=8";
  CliResult one = testing::run_tracenas(run_args(d.path(), "one", eight), "tn_dist_split_one");
  ASSERT_EQ(one.code, 0) << one.err;
  const std::vector<json> want = records(d.path() / "runs" / "one" / "candidates.jsonl");
  ASSERT_EQ(want.size(), 8u);
  const std::string split = eight + " --set run.distributed_split=batches";
  const int port = free_port();
  Rank r0 = start_rank(0, 2, port, run_args(d.path(), "two", split), d.path());
  Rank r1 = start_rank(1, 2, port, run_args(d.path(), "two", split), d.path());
  ASSERT_EQ(wait_rank(r0, 300), 0) << read_text(r0.err);
  ASSERT_EQ(wait_rank(r1, 60), 0) << read_text(r1.err);
  const std::vector<json> got = records(d.path() / "runs" / "two" / "candidates.jsonl");
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i]["genome"], want[i]["genome"]) << "candidate " << i;
    for (const auto& [name, v] : want[i]["proxies"].items()) {
      const double w = v.get<double>(), g = got[i]["proxies"][name].get<double>();
      EXPECT_NEAR(g, w, 1e-5 * std::max(1.0, std::abs(w))) << "candidate " << i << ", " << name;
    }
  }
  const json summary = json::parse(read_text(d.path() / "runs" / "two" / "summary.json"));
  EXPECT_EQ(summary["distributed"]["split"], "batches");
  EXPECT_EQ(summary["distributed"]["evaluated_per_rank"], json::array({8, 8}));
}

// examples/slurm/search.sbatch under stand-ins for srun (two tasks on this machine,
// with srun's task variables) and scontrol: a two-rank search of the quickstart.
TEST(DistributedCli, TheSlurmExampleRunsATwoRankSearch) {
  testing::ScratchDir d;
  const fs::path bin = d.path() / "bin";
  fs::create_directories(bin);
  std::ofstream(bin / "scontrol") << "#!/bin/sh\necho 127.0.0.1\n";
  std::ofstream(bin / "srun")
      << "#!/bin/bash\n"
      << "while [[ \"$1\" == --* ]]; do shift; done\n"
      << "pids=()\n"
      << "for ((r = 0; r < SLURM_NTASKS; r++)); do\n"
      << "  SLURM_PROCID=$r SLURM_STEP_NUM_TASKS=$SLURM_NTASKS SLURM_LOCALID=$r \"$@\" \\\n"
      << "    >" << (d.path() / "task").string() << "$r.out 2>&1 &\n"
      << "  pids+=($!)\n"
      << "done\n"
      << "rc=0\n"
      << "for p in \"${pids[@]}\"; do wait \"$p\" || rc=$?; done\n"
      << "exit $rc\n";
  fs::permissions(bin / "scontrol", fs::perms::owner_all, fs::perm_options::add);
  fs::permissions(bin / "srun", fs::perms::owner_all, fs::perm_options::add);
  const std::string cmd =
      "cd " TN_SOURCE_DIR " && PATH=" + bin.string() +
      ":$PATH SLURM_JOB_NODELIST=node1 SLURM_NTASKS=2 SLURM_CPUS_PER_TASK=1 MASTER_PORT=" +
      std::to_string(free_port()) + " TRACENAS=" TN_CLI " bash examples/slurm/search.sbatch " +
      run_args(d.path(), "slurm", " --set search.max_evaluations=8").substr(4) + " >" +
      (d.path() / "sbatch.out").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0)
      << read_text(d.path() / "sbatch.out") << read_text(d.path() / "task0.out");
  const json summary = json::parse(read_text(d.path() / "runs" / "slurm" / "summary.json"));
  EXPECT_EQ(summary["distributed"]["world_size"], 2);
  EXPECT_EQ(summary["counts"]["evaluated"], 8);
  EXPECT_NE(read_text(d.path() / "task1.out").find("[rank 1/2]"), std::string::npos);
}

TEST(DistributedCli, RanksWithDifferentPipelinesAreRefusedAtStart) {
  testing::ScratchDir d;
  const int port = free_port();
  Rank r0 = start_rank(0, 2, port, run_args(d.path(), "mixed"), d.path());
  Rank r1 = start_rank(1, 2, port, run_args(d.path(), "mixed", " --set run.seed=7"), d.path());
  EXPECT_EQ(wait_rank(r0, 120), 2) << read_text(r0.err);
  EXPECT_EQ(wait_rank(r1, 60), 2) << read_text(r1.err);
  const std::string error = last_json(read_text(r0.out)).value("error", "");
  EXPECT_NE(error.find("rank(s) 1 run another resolved pipeline or model files than rank 0"),
            std::string::npos)
      << error;
  EXPECT_FALSE(fs::exists(d.path() / "runs" / "mixed" / "candidates.jsonl"));
}

TEST(DistributedCli, TwoRankStudyRecordsWhatOneProcessRecords) {
  testing::ScratchDir d;
  auto args = [&](const std::string& name) {
    return "study " TN_SOURCE_DIR "/configs/study/stories260K.yaml --set run.name=" + name +
           " --set run.output_dir=" + (d.path() / "runs").string() +
           " --set run.cache_dir=" + (d.path() / "cache").string() +
           " --set run.threads=1 --set model.params.path=" +
           testing::converted_stories260K("tn_dist_stories260K") +
           " --set data.params.path=" TN_SHARED_DIR "/data/stories260K-samples.u16" +
           " --set study.architectures=4 --set study.steps=3 --set study.warmup_steps=1" +
           " --set study.proposal_evaluations=4";
  };
  CliResult one = testing::run_tracenas(args("one"), "tn_dist_study_one");
  ASSERT_EQ(one.code, 0) << one.err;
  const int port = free_port();
  Rank r0 = start_rank(0, 2, port, args("two"), d.path());
  Rank r1 = start_rank(1, 2, port, args("two"), d.path());
  ASSERT_EQ(wait_rank(r0, 300), 0) << read_text(r0.err);
  ASSERT_EQ(wait_rank(r1, 60), 0) << read_text(r1.err);
  auto study_records = [&](const std::string& name) {
    std::vector<json> out = records(d.path() / "runs" / name / "study.jsonl");
    std::set<int> ranks;
    for (json& r : out) {
      if (r.contains("rank")) ranks.insert(r["rank"].get<int>());
      r.erase("rank");
      r.erase("seconds");
    }
    return std::make_pair(out, ranks);
  };
  const auto [want, ranks_one] = study_records("one");
  const auto [got, ranks_two] = study_records("two");
  ASSERT_EQ(want.size(), 4u);
  EXPECT_EQ(got, want);
  EXPECT_EQ(ranks_two, (std::set<int>{0, 1}));
  EXPECT_EQ(json::parse(read_text(d.path() / "runs" / "two" / "study.json"))["coefficients"],
            json::parse(read_text(d.path() / "runs" / "one" / "study.json"))["coefficients"]);
  EXPECT_EQ(read_text(r1.out), "");

  // Rank 1 killed once the first two architectures are recorded: rank 0 ends with one
  // line naming its rank and step; --resume with one process records what one process does.
  const int port2 = free_port();
  const fs::path killed = d.path() / "runs" / "killed" / "study.jsonl";
  Rank k0 = start_rank(0, 2, port2, args("killed"), d.path());
  Rank k1 = start_rank(1, 2, port2, args("killed"), d.path());
  const auto t0 = std::chrono::steady_clock::now();
  while (testing::count_lines(killed.string()) < 2 &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(k1.pid, SIGKILL);
  wait_rank(k1, 10);
  const int code = wait_rank(k0, 60);
  ASSERT_NE(code, -1) << "rank 0 did not end after rank 1 died";
  const std::size_t kept = testing::count_lines(killed.string());
  if (kept < 4) {  // rank 1 died before the study ended
    EXPECT_EQ(code, 1) << read_text(k0.err);
    const std::string error = last_json(read_text(k0.out)).value("error", "");
    EXPECT_EQ(error.rfind("rank 0 of 2: ", 0), 0u) << error;
    EXPECT_NE(error.find("architectures"), std::string::npos) << error;
  }
  EXPECT_GE(kept, 2u);
  CliResult resumed = testing::run_tracenas(args("killed") + " --resume", "tn_dist_study_r");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_EQ(study_records("killed").first, want);
}

TEST(DistributedCli, DistributedOffRunsALaunchedProcessAlone) {
  testing::ScratchDir d;
  // Rank 0 of 2 with no rank 1 anywhere: with distribution on it would wait for it.
  Rank r0 = start_rank(0, 2, free_port(), run_args(d.path(), "alone", " --set run.distributed=off"),
                       d.path());
  ASSERT_EQ(wait_rank(r0, 300), 0) << read_text(r0.err);
  EXPECT_NE(read_text(r0.err).find("launched as rank 0 of 2, but distribution is off"),
            std::string::npos)
      << read_text(r0.err);
  EXPECT_EQ(last_json(read_text(r0.out))["evaluated"], 48);
}

// The loss of every step a train log (stderr) reports: "step S/N: loss X".
std::map<int, double> step_losses(const std::string& err) {
  std::map<int, double> out;
  const std::regex line(R"(step (\d+)/\d+: loss ([0-9.]+))");
  for (std::sregex_iterator it(err.begin(), err.end(), line), end; it != end; ++it) {
    out[std::stoi((*it)[1])] = std::stod((*it)[2]);
  }
  return out;
}

// `tracenas train` of stories260K for `steps` steps into `out`, with `schedule` (the
// schedule's name, then any further options).
std::string train_args(const fs::path& out, int steps, const std::string& schedule) {
  return "train --model " + testing::converted_stories260K("tn_dist_stories260K") +
         " --data tokens:" TN_SHARED_DIR
         "/data/stories260K-samples.u16 --seq-len 64 --batch 2 --accumulate 2 --shuffle"
         " --lr 1e-3 --threads 1 --steps " +
         std::to_string(steps) + " --out " + out.string() + " --schedule " + schedule;
}

TEST(DistributedCli, TwoRankTrainingEqualsOneRankAndResumesOnOne) {
  testing::ScratchDir d;
  auto args = [&](const std::string& out, int steps, const std::string& extra = "") {
    return train_args(d.path() / out, steps, "cosine --min-lr 1e-4" + extra);
  };
  CliResult one = testing::run_tracenas(args("one", 6), "tn_dist_train_one");
  ASSERT_EQ(one.code, 0) << one.err;
  const std::map<int, double> want = step_losses(one.err);
  ASSERT_EQ(want.size(), 6u);

  const int port = free_port();
  Rank r0 = start_rank(0, 2, port, args("two", 6, " --checkpoint-every 3"), d.path());
  Rank r1 = start_rank(1, 2, port, args("two", 6, " --checkpoint-every 3"), d.path());
  ASSERT_EQ(wait_rank(r0, 300), 0) << read_text(r0.err);
  ASSERT_EQ(wait_rank(r1, 60), 0) << read_text(r1.err);
  const std::map<int, double> got = step_losses(read_text(r0.err));
  ASSERT_EQ(got.size(), 6u);
  for (const auto& [step, loss] : want) EXPECT_NEAR(got.at(step), loss, 1e-5) << "step " << step;
  EXPECT_EQ(last_json(read_text(r0.out))["steps"], 6);
  EXPECT_EQ(read_text(r1.out), "");
  EXPECT_TRUE(fs::exists(d.path() / "two" / "config.json"));

  // The two-rank checkpoint of step 3, resumed on one rank: steps 4-6 as one rank's.
  CliResult resumed = testing::run_tracenas(
      args("resumed", 6,
           " --resume " + (d.path() / "two" / "checkpoints" / "step-00000003").string()),
      "tn_dist_train_resumed");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  const std::map<int, double> after = step_losses(resumed.err);
  ASSERT_EQ(after.size(), 3u) << resumed.err;
  for (const auto& [step, loss] : after) EXPECT_NEAR(loss, want.at(step), 1e-5) << "step " << step;
}

// Rank 1 of a two-rank training with the optimizer state sharded (ZeRO stage 1)
// killed once a checkpoint is written: rank 0 ends with one line naming its rank and
// step, within the timeout; the latest checkpoint (its state gathered from both
// shards) resumes on one rank to one rank's losses.
TEST(DistributedCli, KilledTrainingRankEndsTheOtherAndTheCheckpointResumes) {
  testing::ScratchDir d;
  auto args = [&](const std::string& out, int steps, const std::string& extra = "") {
    return train_args(d.path() / out, steps, "constant" + extra);
  };
  const int port = free_port();
  const std::string sharded = " --checkpoint-every 2 --shard-optimizer --distributed-timeout-s 30";
  Rank r0 = start_rank(0, 2, port, args("two", 5000, sharded), d.path());
  Rank r1 = start_rank(1, 2, port, args("two", 5000, sharded), d.path());
  const fs::path latest = d.path() / "two" / "checkpoints" / "latest";
  const auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(latest) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(r1.pid, SIGKILL);
  wait_rank(r1, 10);
  const int code = wait_rank(r0, 60);
  ASSERT_NE(code, -1) << "rank 0 did not end after rank 1 died";
  EXPECT_EQ(code, 1) << read_text(r0.err);
  const std::string error = last_json(read_text(r0.out)).value("error", "");
  EXPECT_EQ(error.rfind("rank 0 of 2: ", 0), 0u) << error;
  EXPECT_NE(error.find(" step "), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;

  // The latest checkpoint, resumed on one rank for 3 more steps, equals one rank's run.
  const std::string name = read_text(latest).substr(0, 13);  // "step-00000004"
  ASSERT_EQ(name.rfind("step-", 0), 0u) << name;
  const int k = std::stoi(name.substr(5));
  CliResult one = testing::run_tracenas(args("one", k + 3), "tn_dist_kill_one");
  ASSERT_EQ(one.code, 0) << one.err;
  const std::map<int, double> want = step_losses(one.err);
  CliResult resumed = testing::run_tracenas(
      args("resumed", k + 3, " --resume " + (d.path() / "two").string()), "tn_dist_kill_resumed");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  const std::map<int, double> after = step_losses(resumed.err);
  ASSERT_EQ(after.size(), 3u) << resumed.err;
  for (const auto& [step, loss] : after) EXPECT_NEAR(loss, want.at(step), 1e-5) << "step " << step;
}

}  // namespace
}  // namespace tracenas
