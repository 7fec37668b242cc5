// Weight-gradient traces collected in the backward, without weight gradients.
//
// A GradientTap is the ProjectionTap (decoder.hpp) of the traced passes: every
// projection y = x W^T of the forward runs through its own autograd function,
// whose backward returns only the input gradient dX = dY W (the weights are
// not leaves) and adds, per projection, what the pass asked for into float32
// accumulators (float64 for a float64 model):
//   full:   dW = dY^T X                        [out, in]
//   sketch: dW A^T = dY^T (X A^T)              [out, r]
//           B^T dW = (dY B)^T X                [r, in]
//   bias:   db = sum over positions of dY     [out]
// with X [tokens, in] and dY [tokens, out] the flattened input and output
// gradient. In sketch mode no tensor of a weight's size is allocated for
// gradients: the sketches are formed from X and dY directly, and sum over
// backward calls (batches and micro-batches) like gradients do. In LoRA mode
// (ProjectionSums::lora_scale) the same A and B also run in the forward as a
// LoRA adapter's factors.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <string>
#include <vector>

#include "tracenas/support/decoder.hpp"

namespace tracenas {

// What one projection has accumulated. 2-D shapes; undefined until the first
// backward through the projection, and for what was not asked for.
struct ProjectionSums {
  at::Tensor weight;  // full: sum of dW [out, in]
  at::Tensor bias;    // sum of db [out] (only when the projection has a bias)
  at::Tensor right;   // sketch: sum of dW A^T [out, r]
  at::Tensor left;    // sketch: sum of B^T dW [r, in]
  // Set up before the pass:
  bool full = false;
  at::Tensor a;  // sketch: A [r, in] restricted to the kept inputs
  at::Tensor b;  // sketch: B [out, r] restricted to the kept outputs
  // > 0: A and B are LoRA factors in the forward: y = x W^T + lora_scale * (x A^T) B^T,
  // and the input gradient carries the branch. The sketches are then the LoRA
  // factors' gradients divided by lora_scale (dL/dB = s dW A^T, dL/dA = s B^T dW).
  double lora_scale = 0;
};

constexpr int kNumProjections = 7;

class GradientTap final : public ProjectionTap {
 public:
  // `full`: accumulate dW for every projection. Sketches are set per projection.
  GradientTap(std::size_t num_layers, bool full);

  void set_sketch(int layer, Projection p, at::Tensor a, at::Tensor b, double lora_scale = 0);
  ProjectionSums& sums(int layer, Projection p);

  // A tap with the same settings and sketch matrices (shared, read-only) and
  // nothing accumulated: for a pass that runs batches on several threads.
  GradientTap fork() const;
  // Adds `other`'s sums into this tap's (those this tap lacks are taken over).
  void merge(GradientTap& other);
  // Every accumulator defined so far (handles on the tap's own tensors), by
  // layer, projection and kind: what a data-parallel pass sums over ranks.
  std::vector<at::Tensor> accumulated() const;

  at::Tensor project(int layer, Projection p, const at::Tensor& x, const at::Tensor& w,
                     std::int64_t in_features, const at::Tensor& bias) override;

 private:
  std::vector<std::array<ProjectionSums, kNumProjections>> slots_;
};

// "q_proj.weight" / "q_proj.bias" -> kQ, ...; `is_bias` tells which.
Projection projection_of(const std::string& name, bool* is_bias);

}  // namespace tracenas
