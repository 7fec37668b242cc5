// llama2.c checkpoints -> Hugging Face layout.
//
// The llama2.c "legacy" format (version 0) is a header of seven int32 values
// (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
// negative vocab_size means the classifier is not shared with the embedding)
// followed by float32 weights in this order: token embedding [vocab, dim],
// attention norms [L, dim], wq [L, dim, dim], wk [L, kv_dim, dim], wv [L,
// kv_dim, dim], wo [L, dim, dim], MLP norms [L, dim], w1 (gate) [L, hidden,
// dim], w2 (down) [L, dim, hidden], w3 (up) [L, hidden, dim], final norm
// [dim], two legacy RoPE tables [seq_len, head_size / 2] each (skipped), and
// the classifier [vocab, dim] when not shared.
//
// llama2.c rotates interleaved pairs (x[2i], x[2i+1]) while Hugging Face
// rotates halves (x[i], x[i + h/2]); the rows of wq and wk are permuted per
// head (new row j*(h/2)+i <- old row 2i+j) so the converted model computes the
// same function.
#pragma once

#include <cstdint>
#include <string>

namespace tracenas {

struct Llama2cResult {
  std::string out_dir;
  std::int64_t params = 0;
};

// Writes `out_dir`/config.json and `out_dir`/model.safetensors (float32).
// ModelError naming the file and field on a malformed checkpoint.
Llama2cResult convert_llama2c(const std::string& bin_path, const std::string& out_dir);

}  // namespace tracenas
