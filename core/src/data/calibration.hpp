// Calibration batches, evaluation windows and width importance on a base model.
//
// calibration_batches() is SPEC.md section 1 (the first K batches of
// non-overlapping windows, after an optional seeded shuffle); eval_batches()
// covers every whole window of a source (perplexity); compute_importance()
// runs the base model over the calibration batches once, collects the L2
// norms of the o_proj and down_proj inputs over every calibration token when
// the criterion asks for them, and turns the criterion's channel scores into
// per-layer orders (SPEC.md section 3).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/subnet.hpp"
#include "tracenas/data.hpp"
#include "tracenas/importance.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas {

// The K calibration batches, each [batch, seq_len] int64.
std::vector<at::Tensor> calibration_batches(const std::vector<std::int32_t>& stream,
                                            const BatchSpec& spec, const std::string& source_name);

// Every whole window of `stream`, `batch_size` windows per batch (the last
// batch may hold fewer). DataError when there is not one whole window.
std::vector<at::Tensor> eval_batches(const std::vector<std::int32_t>& stream, int seq_len,
                                     int batch_size, const std::string& source_name);

// DataError naming `source`, the batch, window, position and id when a token
// id of `batches` is negative or not below `vocab_size`.
void check_token_ids(const std::vector<at::Tensor>& batches, int vocab_size,
                     const std::string& source);

struct ImportanceResult {
  ImportanceOrder order;
  std::vector<LayerScores> scores;
};

using ScoreFn = std::function<LayerImportanceScores(const LayerImportanceInput&)>;

// `score` is the criterion's score() (called once per layer, through the
// plugin guard by the caller); `needs_norms` its needs_activation_norms().
// The statistics pass stops before the LM head and runs attention with
// `attention_block` (ForwardOptions; 0: plain).
ImportanceResult compute_importance(const DecoderModel& model,
                                    const std::vector<at::Tensor>& batches, bool needs_norms,
                                    const ScoreFn& score, std::int64_t attention_block = 0);

// {"layers": [{"kv_order": [...], "head_order": [...], "channel_order": [...]}, ...]}
std::string importance_to_json(const ImportanceOrder& order);

// Loss and perplexity of a model over batches: total CE / predicted tokens.
struct EvalResult {
  std::int64_t tokens = 0;  // predicted tokens (seq_len - 1 per window)
  double loss = 0;
  double ppl = 0;
};
EvalResult evaluate(const ModelConfig& config, const ModelWeights& weights,
                    const std::vector<at::Tensor>& batches);

}  // namespace tracenas
