// The `qwen` model adapter: Hugging Face Qwen2 / Qwen2.5 (model_type "qwen2",
// q/k/v biases) and Qwen3 (model_type "qwen3", per-head q/k RMSNorm, explicit
// head_dim) checkpoints onto the core decoder.
#include "tracenas/model.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/support/hf_checkpoint.hpp"

namespace {

using tracenas::ParamSpec;

// Qwen2 / Qwen2.5: q/k/v always have biases, o_proj and the MLP never;
// Qwen2Config has no head_dim (hidden_size / num_attention_heads).
tracenas::HfFamily qwen2_family() {
  tracenas::HfFamily f;
  f.model_type = "qwen2";
  f.attention_bias = tracenas::HfBias::kAlways;
  f.o_proj_bias = tracenas::HfBias::kNever;
  f.mlp_bias = tracenas::HfBias::kNever;
  f.config_has_head_dim = false;
  f.names.q_norm.clear();
  f.names.k_norm.clear();
  f.names.o_bias.clear();
  f.names.gate_bias.clear();
  f.names.up_bias.clear();
  f.names.down_bias.clear();
  // llama.cpp: architecture "qwen2", RoPE on halves, square q/o projections.
  f.gguf_arch = "qwen2";
  f.gguf_square_attention = true;
  return f;
}

// Qwen3: per-head RMSNorm of q and k, explicit head_dim, "attention_bias"
// for q/k/v/o, no MLP biases.
tracenas::HfFamily qwen3_family() {
  tracenas::HfFamily f;
  f.model_type = "qwen3";
  f.mlp_bias = tracenas::HfBias::kNever;
  f.qk_norm = true;
  f.names.gate_bias.clear();
  f.names.up_bias.clear();
  f.names.down_bias.clear();
  // llama.cpp: architecture "qwen3", RoPE on halves.
  f.gguf_arch = "qwen3";
  return f;
}

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::ModelAdapter>(
      "qwen", "Hugging Face Qwen2, Qwen2.5 and Qwen3 checkpoints",
      {ParamSpec::path("path", "", "checkpoint folder (config.json + safetensors)")
           .make_required()},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        return std::make_unique<tracenas::HfDecoderAdapter>(
            p.get_string("path"), std::vector<tracenas::HfFamily>{qwen2_family(), qwen3_family()});
      },
      {{"qwen2", "qwen3"}});
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.model.qwen", "0.1.0", "Apache-2.0",
                       "Qwen2 / Qwen2.5 / Qwen3 model adapter", register_components)
