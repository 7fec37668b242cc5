// run_on_threads: every share runs, at once, on its own thread with one
// LibTorch thread, in the caller's grad mode; errors come back to the caller.
#include "base/threads.hpp"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace tracenas {
namespace {

TEST(RunOnThreads, EveryShareRunsAtOnceOnItsOwnThreadWithOneLibTorchThread) {
  const int before = at::get_num_threads();
  std::mutex m;
  std::condition_variable cv;
  int arrived = 0;
  std::set<std::thread::id> ids;
  std::vector<int> seen(3, 0), torch_threads(3, 0);
  std::vector<bool> grad(3, true);
  at::NoGradGuard no_grad;
  const bool ran = run_on_threads(3, [&](int t) {
    std::unique_lock<std::mutex> lock(m);
    ids.insert(std::this_thread::get_id());
    ++seen[static_cast<std::size_t>(t)];
    torch_threads[static_cast<std::size_t>(t)] = at::get_num_threads();
    grad[static_cast<std::size_t>(t)] = at::GradMode::is_enabled();
    // Every share waits for the others: this only finishes if they run at once.
    ++arrived;
    cv.notify_all();
    cv.wait(lock, [&] { return arrived == 3; });
  });
  if (!ran) GTEST_SKIP() << "this LibTorch has no OpenMP runtime";
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_TRUE(ids.count(std::this_thread::get_id()) == 1) << "share 0 runs on the caller";
  for (int t = 0; t < 3; ++t) {
    EXPECT_EQ(seen[static_cast<std::size_t>(t)], 1) << t;
    EXPECT_EQ(torch_threads[static_cast<std::size_t>(t)], 1) << t;
    EXPECT_FALSE(grad[static_cast<std::size_t>(t)]) << t << ": the caller's grad mode";
  }
  EXPECT_EQ(at::get_num_threads(), before);
}

TEST(RunOnThreads, AnErrorInAShareReachesTheCallerAfterAllFinish) {
  std::atomic<int> finished{0};
  bool ran = true;
  try {
    ran = run_on_threads(2, [&](int t) {
      if (t == 1) throw std::runtime_error("share 1 failed");
      // An operator that would use several LibTorch threads, run on one.
      (void)at::ones({1 << 16}).sum();
      ++finished;
    });
    if (ran) ADD_FAILURE() << "the error was swallowed";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "share 1 failed");
    EXPECT_EQ(finished.load(), 1);
  }
  if (!ran) GTEST_SKIP() << "this LibTorch has no OpenMP runtime";
}

TEST(RunOnThreads, AForkedChildGetsWorkersOfItsOwn) {
  std::atomic<int> runs{0};
  if (!run_on_threads(2, [&](int) { ++runs; })) GTEST_SKIP() << "no OpenMP runtime";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The parent's worker threads do not exist here; a hang fails the test by timeout.
    std::atomic<int> child_runs{0};
    const bool ran = run_on_threads(3, [&](int) { ++child_runs; });
    _exit(ran && child_runs.load() == 3 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(runs.load(), 2);
}

TEST(RunOnThreads, FewerThanTwoSharesRunNothing) {
  int calls = 0;
  EXPECT_FALSE(run_on_threads(1, [&](int) { ++calls; }));
  EXPECT_FALSE(run_on_threads(0, [&](int) { ++calls; }));
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace tracenas
