// Recovery training: continued causal-LM training of a (pruned) model.
//
// The model's weights are trained in place as float32 master weights on the
// model's device (CPU or CUDA; the forward optionally under bfloat16
// autocast) with AdamW, a learning-rate schedule, gradient clipping by global L2
// norm and gradient accumulation; a held-out token source is evaluated every
// N steps and atomic checkpoints are written every N steps, from which a run
// resumes exactly (the next step's loss equals the uninterrupted run's).
//
// Data (SPEC.md section 1): the training stream is cut into non-overlapping
// windows of seq_len tokens (the incomplete last window dropped); micro-batch
// k of an epoch holds windows k*B .. k*B+B-1 (an incomplete last micro-batch
// is dropped), in order or, with `shuffle`, in a per-epoch order drawn from
// std::mt19937_64(seed + epoch) by Fisher-Yates with uniform_int (random.hpp).
// Optimizer step s consumes the `accumulate` micro-batches
// s*A .. s*A+A-1 of the endless sequence of epochs, so a checkpoint needs only
// the step count: the data position and every random draw follow from it.
//
// One optimizer step s (0-based), with A = accumulate and lr_s the schedule:
//   loss_s = (1/A) sum_a causal_lm_loss(micro-batch a)       (reported loss)
//   g      = gradient of loss_s (backward of each loss_a / A, accumulated)
//   n      = sqrt(sum over every parameter of sum(g^2))      (global L2 norm)
//   g      = g * (clip / n)   when clip > 0 and n > clip     (norm exactly clip)
//   AdamW (t = s + 1, decoupled weight decay as in PyTorch's torch.optim.AdamW):
//     p = p * (1 - lr_s * weight_decay)      projection weights and embeddings
//                                            only; never norms or biases
//     m = beta1 * m + (1 - beta1) * g
//     v = beta2 * v + (1 - beta2) * g^2
//     p = p - lr_s * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
//
// Knowledge distillation (optional, a teacher model with the same vocabulary):
// with alpha = kd_alpha and temperature tau, each micro-batch's objective is
//   (1 - alpha) * CE + alpha * tau^2 * KD,
//   KD = mean over sequences and positions t = 0..seq-2 of
//        sum_v q_v * (log q_v - log p_v),  q = softmax(teacher logits / tau),
//                                          p = softmax(student logits / tau)
// (float32; the teacher runs without gradients). The reported loss stays the CE.
//
// Data-parallel (TrainOptions::comm with N > 1 ranks): micro-batch a of a
// step (a = 0..A-1) is run by rank a mod N; the gradients are summed over the
// ranks in buckets of at most 2^25 elements (GradientSync, data_parallel.hpp:
// during the step's last local backward each bucket starts its allreduce as
// soon as its gradients are final, overlapping the rest of the backward) and
// so are the losses, so every rank holds the gradient of loss_s above and
// clips and updates its replica identically. With shard_optimizer (ZeRO
// stage 1) each parameter's AdamW state lives on one rank (shard_owners),
// which alone updates it and then broadcasts the new values; a checkpoint
// gathers the state to rank 0 (in host memory, one parameter at a time), so
// its format does not depend on the sharding or the number of ranks.
// The data position depends only on the step, so a checkpoint resumes with
// any number of ranks when batch and accumulate (the global batch) are kept.
// Rank 0 alone evaluates and writes checkpoints. A equal to or a multiple of
// N keeps every rank busy.
//
// Schedules: train/schedule.hpp.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dist/communicator.hpp"
#include "model/export.hpp"
#include "tracenas/params.hpp"
#include "tracenas/support/decoder.hpp"
#include "train/schedule.hpp"

namespace tracenas {

// ---- gradient clipping ----

// Global L2 norm of the gradients of `params` (tensors without a gradient are
// skipped), computed in float64. When max_norm > 0 and the norm exceeds it,
// every gradient is multiplied by max_norm / norm. Returns the norm before
// clipping.
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

// ---- AdamW ----

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

struct TrainParam {
  std::string name;   // stable name, used in checkpoints
  at::Tensor value;   // a leaf tensor with requires_grad
  bool decay = true;  // decoupled weight decay applies
};

class AdamW {
 public:
  // `keep` (ZeRO stage 1): state only for the parameters i with keep[i];
  // step() then updates only those, and state() / load_state() cover only
  // them. Empty: every parameter.
  AdamW(std::vector<TrainParam> params, AdamWOptions options, const std::vector<bool>& keep = {});

  // One update with learning rate `lr` from the parameters' current
  // gradients (a parameter without a gradient is left alone).
  void step(double lr);
  void zero_grad();

  std::int64_t steps() const { return steps_; }
  const std::vector<TrainParam>& params() const { return params_; }
  // "exp_avg/NAME", "exp_avg_sq/NAME" for every parameter.
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  // Restores state() and the step count; ModelError naming `origin` and the
  // tensor when one is missing or of the wrong shape.
  void load_state(const std::function<at::Tensor(const std::string&)>& get, std::int64_t steps,
                  const std::string& origin);

  // Parameter i's exp_avg and exp_avg_sq (undefined when not kept).
  std::pair<at::Tensor, at::Tensor> moments(std::size_t i) const {
    return {exp_avg_[i], exp_avg_sq_[i]};
  }
  // Bytes of optimizer state this process holds.
  std::int64_t state_bytes() const;

 private:
  std::vector<TrainParam> params_;
  std::vector<at::Tensor> exp_avg_;
  std::vector<at::Tensor> exp_avg_sq_;
  AdamWOptions options_;
  std::int64_t steps_ = 0;
};

// The trainable tensors of a model's weights with stable names ("embed",
// "layers.3.q", ...): the tied LM head once (as the embedding); decay on
// projection weights and the embeddings / LM head, none on norms and biases.
std::vector<TrainParam> trainable_params(ModelWeights& w);

// ---- training data ----

// The micro-batches of one token stream (see the header comment).
class TrainBatches {
 public:
  // DataError naming `source` when the stream holds no whole micro-batch.
  TrainBatches(const std::vector<std::int32_t>& stream, int seq_len, int batch, bool shuffle,
               std::uint64_t seed, const std::string& source);
  // Micro-batch number `index` counted over all epochs: [batch, seq_len] int64.
  at::Tensor get(std::int64_t index) const;
  std::int64_t per_epoch() const { return per_epoch_; }

 private:
  std::vector<std::int64_t> epoch_order(std::int64_t epoch) const;

  const std::vector<std::int32_t>& stream_;
  int seq_len_;
  int batch_;
  bool shuffle_;
  std::uint64_t seed_;
  std::int64_t windows_ = 0;
  std::int64_t per_epoch_ = 0;
  mutable std::int64_t cached_epoch_ = -1;
  mutable std::vector<std::int64_t> cached_order_;
};

// ---- the training loop ----

// KD of the header comment: student / teacher logits [batch, seq, vocab] ->
// a 0-dim float32 tensor (differentiable through the student's logits).
at::Tensor distillation_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                             double temperature);

struct TrainOptions {
  int seq_len = 256;
  int batch = 8;
  int accumulate = 1;
  std::int64_t steps = 1;
  AdamWOptions adamw;
  ScheduleOptions schedule;  // total_steps is set from `steps`
  double clip = 1.0;         // 0: no clipping
  bool shuffle = false;
  std::uint64_t seed = 0;
  std::int64_t eval_every = 0;        // 0: only at the end (when eval data is given)
  std::int64_t checkpoint_every = 0;  // 0: none
  std::string checkpoint_dir;         // where checkpoints go (needed when checkpoint_every > 0)
  std::string resume;                 // a checkpoint folder, or a folder holding checkpoints/latest
  const DecoderModel* teacher = nullptr;  // knowledge distillation when set
  double kd_alpha = 0.5;
  double kd_temperature = 1.0;
  // float32, or bfloat16: the forward passes under autocast to bfloat16 (on
  // CUDA, or on the CPU where LibTorch supports it); master weights, gradients,
  // the optimizer state and the loss stay float32.
  std::string compute_dtype = "float32";
  bool log_steps = true;           // false: step lines at debug level only
  std::string data_name = "data";  // names for messages
  std::string eval_name = "eval data";
  Communicator* comm = nullptr;  // data-parallel over these ranks (header comment)
  // With comm: ZeRO stage 1, the AdamW state sharded over the ranks (header comment).
  bool shard_optimizer = false;
  // With comm: the most elements one gradient bucket's allreduce sums.
  std::int64_t bucket_elements = Communicator::kBucketElements;
};

struct StepLog {
  std::int64_t step = 0;  // 1-based: the number of optimizer steps done
  double loss = 0;        // causal-LM cross-entropy (mean over the micro-batches)
  double kd_loss = 0;     // distillation term KD (0 without a teacher)
  double lr = 0;
  double grad_norm = 0;  // before clipping
  std::optional<double> eval_loss;
};

struct TrainResult {
  std::int64_t first_step = 1;      // the first step run here (after a resume: checkpoint + 1)
  std::vector<StepLog> log;         // the steps run here, in order
  std::optional<double> eval_loss;  // the last evaluation
  std::optional<double> eval_ppl;
  std::vector<std::string> checkpoints;  // folders written
  // Data-parallel: gradient buckets per step, and of those summed over the
  // steps run here, how many started inside the backward (overlapped).
  std::int64_t optimizer_state_bytes = 0;  // AdamW state this process held
  std::int64_t gradient_buckets = 0;
  std::int64_t overlapped_buckets = 0;
};

// The training keys of a pipeline section (`study`, `recovery`: steps,
// batch_size, accumulate, seq_len (0: `default_seq_len`), schedule, lr,
// min_lr, warmup_steps, plateau_steps, plateau_lr, stable_steps, beta1, beta2,
// weight_decay, clip) as TrainOptions; data, evaluation and checkpoints are
// the caller's.
TrainOptions train_options_from_params(const ParamValues& v, int default_seq_len);

// A float32 copy of `w` on `device` (training's master weights); a tied LM
// head stays tied.
ModelWeights float32_weights(const ModelWeights& w, const at::Device& device);

// Trains `model` (float32 weights on any device; UsageError otherwise) in place on
// `train_tokens`, evaluating on `eval_tokens` when not null. Token ids at or
// above the vocabulary size are a DataError naming the source and position.
// `on_step` (optional) sees every step as it finishes.
TrainResult train_model(DecoderModel& model, const std::vector<std::int32_t>& train_tokens,
                        const std::vector<std::int32_t>* eval_tokens, const TrainOptions& options,
                        const std::function<void(const StepLog&)>& on_step = {});

// The checkpoint folder a --resume PATH names: PATH itself when it holds
// trainer_state.json, else the one PATH/checkpoints/latest names. UsageError otherwise.
std::string resolve_checkpoint(const std::string& path);

// Writes a trained model (every unit kept, per-layer widths preserved) as a
// Hugging Face folder through export_pruned, with `base_dir`'s config.json as
// the template.
ExportResult export_trained(const std::string& base_dir, const DecoderModel& model,
                            const std::string& out_dir, std::uint64_t max_shard_bytes);

}  // namespace tracenas
