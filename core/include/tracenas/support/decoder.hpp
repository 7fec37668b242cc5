// Part of the SDK's support folder, for authors of model adapters and data
// sources: the helpers behind ModelAdapter::load (config.json, checkpoint
// loading, the decoder) and behind data sources (token files, content
// hashes and cache entries). Proxies and search strategies need none of it.
//
// The decoder: the one implementation of Llama / Qwen decoder math in TraceNAS.
//
// Token ids [batch, seq] -> logits [batch, seq, vocab], and the mean causal-LM
// loss of SPEC.md section 1. Follows the Hugging Face modeling code:
//   - RMSNorm computed in float32: w * (x / sqrt(mean(x^2) + eps)), cast back;
//   - rotate-half RoPE with cos/sin computed in float32 (rope types default,
//     linear and llama3 as in transformers' modeling_rope_utils);
//   - grouped-query attention: query head j of a KV group attends with that
//     group's key/value head; causal softmax in float32;
//   - Qwen3: per-head RMSNorm of q and k (over head_dim) before RoPE;
//   - SwiGLU MLP: down(silu(gate(x)) * up(x)).
// Runs in any floating dtype (float32, bfloat16, float16; float64 for tests)
// on CPU or CUDA: the weights' dtype and device decide.
//
// Weights are held per layer in grouped shapes, so that a sub-network keeping a
// prefix of KV groups, of query heads per group and of MLP channels is a set
// of narrow() views of the base weights (no copies; see subnet.hpp). A layer
// whose attention or MLP block is removed has `attn` / `mlp` false and is
// skipped, not zeroed.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "tracenas/api.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/hf_family.hpp"

namespace tracenas {

struct TN_API AttentionWeights {
  // g = kept KV heads, n = query heads kept per KV group, h = head_dim, d = hidden.
  at::Tensor input_norm;  // [d]
  at::Tensor q;           // [g, n, h, d]
  at::Tensor k;           // [g, h, d]
  at::Tensor v;           // [g, h, d]
  at::Tensor o;           // [d, g, n, h]
  at::Tensor q_bias;      // [g, n, h] (undefined when absent)
  at::Tensor k_bias;      // [g, h]
  at::Tensor v_bias;      // [g, h]
  at::Tensor o_bias;      // [d]
  at::Tensor q_norm;      // [h] Qwen3 only
  at::Tensor k_norm;      // [h] Qwen3 only
  int kv_heads() const { return static_cast<int>(q.size(0)); }
  int heads_per_group() const { return static_cast<int>(q.size(1)); }
};

struct TN_API MlpWeights {
  at::Tensor post_norm;  // [d] post-attention norm (the MLP block's input norm)
  at::Tensor gate;       // [c, d]
  at::Tensor up;         // [c, d]
  at::Tensor down;       // [d, c]
  at::Tensor gate_bias;  // [c]
  at::Tensor up_bias;    // [c]
  at::Tensor down_bias;  // [d]
  int channels() const { return static_cast<int>(gate.size(0)); }
};

struct TN_API LayerWeights {
  bool attn = true;
  bool mlp = true;
  AttentionWeights attention;
  MlpWeights ffn;
};

struct TN_API ModelWeights {
  at::Tensor embed;  // [vocab, d]
  std::vector<LayerWeights> layers;
  at::Tensor final_norm;  // [d]
  at::Tensor lm_head;     // [vocab, d] (the embedding itself when tied)
};

// Every tensor of the weights, with the Hugging Face name `names` gives it
// (tied lm_head omitted), in a fixed order. A tensor the weights hold but the
// table has no name for is a ModelError.
TN_API std::vector<std::pair<std::string, at::Tensor>> named_hf_tensors(const ModelConfig& config,
                                                                        const ModelWeights& w,
                                                                        const HfTensorNames& names);

// Number of parameters the weights hold (SPEC.md section 4): every tensor
// once, the tied LM head not counted twice.
TN_API std::int64_t count_parameters(const ModelConfig& config, const ModelWeights& w);

// RoPE inverse frequencies [h/2] (float64) for the config's rope type.
TN_API at::Tensor rope_inv_freq(const ModelConfig& config);

// Running sums of squared activations at the inputs of o_proj and down_proj,
// per layer, over every token seen (float64; SPEC.md section 3 `a_o`, `a_down`
// are the square roots). Layers whose block is removed keep undefined tensors.
struct TN_API ActivationStats {
  std::vector<at::Tensor> o_input_sq;     // [g*n*h] per layer
  std::vector<at::Tensor> down_input_sq;  // [c] per layer
};

// The decoder's projections, as a ProjectionTap sees them.
enum class Projection : int { kQ, kK, kV, kO, kGate, kUp, kDown };

// Lets a caller compute every projection y = x W^T (+ b) of a forward itself.
// The engine's traced passes use it to collect weight-gradient traces in the
// backward without making the weights gradient leaves. `w` is the layer's
// weight in the grouped layout above (q [g, n, h, d], o [d, g, n, h], ...;
// often a narrow() view), `in_features` the size of x's last dimension, so
// `w.reshape({-1, in_features})` is W as [out, in]; `bias` may be undefined.
// Returns y [..., out].
class TN_API ProjectionTap {
 public:
  virtual ~ProjectionTap();
  virtual at::Tensor project(int layer, Projection p, const at::Tensor& x, const at::Tensor& w,
                             std::int64_t in_features, const at::Tensor& bias) = 0;
};

// How a forward runs; the defaults are the plain path.
struct TN_API ForwardOptions {
  ActivationStats* stats = nullptr;  // adds this batch's squared o_proj / down_proj inputs
  ProjectionTap* tap = nullptr;      // computes every projection (null: plain matmuls)
  // > 0: causal attention over blocks of this many query and key positions,
  // with an online softmax and a backward that recomputes the scores block by
  // block, so memory grows linearly with the sequence (no [S, S] score or
  // probability tensor is kept for the backward). Computed in float32 (float64
  // for a float64 model). 0: one [batch, heads, S, S] score tensor, as the
  // reference modeling code does.
  std::int64_t attention_block = 0;
  // With a tap and gradients on: each layer's forward runs without keeping
  // its activations; the backward runs it again from the layer's saved input
  // and back-propagates through that, so a pass keeps one [batch, seq,
  // hidden] tensor per layer plus the activations of one layer at a time.
  // The taps' sums and the input gradient are those of the plain path.
  bool checkpoint_layers = false;
};

// Logits [batch, seq, vocab] in the weights' dtype. When `stats` is given,
// adds this batch's squared o_proj / down_proj inputs to it.
TN_API at::Tensor decoder_logits(const ModelConfig& config, const ModelWeights& w,
                                 const at::Tensor& tokens, ActivationStats* stats = nullptr);
TN_API at::Tensor decoder_logits(const ModelConfig& config, const ModelWeights& w,
                                 const at::Tensor& tokens, const ForwardOptions& options);

// The hidden states after the final norm [batch, seq, hidden], before the LM head.
TN_API at::Tensor decoder_hidden(const ModelConfig& config, const ModelWeights& w,
                                 const at::Tensor& tokens, const ForwardOptions& options = {});

// causal_lm_loss(hidden @ lm_head^T, tokens) without the logits: the LM head
// and the cross-entropy run on `chunk_tokens` positions at a time (0: a chunk
// of about 2^24 logits), in the forward and again in the backward, so the
// float32 [tokens, vocab] logits never exist at once. Differentiable with
// respect to `hidden` [batch, seq, d] only (lm_head [vocab, d] takes no part
// in any trace). A 0-dim float32 tensor (float64 for a float64 model).
TN_API at::Tensor chunked_causal_lm_loss(const at::Tensor& hidden, const at::Tensor& lm_head,
                                         const at::Tensor& tokens, std::int64_t chunk_tokens = 0);

// Mean over all sequences and positions t = 0..seq-2 of the cross-entropy of
// token t+1 given logits at t (float32 accumulation). Returns a 0-dim float32
// tensor (differentiable when the logits are).
TN_API at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& tokens);

// Sum (not mean) of the same cross-entropies, and the count of predicted tokens.
TN_API std::pair<double, std::int64_t> causal_lm_loss_sum(const at::Tensor& logits,
                                                          const at::Tensor& tokens);

// A loaded model: its normalized config, its weights on one device in one
// dtype, and the Hugging Face family it was read as (export writes its names).
class TN_API DecoderModel {
 public:
  DecoderModel(ModelConfig config, ModelWeights weights, HfFamily family = {});

  const ModelConfig& config() const { return config_; }
  const ModelWeights& weights() const { return weights_; }
  ModelWeights& mutable_weights() { return weights_; }
  const HfFamily& family() const { return family_; }
  at::ScalarType dtype() const;
  at::Device device() const;
  std::int64_t num_parameters() const { return count_parameters(config_, weights_); }

  at::Tensor logits(const at::Tensor& tokens, ActivationStats* stats = nullptr) const {
    return decoder_logits(config_, weights_, tokens, stats);
  }

 private:
  ModelConfig config_;
  ModelWeights weights_;
  HfFamily family_;
};

// "float32" -> at::kFloat, ...; ConfigError for an unknown name.
TN_API at::ScalarType parse_dtype(const std::string& name);
TN_API const char* dtype_name(at::ScalarType t);

}  // namespace tracenas
