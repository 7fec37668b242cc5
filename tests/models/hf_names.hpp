// The Hugging Face Llama / Qwen tensor-name table, for tests that load
// checkpoints without going through the adapter plugins.
#pragma once

#include "tracenas/hf_checkpoint.hpp"

namespace tracenas::testing {

inline HfTensorNames hf_names(bool biases, bool qk_norm) {
  HfTensorNames n;
  n.embed = "model.embed_tokens.weight";
  n.final_norm = "model.norm.weight";
  n.lm_head = "lm_head.weight";
  n.input_norm = "model.layers.{i}.input_layernorm.weight";
  n.q = "model.layers.{i}.self_attn.q_proj.weight";
  n.k = "model.layers.{i}.self_attn.k_proj.weight";
  n.v = "model.layers.{i}.self_attn.v_proj.weight";
  n.o = "model.layers.{i}.self_attn.o_proj.weight";
  if (biases) {
    n.q_bias = "model.layers.{i}.self_attn.q_proj.bias";
    n.k_bias = "model.layers.{i}.self_attn.k_proj.bias";
    n.v_bias = "model.layers.{i}.self_attn.v_proj.bias";
    n.o_bias = "model.layers.{i}.self_attn.o_proj.bias";
  }
  if (qk_norm) {
    n.q_norm = "model.layers.{i}.self_attn.q_norm.weight";
    n.k_norm = "model.layers.{i}.self_attn.k_norm.weight";
  }
  n.post_norm = "model.layers.{i}.post_attention_layernorm.weight";
  n.gate = "model.layers.{i}.mlp.gate_proj.weight";
  n.up = "model.layers.{i}.mlp.up_proj.weight";
  n.down = "model.layers.{i}.mlp.down_proj.weight";
  return n;
}

}  // namespace tracenas::testing
