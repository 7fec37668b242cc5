// Model shapes shared by tests that need a config but no weights.
#pragma once

#include "tracenas/model.hpp"

namespace tracenas::testing {

// The stories260K shape (SPEC.md section 2): d 64, 8 query heads, 4 KV heads,
// head_dim 8, MLP 172, vocabulary 512; `layers` layers.
inline ModelConfig stories260K_shape(int layers, bool tied) {
  ModelConfig c;
  c.model_type = "llama";
  c.num_layers = layers;
  c.hidden_size = 64;
  c.num_heads = 8;
  c.num_kv_heads = 4;
  c.head_dim = 8;
  c.intermediate_size = 172;
  c.vocab_size = 512;
  c.tie_word_embeddings = tied;
  return c;
}

}  // namespace tracenas::testing
