// Zero-shot proxies: training-free scores that rank candidate sub-networks.
//
// The engine runs ONE forward/backward pass of a candidate over the K
// calibration batches and collects exactly what the pipeline's proxies
// declared they need (TraceNeeds); every proxy then reads the same Trace. A
// proxy never runs the model itself. Base-model quantities (its gradients,
// logits) are computed once per run and handed over in the Trace too.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tracenas/api.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/component.hpp"
#include "tracenas/model.hpp"

namespace tracenas {

enum class Direction { kHigherIsBetter, kLowerIsBetter };

// What a proxy needs from the candidate's pass. The engine collects the union.
struct TN_API TraceNeeds {
  bool loss = false;               // per-batch calibration loss
  bool weight_grads = false;       // kept-coordinate projection gradients per block
  bool base_weight_grads = false;  // the same coordinates of the base model's gradients
  bool grad_moments = false;       // per-coordinate mean|g| and std(g) across batches
  int sketch_rank = 0;             // > 0: sketched gradients (G A^T, B^T G) of this rank
  std::uint64_t sketch_seed = 0;
  // > 0: the TraceNAS reference's trace, from a pass of its own
  // (BlockTrace::lora): a LoRA adapter of this rank on every projection,
  // A [r, in] and B [out, r] kaiming-uniform (bounds 1/sqrt(in), 1/sqrt(r);
  // seeded by lora_seed), active in the forward as y = x W^T + (alpha / r) x A^T B^T
  // for the base and the candidate; the trace is the gradients of A and B.
  int lora_rank = 0;
  std::uint64_t lora_seed = 0;
  double lora_alpha = 0;
  bool logits = false;       // candidate logits per batch
  bool base_logits = false;  // base-model logits per batch
  // A forward-only pass over the calibration batches (whole batches, no
  // micro-batches) that observes activations across each batch's sequences:
  bool output_grams = false;  // per kept block and batch: SampleGram of the block's output
  bool gate_kernel = false;   // NASWOT's kernel of the MLPs' gate signs (Trace::gate_kernel)
  // SynFlow's own pass (BlockTrace::synflow_grads): every parameter replaced by
  // its absolute value, an input of ones, R = the sum of the logits; float64.
  bool synflow = false;

  TraceNeeds& operator|=(const TraceNeeds& o);
};

enum class BlockKind { kAttn, kMlp };

// Second moments of one block's output across the B sequences of a batch:
// with F [B, n] the output (after o_proj or down_proj, before the residual
// add) with each sequence's positions and channels flattened, gram = F F^T
// [B, B] and sum = F 1 [B], float64. Their correlation matrix is
// (gram - sum sum^T / n) / (n - 1), normalised by its diagonal.
struct TN_API SampleGram {
  at::Tensor gram;
  at::Tensor sum;
  std::int64_t features = 0;  // n
};

// The traces of one kept block. Each vector has one entry per projection
// weight (and bias) of the block, in the block's fixed order.
struct TN_API BlockTrace {
  int layer = 0;
  BlockKind kind = BlockKind::kAttn;
  std::vector<std::string> names;         // e.g. "q_proj.weight"
  std::vector<at::Tensor> weights;        // kept weights (views)
  std::vector<at::Tensor> grads;          // mean over batches of the candidate's gradient
  std::vector<at::Tensor> base_grads;     // sum over batches of the base gradient, same coordinates
  std::vector<at::Tensor> grad_abs_mean;  // grad_moments: mean over batches of |g|
  std::vector<at::Tensor> grad_std;       // grad_moments: std over batches of g (population)
  std::vector<at::Tensor> grad_sq_mean;   // grad_moments: mean over batches of g^2
  // sketch_rank > 0 (SPEC.md section 5, `gradient: sketch`): per projection
  // weight the pair (G A^T, B^T G) of its candidate gradient G (the mean over
  // batches), per bias its gradient; base_sketch: the same of the base
  // gradient, computed once on the full base and restricted to the kept
  // rows (of G A^T) and columns (of B^T G). float64.
  std::vector<at::Tensor> sketch;
  std::vector<at::Tensor> base_sketch;
  // lora_rank > 0: per projection weight (biases have no adapter) the pair
  // (G' A^T, B^T G') with G' the weight gradient of the LoRA pass (mean over
  // batches), i.e. the gradients of B and A divided by alpha / r; base_lora:
  // the same of the base (sum over batches) on the kept rows and columns.
  // float64.
  std::vector<at::Tensor> lora;
  std::vector<at::Tensor> base_lora;
  std::vector<SampleGram> output_grams;  // output_grams: one per calibration batch
  // synflow: per entry of `weights`, dR/d|theta| of SynFlow's pass (float64):
  // the decoder with every parameter's absolute value (norms, projections,
  // the LM head), an embedding of ones for every position of one sequence of
  // the calibration length, R = sum over positions and vocabulary of the logits.
  std::vector<at::Tensor> synflow_grads;
};

struct TN_API Trace {
  std::vector<double> batch_losses;     // one per calibration batch
  std::vector<BlockTrace> blocks;       // kept blocks, in model order
  std::vector<at::Tensor> logits;       // [batch, seq, vocab] per calibration batch
  std::vector<at::Tensor> base_logits;  // same, of the base model
  // gate_kernel: with c [B, n] the signs (1: > 0, else 0) of every kept MLP's
  // gate projection output (the SiLU's input) per sequence of a batch, the sum
  // over kept MLP blocks and batches of c c^T + (1 - c)(1 - c)^T: entry (i, j)
  // counts the units where sequences i and j agree. [B, B], float64.
  at::Tensor gate_kernel;
};

// The candidate being scored.
struct TN_API Candidate {
  const Arch* arch = nullptr;
  const ModelConfig* base = nullptr;
  std::int64_t params = 0;  // SPEC.md section 4
  std::int64_t base_params = 0;
};

class TN_API Proxy : public Component {
 public:
  static constexpr ComponentKind kKind = ComponentKind::kProxy;
  ~Proxy() override;

  virtual Direction direction() const = 0;
  virtual TraceNeeds needs() const = 0;
  // The proxy's value for one candidate. May be non-finite; such a candidate
  // is reported as such and never selected.
  virtual double score(const Candidate& candidate, const Trace& trace) = 0;
};

}  // namespace tracenas
