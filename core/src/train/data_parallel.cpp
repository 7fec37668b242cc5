#include "train/data_parallel.hpp"

#include <ATen/ATen.h>
// The accumulator hooks: Node::add_post_hook / del_post_hook and
// FunctionPostHook have the same signatures in LibTorch 1.13 and 2.x.
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

class ReadyHook final : public torch::autograd::FunctionPostHook {
 public:
  ReadyHook(GradientSync& sync, std::size_t index) : sync_(sync), index_(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    sync_.ready(index_);
    return outputs;
  }

 private:
  GradientSync& sync_;
  std::size_t index_;
};

}  // namespace

GradientSync::GradientSync(Communicator& comm, std::vector<at::Tensor> params,
                           std::int64_t bucket_elements)
    : comm_(comm), params_(std::move(params)), bucket_of_(params_.size()) {
  std::int64_t elements = 0;
  for (std::size_t k = params_.size(); k-- > 0;) {
    const std::int64_t n = params_[k].numel();
    if (buckets_.empty() || (!buckets_.back().params.empty() && elements + n > bucket_elements)) {
      buckets_.emplace_back();
      elements = 0;
    }
    buckets_.back().params.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    elements += n;
  }
  for (std::size_t k = 0; k < params_.size(); ++k) {
    // The accumulator lives as long as this handle (the variable holds it weakly).
    std::shared_ptr<torch::autograd::Node> acc =
        torch::autograd::impl::grad_accumulator(params_[k]);
    if (!acc) throw Error("gradient sync: parameter " + std::to_string(k) + " is not a leaf");
    const std::uintptr_t key = acc->add_post_hook(std::make_unique<ReadyHook>(*this, k));
    hooks_.emplace_back(acc.get(), [acc, key](void*) { acc->del_post_hook(key); });
  }
}

GradientSync::~GradientSync() {
  // Collectives still under way (an exception left a step half done) end before
  // the tensors they write into go.
  for (auto& p : pending_) {
    try {
      p->wait();
    } catch (const std::exception&) {
    }
  }
}

void GradientSync::arm(const std::string& what) {
  armed_ = true;
  what_ = what;
}

void GradientSync::ready(std::size_t index) {
  if (!armed_) return;
  Bucket& b = buckets_[bucket_of_[index]];
  ++b.ready;
  while (next_ < buckets_.size() && buckets_[next_].ready == buckets_[next_].params.size()) {
    start(next_);
  }
}

void GradientSync::start(std::size_t bucket) {
  std::vector<at::Tensor> grads;
  for (std::size_t k : buckets_[bucket].params) {
    at::Tensor& p = params_[k];
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    grads.push_back(p.grad());
  }
  pending_.push_back(comm_.start_allreduce_sum(std::move(grads), what_));
  next_ = bucket + 1;
  ++started_total_;
}

void GradientSync::finish(const std::string& what) {
  armed_ = false;
  what_ = what;
  started_in_backward_ = static_cast<std::int64_t>(next_);
  while (next_ < buckets_.size()) start(next_);
  std::vector<std::unique_ptr<Communicator::Pending>> pending = std::move(pending_);
  pending_.clear();
  for (auto& p : pending) p->wait();
  for (Bucket& b : buckets_) b.ready = 0;
  next_ = 0;
}

std::vector<int> shard_owners(const std::vector<std::int64_t>& numels, int ranks) {
  std::vector<std::int64_t> load(static_cast<std::size_t>(std::max(ranks, 1)), 0);
  std::vector<int> owner;
  owner.reserve(numels.size());
  for (std::int64_t n : numels) {
    std::size_t best = 0;
    for (std::size_t r = 1; r < load.size(); ++r) {
      if (load[r] < load[best]) best = r;
    }
    load[best] += n;
    owner.push_back(static_cast<int>(best));
  }
  return owner;
}

}  // namespace tracenas
