#include "data/calibration.hpp"

#include <ATen/ATen.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "tracenas/error.hpp"
#include "tracenas/support/tokens.hpp"

namespace tracenas {
namespace {

at::Tensor window_batch(const std::vector<std::int32_t>& stream,
                        const std::vector<std::int64_t>& offsets, int seq_len) {
  at::Tensor t = at::empty({static_cast<int64_t>(offsets.size()), seq_len}, at::kLong);
  auto acc = t.accessor<int64_t, 2>();
  for (std::size_t b = 0; b < offsets.size(); ++b) {
    for (int s = 0; s < seq_len; ++s) acc[static_cast<int64_t>(b)][s] = stream[offsets[b] + s];
  }
  return t;
}

}  // namespace

std::vector<at::Tensor> calibration_batches(const std::vector<std::int32_t>& stream,
                                            const BatchSpec& spec, const std::string& source_name) {
  std::vector<at::Tensor> out;
  for (const auto& offsets : calibration_windows(stream.size(), spec, source_name)) {
    out.push_back(window_batch(stream, offsets, spec.seq_len));
  }
  return out;
}

std::vector<at::Tensor> eval_batches(const std::vector<std::int32_t>& stream, int seq_len,
                                     int batch_size, const std::string& source_name) {
  const std::size_t windows = stream.size() / static_cast<std::size_t>(seq_len);
  if (windows == 0) {
    throw DataError(source_name + ": " + std::to_string(stream.size()) +
                    " tokens do not make one window of " + std::to_string(seq_len));
  }
  std::vector<at::Tensor> out;
  for (std::size_t w = 0; w < windows; w += static_cast<std::size_t>(batch_size)) {
    std::vector<std::int64_t> offsets;
    for (std::size_t k = w; k < std::min(windows, w + static_cast<std::size_t>(batch_size)); ++k) {
      offsets.push_back(static_cast<std::int64_t>(k) * seq_len);
    }
    out.push_back(window_batch(stream, offsets, seq_len));
  }
  return out;
}

ImportanceResult compute_importance(const DecoderModel& model,
                                    const std::vector<at::Tensor>& batches, bool needs_norms,
                                    const ScoreFn& score, std::int64_t attention_block) {
  at::NoGradGuard no_grad;
  const ModelConfig& c = model.config();
  ActivationStats stats;
  if (needs_norms) {
    ForwardOptions fo;
    fo.stats = &stats;
    fo.attention_block = attention_block;
    for (const at::Tensor& b : batches) decoder_hidden(c, model.weights(), b, fo);
  }
  ImportanceResult r;
  for (int i = 0; i < c.num_layers; ++i) {
    const LayerWeights& l = model.weights().layers[static_cast<std::size_t>(i)];
    LayerImportanceInput in;
    in.layer = i;
    in.o_proj_weight = l.attention.o.reshape({c.hidden_size, -1});  // [d, H*h]
    in.down_proj_weight = l.ffn.down;                               // [d, I]
    if (needs_norms) {
      in.o_input_norm = stats.o_input_sq[static_cast<std::size_t>(i)].sqrt();
      in.down_input_norm = stats.down_input_sq[static_cast<std::size_t>(i)].sqrt();
    }
    LayerImportanceScores s = score(in);
    LayerScores ls;
    r.order.push_back(order_from_channel_scores(
        s.o_channel_scores.cpu(), s.down_channel_scores.cpu(), c.num_heads, c.num_kv_heads, &ls));
    r.scores.push_back(ls);
  }
  return r;
}

void check_token_ids(const std::vector<at::Tensor>& batches, int vocab, const std::string& source) {
  for (std::size_t k = 0; k < batches.size(); ++k) {
    const at::Tensor& b = batches[k];
    const std::int64_t max_id = b.max().item<std::int64_t>();
    const std::int64_t min_id = b.min().item<std::int64_t>();
    if (max_id < vocab && min_id >= 0) continue;
    at::Tensor bad = (b >= vocab).logical_or(b < 0).nonzero();  // [n, 2]
    const std::int64_t row = bad[0][0].item<std::int64_t>();
    const std::int64_t col = bad[0][1].item<std::int64_t>();
    const std::int64_t id = b[row][col].item<std::int64_t>();
    throw DataError(source + ": token id " + std::to_string(id) +
                    " is not below the model's vocabulary size " + std::to_string(vocab) +
                    " (batch " + std::to_string(k) + ", window " + std::to_string(row) +
                    ", position " + std::to_string(col) + ")");
  }
}

std::string importance_to_json(const ImportanceOrder& order) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const LayerOrder& o : order) {
    layers.push_back({{"kv_order", o.kv_order},
                      {"head_order", o.head_order},
                      {"channel_order", o.channel_order}});
  }
  return nlohmann::ordered_json{{"layers", layers}}.dump();
}

EvalResult evaluate(const ModelConfig& config, const ModelWeights& weights,
                    const std::vector<at::Tensor>& batches) {
  at::NoGradGuard no_grad;
  double total = 0;
  std::int64_t count = 0;
  for (const at::Tensor& b : batches) {
    auto [sum, n] = causal_lm_loss_sum(decoder_logits(config, weights, b), b);
    total += sum;
    count += n;
  }
  EvalResult r;
  r.tokens = count;
  r.loss = count > 0 ? total / static_cast<double>(count) : 0.0;
  r.ppl = std::exp(r.loss);
  return r;
}

}  // namespace tracenas
