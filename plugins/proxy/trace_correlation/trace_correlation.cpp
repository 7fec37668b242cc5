// The TraceNAS proxy `trace_correlation` (SPEC.md section 5; "TraceNAS:
// Zero-shot LLM Pruning via Gradient Trace Correlation", arXiv 2602.02891).
//
// For each kept block b of a candidate C, x = the block's kept-coordinate
// weight (and bias) gradients of C (mean over the K calibration batches),
// y = the same coordinates of the base model's gradient (sum over batches):
//   rho_b = sim(x, y),  Phi(C) = sum_b rho_b  (aggregate: sum, the paper's code)
//                              or mean_b rho_b (aggregate: mean).
// sim: pearson (centred dot product over the product of centred norms: exact,
// scale-invariant), cosine (uncentred), or dot (raw inner product). Computed
// in float64 whatever the model's dtype, with a two-pass mean. Higher is
// better; the unpruned model scores 2L with pearson. A non-finite value (e.g.
// a block whose gradient is constant) is returned as is and never selected.
//
// gradient: sketch replaces each projection's x and y by their sketches
// (G A^T, B^T G) with seeded Gaussian A [r x in], B [out x r] (SPEC.md
// section 5; see trace.hpp): the base keeps r * (in + out) numbers per
// projection instead of in * out, and the correlation is taken over the
// concatenated sketches (biases enter unsketched). The unpruned model still
// scores exactly 2L (its sketches equal the base's).
//
// gradient: lora is the trace of the paper's reference code: LoRA adapters
// of rank lora_rank on every projection (A [r x in] kaiming-uniform with
// a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)); B [out x r] likewise,
// U(-1/sqrt(r), 1/sqrt(r)), as the reference's modified PEFT initialises
// both; seeded by sketch_seed), active in the forward as
// y = x W^T + (lora_alpha / r) x A^T B^T for the base and every candidate, in
// a pass of its own; x and y are the gradients of B and A (up to the factor
// alpha / r, which the similarity ignores). It differs from sketch in two
// ways: the adapters change the forward (and so every gradient), and the
// factors are uniform rather than Gaussian. Biases have no adapter and do not
// enter. Unlike the reference, which simulates a candidate by masking a dense
// model and correlates every adapter coordinate (pruned units included), the
// candidate's adapters are cut to its kept rows and columns like its weights.
// similarity: standardised_dot is the reference's z(x) . z(y) / n with the
// unbiased standard deviation, (n - 1) / n times pearson.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/proxy.hpp"

namespace {

using tracenas::ParamSpec;

// The similarity of x and y, each given as parts (one per projection) that
// are concatenated in thought only: sums over the parts, no copy of the whole.
// Pearson takes two passes (means first, then centred products), in float64.
// Each part is read in slices of kSlice elements, so the float64 copies stay
// small whatever the size of a projection.
constexpr int64_t kSlice = int64_t{1} << 20;

// Calls fn(x_slice, y_slice) with float64 copies of matching slices of every part.
template <typename Fn>
void for_each_slice(const std::vector<at::Tensor>& xs, const std::vector<at::Tensor>& ys, Fn fn) {
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const at::Tensor x = xs[i].reshape({-1});
    const at::Tensor y = ys[i].reshape({-1});
    if (x.numel() != y.numel()) {
      throw tracenas::Error("trace_correlation: part " + std::to_string(i) + " holds " +
                            std::to_string(x.numel()) + " candidate and " +
                            std::to_string(y.numel()) + " base values");
    }
    for (int64_t s0 = 0; s0 < x.numel(); s0 += kSlice) {
      const int64_t len = std::min(kSlice, x.numel() - s0);
      fn(x.narrow(0, s0, len).to(at::kDouble), y.narrow(0, s0, len).to(at::kDouble));
    }
  }
}

double similarity(const std::vector<at::Tensor>& xs, const std::vector<at::Tensor>& ys,
                  const std::string& kind) {
  double mx = 0, my = 0;
  const bool centred = kind == "pearson" || kind == "standardised_dot";
  if (centred) {
    double n = 0, sx = 0, sy = 0;
    for_each_slice(xs, ys, [&](const at::Tensor& x, const at::Tensor& y) {
      n += static_cast<double>(x.numel());
      sx += x.sum().item<double>();
      sy += y.sum().item<double>();
    });
    mx = sx / n;
    my = sy / n;
  }
  double xy = 0, xx = 0, yy = 0;
  for_each_slice(xs, ys, [&](const at::Tensor& x, const at::Tensor& y) {
    const at::Tensor xc = centred ? x - mx : x;
    const at::Tensor yc = centred ? y - my : y;
    xy += xc.dot(yc).item<double>();
    if (kind != "dot") {
      xx += xc.dot(xc).item<double>();
      yy += yc.dot(yc).item<double>();
    }
  });
  if (kind == "dot") return xy;
  const double r = xy / (std::sqrt(xx) * std::sqrt(yy));
  if (kind == "standardised_dot") {
    double n = 0;
    for (const auto& x : xs) n += static_cast<double>(x.numel());
    return r * (n - 1) / n;
  }
  return r;
}

class TraceCorrelation final : public tracenas::Proxy {
 public:
  TraceCorrelation(std::string gradient, int rank, std::uint64_t seed, int lora_rank,
                   double lora_alpha, std::string similarity, std::string aggregate)
      : gradient_(std::move(gradient)),
        rank_(rank),
        seed_(seed),
        lora_rank_(lora_rank),
        lora_alpha_(lora_alpha),
        similarity_(std::move(similarity)),
        aggregate_(std::move(aggregate)) {}

  tracenas::Direction direction() const override { return tracenas::Direction::kHigherIsBetter; }
  tracenas::TraceNeeds needs() const override {
    tracenas::TraceNeeds n;
    if (gradient_ == "sketch") {
      n.sketch_rank = rank_;
      n.sketch_seed = seed_;
    } else if (gradient_ == "lora") {
      n.lora_rank = lora_rank_;
      n.lora_seed = seed_;
      n.lora_alpha = lora_alpha_;
    } else {
      n.weight_grads = true;
      n.base_weight_grads = true;
    }
    return n;
  }
  double score(const tracenas::Candidate&, const tracenas::Trace& t) override {
    double total = 0;
    std::size_t blocks = 0;
    for (const auto& b : t.blocks) {
      const bool sketch = gradient_ == "sketch", lora = gradient_ == "lora";
      const auto& xs = sketch ? b.sketch : lora ? b.lora : b.grads;
      const auto& ys = sketch ? b.base_sketch : lora ? b.base_lora : b.base_grads;
      if (xs.size() != ys.size() || xs.empty()) {
        throw tracenas::Error("trace_correlation: block of layer " + std::to_string(b.layer) +
                              " has no " +
                              (sketch ? "sketches"
                               : lora ? "LoRA traces"
                                      : "gradients") +
                              " to correlate");
      }
      const double rho = similarity(xs, ys, similarity_);
      total += rho;
      ++blocks;
    }
    if (aggregate_ == "mean") return blocks ? total / static_cast<double>(blocks) : std::nan("");
    return total;
  }

 private:
  std::string gradient_;
  int rank_;
  std::uint64_t seed_;
  int lora_rank_;
  double lora_alpha_;
  std::string similarity_;
  std::string aggregate_;
};

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::Proxy>(
      "trace_correlation",
      "sum over kept blocks of the correlation of candidate and base gradients (TraceNAS)",
      {ParamSpec::choice("gradient", {"full", "sketch", "lora"}, "full",
                         "full: every kept weight gradient coordinate; sketch: the pair "
                         "(G A^T, B^T G) of seeded random projections of rank sketch_rank; "
                         "lora: the gradients of seeded LoRA adapters active in the forward "
                         "(the paper's reference code)"),
       ParamSpec::integer("sketch_rank", 64, "rank r of the gradient sketch").range(1, 4096),
       ParamSpec::integer("sketch_seed", 0, "seed of the sketch matrices or LoRA factors A and B")
           .min(0),
       ParamSpec::integer("lora_rank", 64, "rank r of the LoRA adapters (gradient: lora)")
           .range(1, 4096),
       ParamSpec::real("lora_alpha", 16.0, "LoRA alpha: the adapters scale by alpha / r").min(0),
       ParamSpec::choice("similarity", {"pearson", "cosine", "dot", "standardised_dot"}, "pearson",
                         "similarity of the candidate's and the base's block gradients "
                         "(standardised_dot: the reference's z(x) . z(y) / n)"),
       ParamSpec::choice("aggregate", {"sum", "mean"}, "sum", "how block values combine")},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        return std::make_unique<TraceCorrelation>(
            p.get_string("gradient"), static_cast<int>(p.get_int("sketch_rank")),
            static_cast<std::uint64_t>(p.get_int("sketch_seed")),
            static_cast<int>(p.get_int("lora_rank")), p.get_float("lora_alpha"),
            p.get_string("similarity"), p.get_string("aggregate"));
      },
      tracenas::Claims{{}, /*is_default=*/true});
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.proxy.trace_correlation", "0.1.0", "Apache-2.0",
                       "the TraceNAS gradient trace correlation proxy", register_components)
