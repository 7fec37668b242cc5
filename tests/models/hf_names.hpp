// The Hugging Face Llama / Qwen tensor-name table, for tests that load
// checkpoints without going through the adapter plugins.
#pragma once

#include "tracenas/support/hf_checkpoint.hpp"

namespace tracenas::testing {

inline HfTensorNames hf_names(bool biases, bool qk_norm) {
  HfTensorNames n = hf_decoder_names();
  if (!biases) {
    for (std::string* s : {&n.q_bias, &n.k_bias, &n.v_bias, &n.o_bias}) s->clear();
  }
  if (!qk_norm) {
    n.q_norm.clear();
    n.k_norm.clear();
  }
  n.gate_bias.clear();
  n.up_bias.clear();
  n.down_bias.clear();
  return n;
}

}  // namespace tracenas::testing
