// The architecture space a search explores, and the constraints a candidate
// must meet before any compute is spent on it.
//
// ArchSpace turns the pipeline's `space:` and `constraints:` sections and the
// base model's config into the integer encoding strategies work on. Genes come
// layer by layer, in layer order; per layer first its depth gene(s), then its
// width genes:
//
//   per editable layer (index >= depth_from, not protected), depth genes:
//     depth: layer -> one gene {0: layer removed, 1: kept}
//     depth: block -> two genes, attention kept {0,1}, MLP kept {0,1}
//     depth: none  -> none
//   Layers that are not editable always keep both blocks.
//   per layer, width genes (width: true), each an index into an ascending
//   list of allowed values (index upper() = the base width):
//     kKvHeads  (remove_kv_groups: true only): KV groups kept, min_kv_heads .. G
//     kHeads    query heads per kept KV group: h_g, h_g - step, ... >= min_heads_per_group
//               (h_g = H / G; the list always holds h_g)
//     kMlp      MLP channels: multiples of mlp_align from ceil(mlp_min_fraction * I)
//               (rounded up to the alignment, at least mlp_align) up to I (I itself
//               always allowed)
//   With query_heads Q > 0 there is no kHeads gene: kKvHeads takes the divisors
//   g of Q (from min_kv_heads with remove_kv_groups, else G alone) with
//   Q / g <= h_g, and every kept attention keeps Q query heads, Q / g per group.
//   preset: nemotron_nas gives keys left out the values of a space DeciLM
//   (Nemotron-NAS) can hold: depth block, remove_kv_groups, query_heads H / 2,
//   mlp_align 256.
//   A gene whose list holds a single value is left out (its value is implied):
//   with width: false there are no width genes at all. The lists are the same
//   for every layer (kv_values(), heads_values(), mlp_values()).
//
// Width genes of a removed block are ignored by decode(); they stay in the
// genome so that a strategy can switch the block back on with its widths.
// decode() gives a removed block zero widths (heads, kv_heads or mlp_channels
// 0, as parse_arch() reads them) and never sets explicit indices; it clamps
// genes into bounds. encode() gives a removed block's width genes the base
// width and rounds widths to the nearest allowed value (ties: the wider).
// A genome of the wrong length is an Error in decode/encode/params/repair and
// out_of_space in check().
//
// Constraints are checked on the architecture alone:
//   parameters     SPEC.md section 4 (count_params), or that count minus the
//                  embeddings and the untied LM head with params_scope: non_embedding;
//                  window [min_params, max_params] or target_params +/- tolerance
//                  (a pipeline value <= 1 is a fraction of the base's count in scope,
//                  tolerance too; a minimum is rounded up, a maximum down)
//   FLOPs/token    2 x (kept projection weights + LM head weights)
//                  + 4 x heads x head_dim x seq_len per kept attention block
//                  (scores and weighted values over a context of seq_len tokens;
//                  biases, norms and the embedding lookup are not counted; the LM
//                  head counts even when tied)
//   KV bytes/token 2 x kv_heads x head_dim x dtype bytes per kept attention block
//   min_layers     layers that keep at least one block
// check() reports the first failing reason in the order of Rejection.
//
// sample(): uniform over the gene box, conditioned on feasibility by rejection
// (kSampleTries draws); then one more box draw, repaired; and when even that is
// infeasible, a feasible genome found by the constructor. Deterministic for a
// given rng state.
// repair(): clamps into the box, switches layers back on until min_layers holds
// (the cheapest choice first), then takes greedy moves: per gene, one step
// (index +/- 1, a depth gene flipped) or a jump to the index where the
// parameter count enters the window or a limit is crossed. A move that makes
// the genome feasible wins (the one changing the parameter count least);
// otherwise the move that reduces the violation most (distance to the window
// plus FLOPs and KV excess, each relative to the base's value). When no single
// move helps, pairs of moves (one step, then a jump of another gene) are tried.
// Every step strictly reduces the violation and steps are bounded, so repair()
// ends; its result may be infeasible (callers check).
//
// The constructor rejects (ConfigError) options that do not fit the base model
// (`space.<field>`: min_layers above the layer count, a protected layer out of
// range, depth_from leaving no editable layer while depth is not none, and,
// with width: true only, min_heads_per_group above H / G or min_kv_heads above
// G with remove_kv_groups), windows or limits that no architecture meets (naming the
// `constraints.<field>` and the smallest or largest achievable value; the
// smallest keeps min_layers layers, protected and non-editable layers, and the
// narrowest widths), and finally a space where no feasible genome can be found
// (`constraints: no architecture of the space ...`).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tracenas/arch.hpp"
#include "tracenas/model.hpp"
#include "tracenas/params.hpp"
#include "tracenas/search.hpp"

namespace tracenas {

enum class DepthMode { kLayer, kBlock, kNone };

struct SpaceOptions {
  DepthMode depth = DepthMode::kLayer;
  int min_layers = 1;
  std::vector<int> protected_layers;  // non-negative, resolved against num_layers
  int depth_from = 0;                 // first layer whose depth may change
  bool width = true;
  int heads_step = 1;
  int min_heads_per_group = 1;
  bool remove_kv_groups = false;
  int min_kv_heads = 1;
  int mlp_align = 1;
  double mlp_min_fraction = 0.0;
  // > 0: every kept attention block keeps exactly this many query heads
  // (one num_attention_heads for the model, as Nemotron-NAS needs); the KV
  // head count g is the width gene, restricted to divisors of it with at
  // most H / G query heads per group, and each group keeps query_heads / g.
  int query_heads = 0;

  // From a validated `space:` section (a key left out keeps its default above).
  // Negative protected layers count from the end; depth_from in (0, 1) is a
  // fraction of the layer count (floored), from 1 on a whole layer index.
  // ConfigError naming `space.<field>` when a value does not fit the base model
  // (e.g. a protected layer out of range).
  static SpaceOptions from_params(const ParamValues& space, const ModelConfig& base);
};

struct Constraints {
  bool non_embedding = false;  // the window counts parameters outside embeddings / LM head
  std::int64_t min_params = 0;
  std::int64_t max_params = std::numeric_limits<std::int64_t>::max();
  // The window is target_params +/- tolerance (messages name target_params).
  bool from_target = false;
  double max_flops_per_token = 0;           // 0: no limit
  double max_kv_cache_bytes_per_token = 0;  // 0: no limit
  int dtype_bytes = 4;                      // for the KV-cache size
  int seq_len = 256;                        // context length of the FLOPs estimate

  // From a validated `constraints:` section: fractions resolved against the
  // base model's count in scope, target_params +/- tolerance turned into a window.
  // A FLOPs or KV limit of 0 is no limit.
  static Constraints from_params(const ParamValues& constraints, const ModelConfig& base,
                                 int dtype_bytes, int seq_len);
};

// Why a genome was rejected (counted and reported by the engine).
enum class Rejection { kNone, kOutOfSpace, kMinLayers, kParamsLow, kParamsHigh, kFlops, kKvCache };
const char* to_string(Rejection r);  // "none", "out_of_space", "min_layers", "params_low", ...

class ArchSpace final : public SearchSpace {
 public:
  static constexpr int kSampleTries = 20000;

  // ConfigError (naming the pipeline field) when the space allows no
  // architecture at all, or when no architecture of the space meets the
  // constraints (e.g. max_params below the smallest architecture).
  ArchSpace(const ModelConfig& base, SpaceOptions options, Constraints constraints);

  int dims() const override;
  const Genome& lower() const override;
  const Genome& upper() const override;
  const std::vector<GeneInfo>& genes() const override;
  Genome sample(std::mt19937_64& rng) const override;
  Genome repair(const Genome& genome) const override;
  bool feasible(const Genome& genome) const override;
  Arch decode(const Genome& genome) const override;
  std::int64_t params(const Genome& genome) const override;

  // The genome of `arch` (widths rounded to the nearest allowed value).
  Genome encode(const Arch& arch) const;
  Rejection check(const Genome& genome) const;
  // Parameters counted in the constraint's scope.
  std::int64_t scoped_params(const Arch& arch) const;
  double flops_per_token(const Arch& arch) const;
  double kv_cache_bytes_per_token(const Arch& arch) const;

  const ModelConfig& base() const { return base_; }
  const SpaceOptions& options() const { return options_; }
  const Constraints& constraints() const { return constraints_; }
  // Allowed values per width-gene kind, ascending (the same for every layer).
  const std::vector<int>& kv_values() const { return kv_values_; }
  const std::vector<int>& heads_values() const { return heads_values_; }
  const std::vector<int>& mlp_values() const { return mlp_values_; }
  // Whether a layer's depth may change (index >= depth_from, not protected).
  bool editable(int layer) const;
  // A feasible genome found by the constructor.
  const Genome& feasible_example() const { return feasible_example_; }

  // Constraint metrics of one genome (sums of per-layer table entries).
  struct Metrics {
    std::int64_t params = 0;  // in the constraint's scope
    double flops = 0;
    double kv = 0;
    int kept_layers = 0;
  };

 private:
  Metrics layer_metrics(const Genome& genome, int layer) const;
  Metrics metrics(const Genome& genome) const;
  Rejection check_metrics(const Metrics& m) const;
  // 0 exactly when the window and limits hold (min_layers aside).
  double violation(const Metrics& m) const;
  bool in_box(const Genome& genome) const;
  void require_size(const Genome& genome, const char* what) const;
  void draw(Genome& genome, std::mt19937_64& rng) const;
  // One rejection-sampling try: a box draw, true when it is feasible.
  bool draw_feasible(Genome& genome, std::mt19937_64& rng) const;
  // The narrowest genome keeping min_layers layers; in block mode `attn`
  // chooses which block an extra kept layer keeps.
  Genome smallest_genome(bool attn) const;
  // The constructor's steps, in order.
  void check_options();
  void build_widths();
  static std::vector<int> kv_choices(const SpaceOptions& o, int G, int per_group);
  int heads_of(int kv, int heads_per_group) const;
  void build_genes();
  void build_metric_tables();
  void check_constraints();
  void find_feasible();

  ModelConfig base_;
  SpaceOptions options_;
  Constraints constraints_;
  Genome lower_, upper_;
  std::vector<GeneInfo> genes_;
  // Allowed values per width-gene kind (the same for every layer).
  std::vector<int> kv_values_, heads_values_, mlp_values_;
  // Per layer: index of its depth gene(s) and width genes in the genome (-1: none).
  struct LayerGenes {
    int keep = -1, keep_attn = -1, keep_mlp = -1;
    int kv = -1, heads = -1, mlp = -1;
  };
  std::vector<LayerGenes> layer_genes_;
  std::vector<bool> editable_;
  // Per-layer contributions: attention by (kv index, heads index), MLP by index.
  std::vector<Metrics> attn_table_, mlp_table_;
  Metrics fixed_;  // the part outside the layers (embeddings, LM head, final norm)
  Metrics full_;   // the base architecture
  Genome feasible_example_;
};

}  // namespace tracenas
