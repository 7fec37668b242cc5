// Part of the SDK's support folder, for authors of model adapters and data
// sources: the helpers behind ModelAdapter::load (config.json, checkpoint
// loading, the decoder) and behind data sources (token files, content
// hashes and cache entries). Proxies and search strategies need none of it.
//
// One Hugging Face decoder family (a `model_type`): what its config.json
// means beyond the fields every family shares, and the one table of tensor
// names used both to load its checkpoints and to export pruned ones. The
// adapter plugin of a family defines it; the core names no family.
#pragma once

#include <string>

#include "tracenas/api.hpp"

namespace tracenas {

// Tensor names; "{i}" stands for the layer index. An empty name: the
// family has no such tensor (asking for it is a ModelError).
struct TN_API HfTensorNames {
  std::string embed;
  std::string final_norm;
  std::string lm_head;
  std::string input_norm;
  std::string q;
  std::string k;
  std::string v;
  std::string o;
  std::string q_bias;
  std::string k_bias;
  std::string v_bias;
  std::string o_bias;
  std::string q_norm;
  std::string k_norm;
  std::string post_norm;
  std::string gate;
  std::string up;
  std::string down;
  std::string gate_bias;
  std::string up_bias;
  std::string down_bias;
};

// The names of the usual Hugging Face decoder layout ("model.layers.{i}.
// self_attn.q_proj.weight", ...), every optional tensor included: q/k/v/o and
// MLP biases, per-head q/k norms. A family clears the ones it never has.
TN_API HfTensorNames hf_decoder_names();

// `pattern` with "{i}" replaced by the layer index.
TN_API std::string hf_layer_name(const std::string& pattern, int layer);

// Whether a family's checkpoints carry a bias.
enum class HfBias {
  kConfig,  // as config.json says: "attention_bias" (q/k/v and o_proj), "mlp_bias"; default false
  kAlways,
  kNever,
};

struct TN_API HfFamily {
  std::string model_type;                   // config.json "model_type"
  HfBias attention_bias = HfBias::kConfig;  // q/k/v projections
  HfBias o_proj_bias = HfBias::kConfig;     // o_proj (kConfig: "attention_bias")
  HfBias mlp_bias = HfBias::kConfig;        // gate/up/down projections
  bool qk_norm = false;                     // per-head RMSNorm of q and k before RoPE
  // The family's config class defines `head_dim`, so an export that changes
  // the head count may write it (otherwise only when the base config has it).
  bool config_has_head_dim = true;
  HfTensorNames names = hf_decoder_names();
  // How llama.cpp holds the family (`tracenas export --format gguf`): the
  // GGUF architecture of a uniform model ("": none; a non-uniform model goes
  // to llama.cpp's per-layer "deci" unless it has per-head q/k norms);
  // whether that architecture's RoPE rotates consecutive pairs (GGML's
  // "normal" RoPE: q/k rows are reordered per head) rather than halves; and
  // whether it needs heads x head_dim = hidden_size (square q/o projections).
  std::string gguf_arch;
  bool gguf_rope_pairs = false;
  bool gguf_square_attention = false;
};

}  // namespace tracenas
