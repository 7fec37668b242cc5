// The one pass per candidate: forward/backward of a sub-network over the K
// calibration batches, collecting exactly what the pipeline's proxies need
// (TraceNeeds) into a Trace that every proxy reads (SPEC.md section 5).
//
// Both passes run on the importance-reordered weights (PrefixWeights), where
// a candidate is narrow() views. Gradients are taken with respect to leaf
// tensors that share storage with those views (no copy of the weights).
//   base pass (once per run):  g_M = sum over batches of d loss_k / d W, every
//                              projection weight and bias, full width;
//   candidate pass:            g_C = mean over batches of d loss_k / d W_C for
//                              its kept projection weights and biases; the
//                              same coordinates of g_M are narrow() views of it.
// Norm weights (RMSNorm, Qwen3 q/k norms) and embeddings take no part.
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

#include "tracenas/decoder.hpp"
#include "tracenas/proxy.hpp"
#include "tracenas/subnet.hpp"

namespace tracenas {

// What the base pass keeps: per layer, the gradient of every projection
// weight/bias in the reordered grouped layout, and per-batch base logits.
struct BaseTraces {
  std::vector<LayerWeights> grads;  // same shapes as PrefixWeights::reordered()
  std::vector<at::Tensor> logits;   // [batch, seq, vocab] per batch (when asked for)
  std::vector<double> batch_losses;
};

BaseTraces compute_base_traces(const ModelConfig& config, const PrefixWeights& prefix,
                               const std::vector<at::Tensor>& batches, const TraceNeeds& needs);

// The candidate's pass. `arch` has no explicit indices (prefix fast path).
Trace run_candidate_pass(const ModelConfig& config, const PrefixWeights& prefix, const Arch& arch,
                         const BaseTraces& base, const std::vector<at::Tensor>& batches,
                         const TraceNeeds& needs);

}  // namespace tracenas
