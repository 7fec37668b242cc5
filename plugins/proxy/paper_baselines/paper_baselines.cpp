// Zero-shot proxies of the TraceNAS paper's comparison, read from the same
// candidate pass as trace_correlation. Every projection weight is taken as a
// matrix [rows = output units, columns = inputs] of its kept part; G is the
// candidate's gradient of that weight, averaged over the calibration batches
// (`gradient: full` coordinates); biases are left out (but by synflow).
// Higher is better for all seven.
//
//   lpzero              sum over kept blocks of (||W1||_1)^2 + sum_k sqrt(softmax(vec W2)_k),
//                       W1, W2 = v_proj, o_proj (attention) and up_proj, down_proj (MLP).
//                       Data-free: weights only. The form is the one the TraceNAS
//                       reference code evaluates (`compute_lpzero`; LPZero, Dong et
//                       al. 2024, arXiv 2410.04808, searches such expressions).
//   synaptic_saliency   sum over kept projection weights of sum over rows r of
//                       ||W_r||_2 * ||G_r||_2: the neuron-wise saliency the
//                       reference code evaluates (`compute_neuron_mixed_saliency`),
//                       after TF-TAS (Zhou et al. 2022, arXiv 2203.12217), whose
//                       element-wise form sum |W * G| is `snip` here.
//   synaptic_diversity  sum over kept projection weights of ||W||_* * ||G||_*
//                       (nuclear norms; TF-TAS's synaptic diversity, applied to
//                       every projection as the reference code does).
//   pruner_zero         sum over kept projection weights m of ||W_m||_F^2 * s_m, with
//                       g_m = mean |G_m| over the weight's entries and
//                       s_m = (g_m - min g) / (max g - min g + 1e-12) over the
//                       candidate's projection weights: the reference code's
//                       per-module reading of Pruner-Zero's |W|^2 * minmax(|G|)
//                       (Dong et al. 2024, arXiv 2406.02924).
//
//   meco                sum over kept blocks and calibration batches of the smallest
//                       eigenvalue of the correlation matrix [B, B] of the block's
//                       output across the batch's B sequences (positions and channels
//                       of a sequence flattened; output of o_proj or down_proj, before
//                       the residual add); non-finite entries set to 0, as the reference
//                       code does (`compute_meco`; MeCo, Jiang et al. 2023, correlates a
//                       single input's channels instead). Needs B >= 2: with one sequence
//                       per batch every term is 1.
//   naswot              log |det K|, K = sum over kept MLP blocks and batches of
//                       c c^T + (1 - c)(1 - c)^T with c [B, n] the signs (> 0) of each
//                       sequence's gate projection outputs, the input of the SiLU
//                       (`compute_naswot`; NASWOT, Mellor et al. 2021, arXiv 2006.04647,
//                       codes a ReLU network's units per input image).
//
//   synflow             sum over kept projection weights and biases of |theta| * dR/d|theta|
//                       in SynFlow's linearised network (Tanaka et al. 2020, arXiv
//                       2006.05467): every parameter replaced by its absolute value, an
//                       input of ones (the embedding output of one sequence of the
//                       calibration length), R = the sum of the logits, float64
//                       (TraceNeeds::synflow). The reference code calls a synflow it
//                       does not define; this follows the paper. The paper's
//                       conservation argument assumes a positively homogeneous network;
//                       with RMSNorm and softmax attention the sum can be negative.
//
// meco and naswot read a forward-only pass over whole calibration batches
// (TraceNeeds::output_grams, TraceNeeds::gate_kernel); the counts of K are
// exact (float64), where the reference sums float32 counts.
//
// Where this differs from the reference code (which simulates a candidate by
// masking a dense model and attaches LoRA adapters):
//   - W and G are the candidate's kept weights and their gradient: the
//     reference multiplies pruned rows or columns by zero for the forward
//     (LPZero's softmax then also runs over those zeros) and reads the dense,
//     unmasked weight for saliency, diversity and Pruner-Zero.
//   - G is the gradient of the weight itself; the reference uses the
//     gradient of the LoRA B factor (saliency, diversity: s * G A^T, a random
//     projection of G's rows) and the mean |grad| of both LoRA factors
//     (Pruner-Zero).
//   - One gradient averaged over the K calibration batches; the reference sums
//     per-batch saliency and diversity scores and uses the first batch only
//     for Pruner-Zero.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/proxy.hpp"

namespace {

using tracenas::BlockKind;
using tracenas::Direction;
using tracenas::TraceNeeds;

bool is_weight(const std::string& name) {
  return name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
}

// Output dims of a projection weight in the decoder's grouped layout:
// q [g, n, h | d], k and v [g, h | d], o [d | g, n, h], gate and up [c | d], down [d | c].
int out_dims(const std::string& name) {
  if (name == "q_proj.weight") return 3;
  if (name == "k_proj.weight" || name == "v_proj.weight") return 2;
  return 1;
}

// The weight as a float64 matrix [rows, columns].
at::Tensor as_matrix(const at::Tensor& w, const std::string& name) {
  std::int64_t rows = 1;
  const int nout = std::min<int>(out_dims(name), static_cast<int>(w.dim()));
  for (int i = 0; i < nout; ++i) rows *= w.size(i);
  return w.to(at::kDouble).reshape({rows, -1});
}

const at::Tensor* find(const tracenas::BlockTrace& b, const std::string& name) {
  for (std::size_t i = 0; i < b.names.size(); ++i) {
    if (b.names[i] == name) return &b.weights[i];
  }
  return nullptr;
}

// Calls f(name, W, G) for every kept projection weight of the pass.
template <class F>
void each_weight(const tracenas::Trace& t, const char* who, F f) {
  for (const auto& b : t.blocks) {
    if (b.grads.size() != b.weights.size()) {
      throw tracenas::Error(std::string(who) + ": no gradients in the pass");
    }
    for (std::size_t i = 0; i < b.weights.size(); ++i) {
      if (is_weight(b.names[i])) f(b.names[i], b.weights[i], b.grads[i]);
    }
  }
}

class WeightGradProxy : public tracenas::Proxy {
 public:
  Direction direction() const override { return Direction::kHigherIsBetter; }
  TraceNeeds needs() const override {
    TraceNeeds n;
    n.weight_grads = true;
    return n;
  }
};

class LpZero final : public tracenas::Proxy {
 public:
  Direction direction() const override { return Direction::kHigherIsBetter; }
  // The kept weights come with every pass; no gradient is needed.
  TraceNeeds needs() const override { return {}; }
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    double total = 0;
    for (const auto& b : t.blocks) {
      const bool attn = b.kind == BlockKind::kAttn;
      const at::Tensor* w1 = find(b, attn ? "v_proj.weight" : "up_proj.weight");
      const at::Tensor* w2 = find(b, attn ? "o_proj.weight" : "down_proj.weight");
      if (w1 == nullptr || w2 == nullptr) {
        throw tracenas::Error("lpzero: the pass has no kept weights of layer " +
                              std::to_string(b.layer));
      }
      const double l1 = w1->to(at::kDouble).abs().sum().item<double>();
      // sum_k sqrt(softmax(x)_k) = sum_k exp((x_k - logsumexp(x)) / 2).
      const at::Tensor x = w2->to(at::kDouble).flatten();
      const double lse = at::logsumexp(x, 0).item<double>();
      total += l1 * l1 + ((x - lse) / 2).exp().sum().item<double>();
    }
    return total;
  }
};

class SynapticSaliency final : public WeightGradProxy {
 public:
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    double s = 0;
    each_weight(t, "synaptic_saliency",
                [&](const std::string& name, const at::Tensor& w, const at::Tensor& g) {
                  const at::Tensor wn = as_matrix(w, name).norm(2, {1});
                  const at::Tensor gn = as_matrix(g, name).norm(2, {1});
                  s += (wn * gn).sum().item<double>();
                });
    return s;
  }
};

double nuclear(const at::Tensor& m) { return at::linalg_svdvals(m).sum().item<double>(); }

class SynapticDiversity final : public WeightGradProxy {
 public:
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    double s = 0;
    each_weight(t, "synaptic_diversity",
                [&](const std::string& name, const at::Tensor& w, const at::Tensor& g) {
                  s += nuclear(as_matrix(w, name)) * nuclear(as_matrix(g, name));
                });
    return s;
  }
};

class PrunerZero final : public WeightGradProxy {
 public:
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    std::vector<double> sq, g;
    each_weight(t, "pruner_zero",
                [&](const std::string&, const at::Tensor& w, const at::Tensor& grad) {
                  sq.push_back(w.to(at::kDouble).pow(2).sum().item<double>());
                  g.push_back(grad.to(at::kDouble).abs().mean().item<double>());
                });
    if (g.empty()) return std::numeric_limits<double>::quiet_NaN();
    const auto [lo, hi] = std::minmax_element(g.begin(), g.end());
    const double min = *lo, range = *hi - *lo + 1e-12;
    double s = 0;
    for (std::size_t m = 0; m < g.size(); ++m) s += sq[m] * (g[m] - min) / range;
    return s;
  }
};

class Meco final : public tracenas::Proxy {
 public:
  Direction direction() const override { return Direction::kHigherIsBetter; }
  TraceNeeds needs() const override {
    TraceNeeds n;
    n.output_grams = true;
    return n;
  }
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    double total = 0;
    bool seen = false;
    for (const auto& b : t.blocks) {
      for (const tracenas::SampleGram& g : b.output_grams) {
        seen = true;
        const double n = static_cast<double>(g.features);
        const at::Tensor cov = (g.gram - at::outer(g.sum, g.sum) / n) / (n - 1);
        const at::Tensor sd = cov.diagonal().sqrt();
        at::Tensor corr = cov / at::outer(sd, sd);
        corr = at::where(at::isfinite(corr), corr, at::zeros_like(corr));
        const double lambda = at::linalg_eigvalsh(corr).min().item<double>();
        if (std::isfinite(lambda)) total += lambda;
      }
    }
    if (!seen) throw tracenas::Error("meco: the pass recorded no block outputs");
    return total;
  }
};

class Synflow final : public tracenas::Proxy {
 public:
  Direction direction() const override { return Direction::kHigherIsBetter; }
  TraceNeeds needs() const override {
    TraceNeeds n;
    n.synflow = true;
    return n;
  }
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    double s = 0;
    for (const auto& b : t.blocks) {
      if (b.synflow_grads.size() != b.weights.size()) {
        throw tracenas::Error("synflow: the pass recorded no SynFlow gradients");
      }
      for (std::size_t i = 0; i < b.weights.size(); ++i) {
        s += (b.weights[i].to(at::kDouble).abs() * b.synflow_grads[i].to(at::kDouble))
                 .sum()
                 .item<double>();
      }
    }
    return s;
  }
};

class Naswot final : public tracenas::Proxy {
 public:
  Direction direction() const override { return Direction::kHigherIsBetter; }
  TraceNeeds needs() const override {
    TraceNeeds n;
    n.gate_kernel = true;
    return n;
  }
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    // No kept MLP: no unit to code.
    if (!t.gate_kernel.defined()) return std::numeric_limits<double>::quiet_NaN();
    return std::get<1>(at::linalg_slogdet(t.gate_kernel)).item<double>();
  }
};

// A proxy without parameters, through the SDK's typed Registrar::add.
template <class T>
void add(tracenas::Registrar& r, const char* name, const char* doc) {
  r.add<tracenas::Proxy>(name, doc, {},
                         [](const tracenas::ParamValues&, const tracenas::RunContext&)
                             -> std::unique_ptr<tracenas::Proxy> { return std::make_unique<T>(); });
}

void register_components(tracenas::Registrar& r) {
  add<LpZero>(
      r, "lpzero",
      "sum over kept blocks of ||W1||_1^2 + sum sqrt(softmax(W2)) (v/o, up/down; data-free)");
  add<SynapticSaliency>(
      r, "synaptic_saliency",
      "sum over kept projections and rows of ||W_row|| * ||G_row|| (TF-TAS, neuron-wise)");
  add<SynapticDiversity>(r, "synaptic_diversity",
                         "sum over kept projections of nuclear norms ||W||_* ||G||_* (TF-TAS)");
  add<Meco>(r, "meco",
            "sum over kept blocks and batches of the smallest eigenvalue of the sequences' output "
            "correlation matrix (MeCo)");
  add<Naswot>(r, "naswot",
              "log|det| of the MLP gate signs' agreement kernel over the sequences (NASWOT)");
  add<Synflow>(
      r, "synflow",
      "sum over kept projections of |theta| dR/d|theta| with |theta| everywhere and an input "
      "of ones (SynFlow)");
  add<PrunerZero>(
      r, "pruner_zero",
      "sum over kept projections of ||W||_F^2 * minmax(mean |G|) (Pruner-Zero, per module)");
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.proxy.paper_baselines", "0.1.0", "Apache-2.0",
                       "the paper's comparison proxies on the candidate pass", register_components)
