// Shared by the benchmarks: the benchmark model of the adapters issue
// (hidden 512, 8 layers, 8 heads, 2 KV heads, MLP 1408, vocab 8192; random
// float32 weights), its FLOP count for a forward + backward step, and the
// machine's dense-matmul rate measured in the running process.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tracenas/arch.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas::bench {

inline constexpr int64_t kBatch = 4;
inline constexpr int64_t kSeq = 256;
inline constexpr double kInitStd = 0.02;
inline constexpr uint64_t kSeed = 1234;
inline constexpr int64_t kDenseN = 1024;
inline constexpr double kDenseSeconds = 1.0;

// OMP_WAIT_POLICY as the process started with it; warns on stderr when it is unset.
inline std::string omp_wait_policy_or_warn() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  if (policy == nullptr || *policy == '\0') {
    std::fprintf(stderr,
                 "warning: OMP_WAIT_POLICY is not set; LibTorch's OpenMP threads spin while "
                 "OpenBLAS computes and the figures come out far lower. Run with "
                 "OMP_WAIT_POLICY=PASSIVE in the environment (libgomp reads it at load).\n");
    return "";
  }
  return policy;
}

inline ModelConfig bench_config() {
  ModelConfig c;
  c.model_type = "llama";
  c.num_layers = 8;
  c.hidden_size = 512;
  c.num_heads = 8;
  c.num_kv_heads = 2;
  c.head_dim = 64;
  c.intermediate_size = 1408;
  c.vocab_size = 8192;
  c.max_position_embeddings = 2048;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = false;
  return c;
}

// Seeded random weights in the decoder's grouped shapes; norms are ones.
inline ModelWeights random_weights(const ModelConfig& c) {
  at::manual_seed(kSeed);
  const int64_t d = c.hidden_size, h = c.head_dim, G = c.num_kv_heads;
  const int64_t n = c.num_heads / c.num_kv_heads, I = c.intermediate_size, V = c.vocab_size;
  auto randn = [](at::IntArrayRef shape) { return at::randn(shape, at::kFloat).mul_(kInitStd); };
  ModelWeights w;
  w.embed = randn({V, d});
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights l;
    l.attention.input_norm = at::ones({d}, at::kFloat);
    l.attention.q = randn({G, n, h, d});
    l.attention.k = randn({G, h, d});
    l.attention.v = randn({G, h, d});
    l.attention.o = randn({d, G, n, h});
    l.ffn.post_norm = at::ones({d}, at::kFloat);
    l.ffn.gate = randn({I, d});
    l.ffn.up = randn({I, d});
    l.ffn.down = randn({d, I});
    w.layers.push_back(std::move(l));
  }
  w.final_norm = at::ones({d}, at::kFloat);
  w.lm_head = randn({V, d});
  return w;
}

inline std::int64_t embedding_params(const ModelConfig& c) {
  const std::int64_t table = static_cast<std::int64_t>(c.vocab_size) * c.hidden_size;
  return c.tie_word_embeddings ? table : 2 * table;
}

inline std::int64_t non_embedding_params(const ModelConfig& c, const Arch& a) {
  return count_params(c, a) - embedding_params(c);
}

// Every layer keeps attention with `heads` / `kv_heads` and its MLP, with the
// MLP width whose non-embedding parameter count is closest to half the full's.
inline Arch half_candidate(const ModelConfig& c, int heads, int kv_heads) {
  const double target = 0.5 * static_cast<double>(non_embedding_params(c, full_arch(c)));
  Arch best;
  double best_gap = -1;
  for (int ch = 1; ch <= c.intermediate_size; ++ch) {
    Arch a = full_arch(c);
    for (LayerArch& l : a.layers) {
      l.heads = heads;
      l.kv_heads = kv_heads;
      l.mlp_channels = ch;
    }
    const double gap = std::abs(static_cast<double>(non_embedding_params(c, a)) - target);
    if (best_gap < 0 || gap < best_gap) {
      best = a;
      best_gap = gap;
    }
  }
  validate_arch(best, c, "candidate");
  return best;
}

// FLOPs of one forward and one backward pass, counted analytically over the
// matmuls only (elementwise work - norms, RoPE, softmax, SiLU, cross-entropy -
// is not counted). T = batch * seq tokens, d hidden, h head_dim, V vocab.
//   Projection x[T, in] @ W^T[in, out]: forward 2*T*in*out. Backward: the
//     weight gradient, 2*T*in*out (every projection is a gradient leaf), plus
//     the input gradient, 2*T*in*out, when x requires a gradient - it does
//     not for the q/k/v of the first kept block, whose input is the normalized
//     embedding (embeddings and norms are not leaves).
//   Per kept attention block with q query heads: q (d -> q*h), k and v
//     (d -> kv*h), o (q*h -> d), and the two batched matmuls scores = Q K^T
//     and out = P V, each 2*B*q*S*S*h forward (the full S x S: the causal mask
//     is applied to the scores) and 2x that backward (both operands need a
//     gradient).
//   Per kept MLP block with c channels: gate and up (d -> c), down (c -> d).
//   LM head: 2*T*d*V forward; backward the input gradient only (2*T*d*V),
//     since the head is not a leaf.
struct Flops {
  double forward = 0;
  double backward = 0;
  double total() const { return forward + backward; }
};

inline Flops count_flops(const ModelConfig& c, const Arch& arch, int64_t B, int64_t S) {
  const double T = static_cast<double>(B * S), d = c.hidden_size, h = c.head_dim;
  Flops f;
  bool stream_grad = false;  // does the residual stream require a gradient yet?
  auto projection = [&](double in, double out, bool input_grad) {
    const double mm = 2 * T * in * out;
    f.forward += mm;
    f.backward += mm * (input_grad ? 2 : 1);
  };
  for (const LayerArch& l : arch.layers) {
    if (l.attn) {
      const double q = static_cast<double>(l.heads) * h, kv = static_cast<double>(l.kv_heads) * h;
      projection(d, q, stream_grad);
      projection(d, kv, stream_grad);
      projection(d, kv, stream_grad);
      const double attn = 2.0 * static_cast<double>(B) * l.heads * static_cast<double>(S * S) * h;
      f.forward += 2 * attn;
      f.backward += 2 * 2 * attn;
      projection(q, d, true);
      stream_grad = true;
    }
    if (l.mlp) {
      projection(d, l.mlp_channels, stream_grad);
      projection(d, l.mlp_channels, stream_grad);
      projection(l.mlp_channels, d, true);
      stream_grad = true;
    }
  }
  const double head = 2 * T * d * c.vocab_size;
  f.forward += head;
  if (stream_grad) f.backward += head;
  return f;
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// The dense-matmul rate of this process: n x n by n x n at::mm in `dtype`
// (default fp32 kDenseN), repeated for >= kDenseSeconds after a warm-up.
inline double dense_matmul_gflops(at::ScalarType dtype = at::kFloat, int64_t n = kDenseN,
                                  const at::Device& device = at::kCPU) {
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  at::Tensor a = at::randn({n, n}, at::kFloat).to(opts);  // [n, n]
  at::Tensor b = at::randn({n, n}, at::kFloat).to(opts);  // [n, n]
  at::Tensor out = at::empty({n, n}, opts);               // [n, n]
  // Waits for the device (a no-op on the CPU) by reading one element back.
  auto sync = [&] { (void)out[0][0].item<float>(); };
  for (int i = 0; i < 3; ++i) at::mm_out(out, a, b);  // warm-up
  sync();
  int64_t count = 0;
  double elapsed = 0;
  const int per_sync = device.is_cuda() ? 20 : 1;
  const auto start = std::chrono::steady_clock::now();
  do {
    for (int i = 0; i < per_sync; ++i) at::mm_out(out, a, b);
    sync();
    count += per_sync;
    elapsed = seconds_since(start);
  } while (elapsed < kDenseSeconds);
  const double nd = static_cast<double>(n);
  return 2 * nd * nd * nd * static_cast<double>(count) / elapsed / 1e9;
}

}  // namespace tracenas::bench
