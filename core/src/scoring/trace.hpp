// The one pass per candidate: forward/backward of a sub-network over the K
// calibration batches, collecting exactly what the pipeline's proxies need
// (TraceNeeds) into a Trace that every proxy reads (SPEC.md section 5).
//
// Both passes run on the importance-reordered weights (PrefixWeights), where
// a candidate is narrow() views. The weights are never gradient leaves: every
// projection runs through a GradientTap (gradient_tap.hpp), whose backward
// adds what the pass asked for into float32 accumulators (float64 for a
// float64 model):
//   base pass (once per run):  g_M = sum over batches of d loss_k / d W, every
//                              projection weight and bias, full width;
//   candidate pass:            g_C = mean over batches of d loss_k / d W_C for
//                              its kept projection weights and biases; the
//                              same coordinates of g_M are narrow() views of it.
// Norm weights (RMSNorm, Qwen3 q/k norms) and embeddings take no part.
//
// Sketches (TraceNeeds::sketch_rank = r > 0): per projection weight W with
// output dims `out` and input dims `in` (q [g,n,h | d], k/v [g,h | d],
// o [d | g,n,h], gate/up [c | d], down [d | c]) two seeded Gaussian matrices
// A [r, in] and B [out, r] are drawn once, in the importance-ordered layout,
// from (sketch_seed, layer, projection). A candidate's kept coordinates are a
// prefix of every dim, so its A and B are prefix narrows of the base's. The
// backward forms G A^T and B^T G from the layer inputs and output gradients
// directly (no weight-sized gradient exists unless a proxy also needs full
// gradients); they are handed to proxies in float64.
//
// A calibration batch may run as micro-batches (PassOptions): each one's loss
// is weighted by its share of the batch's sequences, so the accumulated
// gradients, sketches and batch loss equal the whole batch's.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dist/communicator.hpp"
#include "model/subnet.hpp"
#include "tracenas/proxy.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas {

// What the base pass keeps: per layer, the gradient of every projection
// weight/bias in the reordered grouped layout, and per-batch base logits.
struct BaseTraces {
  std::vector<LayerWeights> grads;  // same shapes as PrefixWeights::reordered(), float32
  std::vector<at::Tensor> logits;   // [batch, seq, vocab] per batch (when asked for)
  std::vector<double> batch_losses;
  // Sketches: per layer, per projection name ("q_proj.weight", ...).
  struct Sketch {
    at::Tensor a;      // [r, in...] (weights only)
    at::Tensor b;      // [out..., r] (weights only)
    at::Tensor right;  // G_M A^T [out..., r]; for a bias: its gradient
    at::Tensor left;   // B^T G_M [r, in...] (weights only)
  };
  int sketch_rank = 0;
  std::uint64_t sketch_seed = 0;
  std::vector<std::map<std::string, Sketch>> sketches;
  // The LoRA pass's factors and sketches (TraceNeeds::lora_rank), weights only.
  int lora_rank = 0;
  std::uint64_t lora_seed = 0;
  double lora_alpha = 0;
  std::vector<std::map<std::string, Sketch>> lora;
};

// How the passes run; every choice gives the same traces up to float rounding.
// The defaults are the pipeline's (run.attention: auto, attention_block 256).
struct PassOptions {
  std::int64_t micro_batch_size = 0;   // sequences per forward/backward (0: the whole batch)
  std::int64_t attention_block = 256;  // ForwardOptions::attention_block (0: plain attention)
  // Plain attention for sequences of at most attention_block positions (one
  // block would hold the whole [S, S] anyway, and plain skips the recompute).
  bool plain_within_block = true;
  std::int64_t loss_chunk_tokens = 0;  // chunked_causal_lm_loss's chunk (0: its default)
  bool checkpoint_layers = false;      // ForwardOptions::checkpoint_layers
  // Pieces of the calibration batches that run at once, each on its own
  // thread with its own gradient accumulators, added up in a fixed order
  // afterwards (1: one after the other). Whole batches when there are at
  // least this many, else row ranges of each. For models whose operators are
  // too small to share out (blas.hpp, choose_pass_threads); each thread holds
  // its piece's activations (and, for full gradients, its own g).
  int parallel_batches = 1;
  // Data-parallel pass: with more than one rank, the pieces of the
  // calibration batches are spread over the ranks (piece p on rank p mod N,
  // pieces cut as for parallel_batches = N x parallel_batches), and every
  // gradient, sketch and batch loss is summed over the ranks (allreduce;
  // logits are broadcast from the rank that computed them), so that each
  // rank ends the pass with the whole trace: the same as one process up to
  // float rounding. Every rank runs the same passes in the same order; the
  // calibration set needs at least N sequences (N per batch when a proxy
  // reads gradient moments, which need each batch's gradient on its own).
  // Null or one rank: this process runs every piece.
  Communicator* ranks = nullptr;
};

// Why `options` cannot run a data-parallel pass over `batches` (empty: it can).
std::string data_parallel_problem(const PassOptions& options,
                                  const std::vector<at::Tensor>& batches, bool grad_moments);

// The ForwardOptions::attention_block a pass over sequences of `seq_len` uses.
std::int64_t attention_block_for(const PassOptions& options, std::int64_t seq_len);

BaseTraces compute_base_traces(const ModelConfig& config, const PrefixWeights& prefix,
                               const std::vector<at::Tensor>& batches, const TraceNeeds& needs,
                               const PassOptions& options = {});

// The base traces as one safetensors file (tensors named "grad.<layer>.<proj>",
// "sketch.<layer>.<proj>.{a,b,right,left}", "logits.<batch>"; losses and
// sketch settings in the metadata), written atomically, and read back onto
// `device`. load_base_traces returns nullopt when the file is missing or
// does not hold what `needs` asks for (a stale or foreign cache entry).
void save_base_traces(const std::string& path, const BaseTraces& base);
std::optional<BaseTraces> load_base_traces(const std::string& path, const TraceNeeds& needs,
                                           int num_layers, const std::string& device);

// The candidate's pass. `arch` has no explicit indices (prefix fast path).
Trace run_candidate_pass(const ModelConfig& config, const PrefixWeights& prefix, const Arch& arch,
                         const BaseTraces& base, const std::vector<at::Tensor>& batches,
                         const TraceNeeds& needs, const PassOptions& options = {});

}  // namespace tracenas
