// The launcher environment, and the collectives of a real c10d Gloo process
// group: two ranks as two threads of this process, each with its own group on
// one in-process store, checked against sums and copies computed here.
#include "dist/communicator.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "dist/launch.hpp"
#include "thread_ranks.hpp"
#include "tracenas/error.hpp"

namespace tracenas {
namespace {

GetEnv env_of(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

std::string config_error(const std::map<std::string, std::string>& vars) {
  try {
    launch_from_environment(env_of(vars));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Launch, TorchrunSlurmAndNoLauncher) {
  Launch l = launch_from_environment(env_of({}));
  EXPECT_EQ(l.launcher, "");
  EXPECT_FALSE(l.distributed());

  l = launch_from_environment(env_of({{"RANK", "3"},
                                      {"WORLD_SIZE", "8"},
                                      {"LOCAL_RANK", "1"},
                                      {"MASTER_ADDR", "node0"},
                                      {"MASTER_PORT", "29400"},
                                      {"TORCHELASTIC_USE_AGENT_STORE", "True"}}));
  EXPECT_EQ(l.launcher, "torchrun");
  EXPECT_EQ(l.rank, 3);
  EXPECT_EQ(l.size, 8);
  EXPECT_EQ(l.local_rank, 1);
  EXPECT_EQ(l.master_addr, "node0");
  EXPECT_EQ(l.master_port, 29400);
  EXPECT_TRUE(l.agent_store);
  EXPECT_TRUE(l.distributed());

  // srun: the step's task count; the port defaults to 29500 and rank 0 hosts the store.
  l = launch_from_environment(env_of({{"SLURM_PROCID", "5"},
                                      {"SLURM_STEP_NUM_TASKS", "16"},
                                      {"SLURM_NTASKS", "16"},
                                      {"SLURM_LOCALID", "5"},
                                      {"MASTER_ADDR", "10.0.0.1"}}));
  EXPECT_EQ(l.launcher, "slurm");
  EXPECT_EQ(l.rank, 5);
  EXPECT_EQ(l.size, 16);
  EXPECT_EQ(l.local_rank, 5);
  EXPECT_EQ(l.master_port, 29500);
  EXPECT_FALSE(l.agent_store);
  // A batch script's own process (no step) is one process.
  EXPECT_FALSE(launch_from_environment(env_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "16"}}))
                   .distributed());

  EXPECT_EQ(config_error({{"RANK", "x"}, {"WORLD_SIZE", "2"}}),
            "environment: RANK='x' is not an integer >= 0");
  EXPECT_EQ(config_error({{"RANK", "2"}, {"WORLD_SIZE", "2"}}),
            "environment: RANK=2 is not below WORLD_SIZE=2");
  EXPECT_EQ(config_error({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "1"}}),
            "environment: MASTER_ADDR is not set");
  EXPECT_NE(config_error({{"SLURM_PROCID", "1"}, {"SLURM_STEP_NUM_TASKS", "2"}})
                .find("environment: MASTER_ADDR is not set (under srun"),
            std::string::npos);
}

// Runs `body(rank, group)` on two thread ranks; neither may fail.
void two_ranks(const std::function<void(int, Communicator&)>& body,
               std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  EXPECT_EQ(testing::run_thread_ranks(2, body, timeout), (std::vector<std::string>{"", ""}));
}

TEST(Communicator, GlooCollectivesOfTwoThreadRanks) {
  if (!process_groups_available("cpu")) GTEST_SKIP() << "this LibTorch has no c10d Gloo";
  two_ranks([](int rank, Communicator& c) {
    EXPECT_EQ(c.rank(), rank);
    EXPECT_EQ(c.size(), 2);
    const double r = rank;
    // Sums over the ranks, per dtype; bfloat16 summed in float32 (exact for these values).
    std::vector<at::Tensor> t = {
        at::tensor({1.0 + r, 2.0, -3.5 * r}, at::kFloat),
        at::tensor({0.25, 1e-3 * (r + 1)}, at::kDouble).view({2, 1}),
        at::tensor({1.0 + r, 8.0 * r, 0.5, -2.0}, at::kFloat).to(at::kBFloat16),
        at::arange(6, at::kFloat).view({2, 3}).mul(r + 1),
    };
    c.allreduce_sum(t, "a test sum");
    EXPECT_TRUE(at::equal(t[0], at::tensor({3.0, 4.0, -3.5}, at::kFloat)));
    EXPECT_TRUE(at::allclose(t[1], at::tensor({0.5, 3e-3}, at::kDouble).view({2, 1}), 0, 1e-15));
    EXPECT_EQ(t[2].scalar_type(), at::kBFloat16);
    EXPECT_TRUE(at::equal(t[2], at::tensor({3.0, 8.0, 1.0, -4.0}, at::kFloat).to(at::kBFloat16)));
    EXPECT_TRUE(at::equal(t[3], at::arange(6, at::kFloat).view({2, 3}).mul(3)));

    // Rank 1's tensors on both ranks, bit for bit (bfloat16 included).
    std::vector<at::Tensor> b = {at::full({3}, 10.0 + r, at::kFloat),
                                 at::full({2}, 0.1 + r, at::kBFloat16)};
    c.broadcast(b, 1, "a test broadcast");
    EXPECT_TRUE(at::equal(b[0], at::full({3}, 11.0, at::kFloat)));
    EXPECT_TRUE(at::equal(b[1], at::full({2}, 1.1, at::kBFloat16)));

    // Bytes of different lengths, in rank order; an empty string on one rank.
    const std::string mine = rank == 0 ? std::string() : std::string("rank one\0bytes", 14);
    EXPECT_EQ(c.allgather(mine, "a test gather"),
              (std::vector<std::string>{"", std::string("rank one\0bytes", 14)}));
    EXPECT_EQ(c.allgather("", "nothing"), (std::vector<std::string>{"", ""}));
    EXPECT_EQ(c.broadcast_bytes(rank == 1 ? "from one" : "ignored", 1, "a test broadcast"),
              "from one");
    c.barrier("the end");
  });
}

TEST(Communicator, BackgroundSumsAndBucketsOfTwoThreadRanks) {
  if (!process_groups_available("cpu")) GTEST_SKIP() << "this LibTorch has no c10d Gloo";
  two_ranks([](int rank, Communicator& c) {
    const double r = rank;
    // Two sums under way at once, waited for in the other order.
    std::vector<at::Tensor> a = {at::full({4}, 1.0 + r, at::kFloat)};
    std::vector<at::Tensor> b = {at::full({2, 2}, 10.0 * (r + 1), at::kDouble)};
    auto first = c.start_allreduce_sum(a, "first sum");
    auto second = c.start_allreduce_sum(b, "second sum");
    second->wait();
    first->wait();
    EXPECT_TRUE(at::equal(a[0], at::full({4}, 3.0, at::kFloat)));
    EXPECT_TRUE(at::equal(b[0], at::full({2, 2}, 30.0, at::kDouble)));

    // Buckets of at most 5 elements: 3 + 2 | 7 (alone) | 1; every tensor summed in place.
    std::vector<at::Tensor> t = {at::arange(3, at::kFloat) * (r + 1), at::full({2}, r, at::kFloat),
                                 at::ones({7}, at::kFloat) * (r + 2),
                                 at::full({1}, 4.0, at::kDouble)};
    const std::vector<at::Tensor> handles = t;
    c.allreduce_sum_buckets(t, "bucketed sum", 5);
    EXPECT_TRUE(at::equal(handles[0], at::arange(3, at::kFloat) * 3));
    EXPECT_TRUE(at::equal(handles[1], at::full({2}, 1.0, at::kFloat)));
    EXPECT_TRUE(at::equal(handles[2], at::ones({7}, at::kFloat) * 5));
    EXPECT_TRUE(at::equal(handles[3], at::full({1}, 8.0, at::kDouble)));
  });
}

// Rank 1 stays alive but never takes part: rank 0's collective ends at the group's
// timeout (1 s), well before rank 1 leaves (5 s), with one line naming the rank and step.
TEST(Communicator, ACollectiveAPeerNeverJoinsNamesTheRankAndTheStep) {
  if (!process_groups_available("cpu")) GTEST_SKIP() << "this LibTorch has no c10d Gloo";
  std::string error;
  double seconds = 0;
  two_ranks(
      [&](int rank, Communicator& c) {
        if (rank == 1) {
          std::this_thread::sleep_for(std::chrono::seconds(5));
          return;
        }
        std::vector<at::Tensor> t = {at::ones({4})};
        const auto t0 = std::chrono::steady_clock::now();
        try {
          c.allreduce_sum(t, "summing the gradients of step 3");
        } catch (const Error& e) {
          error = e.what();
        }
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      },
      std::chrono::seconds(1));
  EXPECT_EQ(error.rfind("rank 0 of 2: summing the gradients of step 3: ", 0), 0u) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_LT(seconds, 4.5) << "the collective did not end at the timeout: " << error;
}

TEST(Communicator, SingleProcessIsTheIdentity) {
  std::unique_ptr<Communicator> c = single_process();
  std::vector<at::Tensor> t = {at::tensor({1.5, 2.5})};
  c->allreduce_sum(t, "x");
  EXPECT_TRUE(at::equal(t[0], at::tensor({1.5, 2.5})));
  EXPECT_EQ(c->allgather("abc", "x"), std::vector<std::string>{"abc"});
  EXPECT_EQ(c->broadcast_bytes("abc", 0, "x"), "abc");
  EXPECT_EQ(c->size(), 1);
}

}  // namespace
}  // namespace tracenas
