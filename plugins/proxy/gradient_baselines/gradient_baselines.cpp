// Baseline proxies read from the same candidate pass as trace_correlation.
//
//   loss          mean over the K batches of the candidate's calibration loss.
//                 Lower is better.
//   kl_to_parent  mean over every token of KL(p_base || p_candidate) of the
//                 next-token distributions. Lower is better.
//   grad_norm     L2 norm of the kept-weight gradient (mean over batches).
//   snip          sum over kept weights of |w * g| (Lee et al. 2019, SNIP).
//   fisher        sum over kept weights of mean over batches of g^2: the
//                 empirical Fisher trace.
//   zico          sum over kept blocks of log(sum over the block's weights of
//                 mean|g| / std(g) across batches) (Li et al. 2023, ZiCo);
//                 needs K >= 2; coordinates with std 0 are left out.
// Higher is better for the last four (more trainable signal kept).
#include <ATen/ATen.h>

#include <cmath>

#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/proxy.hpp"

namespace {

using tracenas::Direction;
using tracenas::TraceNeeds;

class Loss final : public tracenas::Proxy {
 public:
  Direction direction() const override { return Direction::kLowerIsBetter; }
  TraceNeeds needs() const override {
    TraceNeeds n;
    n.loss = true;
    return n;
  }
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    if (t.batch_losses.empty()) throw tracenas::Error("loss: the pass recorded no batch losses");
    double s = 0;
    for (double l : t.batch_losses) s += l;
    return s / static_cast<double>(t.batch_losses.size());
  }
};

class KlToParent final : public tracenas::Proxy {
 public:
  Direction direction() const override { return Direction::kLowerIsBetter; }
  TraceNeeds needs() const override {
    TraceNeeds n;
    n.logits = true;
    n.base_logits = true;
    return n;
  }
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    if (t.logits.size() != t.base_logits.size() || t.logits.empty()) {
      throw tracenas::Error("kl_to_parent: candidate and base logits are missing");
    }
    // The base's log-probabilities are the same for every candidate of a run:
    // computed once per base-logits tensor. log_softmax in float32 (float64
    // for a float64 model), the sum accumulated in float64.
    if (base_log_probs_.size() != t.base_logits.size() ||
        (!base_logits_.empty() && !base_logits_[0].is_same(t.base_logits[0]))) {
      base_logits_ = t.base_logits;
      base_log_probs_.clear();
      for (const auto& b : t.base_logits)
        base_log_probs_.push_back(at::log_softmax(b.to(work(b)), -1));
    }
    double total = 0;
    int64_t tokens = 0;
    for (std::size_t k = 0; k < t.logits.size(); ++k) {
      const at::Tensor& lp = base_log_probs_[k];
      at::Tensor lq = at::log_softmax(t.logits[k].to(lp.scalar_type()), -1);
      at::Tensor kl = (lp.exp() * (lp - lq)).sum(-1, false, at::kDouble);  // [batch, seq]
      total += kl.sum().item<double>();
      tokens += kl.numel();
    }
    return total / static_cast<double>(tokens);
  }

 private:
  static at::ScalarType work(const at::Tensor& t) {
    return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  }
  std::vector<at::Tensor> base_logits_;     // what base_log_probs_ was computed from
  std::vector<at::Tensor> base_log_probs_;  // [batch, seq, vocab]
};

// Sums f over every kept block's projections.
template <class F>
double sum_blocks(const tracenas::Trace& t, const char* who, F f) {
  double s = 0;
  for (const auto& b : t.blocks) {
    if (b.grads.empty()) throw tracenas::Error(std::string(who) + ": no gradients in the pass");
    for (std::size_t i = 0; i < b.grads.size(); ++i) s += f(b, i);
  }
  return s;
}

// A higher-is-better proxy read from the pass's weight gradients (and, with
// `moments`, their per-batch moments).
template <bool moments>
class WeightGradProxy : public tracenas::Proxy {
 public:
  Direction direction() const override { return Direction::kHigherIsBetter; }
  TraceNeeds needs() const override {
    TraceNeeds n;
    n.weight_grads = true;
    n.grad_moments = moments;
    return n;
  }
};

class GradNorm final : public WeightGradProxy<false> {
 public:
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    return std::sqrt(sum_blocks(t, "grad_norm", [](const tracenas::BlockTrace& b, std::size_t i) {
      return b.grads[i].to(at::kDouble).pow(2).sum().item<double>();
    }));
  }
};

class Snip final : public WeightGradProxy<false> {
 public:
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    return sum_blocks(t, "snip", [](const tracenas::BlockTrace& b, std::size_t i) {
      return (b.weights[i].to(at::kDouble) * b.grads[i].to(at::kDouble)).abs().sum().item<double>();
    });
  }
};

class Fisher final : public WeightGradProxy<true> {
 public:
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    return sum_blocks(t, "fisher", [](const tracenas::BlockTrace& b, std::size_t i) {
      return b.grad_sq_mean.at(i).sum().item<double>();
    });
  }
};

class Zico final : public WeightGradProxy<true> {
 public:
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    if (t.batch_losses.size() < 2) {
      throw tracenas::ConfigError("zico: needs at least 2 calibration batches (got " +
                                  std::to_string(t.batch_losses.size()) + ")");
    }
    double total = 0;
    for (const auto& b : t.blocks) {
      double s = 0;
      for (std::size_t i = 0; i < b.grads.size(); ++i) {
        at::Tensor sd = b.grad_std.at(i);
        at::Tensor keep = sd > 0;
        s += (b.grad_abs_mean.at(i).masked_select(keep) / sd.masked_select(keep))
                 .sum()
                 .item<double>();
      }
      total += std::log(s);
    }
    return total;
  }
};

template <class T>
tracenas::Factory make() {
  return [](const tracenas::ParamValues&,
            const tracenas::RunContext&) -> std::unique_ptr<tracenas::Component> {
    return std::make_unique<T>();
  };
}

void add(tracenas::Registrar& r, const char* name, const char* doc, tracenas::Factory f,
         bool is_default = false) {
  tracenas::ComponentInfo info;
  info.kind = tracenas::ComponentKind::kProxy;
  info.name = name;
  info.doc = doc;
  info.factory = std::move(f);
  info.claims.is_default = is_default;
  r.add(std::move(info));
}

void register_components(tracenas::Registrar& r) {
  add(r, "loss", "mean calibration loss of the candidate (lower is better)", make<Loss>(),
      /*is_default=*/true);
  add(r, "kl_to_parent", "mean per-token KL(base || candidate) of next-token distributions",
      make<KlToParent>());
  add(r, "grad_norm", "L2 norm of the kept-weight gradient", make<GradNorm>());
  add(r, "snip", "sum over kept weights of |w * g| (SNIP)", make<Snip>());
  add(r, "fisher", "sum over kept weights of the mean squared gradient (empirical Fisher)",
      make<Fisher>());
  add(r, "zico", "sum over blocks of log sum mean|g| / std(g) across batches (ZiCo)", make<Zico>());
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.proxy.gradient_baselines", "0.1.0", "Apache-2.0",
                       "baseline proxies on the candidate pass", register_components)
