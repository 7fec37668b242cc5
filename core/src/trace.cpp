#include "tracenas/trace.hpp"

#include <functional>

#include <ATen/ATen.h>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

using SlotFn = std::function<void(const char* name, BlockKind kind, at::Tensor& t)>;

// Every projection weight and bias of a layer (the coordinates of a block's trace).
void for_each_projection(LayerWeights& l, const SlotFn& fn) {
  if (l.attn) {
    AttentionWeights& a = l.attention;
    fn("q_proj.weight", BlockKind::kAttn, a.q);
    fn("k_proj.weight", BlockKind::kAttn, a.k);
    fn("v_proj.weight", BlockKind::kAttn, a.v);
    fn("o_proj.weight", BlockKind::kAttn, a.o);
    if (a.q_bias.defined()) fn("q_proj.bias", BlockKind::kAttn, a.q_bias);
    if (a.k_bias.defined()) fn("k_proj.bias", BlockKind::kAttn, a.k_bias);
    if (a.v_bias.defined()) fn("v_proj.bias", BlockKind::kAttn, a.v_bias);
    if (a.o_bias.defined()) fn("o_proj.bias", BlockKind::kAttn, a.o_bias);
  }
  if (l.mlp) {
    MlpWeights& m = l.ffn;
    fn("gate_proj.weight", BlockKind::kMlp, m.gate);
    fn("up_proj.weight", BlockKind::kMlp, m.up);
    fn("down_proj.weight", BlockKind::kMlp, m.down);
    if (m.gate_bias.defined()) fn("gate_proj.bias", BlockKind::kMlp, m.gate_bias);
    if (m.up_bias.defined()) fn("up_proj.bias", BlockKind::kMlp, m.up_bias);
    if (m.down_bias.defined()) fn("down_proj.bias", BlockKind::kMlp, m.down_bias);
  }
}

// Turns every projection tensor into a gradient leaf sharing its storage.
void make_leaves(ModelWeights& w) {
  for (LayerWeights& l : w.layers) {
    for_each_projection(l, [](const char*, BlockKind, at::Tensor& t) {
      t = t.detach().requires_grad_(true);
    });
  }
}

}  // namespace

BaseTraces compute_base_traces(const ModelConfig& config, const PrefixWeights& prefix,
                               const std::vector<at::Tensor>& batches, const TraceNeeds& needs) {
  BaseTraces base;
  ModelWeights w = prefix.reordered();
  const bool grads = needs.base_weight_grads;
  if (grads) make_leaves(w);
  for (const at::Tensor& b : batches) {
    at::Tensor logits;
    if (grads) {
      logits = decoder_logits(config, w, b);
      at::Tensor loss = causal_lm_loss(logits, b);
      loss.backward();
      base.batch_losses.push_back(loss.item<double>());
    } else {
      at::NoGradGuard ng;
      logits = decoder_logits(config, w, b);
      base.batch_losses.push_back(causal_lm_loss(logits, b).item<double>());
    }
    if (needs.base_logits) base.logits.push_back(logits.detach());
  }
  if (grads) {
    // g_M = sum over batches (the .grad fields accumulated it).
    for (LayerWeights& l : w.layers) {
      LayerWeights g;
      g.attn = l.attn;
      g.mlp = l.mlp;
      // The same slots and layout as the weights.
      g.attention.q = l.attention.q.grad();
      g.attention.k = l.attention.k.grad();
      g.attention.v = l.attention.v.grad();
      g.attention.o = l.attention.o.grad();
      if (l.attention.q_bias.defined()) g.attention.q_bias = l.attention.q_bias.grad();
      if (l.attention.k_bias.defined()) g.attention.k_bias = l.attention.k_bias.grad();
      if (l.attention.v_bias.defined()) g.attention.v_bias = l.attention.v_bias.grad();
      if (l.attention.o_bias.defined()) g.attention.o_bias = l.attention.o_bias.grad();
      g.ffn.gate = l.ffn.gate.grad();
      g.ffn.up = l.ffn.up.grad();
      g.ffn.down = l.ffn.down.grad();
      if (l.ffn.gate_bias.defined()) g.ffn.gate_bias = l.ffn.gate_bias.grad();
      if (l.ffn.up_bias.defined()) g.ffn.up_bias = l.ffn.up_bias.grad();
      if (l.ffn.down_bias.defined()) g.ffn.down_bias = l.ffn.down_bias.grad();
      base.grads.push_back(std::move(g));
    }
  }
  return base;
}

Trace run_candidate_pass(const ModelConfig& config, const PrefixWeights& prefix, const Arch& arch,
                         const BaseTraces& base, const std::vector<at::Tensor>& batches,
                         const TraceNeeds& needs) {
  const bool grads = needs.weight_grads || needs.grad_moments;
  ModelWeights w = prefix.view(arch);
  if (grads) make_leaves(w);

  // Running sums per projection, in for_each_projection order per layer.
  std::vector<std::vector<at::Tensor>> sum(w.layers.size()), sum_abs(w.layers.size()),
      sum_sq(w.layers.size());
  Trace trace;
  for (const at::Tensor& b : batches) {
    at::Tensor logits;
    if (grads) {
      logits = decoder_logits(config, w, b);
      at::Tensor loss = causal_lm_loss(logits, b);
      loss.backward();
      trace.batch_losses.push_back(loss.item<double>());
      for (std::size_t i = 0; i < w.layers.size(); ++i) {
        std::size_t k = 0;
        for_each_projection(w.layers[i], [&](const char*, BlockKind, at::Tensor& t) {
          at::Tensor g = t.grad().to(at::kDouble);
          if (sum[i].size() <= k) {
            sum[i].push_back(g.clone());
            if (needs.grad_moments) {
              sum_abs[i].push_back(g.abs());
              sum_sq[i].push_back(g.pow(2));
            }
          } else {
            sum[i][k] += g;
            if (needs.grad_moments) {
              sum_abs[i][k] += g.abs();
              sum_sq[i][k] += g.pow(2);
            }
          }
          t.mutable_grad().reset();
          ++k;
        });
      }
    } else {
      at::NoGradGuard ng;
      logits = decoder_logits(config, w, b);
      trace.batch_losses.push_back(causal_lm_loss(logits, b).item<double>());
    }
    if (needs.logits) trace.logits.push_back(logits.detach());
  }
  trace.base_logits = base.logits;

  const double K = static_cast<double>(batches.size());
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    LayerWeights base_view;
    if (needs.base_weight_grads) {
      if (base.grads.size() != w.layers.size()) {
        throw Error("candidate pass: the base traces hold no gradients");
      }
      base_view = narrow_layer(base.grads[i], arch.layers[i]);
    }
    std::vector<at::Tensor> base_slots;
    if (needs.base_weight_grads) {
      for_each_projection(base_view,
                          [&](const char*, BlockKind, at::Tensor& t) { base_slots.push_back(t); });
    }
    BlockTrace attn, mlp;
    attn.layer = mlp.layer = static_cast<int>(i);
    attn.kind = BlockKind::kAttn;
    mlp.kind = BlockKind::kMlp;
    std::size_t k = 0;
    for_each_projection(w.layers[i], [&](const char* name, BlockKind kind, at::Tensor& t) {
      BlockTrace& bt = kind == BlockKind::kAttn ? attn : mlp;
      bt.names.push_back(name);
      bt.weights.push_back(t.detach());
      if (grads) {
        bt.grads.push_back(sum[i][k] / K);
        if (needs.grad_moments) {
          at::Tensor mean = sum[i][k] / K;
          at::Tensor sq = sum_sq[i][k] / K;
          bt.grad_abs_mean.push_back(sum_abs[i][k] / K);
          bt.grad_sq_mean.push_back(sq);
          bt.grad_std.push_back((sq - mean.pow(2)).clamp_min(0).sqrt());
        }
      }
      if (needs.base_weight_grads) bt.base_grads.push_back(base_slots[k]);
      ++k;
    });
    if (w.layers[i].attn) trace.blocks.push_back(std::move(attn));
    if (w.layers[i].mlp) trace.blocks.push_back(std::move(mlp));
  }
  return trace;
}

}  // namespace tracenas
