#include "model/subnet.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

// Indices sorted by descending score; ties toward the lower index.
std::vector<int> descending_order(const at::Tensor& scores) {
  at::Tensor s = scores.to(at::kDouble).contiguous();
  const double* p = s.data_ptr<double>();
  std::vector<int> idx(static_cast<std::size_t>(s.numel()));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return p[a] > p[b]; });
  return idx;
}

at::Tensor long_index(const std::vector<int>& v, const at::Device& device) {
  std::vector<int64_t> w(v.begin(), v.end());
  return at::tensor(w, at::kLong).to(device);
}

at::Tensor select_or_undef(const at::Tensor& t, int64_t dim, const at::Tensor& index) {
  return t.defined() ? t.index_select(dim, index) : t;
}

// Flat query-head indices kept per kept KV group, in the order given.
at::Tensor flat_head_index(const std::vector<int>& heads, const at::Device& device) {
  return long_index(heads, device);
}

// Attention weights with the given KV groups (outer order) and query heads
// (flat, grouped by KV head in the same outer order, n per group).
AttentionWeights take_heads(const AttentionWeights& a, const std::vector<int>& kv,
                            const std::vector<int>& heads, int64_t h, int64_t d) {
  const at::Device dev = a.q.device();
  const int64_t G = a.q.size(0), n = a.q.size(1);
  const int64_t g2 = static_cast<int64_t>(kv.size());
  const int64_t n2 = static_cast<int64_t>(heads.size()) / g2;
  at::Tensor kv_idx = long_index(kv, dev);
  at::Tensor head_idx = flat_head_index(heads, dev);
  AttentionWeights o;
  o.input_norm = a.input_norm;
  o.q = a.q.reshape({G * n, h, d}).index_select(0, head_idx).view({g2, n2, h, d});
  o.k = a.k.index_select(0, kv_idx);
  o.v = a.v.index_select(0, kv_idx);
  o.o = a.o.reshape({d, G * n, h}).index_select(1, head_idx).view({d, g2, n2, h});
  if (a.q_bias.defined()) {
    o.q_bias = a.q_bias.reshape({G * n, h}).index_select(0, head_idx).view({g2, n2, h});
  }
  o.k_bias = select_or_undef(a.k_bias, 0, kv_idx);
  o.v_bias = select_or_undef(a.v_bias, 0, kv_idx);
  o.o_bias = a.o_bias;
  o.q_norm = a.q_norm;
  o.k_norm = a.k_norm;
  return o;
}

MlpWeights take_channels(const MlpWeights& m, const std::vector<int>& channels) {
  at::Tensor idx = long_index(channels, m.gate.device());
  MlpWeights o;
  o.post_norm = m.post_norm;
  o.gate = m.gate.index_select(0, idx);
  o.up = m.up.index_select(0, idx);
  o.down = m.down.index_select(1, idx);
  o.gate_bias = select_or_undef(m.gate_bias, 0, idx);
  o.up_bias = select_or_undef(m.up_bias, 0, idx);
  o.down_bias = m.down_bias;
  return o;
}

}  // namespace

LayerOrder order_from_channel_scores(const at::Tensor& o_scores, const at::Tensor& down_scores,
                                     int H, int G, LayerScores* scores) {
  at::Tensor so = o_scores.to(at::kDouble);
  if (so.numel() % H != 0) {
    throw Error("importance: " + std::to_string(so.numel()) +
                " o_proj channel scores do not split into " + std::to_string(H) + " heads");
  }
  at::Tensor head = so.view({H, -1}).sum(1);     // [H]
  at::Tensor kv = head.view({G, H / G}).sum(1);  // [G]
  LayerOrder order;
  order.head_order = descending_order(head);
  order.kv_order = descending_order(kv);
  order.channel_order = descending_order(down_scores);
  if (scores != nullptr) {
    scores->head_score = head;
    scores->kv_score = kv;
    scores->channel_score = down_scores.to(at::kDouble);
  }
  return order;
}

std::vector<LayerSelection> select_units(const ModelConfig& c, const Arch& arch,
                                         const ImportanceOrder* order) {
  validate_arch(arch, c, "architecture");
  const int per_group = c.num_heads / c.num_kv_heads;
  std::vector<LayerSelection> out;
  for (std::size_t i = 0; i < arch.layers.size(); ++i) {
    const LayerArch& l = arch.layers[i];
    LayerSelection s;
    s.attn = l.attn;
    s.mlp = l.mlp;
    auto need_order = [&](const char* what) -> const LayerOrder& {
      if (order == nullptr || order->size() != arch.layers.size()) {
        throw ArchError("architecture: layers[" + std::to_string(i) + "]: no " + what +
                        " given and no importance order to choose them");
      }
      return (*order)[i];
    };
    if (l.attn) {
      if (!l.head_index.empty()) {
        s.heads = l.head_index;
        for (int hidx : s.heads) {
          int g = hidx / per_group;
          if (s.kv_heads.empty() || s.kv_heads.back() != g) s.kv_heads.push_back(g);
        }
      } else {
        const LayerOrder& o = need_order("head_index");
        s.kv_heads.assign(o.kv_order.begin(), o.kv_order.begin() + l.kv_heads);
        const int keep = l.heads / l.kv_heads;
        for (int g : s.kv_heads) {
          int taken = 0;
          for (int hidx : o.head_order) {
            if (hidx / per_group == g && taken < keep) {
              s.heads.push_back(hidx);
              ++taken;
            }
          }
        }
        std::sort(s.kv_heads.begin(), s.kv_heads.end());
        std::sort(s.heads.begin(), s.heads.end());
      }
    }
    if (l.mlp) {
      if (!l.channel_index.empty()) {
        s.channels = l.channel_index;
      } else {
        const LayerOrder& o = need_order("channel_index");
        s.channels.assign(o.channel_order.begin(), o.channel_order.begin() + l.mlp_channels);
        std::sort(s.channels.begin(), s.channels.end());
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

Arch with_explicit_indices(const Arch& arch, const std::vector<LayerSelection>& sel) {
  Arch out = arch;
  for (std::size_t i = 0; i < out.layers.size(); ++i) {
    if (out.layers[i].attn) out.layers[i].head_index = sel[i].heads;
    if (out.layers[i].mlp) out.layers[i].channel_index = sel[i].channels;
  }
  return out;
}

ModelWeights realize_weights(const ModelConfig& c, const ModelWeights& base,
                             const std::vector<LayerSelection>& sel) {
  ModelWeights w;
  w.embed = base.embed;
  w.final_norm = base.final_norm;
  w.lm_head = base.lm_head;
  for (std::size_t i = 0; i < base.layers.size(); ++i) {
    LayerWeights l;
    l.attn = sel[i].attn;
    l.mlp = sel[i].mlp;
    if (l.attn) {
      l.attention = take_heads(base.layers[i].attention, sel[i].kv_heads, sel[i].heads, c.head_dim,
                               c.hidden_size);
    }
    if (l.mlp) l.ffn = take_channels(base.layers[i].ffn, sel[i].channels);
    w.layers.push_back(std::move(l));
  }
  return w;
}

namespace {

// Positions of each original index in `perm` (perm[position] = original index).
std::vector<int> inverse_of(const std::vector<int>& perm) {
  std::vector<int> inv(perm.size());
  for (std::size_t p = 0; p < perm.size(); ++p)
    inv[static_cast<std::size_t>(perm[p])] = static_cast<int>(p);
  return inv;
}

// Writes t.index_select(dim, index) into t itself. `t` is viewed (never
// reshaped into a copy) as `shape` first, so the write reaches its storage.
void select_in_place(const at::Tensor& t, std::vector<int64_t> shape, int64_t dim,
                     const at::Tensor& index) {
  if (!t.defined()) return;
  at::Tensor v = t.view(shape);
  v.copy_(v.index_select(dim, index));
}

}  // namespace

PrefixWeights::PrefixWeights(const ModelConfig& c, ModelWeights& weights,
                             const ImportanceOrder& order)
    : config_(c), weights_(weights) {
  if (order.size() != weights.layers.size()) {
    throw Error("importance order has " + std::to_string(order.size()) + " layers, the model " +
                std::to_string(weights.layers.size()));
  }
  const int per_group = c.num_heads / c.num_kv_heads;
  for (const LayerOrder& o : order) {
    // Groups by importance; inside each group its heads by importance.
    Permutation p;
    p.kv = o.kv_order;
    for (int g : o.kv_order) {
      for (int hidx : o.head_order) {
        if (hidx / per_group == g) p.heads.push_back(hidx);
      }
    }
    p.channels = o.channel_order;
    perm_.push_back(std::move(p));
  }
  permute(/*inverse=*/false);
}

PrefixWeights::~PrefixWeights() {
  try {
    permute(/*inverse=*/true);
  } catch (...) {  // nothing sensible is left to do with the weights
  }
}

void PrefixWeights::permute(bool inverse) {
  const int64_t h = config_.head_dim, d = config_.hidden_size;
  for (std::size_t i = 0; i < weights_.layers.size(); ++i) {
    const Permutation& p = perm_[i];
    const at::Device dev = weights_.layers[i].attention.q.device();
    auto index = [&](const std::vector<int>& perm) {
      return long_index(inverse ? inverse_of(perm) : perm, dev);
    };
    AttentionWeights& a = weights_.layers[i].attention;
    const int64_t G = a.q.size(0), N = a.q.size(1);
    const at::Tensor kv = index(p.kv), heads = index(p.heads);
    select_in_place(a.q, {G * N, h, d}, 0, heads);
    select_in_place(a.q_bias, {G * N, h}, 0, heads);
    select_in_place(a.k, {G, h, d}, 0, kv);
    select_in_place(a.v, {G, h, d}, 0, kv);
    select_in_place(a.k_bias, {G, h}, 0, kv);
    select_in_place(a.v_bias, {G, h}, 0, kv);
    select_in_place(a.o, {d, G * N, h}, 1, heads);
    MlpWeights& m = weights_.layers[i].ffn;
    const int64_t I = m.gate.size(0);
    const at::Tensor ch = index(p.channels);
    select_in_place(m.gate, {I, d}, 0, ch);
    select_in_place(m.up, {I, d}, 0, ch);
    select_in_place(m.gate_bias, {I}, 0, ch);
    select_in_place(m.up_bias, {I}, 0, ch);
    select_in_place(m.down, {d, I}, 1, ch);
  }
}

ModelWeights PrefixWeights::realize(const std::vector<LayerSelection>& sel) const {
  ModelWeights w;
  w.embed = weights_.embed;
  w.final_norm = weights_.final_norm;
  w.lm_head = weights_.lm_head;
  auto positions = [](const std::vector<int>& perm, const std::vector<int>& originals) {
    const std::vector<int> inv = inverse_of(perm);
    std::vector<int> out;
    for (int u : originals) out.push_back(inv[static_cast<std::size_t>(u)]);
    return out;
  };
  for (std::size_t i = 0; i < weights_.layers.size(); ++i) {
    const Permutation& p = perm_[i];
    LayerWeights l;
    l.attn = sel[i].attn;
    l.mlp = sel[i].mlp;
    // Kept units in ascending original order, read at their reordered positions.
    if (l.attn) {
      l.attention =
          take_heads(weights_.layers[i].attention, positions(p.kv, sel[i].kv_heads),
                     positions(p.heads, sel[i].heads), config_.head_dim, config_.hidden_size);
    }
    if (l.mlp)
      l.ffn = take_channels(weights_.layers[i].ffn, positions(p.channels, sel[i].channels));
    w.layers.push_back(std::move(l));
  }
  return w;
}

LayerWeights narrow_layer(const LayerWeights& r, const LayerArch& la) {
  LayerWeights l;
  l.attn = la.attn;
  l.mlp = la.mlp;
  auto narrow_or_undef = [](const at::Tensor& t, int64_t dim, int64_t len) {
    return t.defined() ? t.narrow(dim, 0, len) : t;
  };
  if (la.attn) {
    const int64_t g = la.kv_heads, n = la.heads / la.kv_heads;
    const AttentionWeights& a = r.attention;
    AttentionWeights& v = l.attention;
    v.input_norm = a.input_norm;
    v.q = a.q.narrow(0, 0, g).narrow(1, 0, n);  // [g, n, h, d]
    v.k = a.k.narrow(0, 0, g);                  // [g, h, d]
    v.v = a.v.narrow(0, 0, g);
    v.o = a.o.narrow(1, 0, g).narrow(2, 0, n);  // [d, g, n, h]
    if (a.q_bias.defined()) v.q_bias = a.q_bias.narrow(0, 0, g).narrow(1, 0, n);
    v.k_bias = narrow_or_undef(a.k_bias, 0, g);
    v.v_bias = narrow_or_undef(a.v_bias, 0, g);
    v.o_bias = a.o_bias;
    v.q_norm = a.q_norm;
    v.k_norm = a.k_norm;
  }
  if (la.mlp) {
    const int64_t ch = la.mlp_channels;
    const MlpWeights& m = r.ffn;
    MlpWeights& v = l.ffn;
    v.post_norm = m.post_norm;
    v.gate = m.gate.narrow(0, 0, ch);  // [c, d]
    v.up = m.up.narrow(0, 0, ch);
    v.down = m.down.narrow(1, 0, ch);  // [d, c]
    v.gate_bias = narrow_or_undef(m.gate_bias, 0, ch);
    v.up_bias = narrow_or_undef(m.up_bias, 0, ch);
    v.down_bias = m.down_bias;
  }
  return l;
}

ModelWeights PrefixWeights::view(const Arch& arch) const {
  validate_arch(arch, config_, "architecture");
  ModelWeights w;
  w.embed = weights_.embed;
  w.final_norm = weights_.final_norm;
  w.lm_head = weights_.lm_head;
  for (std::size_t i = 0; i < arch.layers.size(); ++i) {
    const LayerArch& la = arch.layers[i];
    if (!la.head_index.empty() || !la.channel_index.empty()) {
      throw ArchError("architecture: layers[" + std::to_string(i) +
                      "]: explicit unit indices cannot use the prefix fast path");
    }
    w.layers.push_back(narrow_layer(weights_.layers[i], la));
  }
  return w;
}

}  // namespace tracenas
