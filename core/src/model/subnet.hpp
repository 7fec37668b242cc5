// Sub-networks: which heads and channels survive, and their weights
// (SPEC.md section 3).
//
// Importance gives, per layer, an order of KV heads, query heads and MLP
// channels from most to least important. A candidate keeps its `kv_heads`
// best KV heads, inside each kept group its `heads / kv_heads` best query
// heads, and its `mlp_channels` best channels (explicit `head_index` /
// `channel_index` in the Arch override the order). Kept units stay in their
// original order when weights are cut out (realize_weights, used for export).
//
// The fast path, PrefixWeights, reorders each layer's KV groups, the query
// heads inside each group and the MLP channels once, by importance. The
// permutation preserves the function (heads and channels are summed over),
// and makes every width a contiguous prefix, so a candidate is narrow() views
// of the reordered weights: no copies, and removed units cost nothing.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "tracenas/arch.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas {

struct LayerOrder {
  std::vector<int> kv_order;       // KV heads, most important first
  std::vector<int> head_order;     // query heads by flat index, most important first
  std::vector<int> channel_order;  // MLP channels, most important first
};
using ImportanceOrder = std::vector<LayerOrder>;

// Raw scores behind an order (float64): per head, per KV head, per channel.
struct LayerScores {
  at::Tensor head_score;     // [H]
  at::Tensor kv_score;       // [G]
  at::Tensor channel_score;  // [I]
};

// Channel scores of o_proj's inputs [H*h] and down_proj's inputs [I] -> head
// scores (sum over the head's h channels), KV scores (sum of the group's
// heads) and orders (descending; ties toward the lower index).
LayerOrder order_from_channel_scores(const at::Tensor& o_channel_scores,
                                     const at::Tensor& down_channel_scores, int num_heads,
                                     int num_kv_heads, LayerScores* scores = nullptr);

// The kept units of one layer, in original order.
struct LayerSelection {
  bool attn = true;
  bool mlp = true;
  std::vector<int> kv_heads;  // kept KV heads, ascending
  std::vector<int> heads;     // kept query heads (flat indices), ascending
  std::vector<int> channels;  // kept MLP channels, ascending
};

// Resolves an Arch to kept units. `order` may be null when every kept block
// of the Arch names its units explicitly; otherwise ArchError.
std::vector<LayerSelection> select_units(const ModelConfig& base, const Arch& arch,
                                         const ImportanceOrder* order);

// The same Arch with every kept block's explicit indices filled in.
Arch with_explicit_indices(const Arch& arch, const std::vector<LayerSelection>& selection);

// Weights of the sub-network, cut out of `base` (copies; kept units in their
// original order).
ModelWeights realize_weights(const ModelConfig& base_config, const ModelWeights& base,
                             const std::vector<LayerSelection>& selection);

// One layer of reordered weights (or of tensors in the same layout, such as
// their gradients) narrowed to the widths of `arch`: views, no copies.
LayerWeights narrow_layer(const LayerWeights& reordered, const LayerArch& arch);

// The fast path: the model's own weights reordered once, in place, by
// importance (function-preserving: a forward gives the same logits), so that
// view(arch) is narrow() views of them and a loaded checkpoint costs its size
// in memory once. The destructor puts the original unit order back; until
// then, code that cuts units out of the model by their original indices goes
// through realize(). The weights must outlive this object.
class PrefixWeights {
 public:
  PrefixWeights(const ModelConfig& config, ModelWeights& weights, const ImportanceOrder& order);
  ~PrefixWeights();
  PrefixWeights(const PrefixWeights&) = delete;
  PrefixWeights& operator=(const PrefixWeights&) = delete;

  // Views for an Arch without explicit indices (ArchError otherwise).
  ModelWeights view(const Arch& arch) const;
  // The weights in the importance order (the model's own tensors).
  const ModelWeights& reordered() const { return weights_; }
  // realize_weights(config, <the weights in their original order>, selection).
  ModelWeights realize(const std::vector<LayerSelection>& selection) const;

 private:
  // Per layer: the original index of each reordered position.
  struct Permutation {
    std::vector<int> kv;        // [G]
    std::vector<int> heads;     // [H], flat, grouped by reordered KV group
    std::vector<int> channels;  // [I]
  };
  void permute(bool inverse);

  ModelConfig config_;
  ModelWeights& weights_;
  std::vector<Permutation> perm_;
};

}  // namespace tracenas
