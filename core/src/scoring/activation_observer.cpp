#include "scoring/activation_observer.hpp"

#include <ATen/ATen.h>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

// Columns per step of the [B, n] products: float32 counts of at most 2^22
// ones stay exact, and a float64 chunk of B rows stays small.
constexpr std::int64_t kChunk = std::int64_t{1} << 22;

class ObservingTap final : public ProjectionTap {
 public:
  ObservingTap(std::size_t layers, bool grams, bool kernel)
      : grams_(grams), kernel_(kernel), attn_(layers), mlp_(layers) {}

  at::Tensor project(int layer, Projection p, const at::Tensor& x, const at::Tensor& w,
                     std::int64_t in_features, const at::Tensor& bias) override {
    at::Tensor y = at::matmul(x, w.reshape({-1, in_features}).t());
    if (bias.defined()) y = y + bias.reshape({-1});
    const auto l = static_cast<std::size_t>(layer);
    if (grams_ && (p == Projection::kO || p == Projection::kDown)) {
      (p == Projection::kO ? attn_ : mlp_)[l].push_back(gram_of(y));
    }
    if (kernel_ && p == Projection::kGate) add_kernel(y);
    return y;
  }

  std::vector<std::vector<SampleGram>>& attn() { return attn_; }
  std::vector<std::vector<SampleGram>>& mlp() { return mlp_; }
  at::Tensor& kernel() { return kernel_sum_; }

 private:
  static SampleGram gram_of(const at::Tensor& y) {
    const at::Tensor f = y.reshape({y.size(0), -1});  // [B, n]
    SampleGram g;
    g.features = f.size(1);
    for (std::int64_t c0 = 0; c0 < f.size(1); c0 += kChunk) {
      const at::Tensor part = f.narrow(1, c0, std::min(kChunk, f.size(1) - c0)).to(at::kDouble);
      const at::Tensor gram = at::matmul(part, part.t());
      const at::Tensor sum = part.sum(1);
      g.gram = g.gram.defined() ? g.gram + gram : gram;
      g.sum = g.sum.defined() ? g.sum + sum : sum;
    }
    return g;
  }

  // c c^T + (1 - c)(1 - c)^T = 2 c c^T - s 1^T - 1 s^T + n, s = c 1.
  void add_kernel(const at::Tensor& y) {
    const at::Tensor f = y.reshape({y.size(0), -1});
    const std::int64_t B = f.size(0), n = f.size(1);
    at::Tensor cc = at::zeros({B, B}, f.options().dtype(at::kDouble));
    at::Tensor s = at::zeros({B}, f.options().dtype(at::kDouble));
    for (std::int64_t c0 = 0; c0 < n; c0 += kChunk) {
      const at::Tensor c = f.narrow(1, c0, std::min(kChunk, n - c0)).gt(0).to(at::kFloat);
      cc += at::matmul(c, c.t()).to(at::kDouble);
      s += c.sum(1).to(at::kDouble);
    }
    const at::Tensor k = 2 * cc - s.unsqueeze(1) - s.unsqueeze(0) + static_cast<double>(n);
    if (kernel_sum_.defined() && kernel_sum_.sizes() != k.sizes()) {
      throw Error("gate kernel: the calibration batches hold different numbers of sequences (" +
                  std::to_string(kernel_sum_.size(0)) + " and " + std::to_string(B) + ")");
    }
    kernel_sum_ = kernel_sum_.defined() ? kernel_sum_ + k : k;
  }

  bool grams_, kernel_;
  std::vector<std::vector<SampleGram>> attn_, mlp_;
  at::Tensor kernel_sum_;
};

}  // namespace

ObservedActivations observe_activations(const ModelConfig& config, const ModelWeights& w,
                                        const std::vector<at::Tensor>& batches,
                                        const PassOptions& options, bool grams, bool kernel) {
  at::NoGradGuard no_grad;
  ObservingTap tap(w.layers.size(), grams, kernel);
  for (const at::Tensor& batch : batches) {
    ForwardOptions fo;
    fo.tap = &tap;
    fo.attention_block = attention_block_for(options, batch.size(1));
    decoder_hidden(config, w, batch, fo);
  }
  ObservedActivations out;
  out.attn = std::move(tap.attn());
  out.mlp = std::move(tap.mlp());
  out.gate_kernel = tap.kernel();
  return out;
}

}  // namespace tracenas
