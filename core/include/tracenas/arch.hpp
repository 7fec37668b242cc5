// Architectures: one sub-network of a base model (SPEC.md section 2).
//
// An Arch says, per layer of the base model, whether its attention and MLP
// blocks are kept and how wide they are. It is what search strategies propose
// (through an integer encoding), what proxies score and what is exported.
// This header also reads, validates and writes `arch.json` and counts the
// parameters of a sub-network exactly as SPEC.md section 4 defines them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tracenas/api.hpp"

namespace tracenas {

struct ModelConfig;

struct TN_API LayerArch {
  bool attn = true;
  int heads = 0;     // query heads kept (a positive multiple of kv_heads)
  int kv_heads = 0;  // key/value heads kept
  bool mlp = true;
  int mlp_channels = 0;  // intermediate channels kept
  // Explicit unit choices (flat query-head indices, sorted; MLP channel
  // indices, sorted); empty means importance decides (SPEC.md section 3).
  std::vector<int> head_index;
  std::vector<int> channel_index;

  bool operator==(const LayerArch& o) const;
};

struct TN_API Arch {
  std::vector<LayerArch> layers;
  bool operator==(const Arch& o) const { return layers == o.layers; }
};

inline constexpr const char* kArchFormat = "tracenas.arch/1";

// The unpruned architecture of a model.
TN_API Arch full_arch(const ModelConfig& base);

// Checks an Arch against its base model; ArchError naming `origin`, the layer
// and the field otherwise.
TN_API void validate_arch(const Arch& arch, const ModelConfig& base, const std::string& origin);

// arch.json text -> Arch (validated against `base`). `origin` names the file.
TN_API Arch parse_arch(const std::string& json_text, const std::string& origin,
                       const ModelConfig& base);
TN_API Arch read_arch(const std::string& path, const ModelConfig& base);
// Arch -> arch.json text (format, base, layers; explicit indices when present).
TN_API std::string arch_to_json(const Arch& arch, const ModelConfig& base);
TN_API void write_arch(const std::string& path, const Arch& arch, const ModelConfig& base);

// Parameters the pruned model holds (SPEC.md section 4): embeddings, the LM
// head unless tied, the final norm, and per layer the input norm and kept
// attention weights/biases (and Qwen3 q/k norms) when attention is kept, the
// post-attention norm and kept MLP weights/biases when the MLP is kept.
TN_API std::int64_t count_params(const ModelConfig& base, const Arch& arch);

}  // namespace tracenas
