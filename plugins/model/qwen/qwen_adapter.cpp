// The `qwen` model adapter: Hugging Face Qwen2 / Qwen2.5 (model_type "qwen2",
// q/k/v biases) and Qwen3 (model_type "qwen3", per-head q/k RMSNorm, explicit
// head_dim) checkpoints onto the core decoder.
#include "tracenas/hf_checkpoint.hpp"
#include "tracenas/model.hpp"
#include "tracenas/plugin.hpp"

namespace {

using tracenas::ParamSpec;

tracenas::HfTensorNames qwen_names() {
  tracenas::HfTensorNames t;
  t.embed = "model.embed_tokens.weight";
  t.final_norm = "model.norm.weight";
  t.lm_head = "lm_head.weight";
  t.input_norm = "model.layers.{i}.input_layernorm.weight";
  t.q = "model.layers.{i}.self_attn.q_proj.weight";
  t.k = "model.layers.{i}.self_attn.k_proj.weight";
  t.v = "model.layers.{i}.self_attn.v_proj.weight";
  t.o = "model.layers.{i}.self_attn.o_proj.weight";
  t.q_bias = "model.layers.{i}.self_attn.q_proj.bias";
  t.k_bias = "model.layers.{i}.self_attn.k_proj.bias";
  t.v_bias = "model.layers.{i}.self_attn.v_proj.bias";
  t.o_bias = "model.layers.{i}.self_attn.o_proj.bias";
  t.q_norm = "model.layers.{i}.self_attn.q_norm.weight";
  t.k_norm = "model.layers.{i}.self_attn.k_norm.weight";
  t.post_norm = "model.layers.{i}.post_attention_layernorm.weight";
  t.gate = "model.layers.{i}.mlp.gate_proj.weight";
  t.up = "model.layers.{i}.mlp.up_proj.weight";
  t.down = "model.layers.{i}.mlp.down_proj.weight";
  return t;
}

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::ModelAdapter>(
      "qwen", "Hugging Face Qwen2, Qwen2.5 and Qwen3 checkpoints",
      {ParamSpec::path("path", "", "checkpoint folder (config.json + safetensors)")
           .make_required()},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        return std::make_unique<tracenas::HfDecoderAdapter>(
            p.get_string("path"), qwen_names(), std::vector<std::string>{"qwen2", "qwen3"},
            "qwen", "llama");
      });
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.model.qwen", "0.1.0", "Apache-2.0",
                       "Qwen2 / Qwen2.5 / Qwen3 model adapter", register_components)
