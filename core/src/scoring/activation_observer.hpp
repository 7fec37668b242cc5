// A forward-only pass that observes activations across the sequences of each
// calibration batch, for the proxies that read them (TraceNeeds::output_grams,
// TraceNeeds::gate_kernel): every projection runs through an observing
// ProjectionTap, which keeps, per batch, the sample Gram of each block's
// output (o_proj, down_proj) and the sign-agreement kernel of each MLP's gate
// projection. Whole batches at once (a cross-sequence quantity cannot be cut
// into micro-batches); no gradients, so only one layer's activations are
// alive at a time.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "scoring/trace.hpp"
#include "tracenas/proxy.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas {

struct ObservedActivations {
  // [layer][batch]; empty for a layer whose block is removed or when the
  // grams were not asked for.
  std::vector<std::vector<SampleGram>> attn, mlp;
  at::Tensor gate_kernel;  // [B, B] float64, summed over MLP blocks and batches
};

ObservedActivations observe_activations(const ModelConfig& config, const ModelWeights& w,
                                        const std::vector<at::Tensor>& batches,
                                        const PassOptions& options, bool grams, bool kernel);

}  // namespace tracenas
