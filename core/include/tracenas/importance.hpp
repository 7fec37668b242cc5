// Importance criteria: which heads and MLP channels survive at a given width.
//
// Computed once on the base model (SPEC.md section 3). For every layer the
// core hands the criterion the o_proj and down_proj weights and, when the
// criterion asks for them, the L2 norms of their input channels over every
// calibration token; the criterion returns one score per input channel. The
// core turns channel scores into head, KV-head and channel orders (ties toward
// the lower index), so every criterion is realized the same way.
#pragma once

#include <ATen/core/Tensor.h>

#include "tracenas/api.hpp"
#include "tracenas/component.hpp"

namespace tracenas {

struct TN_API LayerImportanceInput {
  int layer = 0;
  at::Tensor o_proj_weight;     // [d, H*h]
  at::Tensor down_proj_weight;  // [d, I]
  at::Tensor o_input_norm;      // [H*h] L2 norm of o_proj inputs (undefined if not needed)
  at::Tensor down_input_norm;   // [I] L2 norm of down_proj inputs (undefined if not needed)
};

struct TN_API LayerImportanceScores {
  at::Tensor o_channel_scores;     // [H*h]  higher = more important
  at::Tensor down_channel_scores;  // [I]
};

class TN_API ImportanceCriterion : public Component {
 public:
  static constexpr ComponentKind kKind = ComponentKind::kImportance;
  ~ImportanceCriterion() override;

  // Whether the core must collect the input-channel activation norms.
  virtual bool needs_activation_norms() const = 0;
  // Whether the scores depend on the run's seed (cache keys include it then).
  virtual bool seeded() const { return false; }
  virtual LayerImportanceScores score(const LayerImportanceInput& input) = 0;
};

}  // namespace tracenas
