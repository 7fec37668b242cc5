// Model adapters: how a checkpoint folder becomes a model the core can run.
//
// The core owns the decoder math (one implementation shared by every
// architecture). An adapter knows one checkpoint family (Llama, Qwen, ...): it
// maps the family's config.json onto the normalized ModelConfig and its tensor
// names onto the decoder's canonical roles, and loads the weights.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tracenas/api.hpp"
#include "tracenas/component.hpp"

namespace tracenas {

// The normalized model config every adapter produces (notation of SPEC.md).
struct TN_API ModelConfig {
  std::string model_type;     // config.json "model_type" (the family)
  int num_layers = 0;         // L
  int hidden_size = 0;        // d
  int num_heads = 0;          // H (query heads)
  int num_kv_heads = 0;       // G (key/value heads, GQA groups)
  int head_dim = 0;           // h (not always d / H)
  int intermediate_size = 0;  // I (MLP width)
  int vocab_size = 0;
  int max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  // rope_scaling: "default" (none), "linear" (positions / factor) or "llama3".
  std::string rope_type = "default";
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;   // llama3
  double rope_high_freq_factor = 4.0;  // llama3
  int rope_original_max_position = 0;  // llama3
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v (and o for Llama's attention_bias) biases
  bool o_proj_bias = false;
  bool mlp_bias = false;
  bool qk_norm = false;  // Qwen3: RMSNorm of q and k per head before RoPE
  // A model pruned by TraceNAS with widths that differ per layer (config.json
  // "tracenas_layers"): one entry per layer; empty for a uniform model.
  struct LayerWidth {
    bool attn = true;
    int heads = 0;
    int kv_heads = 0;
    bool mlp = true;
    int mlp_channels = 0;
  };
  std::vector<LayerWidth> layer_widths;
};

// Where and how to load a model.
struct TN_API LoadOptions {
  std::string device = "cpu";
  std::string dtype = "float32";
};

class DecoderModel;  // defined by the decoder module of the core

class TN_API ModelAdapter : public Component {
 public:
  static constexpr ComponentKind kKind = ComponentKind::kModel;
  ~ModelAdapter() override;

  // The checkpoint folder this adapter instance was configured with.
  virtual std::string path() const = 0;
  // Reads and validates the folder's config without loading weights.
  virtual ModelConfig read_config() const = 0;
  // Loads the weights onto the device in the dtype asked for.
  virtual std::shared_ptr<DecoderModel> load(const LoadOptions& options) const = 0;
};

}  // namespace tracenas
