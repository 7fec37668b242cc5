// Data-parallel training (train/train.hpp, train/data_parallel.hpp) on two
// ranks as two threads of this process against one process, on stories260K.
// Also in the checked build (ASan and UBSan: tests/CMakeLists.txt), for the
// accumulator hooks and the collectives in flight.
#include "train/data_parallel.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "dist/communicator.hpp"
#include "test_dir.hpp"
#include "thread_ranks.hpp"
#include "train/stories_training.hpp"
#include "train/train.hpp"

namespace tracenas {
namespace {

using namespace stories_training;  // NOLINT(google-build-using-namespace): the fixture

// A one-process training and the same on two ranks as two threads of this process,
// each with its own replica and its own Gloo group on one store; `adjust` changes the
// ranks' options (the global batch stays: micro-batch a of a step on rank a mod 2).
struct TwoRankTraining {
  std::vector<std::int32_t> train;
  TrainOptions options;
  std::shared_ptr<DecoderModel> one;
  TrainResult want;
  std::shared_ptr<DecoderModel> replicas[2];
  TrainResult got[2];
};

void train_on_two_ranks(TwoRankTraining& t, const std::function<void(TrainOptions&)>& adjust) {
  t.train = slice(stories().tokens, 0, 24 * 64);
  t.options = small_options(4);
  t.options.batch = 2;
  t.options.accumulate = 2;
  t.options.shuffle = true;
  t.options.log_steps = false;
  t.one = load_model(stories().dir);
  t.want = train_model(*t.one, t.train, nullptr, t.options);
  const std::vector<std::string> failures =
      testing::run_thread_ranks(2, [&](int rank, Communicator& comm) {
        TrainOptions mine = t.options;
        mine.comm = &comm;
        adjust(mine);
        t.replicas[rank] = load_model(stories().dir);
        t.got[rank] = train_model(*t.replicas[rank], t.train, nullptr, mine);
      });
  ASSERT_EQ(failures, (std::vector<std::string>{"", ""}));
}

// Both ranks' losses, gradient norms and final weights equal the one process's.
void expect_like_one_process(const TwoRankTraining& t) {
  for (int rank : {0, 1}) {
    const std::vector<StepLog>& got = t.got[rank].log;
    const std::vector<StepLog>& want = t.want.log;
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i].loss, want[i].loss, 1e-5) << "rank " << rank << " step " << i;
      EXPECT_NEAR(got[i].grad_norm, want[i].grad_norm, 1e-4 * want[i].grad_norm);
    }
    const ModelWeights& a = t.one->weights();
    const ModelWeights& b = t.replicas[rank]->weights();
    EXPECT_TRUE(at::allclose(a.embed, b.embed, 1e-5, 1e-6)) << "rank " << rank;
    for (std::size_t l = 0; l < a.layers.size(); ++l) {
      EXPECT_TRUE(at::allclose(a.layers[l].attention.q, b.layers[l].attention.q, 1e-5, 1e-6))
          << "rank " << rank << " layer " << l;
      EXPECT_TRUE(at::allclose(a.layers[l].ffn.down, b.layers[l].ffn.down, 1e-5, 1e-6))
          << "rank " << rank << " layer " << l;
    }
  }
}

TEST(TrainDataParallel, TwoThreadRanksTrainLikeOneProcess) {
  if (!process_groups_available("cpu")) GTEST_SKIP() << "this LibTorch has no c10d Gloo";
  TwoRankTraining t;
  train_on_two_ranks(t, [](TrainOptions&) {});
  // One bucket of 2^25 elements holds every gradient of this small model.
  EXPECT_EQ(t.got[0].gradient_buckets, 1);
  expect_like_one_process(t);
}

// The same with small gradient buckets, which start while the backward still runs, and
// the AdamW state sharded over the two ranks (ZeRO stage 1): the same losses as one
// process, each rank keeping part of the state; a checkpoint of the sharded run then
// resumes in one process like the one-process run.
TEST(TrainDataParallel, OverlappedBucketsAndShardedOptimizerTrainLikeOneProcess) {
  if (!process_groups_available("cpu")) GTEST_SKIP() << "this LibTorch has no c10d Gloo";
  testing::ScratchDir scratch;
  TwoRankTraining t;
  train_on_two_ranks(t, [&](TrainOptions& o) {
    o.shard_optimizer = true;
    o.bucket_elements = 8192;
    o.checkpoint_every = 2;
    o.checkpoint_dir = (scratch.path() / "checkpoints").string();
  });
  // The two shards hold the one-process state between them, split about evenly
  // (within the largest tensor, the embedding, whose two moments are 8 bytes per element).
  const std::int64_t s0 = t.got[0].optimizer_state_bytes, s1 = t.got[1].optimizer_state_bytes;
  EXPECT_EQ(s0 + s1, t.want.optimizer_state_bytes);
  EXPECT_LE(std::abs(s0 - s1), 8 * t.one->weights().embed.numel());
  EXPECT_GT(s0, 0);
  EXPECT_GT(s1, 0);
  EXPECT_GT(t.got[0].gradient_buckets, 10);
  // Buckets started inside the backward on both ranks (the embedding's, last, cannot).
  EXPECT_GT(t.got[0].overlapped_buckets, 0);
  EXPECT_GT(t.got[1].overlapped_buckets, 0);
  expect_like_one_process(t);
  ASSERT_EQ(t.got[0].checkpoints.size(), 2u);
  EXPECT_TRUE(t.got[1].checkpoints.empty());

  // The sharded run's step-2 checkpoint holds the whole state: one process continues it.
  TrainOptions ro = t.options;
  ro.resume = t.got[0].checkpoints[0];
  auto resumed = load_model(stories().dir);
  const TrainResult r = train_model(*resumed, t.train, nullptr, ro);
  ASSERT_EQ(r.log.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_NEAR(r.log[i].loss, t.want.log[i + 2].loss, 1e-5) << "resumed step " << i + 3;
  }
}

TEST(TrainDataParallel, ShardOwnersBalanceTheElements) {
  // Each in turn to the rank with the fewest elements so far (the lowest on ties).
  EXPECT_EQ(shard_owners({10, 4, 4, 3, 1}, 2), (std::vector<int>{0, 1, 1, 1, 0}));
  EXPECT_EQ(shard_owners({5, 5, 5}, 1), (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(shard_owners({1, 1}, 4), (std::vector<int>{0, 1}));
}

}  // namespace
}  // namespace tracenas
