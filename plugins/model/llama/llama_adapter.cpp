// The `llama` model adapter: Hugging Face Llama checkpoints (Llama 2, 3, 3.1,
// 3.2; model_type "llama") onto the core decoder.
//
// Config fields: see hf_config.hpp. Tensor names: the table below (one entry
// per canonical role; "{i}" is the layer index).
#include "tracenas/hf_checkpoint.hpp"
#include "tracenas/model.hpp"
#include "tracenas/plugin.hpp"

namespace {

using tracenas::ParamSpec;

tracenas::HfTensorNames llama_names() {
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
  t.post_norm = "model.layers.{i}.post_attention_layernorm.weight";
  t.gate = "model.layers.{i}.mlp.gate_proj.weight";
  t.up = "model.layers.{i}.mlp.up_proj.weight";
  t.down = "model.layers.{i}.mlp.down_proj.weight";
  t.gate_bias = "model.layers.{i}.mlp.gate_proj.bias";
  t.up_bias = "model.layers.{i}.mlp.up_proj.bias";
  t.down_bias = "model.layers.{i}.mlp.down_proj.bias";
  return t;
}

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::ModelAdapter>(
      "llama", "Hugging Face Llama checkpoints (Llama 2, 3, 3.1, 3.2)",
      {ParamSpec::path("path", "", "checkpoint folder (config.json + safetensors)")
           .make_required()},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        return std::make_unique<tracenas::HfDecoderAdapter>(
            p.get_string("path"), llama_names(), std::vector<std::string>{"llama"}, "llama",
            "qwen");
      });
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.model.llama", "0.1.0", "Apache-2.0",
                       "Llama model adapter", register_components)
