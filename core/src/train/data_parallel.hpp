// What data-parallel training adds to one replica's step (train.hpp):
//
//   GradientSync   sums the gradients over the ranks in buckets, the buckets
//                  starting while the last backward of the step still runs
//                  (as each bucket's gradients become final), so that the
//                  communication overlaps the rest of the backward;
//   shard_owners   ZeRO stage 1: which rank keeps the AdamW state of each
//                  parameter and updates it (the others receive the updated
//                  values by broadcast), so that each rank holds about 1/N of
//                  the optimizer state.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/communicator.hpp"

namespace tracenas {

// Sums the gradients of `params` (leaf tensors with requires_grad) over the
// ranks. The buckets hold the parameters in reverse order (the order the
// backward finishes them), at most `bucket_elements` elements each, and are
// the same on every rank; bucket b starts (Communicator::start_allreduce_sum)
// once its gradients are final and buckets 0..b-1 have started, so every
// rank starts the same collectives in the same order. A gradient is final
// when its accumulator has run in the armed backward (a post-hook on the
// parameter's gradient accumulator, as in PyTorch's DDP).
//
// One step:  sync.arm(what) before the step's last local backward (or not at
// all when this rank has no micro-batch in the step), then sync.finish():
// it starts the buckets that have not started (a gradient that never came is
// zeros) and waits for all of them. Every gradient then holds the sum over
// the ranks.
class GradientSync {
 public:
  GradientSync(Communicator& comm, std::vector<at::Tensor> params,
               std::int64_t bucket_elements = Communicator::kBucketElements);
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  void arm(const std::string& what);
  void finish(const std::string& what);

  std::size_t buckets() const { return buckets_.size(); }
  // Buckets that started inside the last step's backward (overlapped), and in all steps.
  std::int64_t started_in_backward() const { return started_in_backward_; }
  std::int64_t started_total() const { return started_total_; }

  // Called by the accumulator hook of parameter `index`.
  void ready(std::size_t index);

 private:
  void start(std::size_t bucket);

  struct Bucket {
    std::vector<std::size_t> params;
    std::size_t ready = 0;
  };
  Communicator& comm_;
  std::vector<at::Tensor> params_;
  std::vector<std::size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  std::vector<std::unique_ptr<Communicator::Pending>> pending_;
  std::vector<std::shared_ptr<void>> hooks_;  // removes the accumulator hooks when released
  std::size_t next_ = 0;                      // the first bucket not started
  bool armed_ = false;
  std::string what_;
  std::int64_t started_in_backward_ = 0;
  std::int64_t started_total_ = 0;
};

// ZeRO stage 1: the rank that owns each parameter's optimizer state, given
// the parameters' element counts: each in turn to the rank with the fewest
// elements so far (the lowest such rank on ties). Deterministic, so every
// rank computes the same owners.
std::vector<int> shard_owners(const std::vector<std::int64_t>& numels, int ranks);

}  // namespace tracenas
