#include "tracenas/support/decoder.hpp"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <limits>

#include "base/util.hpp"
#include "model/attention.hpp"
#include "tracenas/error.hpp"

namespace tracenas {
namespace {

// HF LlamaRMSNorm: float32 statistics, normalized value cast back before the weight.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  if (x.scalar_type() == at::kDouble) xf = x;
  at::Tensor var = xf.pow(2).mean(-1, /*keepdim=*/true);
  at::Tensor normed = (xf * at::rsqrt(var + eps)).to(x.scalar_type());
  return weight * normed;
}

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half);
  at::Tensor x2 = x.narrow(-1, half, half);
  return at::cat({-x2, x1}, -1);
}

// y = x @ W^T (+ b) with W given as [out..., in] (flattened to 2-D; a copy only
// when the view is not contiguous).
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, int64_t in_features,
                  const at::Tensor& bias) {
  at::Tensor w2 = w.reshape({-1, in_features});
  at::Tensor y = at::matmul(x, w2.t());
  if (bias.defined()) y = y + bias.reshape({-1});
  return y;
}

void accumulate_sq(at::Tensor* acc, const at::Tensor& x) {
  at::Tensor sq = x.detach().to(at::kDouble).pow(2).reshape({-1, x.size(-1)}).sum(0);
  *acc = acc->defined() ? *acc + sq : sq;
}

// What one layer's blocks need besides their weights.
struct LayerContext {
  const ModelConfig& c;
  const ForwardOptions& options;
  int layer;
  const at::Tensor& causal_bias;  // plain attention's mask (undefined when blockwise)

  // y = x W^T (+ b), through the tap when there is one.
  at::Tensor project(Projection p, const at::Tensor& x, const at::Tensor& w, int64_t in_features,
                     const at::Tensor& bias) const {
    if (options.tap != nullptr) return options.tap->project(layer, p, x, w, in_features, bias);
    return linear(x, w, in_features, bias);
  }
  at::Tensor* stat(std::vector<at::Tensor> ActivationStats::*which) const {
    return options.stats != nullptr ? &(options.stats->*which)[static_cast<std::size_t>(layer)]
                                    : nullptr;
  }
};

// [B, S, d] -> attention block output [B, S, d]
at::Tensor attention(const LayerContext& cx, const AttentionWeights& a, const at::Tensor& hidden,
                     const at::Tensor& cos, const at::Tensor& sin) {
  const ModelConfig& c = cx.c;
  const int64_t B = hidden.size(0), S = hidden.size(1), d = hidden.size(2);
  const int64_t g = a.kv_heads(), n = a.heads_per_group(), h = c.head_dim;
  at::Tensor x = rms_norm(hidden, a.input_norm, c.rms_norm_eps);
  at::Tensor q = cx.project(Projection::kQ, x, a.q, d, a.q_bias).view({B, S, g * n, h});
  at::Tensor k = cx.project(Projection::kK, x, a.k, d, a.k_bias).view({B, S, g, h});
  at::Tensor v = cx.project(Projection::kV, x, a.v, d, a.v_bias).view({B, S, g, h});
  if (a.q_norm.defined()) q = rms_norm(q, a.q_norm, c.rms_norm_eps);
  if (a.k_norm.defined()) k = rms_norm(k, a.k_norm, c.rms_norm_eps);
  q = q.transpose(1, 2);  // [B, g*n, S, h]
  k = k.transpose(1, 2);  // [B, g, S, h]
  v = v.transpose(1, 2);  // [B, g, S, h]
  q = q * cos + rotate_half(q) * sin;
  k = k * cos + rotate_half(k) * sin;
  const double scale = 1.0 / std::sqrt(static_cast<double>(h));
  at::Tensor out = cx.options.attention_block > 0
                       ? blockwise_causal_attention(q, k, v, scale, cx.options.attention_block)
                       : plain_causal_attention(q, k, v, scale, cx.causal_bias);  // [B, g*n, S, h]
  out = out.transpose(1, 2).reshape({B, S, g * n * h});                           // [B, S, g*n*h]
  if (at::Tensor* acc = cx.stat(&ActivationStats::o_input_sq)) accumulate_sq(acc, out);
  return cx.project(Projection::kO, out, a.o, g * n * h, a.o_bias);  // o: [d, g, n, h]
}

at::Tensor mlp(const LayerContext& cx, const MlpWeights& m, const at::Tensor& hidden) {
  const int64_t d = hidden.size(2);
  at::Tensor x = rms_norm(hidden, m.post_norm, cx.c.rms_norm_eps);
  at::Tensor gate = cx.project(Projection::kGate, x, m.gate, d, m.gate_bias);  // [B, S, c]
  at::Tensor up = cx.project(Projection::kUp, x, m.up, d, m.up_bias);          // [B, S, c]
  at::Tensor act = at::silu(gate) * up;                                        // [B, S, c]
  if (at::Tensor* acc = cx.stat(&ActivationStats::down_input_sq)) accumulate_sq(acc, act);
  // down: [d, c] (a column view; reshape keeps it a view)
  return cx.project(Projection::kDown, act, m.down, m.channels(), m.down_bias);
}

// One decoder layer (its attention and MLP blocks, with their residuals).
at::Tensor run_layer(const LayerContext& cx, const LayerWeights& layer, at::Tensor hidden,
                     const at::Tensor& cos, const at::Tensor& sin) {
  if (layer.attn) hidden = hidden + attention(cx, layer.attention, hidden, cos, sin);
  if (layer.mlp) hidden = hidden + mlp(cx, layer.ffn, hidden);
  return hidden;
}

// What a checkpointed layer needs to run again in the backward. The forward's
// config, weights and options outlive the backward of its pass.
struct LayerReplay : torch::CustomClassHolder {
  const ModelConfig* config = nullptr;
  const LayerWeights* layer = nullptr;
  ForwardOptions options;
  int index = 0;
  at::Tensor cos, sin, causal_bias;
};

// A layer whose activations are not kept: forward without a graph, and in the
// backward, the layer again from its saved input, then a nested backward
// through it (the taps' backwards run there).
class CheckpointedLayer : public torch::autograd::Function<CheckpointedLayer> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden,
                            const c10::intrusive_ptr<LayerReplay>& replay) {
    ctx->save_for_backward({hidden});
    ctx->saved_data["replay"] = c10::IValue::make_capsule(replay);
    at::NoGradGuard no_grad;
    const LayerContext cx{*replay->config, replay->options, replay->index, replay->causal_bias};
    return run_layer(cx, *replay->layer, hidden, replay->cos, replay->sin);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto replay =
        c10::static_intrusive_pointer_cast<LayerReplay>(ctx->saved_data["replay"].toCapsule());
    at::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    at::Tensor y;
    {
      at::AutoGradMode grad(true);
      const LayerContext cx{*replay->config, replay->options, replay->index, replay->causal_bias};
      y = run_layer(cx, *replay->layer, x, replay->cos, replay->sin);
    }
    at::Tensor dx = torch::autograd::grad({y}, {x}, {grads[0]})[0];
    return {dx, at::Tensor()};
  }
};

int64_t numel_or_zero(const at::Tensor& t) { return t.defined() ? t.numel() : 0; }

}  // namespace

at::Tensor rope_inv_freq(const ModelConfig& c) {
  const int64_t h = c.head_dim;
  at::Tensor idx = at::arange(0, h, 2, at::kDouble) / static_cast<double>(h);
  at::Tensor inv = 1.0 / at::pow(at::full({}, c.rope_theta, at::kDouble), idx);  // [h/2]
  if (c.rope_type == "linear") {
    inv = inv / c.rope_factor;
  } else if (c.rope_type == "llama3") {
    const double old_ctx = c.rope_original_max_position;
    const double low_wavelen = old_ctx / c.rope_low_freq_factor;
    const double high_wavelen = old_ctx / c.rope_high_freq_factor;
    at::Tensor wavelen = 2.0 * M_PI / inv;
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv / c.rope_factor, inv);
    at::Tensor smooth = (old_ctx / wavelen - c.rope_low_freq_factor) /
                        (c.rope_high_freq_factor - c.rope_low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / c.rope_factor + smooth * scaled;
    at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    inv = at::where(medium, smoothed, scaled);
  }
  return inv;
}

ProjectionTap::~ProjectionTap() = default;

at::Tensor decoder_hidden(const ModelConfig& c, const ModelWeights& w, const at::Tensor& tokens,
                          const ForwardOptions& options) {
  if (tokens.dim() != 2) {
    throw DataError("token batch must be [batch, seq] (got " + std::to_string(tokens.dim()) +
                    " dimensions)");
  }
  const int64_t S = tokens.size(1);
  const auto dtype = w.embed.scalar_type();
  const auto device = w.embed.device();
  at::Tensor ids = tokens.to(device, at::kLong);
  at::Tensor hidden = at::embedding(w.embed, ids);  // [B, S, d]
  // A tap computes the projections' gradients itself: the weights are no
  // leaves, so the residual stream is what the backward starts from.
  if (options.tap != nullptr && at::GradMode::is_enabled()) {
    hidden = hidden.detach().requires_grad_(true);
  }

  // cos/sin [S, h] computed in float32 (float64 for a float64 model), cast to the model dtype.
  const bool f64 = dtype == at::kDouble;
  at::Tensor inv = rope_inv_freq(c).to(device, f64 ? at::kDouble : at::kFloat);
  at::Tensor pos = at::arange(S, inv.options());
  at::Tensor freqs = at::outer(pos, inv);        // [S, h/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);  // [S, h]
  at::Tensor cos = emb.cos().to(dtype);
  at::Tensor sin = emb.sin().to(dtype);

  if (options.stats != nullptr) {
    options.stats->o_input_sq.resize(w.layers.size());
    options.stats->down_input_sq.resize(w.layers.size());
  }
  const at::Tensor bias =
      options.attention_block > 0 ? at::Tensor() : causal_bias(S, dtype, device);
  // Checkpointing needs the graph it replaces: a traced pass with gradients on.
  const bool checkpoint =
      options.checkpoint_layers && options.tap != nullptr && hidden.requires_grad();
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& layer = w.layers[i];
    if (checkpoint && (layer.attn || layer.mlp)) {
      auto replay = c10::make_intrusive<LayerReplay>();
      replay->config = &c;
      replay->layer = &layer;
      replay->options = options;
      replay->options.stats = nullptr;  // statistics come from passes without gradients
      replay->index = static_cast<int>(i);
      replay->cos = cos;
      replay->sin = sin;
      replay->causal_bias = bias;
      hidden = CheckpointedLayer::apply(hidden, replay);
      continue;
    }
    hidden =
        run_layer(LayerContext{c, options, static_cast<int>(i), bias}, layer, hidden, cos, sin);
  }
  return rms_norm(hidden, w.final_norm, c.rms_norm_eps);  // [B, S, d]
}

at::Tensor decoder_logits(const ModelConfig& c, const ModelWeights& w, const at::Tensor& tokens,
                          const ForwardOptions& options) {
  return at::matmul(decoder_hidden(c, w, tokens, options), w.lm_head.t());  // [B, S, vocab]
}

at::Tensor decoder_logits(const ModelConfig& c, const ModelWeights& w, const at::Tensor& tokens,
                          ActivationStats* stats) {
  ForwardOptions options;
  options.stats = stats;
  return decoder_logits(c, w, tokens, options);
}

at::Tensor causal_lm_loss(const at::Tensor& logits, const at::Tensor& tokens) {
  const int64_t S = logits.size(1), V = logits.size(2);
  const auto acc = logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor pred = logits.narrow(1, 0, S - 1).reshape({-1, V}).to(acc);
  at::Tensor target = tokens.to(logits.device(), at::kLong).narrow(1, 1, S - 1).reshape({-1});
  return at::cross_entropy_loss(pred, target);
}

std::pair<double, std::int64_t> causal_lm_loss_sum(const at::Tensor& logits,
                                                   const at::Tensor& tokens) {
  const int64_t S = logits.size(1), V = logits.size(2);
  const auto acc = logits.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor pred = logits.narrow(1, 0, S - 1).reshape({-1, V}).to(acc);
  at::Tensor target = tokens.to(logits.device(), at::kLong).narrow(1, 1, S - 1).reshape({-1});
  at::Tensor ce = at::cross_entropy_loss(pred, target, {}, at::Reduction::None);
  return {ce.to(at::kDouble).sum().item<double>(), target.numel()};
}

std::vector<std::pair<std::string, at::Tensor>> named_hf_tensors(const ModelConfig& c,
                                                                 const ModelWeights& w,
                                                                 const HfTensorNames& names) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  const int64_t d = c.hidden_size;
  // Adds `t` (when present) as `pattern` of layer `layer` (-1: not per layer),
  // reshaped to its stored shape.
  auto add = [&](const std::string& pattern, int layer, const at::Tensor& t,
                 std::vector<int64_t> shape) {
    if (!t.defined()) return;
    if (pattern.empty()) {
      throw ModelError("export: the model holds a tensor of shape " + shape_text(t.sizes().vec()) +
                       (layer >= 0 ? " in layer " + std::to_string(layer) : std::string()) +
                       " that its family's tensor-name table does not name");
    }
    out.emplace_back(layer >= 0 ? hf_layer_name(pattern, layer) : pattern, t.reshape(shape));
  };
  add(names.embed, -1, w.embed, {-1, d});
  for (std::size_t li = 0; li < w.layers.size(); ++li) {
    const LayerWeights& l = w.layers[li];
    const int i = static_cast<int>(li);
    if (l.attn) {
      const AttentionWeights& a = l.attention;
      add(names.input_norm, i, a.input_norm, {-1});
      add(names.q, i, a.q, {-1, d});
      add(names.k, i, a.k, {-1, d});
      add(names.v, i, a.v, {-1, d});
      add(names.o, i, a.o, {d, -1});
      add(names.q_bias, i, a.q_bias, {-1});
      add(names.k_bias, i, a.k_bias, {-1});
      add(names.v_bias, i, a.v_bias, {-1});
      add(names.o_bias, i, a.o_bias, {-1});
      add(names.q_norm, i, a.q_norm, {-1});
      add(names.k_norm, i, a.k_norm, {-1});
    }
    if (l.mlp) {
      const MlpWeights& m = l.ffn;
      add(names.post_norm, i, m.post_norm, {-1});
      add(names.gate, i, m.gate, {-1, d});
      add(names.up, i, m.up, {-1, d});
      add(names.down, i, m.down, {d, -1});
      add(names.gate_bias, i, m.gate_bias, {-1});
      add(names.up_bias, i, m.up_bias, {-1});
      add(names.down_bias, i, m.down_bias, {-1});
    }
  }
  add(names.final_norm, -1, w.final_norm, {-1});
  if (!c.tie_word_embeddings) add(names.lm_head, -1, w.lm_head, {-1, d});
  return out;
}

std::int64_t count_parameters(const ModelConfig& c, const ModelWeights& w) {
  std::int64_t n = 0;
  for (const auto& [name, t] : named_hf_tensors(c, w, hf_decoder_names())) n += numel_or_zero(t);
  return n;
}

DecoderModel::DecoderModel(ModelConfig config, ModelWeights weights, HfFamily family)
    : config_(std::move(config)), weights_(std::move(weights)), family_(std::move(family)) {}

at::ScalarType DecoderModel::dtype() const { return weights_.embed.scalar_type(); }
at::Device DecoderModel::device() const { return weights_.embed.device(); }

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") return at::kHalf;
  if (name == "float64") return at::kDouble;
  throw ConfigError("unknown dtype '" + name + "' (known: float32, bfloat16, float16, float64)");
}

const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return "float32";
    case at::kBFloat16:
      return "bfloat16";
    case at::kHalf:
      return "float16";
    case at::kDouble:
      return "float64";
    default:
      return "other";
  }
}

}  // namespace tracenas
