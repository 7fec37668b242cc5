#include "tracenas/support/hf_family.hpp"

namespace tracenas {

HfTensorNames hf_decoder_names() {
  HfTensorNames t;
  t.embed = "model.embed_tokens.weight";
  t.final_norm = "model.norm.weight";
  t.lm_head = "lm_head.weight";
  const std::string layer = "model.layers.{i}.";
  t.input_norm = layer + "input_layernorm.weight";
  t.q = layer + "self_attn.q_proj.weight";
  t.k = layer + "self_attn.k_proj.weight";
  t.v = layer + "self_attn.v_proj.weight";
  t.o = layer + "self_attn.o_proj.weight";
  t.q_bias = layer + "self_attn.q_proj.bias";
  t.k_bias = layer + "self_attn.k_proj.bias";
  t.v_bias = layer + "self_attn.v_proj.bias";
  t.o_bias = layer + "self_attn.o_proj.bias";
  t.q_norm = layer + "self_attn.q_norm.weight";
  t.k_norm = layer + "self_attn.k_norm.weight";
  t.post_norm = layer + "post_attention_layernorm.weight";
  t.gate = layer + "mlp.gate_proj.weight";
  t.up = layer + "mlp.up_proj.weight";
  t.down = layer + "mlp.down_proj.weight";
  t.gate_bias = layer + "mlp.gate_proj.bias";
  t.up_bias = layer + "mlp.up_proj.bias";
  t.down_bias = layer + "mlp.down_proj.bias";
  return t;
}

std::string hf_layer_name(const std::string& pattern, int layer) {
  std::string out = pattern;
  const auto pos = out.find("{i}");
  if (pos != std::string::npos) out.replace(pos, 3, std::to_string(layer));
  return out;
}

}  // namespace tracenas
