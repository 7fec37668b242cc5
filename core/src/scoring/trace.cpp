#include "scoring/trace.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <functional>
#include <sstream>

#include "io/safetensors.hpp"
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
    for_each_projection(
        l, [](const char*, BlockKind, at::Tensor& t) { t = t.detach().requires_grad_(true); });
  }
}

// Output dims of a projection weight in the grouped layout (decoder.hpp); 0
// for a bias (not sketched).
int out_dims(const std::string& name) {
  if (name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0) return 0;
  if (name == "q_proj.weight") return 3;                             // [g, n, h | d]
  if (name == "k_proj.weight" || name == "v_proj.weight") return 2;  // [g, h | d]
  return 1;  // o [d | g, n, h], gate/up [c | d], down [d | c]
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

at::ScalarType sketch_dtype(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// Prefix-narrows dims [first, first + sizes.size()) of `t` to `sizes`.
at::Tensor narrow_prefix(at::Tensor t, int64_t first, at::IntArrayRef sizes) {
  for (std::size_t d = 0; d < sizes.size(); ++d) {
    t = t.narrow(first + static_cast<int64_t>(d), 0, sizes[d]);
  }
  return t;
}

// g [out..., in...] (nout output dims), a [r, in_base...] -> g a^T [out..., r].
at::Tensor sketch_right(const at::Tensor& g, const at::Tensor& a, int nout) {
  const int64_t nin = g.dim() - nout;
  at::Tensor ak = narrow_prefix(a, 1, g.sizes().slice(static_cast<std::size_t>(nout)));
  std::vector<int64_t> gd, ad;
  for (int64_t d = 0; d < nin; ++d) {
    gd.push_back(nout + d);
    ad.push_back(1 + d);
  }
  return at::tensordot(g.to(a.scalar_type()), ak, gd, ad);
}

// g [out..., in...], b [out_base..., r] -> b^T g [r, in...].
at::Tensor sketch_left(const at::Tensor& g, const at::Tensor& b, int nout) {
  at::Tensor bk = narrow_prefix(b, 0, g.sizes().slice(0, static_cast<std::size_t>(nout)));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < nout; ++d) dims.push_back(d);
  return at::tensordot(bk, g.to(b.scalar_type()), dims, dims);
}

// Draws A and B of every projection of every layer and sketches the base gradients.
void sketch_base(BaseTraces& base, ModelWeights& w, int rank, std::uint64_t seed) {
  base.sketch_rank = rank;
  base.sketch_seed = seed;
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    std::map<std::string, BaseTraces::Sketch> layer;
    std::uint64_t slot = 0;
    for_each_projection(w.layers[i], [&](const char* name, BlockKind, at::Tensor& t) {
      const at::Tensor g = t.grad();
      const int nout = out_dims(name);
      BaseTraces::Sketch s;
      if (nout == 0) {
        s.right = g.to(at::kDouble);
      } else {
        auto gen = at::make_generator<at::CPUGeneratorImpl>(
            splitmix64(seed ^ (static_cast<std::uint64_t>(i) << 20) ^ slot));
        const auto opts = at::TensorOptions().dtype(sketch_dtype(g));
        std::vector<int64_t> a_shape = {rank}, b_shape;
        for (int64_t d = nout; d < g.dim(); ++d) a_shape.push_back(g.size(d));
        for (int64_t d = 0; d < nout; ++d) b_shape.push_back(g.size(d));
        b_shape.push_back(rank);
        s.a = at::randn(a_shape, gen, opts).to(g.device());    // [r, in...]
        s.b = at::randn(b_shape, gen, opts).to(g.device());    // [out..., r]
        s.right = sketch_right(g, s.a, nout).to(at::kDouble);  // [out..., r]
        s.left = sketch_left(g, s.b, nout).to(at::kDouble);    // [r, in...]
      }
      layer.emplace(name, std::move(s));
      ++slot;
    });
    base.sketches.push_back(std::move(layer));
  }
}

}  // namespace

BaseTraces compute_base_traces(const ModelConfig& config, const PrefixWeights& prefix,
                               const std::vector<at::Tensor>& batches, const TraceNeeds& needs) {
  BaseTraces base;
  ModelWeights w = prefix.reordered();
  const bool grads = needs.base_weight_grads || needs.sketch_rank > 0;
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
  if (needs.sketch_rank > 0) sketch_base(base, w, needs.sketch_rank, needs.sketch_seed);
  if (needs.base_weight_grads) {
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
  const bool sketch = needs.sketch_rank > 0;
  if (sketch && (base.sketch_rank != needs.sketch_rank || base.sketch_seed != needs.sketch_seed)) {
    throw Error("candidate pass: the base traces hold no sketch of rank " +
                std::to_string(needs.sketch_rank) + " and seed " +
                std::to_string(needs.sketch_seed));
  }
  const bool grads = needs.weight_grads || needs.grad_moments || sketch;
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
            // .to() already copied unless the model runs in float64.
            sum[i].push_back(g.is_same(t.grad()) ? g.clone() : g);
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
      if (sketch) {
        const at::Tensor mean = sum[i][k] / K;
        const int nout = out_dims(name);
        const BaseTraces::Sketch& bs = base.sketches.at(i).at(name);
        if (nout == 0) {
          bt.sketch.push_back(mean);
          bt.base_sketch.push_back(narrow_prefix(bs.right, 0, mean.sizes()));
        } else {
          bt.sketch.push_back(sketch_right(mean, bs.a, nout).to(at::kDouble));
          bt.sketch.push_back(sketch_left(mean, bs.b, nout).to(at::kDouble));
          at::IntArrayRef sizes = mean.sizes();
          bt.base_sketch.push_back(
              narrow_prefix(bs.right, 0, sizes.slice(0, static_cast<std::size_t>(nout))));
          bt.base_sketch.push_back(
              narrow_prefix(bs.left, 1, sizes.slice(static_cast<std::size_t>(nout))));
        }
      }
      if (grads && (needs.weight_grads || needs.grad_moments)) {
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

namespace tracenas {

void save_base_traces(const std::string& path, const BaseTraces& base) {
  NamedTensors tensors;
  for (std::size_t i = 0; i < base.grads.size(); ++i) {
    LayerWeights g = base.grads[i];
    for_each_projection(g, [&](const char* name, BlockKind, at::Tensor& t) {
      tensors.emplace_back("grad." + std::to_string(i) + "." + name, t);
    });
  }
  for (std::size_t i = 0; i < base.sketches.size(); ++i) {
    for (const auto& [name, s] : base.sketches[i]) {
      const std::string p = "sketch." + std::to_string(i) + "." + name + ".";
      if (s.a.defined()) tensors.emplace_back(p + "a", s.a);
      if (s.b.defined()) tensors.emplace_back(p + "b", s.b);
      tensors.emplace_back(p + "right", s.right);
      if (s.left.defined()) tensors.emplace_back(p + "left", s.left);
    }
  }
  for (std::size_t k = 0; k < base.logits.size(); ++k) {
    tensors.emplace_back("logits." + std::to_string(k), base.logits[k]);
  }
  std::ostringstream losses;
  losses.precision(17);
  for (std::size_t k = 0; k < base.batch_losses.size(); ++k) {
    losses << (k ? " " : "") << base.batch_losses[k];
  }
  SafeTensorsMetadata meta = {{"format", "tracenas.base_traces/1"},
                              {"batch_losses", losses.str()},
                              {"layers", std::to_string(base.grads.size())},
                              {"sketch_rank", std::to_string(base.sketch_rank)},
                              {"sketch_seed", std::to_string(base.sketch_seed)}};
  save_safetensors(path, tensors, meta);
}

std::optional<BaseTraces> load_base_traces(const std::string& path, const TraceNeeds& needs,
                                           int num_layers, const std::string& device) {
  std::shared_ptr<SafeTensorsFile> f;
  try {
    f = SafeTensorsFile::open(path);
  } catch (const Error&) {
    return std::nullopt;
  }
  const SafeTensorsMetadata& meta = f->metadata();
  auto get_meta = [&](const std::string& key) -> std::string {
    auto it = meta.find(key);
    return it == meta.end() ? std::string() : it->second;
  };
  if (get_meta("format") != "tracenas.base_traces/1") return std::nullopt;
  const at::Device dev(device);
  auto load = [&](const std::string& name) -> at::Tensor {
    return f->has(name) ? f->get(name).to(dev, /*non_blocking=*/false, /*copy=*/true)
                        : at::Tensor();
  };
  BaseTraces base;
  std::istringstream losses(get_meta("batch_losses"));
  for (double v; losses >> v;) base.batch_losses.push_back(v);
  if (needs.base_weight_grads) {
    for (int i = 0; i < num_layers; ++i) {
      LayerWeights g;
      bool complete = true;
      // The slot set of a full layer: every weight, and the biases the file holds.
      for (const char* name :
           {"q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight", "q_proj.bias",
            "k_proj.bias", "v_proj.bias", "o_proj.bias", "gate_proj.weight", "up_proj.weight",
            "down_proj.weight", "gate_proj.bias", "up_proj.bias", "down_proj.bias"}) {
        at::Tensor t = load("grad." + std::to_string(i) + "." + name);
        const std::string n = name;
        const bool weight = n.find(".weight") != std::string::npos;
        if (!t.defined()) {
          if (weight) complete = false;
          continue;
        }
        AttentionWeights& a = g.attention;
        MlpWeights& m = g.ffn;
        at::Tensor* slot = n == "q_proj.weight"      ? &a.q
                           : n == "k_proj.weight"    ? &a.k
                           : n == "v_proj.weight"    ? &a.v
                           : n == "o_proj.weight"    ? &a.o
                           : n == "q_proj.bias"      ? &a.q_bias
                           : n == "k_proj.bias"      ? &a.k_bias
                           : n == "v_proj.bias"      ? &a.v_bias
                           : n == "o_proj.bias"      ? &a.o_bias
                           : n == "gate_proj.weight" ? &m.gate
                           : n == "up_proj.weight"   ? &m.up
                           : n == "down_proj.weight" ? &m.down
                           : n == "gate_proj.bias"   ? &m.gate_bias
                           : n == "up_proj.bias"     ? &m.up_bias
                                                     : &m.down_bias;
        *slot = t;
      }
      if (!complete) return std::nullopt;
      base.grads.push_back(std::move(g));
    }
  }
  if (needs.sketch_rank > 0) {
    if (get_meta("sketch_rank") != std::to_string(needs.sketch_rank) ||
        get_meta("sketch_seed") != std::to_string(needs.sketch_seed)) {
      return std::nullopt;
    }
    base.sketch_rank = needs.sketch_rank;
    base.sketch_seed = needs.sketch_seed;
    base.sketches.resize(static_cast<std::size_t>(num_layers));
    for (const std::string& name : f->names()) {
      if (name.rfind("sketch.", 0) != 0) continue;
      // sketch.<layer>.<proj>.<part>, where <proj> holds one dot.
      const std::size_t a = name.find('.', 7);
      const std::size_t last = name.rfind('.');
      if (a == std::string::npos || last <= a) return std::nullopt;
      const int layer = std::stoi(name.substr(7, a - 7));
      if (layer < 0 || layer >= num_layers) return std::nullopt;
      const std::string proj = name.substr(a + 1, last - a - 1);
      const std::string part = name.substr(last + 1);
      BaseTraces::Sketch& s = base.sketches[static_cast<std::size_t>(layer)][proj];
      at::Tensor t = load(name);
      if (part == "a")
        s.a = t;
      else if (part == "b")
        s.b = t;
      else if (part == "right")
        s.right = t;
      else if (part == "left")
        s.left = t;
      else
        return std::nullopt;
    }
    for (const auto& layer : base.sketches) {
      if (layer.empty()) return std::nullopt;
    }
  }
  if (needs.base_logits) {
    for (std::size_t k = 0; k < base.batch_losses.size(); ++k) {
      at::Tensor t = load("logits." + std::to_string(k));
      if (!t.defined()) return std::nullopt;
      base.logits.push_back(t);
    }
  }
  return base;
}

}  // namespace tracenas
