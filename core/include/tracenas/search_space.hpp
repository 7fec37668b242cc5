// The architecture space a search explores, and the constraints a candidate
// must meet before any compute is spent on it.
//
// ArchSpace turns the pipeline's `space:` and `constraints:` sections and the
// base model's config into the integer encoding strategies work on:
//
//   per editable layer (index >= depth_from, not protected), depth genes:
//     depth: layer -> one gene {0: layer removed, 1: kept}
//     depth: block -> two genes, attention kept {0,1}, MLP kept {0,1}
//     depth: none  -> none
//   per layer, width genes (width: true), each an index into an ascending
//   list of allowed values (index upper() = the base width):
//     kKvHeads  (remove_kv_groups: true only): KV groups kept, min_kv_heads .. G
//     kHeads    query heads per kept KV group: h_g, h_g - step, ... >= min_heads_per_group
//               (h_g = H / G; the list always holds h_g)
//     kMlp      MLP channels: multiples of mlp_align from ceil(mlp_min_fraction * I)
//               up to I (I itself always allowed)
//
// Width genes of a removed block are ignored by decode(); they stay in the
// genome so that a strategy can switch the block back on with its widths.
//
// Constraints are checked on the architecture alone:
//   parameters     SPEC.md section 4 (count_params), or that count minus the
//                  embeddings and the untied LM head with params_scope: non_embedding;
//                  window [min_params, max_params] or target_params +/- tolerance
//                  (a pipeline value <= 1 is a fraction of the base's count in scope)
//   FLOPs/token    2 x (kept projection weights + LM head weights)
//                  + 4 x heads x head_dim x seq_len per kept attention block
//                  (scores and weighted values over a context of seq_len tokens)
//   KV bytes/token 2 x kv_heads x head_dim x dtype bytes per kept attention block
//   min_layers     layers that keep at least one block
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

  // From a validated `space:` section. ConfigError naming `space.<field>` when
  // a value does not fit the base model (e.g. a protected layer out of range).
  static SpaceOptions from_params(const ParamValues& space, const ModelConfig& base);
};

struct Constraints {
  bool non_embedding = false;  // the window counts parameters outside embeddings / LM head
  std::int64_t min_params = 0;
  std::int64_t max_params = std::numeric_limits<std::int64_t>::max();
  double max_flops_per_token = 0;           // 0: no limit
  double max_kv_cache_bytes_per_token = 0;  // 0: no limit
  int dtype_bytes = 4;                      // for the KV-cache size
  int seq_len = 256;                        // context length of the FLOPs estimate

  // From a validated `constraints:` section: fractions resolved against the
  // base model's count in scope, target_params +/- tolerance turned into a window.
  static Constraints from_params(const ParamValues& constraints, const ModelConfig& base,
                                 int dtype_bytes, int seq_len);
};

// Why a genome was rejected (counted and reported by the engine).
enum class Rejection { kNone, kOutOfSpace, kMinLayers, kParamsLow, kParamsHigh, kFlops, kKvCache };
const char* to_string(Rejection r);  // "none", "out_of_space", "min_layers", "params_low", ...

class ArchSpace final : public SearchSpace {
 public:
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

 private:
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
};

}  // namespace tracenas
