#include "scoring/trace.hpp"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <sstream>

#include "base/threads.hpp"
#include "io/safetensors.hpp"
#include "scoring/activation_observer.hpp"
#include "scoring/gradient_tap.hpp"
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

// A double as metadata text that reads back to the same value.
std::string json_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// The accumulation dtype of a model's traces.
at::ScalarType trace_dtype(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

// Prefix-narrows dims [first, first + sizes.size()) of `t` to `sizes`.
at::Tensor narrow_prefix(at::Tensor t, int64_t first, at::IntArrayRef sizes) {
  for (std::size_t d = 0; d < sizes.size(); ++d) {
    t = t.narrow(first + static_cast<int64_t>(d), 0, sizes[d]);
  }
  return t;
}

// Hands a sketched projection of `w` (nout output dims) its A [r, in] and B
// [out, r], restricted to w's kept coordinates, as the 2-D matrices the tap uses.
void set_tap_sketch(GradientTap& tap, int layer, const char* name, const at::Tensor& w, int nout,
                    const BaseTraces::Sketch& s, double lora_scale = 0) {
  bool is_bias = false;
  const Projection p = projection_of(name, &is_bias);
  const int64_t r = s.a.size(0);
  at::Tensor a = narrow_prefix(s.a, 1, w.sizes().slice(static_cast<std::size_t>(nout)));
  at::Tensor b = narrow_prefix(s.b, 0, w.sizes().slice(0, static_cast<std::size_t>(nout)));
  tap.set_sketch(layer, p, a.reshape({r, -1}), b.reshape({-1, r}), lora_scale);
}

// The accumulated gradient of projection tensor `name` (a weight or a bias),
// in the shape of `like`; undefined when nothing was accumulated.
at::Tensor tap_gradient(GradientTap& tap, int layer, const std::string& name,
                        const at::Tensor& like) {
  bool is_bias = false;
  ProjectionSums& s = tap.sums(layer, projection_of(name, &is_bias));
  const at::Tensor& g = is_bias ? s.bias : s.weight;
  return g.defined() ? g.view(like.sizes()) : g;
}

// Draws A and B of every projection weight of every layer (seeded by `seed`,
// the layer and the projection's slot in for_each_projection order) and
// hands them to the tap. Sketches: Gaussian, biases get an empty entry (their
// gradient enters unsketched). LoRA (lora_scale > 0): kaiming-uniform with
// a = sqrt(5), as PEFT initialises lora_A (U(-1/sqrt(in), 1/sqrt(in))) and as
// the TraceNAS reference also initialises lora_B (U(-1/sqrt(r), 1/sqrt(r))),
// active in the forward; biases get no entry.
std::vector<std::map<std::string, BaseTraces::Sketch>> draw_factors(const ModelWeights& weights,
                                                                    GradientTap& tap, int rank,
                                                                    std::uint64_t seed,
                                                                    double lora_scale) {
  std::vector<std::map<std::string, BaseTraces::Sketch>> out;
  ModelWeights w = weights;
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    std::map<std::string, BaseTraces::Sketch> layer;
    std::uint64_t slot = 0;
    for_each_projection(w.layers[i], [&](const char* name, BlockKind, at::Tensor& t) {
      const int nout = out_dims(name);
      BaseTraces::Sketch s;
      if (nout > 0) {
        auto gen = at::make_generator<at::CPUGeneratorImpl>(
            splitmix64(seed ^ (static_cast<std::uint64_t>(i) << 20) ^ slot));
        const auto opts = at::TensorOptions().dtype(trace_dtype(t));
        std::vector<int64_t> a_shape = {rank}, b_shape;
        int64_t in = 1;
        for (int64_t d = nout; d < t.dim(); ++d) {
          a_shape.push_back(t.size(d));
          in *= t.size(d);
        }
        for (int64_t d = 0; d < nout; ++d) b_shape.push_back(t.size(d));
        b_shape.push_back(rank);
        if (lora_scale > 0) {
          const double ba = 1.0 / std::sqrt(static_cast<double>(in));
          const double bb = 1.0 / std::sqrt(static_cast<double>(rank));
          s.a = at::empty(a_shape, opts).uniform_(-ba, ba, gen).to(t.device());  // [r, in...]
          s.b = at::empty(b_shape, opts).uniform_(-bb, bb, gen).to(t.device());  // [out..., r]
        } else {
          s.a = at::randn(a_shape, gen, opts).to(t.device());  // [r, in...]
          s.b = at::randn(b_shape, gen, opts).to(t.device());  // [out..., r]
        }
        set_tap_sketch(tap, static_cast<int>(i), name, t, nout, s, lora_scale);
      }
      if (nout > 0 || lora_scale <= 0) layer.emplace(name, std::move(s));
      ++slot;
    });
    out.push_back(std::move(layer));
  }
  return out;
}

// The sums of `tap` into `layer`'s sketches (rights and lefts in the
// projections' shapes, biases' gradients as rights), for the entries it has.
void collect_sketches(std::map<std::string, BaseTraces::Sketch>& layer, GradientTap& tap, int li,
                      LayerWeights& layout, int rank) {
  for_each_projection(layout, [&](const char* name, BlockKind, at::Tensor& t) {
    auto it = layer.find(name);
    if (it == layer.end()) return;
    BaseTraces::Sketch& s = it->second;
    const int nout = out_dims(name);
    bool is_bias = false;
    ProjectionSums& sums = tap.sums(li, projection_of(name, &is_bias));
    if (nout == 0) {
      s.right = sums.bias.view(t.sizes());
    } else {
      std::vector<int64_t> right_shape(t.sizes().begin(), t.sizes().begin() + nout);
      right_shape.push_back(rank);
      std::vector<int64_t> left_shape = {rank};
      left_shape.insert(left_shape.end(), t.sizes().begin() + nout, t.sizes().end());
      s.right = sums.right.view(right_shape);  // [out..., r]
      s.left = sums.left.view(left_shape);     // [r, in...]
    }
  });
}

// Forward (and, with a tap, backward) of rows [row0, row0 + rows) of one
// calibration batch [B, seq], in micro-batches. Returns their share of the
// batch loss (each micro-batch's loss weighs len / B, so the shares of all
// rows add up to the batch loss and their gradients to the batch's);
// `logits` receives these rows' logits when given (the loss then comes from
// them rather than the chunked loss).
double run_rows(const ModelConfig& config, const ModelWeights& w, const at::Tensor& batch,
                int64_t row0, int64_t rows, const PassOptions& options, GradientTap* tap,
                at::Tensor* logits) {
  const int64_t mb = options.micro_batch_size > 0 ? std::min(options.micro_batch_size, rows) : rows;
  std::optional<at::NoGradGuard> no_grad;
  if (tap == nullptr) no_grad.emplace();
  ForwardOptions fo;
  fo.tap = tap;
  fo.attention_block = attention_block_for(options, batch.size(1));
  fo.checkpoint_layers = options.checkpoint_layers;
  double loss_share = 0;
  std::vector<at::Tensor> parts;
  for (int64_t r0 = row0; r0 < row0 + rows; r0 += mb) {
    const int64_t len = std::min(mb, row0 + rows - r0);
    const at::Tensor part = batch.narrow(0, r0, len);  // [len, seq]
    at::Tensor loss;
    if (logits != nullptr) {
      at::Tensor lg = decoder_logits(config, w, part, fo);  // [len, seq, vocab]
      loss = causal_lm_loss(lg, part);
      parts.push_back(lg.detach());
    } else {
      loss = chunked_causal_lm_loss(decoder_hidden(config, w, part, fo), w.lm_head, part,
                                    options.loss_chunk_tokens);
    }
    // The batch loss is the mean over its sequences: each part weighs its share.
    const double share = static_cast<double>(len) / static_cast<double>(batch.size(0));
    if (tap != nullptr) (share == 1.0 ? loss : loss * share).backward();
    loss_share += share * loss.item<double>();
  }
  if (logits != nullptr) *logits = parts.size() == 1 ? parts[0] : at::cat(parts, 0);
  return loss_share;
}

// Every calibration batch through run_rows: batch losses, in order, and the
// logits of each batch when `logits` is given. With options.parallel_batches
// = n > 1 the work runs on n threads at once (run_on_threads), each with its
// own fork of `tap`, merged into `tap` in thread order afterwards: whole
// batches when there are at least n, else each batch cut into n / K row
// ranges (at most one per row). Thread t takes pieces t, t + n, ... Without
// an OpenMP runtime the threads' shares run one after the other, through
// the same forked taps. With options.ranks (N > 1 ranks) the pieces are cut
// for N x n workers, rank r runs pieces r, r + N, ... on its n threads, and
// what they accumulated, the losses and the logits are then shared over the
// ranks (PassOptions::ranks).
std::vector<double> run_batches(const ModelConfig& config, const ModelWeights& w,
                                const std::vector<at::Tensor>& batches, const PassOptions& options,
                                GradientTap* tap, std::vector<at::Tensor>* logits) {
  const std::size_t k = batches.size();
  std::vector<double> losses(k, 0.0);
  std::vector<at::Tensor> out(k);
  const std::size_t n = static_cast<std::size_t>(std::max(options.parallel_batches, 1));
  Communicator* ranks =
      options.ranks != nullptr && options.ranks->size() > 1 ? options.ranks : nullptr;
  const std::size_t world = ranks != nullptr ? static_cast<std::size_t>(ranks->size()) : 1;
  const std::size_t rank = ranks != nullptr ? static_cast<std::size_t>(ranks->rank()) : 0;
  if ((n <= 1 && world == 1) || k == 0) {
    for (std::size_t i = 0; i < k; ++i) {
      losses[i] = run_rows(config, w, batches[i], 0, batches[i].size(0), options, tap,
                           logits ? &out[i] : nullptr);
    }
    if (logits != nullptr) *logits = std::move(out);
    return losses;
  }
  struct Piece {
    std::size_t batch;
    int64_t row0, rows;
    double loss = 0;
    at::Tensor logits;
  };
  std::vector<Piece> pieces;
  const std::size_t workers = n * world;
  const int64_t cuts = static_cast<int64_t>((workers + k - 1) / k);  // row ranges per batch
  for (std::size_t i = 0; i < k; ++i) {
    const int64_t b = batches[i].size(0);
    const int64_t c = std::min(cuts, b);
    for (int64_t j = 0; j < c; ++j) {
      const int64_t r0 = b * j / c;
      pieces.push_back({i, r0, b * (j + 1) / c - r0, 0.0, at::Tensor()});
    }
  }
  std::vector<std::size_t> mine;  // this rank's pieces
  for (std::size_t p = rank; p < pieces.size(); p += world) mine.push_back(p);
  if (mine.empty()) {
    throw Error("data-parallel pass: rank " + std::to_string(rank) + " of " +
                std::to_string(world) + " has no calibration sequence (" +
                std::to_string(pieces.size()) + " pieces for " + std::to_string(world) + " ranks)");
  }
  const std::size_t threads = std::min(n, mine.size());
  // The sums of this call alone (what `tap` held before is not summed over the ranks).
  std::optional<GradientTap> local;
  std::vector<GradientTap> taps;
  if (tap != nullptr) {
    local.emplace(tap->fork());
    taps.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t) taps.push_back(tap->fork());
  }
  auto share = [&](int t) {
    for (std::size_t j = static_cast<std::size_t>(t); j < mine.size(); j += threads) {
      Piece& piece = pieces[mine[j]];
      piece.loss = run_rows(config, w, batches[piece.batch], piece.row0, piece.rows, options,
                            tap != nullptr ? &taps[static_cast<std::size_t>(t)] : nullptr,
                            logits ? &piece.logits : nullptr);
    }
  };
  if (threads == 1) {
    share(0);
  } else if (!run_on_threads(static_cast<int>(threads), share)) {
    for (std::size_t t = 0; t < threads; ++t) share(static_cast<int>(t));
  }
  for (GradientTap& t : taps) local->merge(t);
  for (std::size_t p : mine) losses[pieces[p].batch] += pieces[p].loss;
  if (ranks != nullptr) {
    const std::string what = "data-parallel pass over " + std::to_string(k) + " batches";
    std::vector<at::Tensor> sums;
    if (local) sums = local->accumulated();
    sums.push_back(at::tensor(losses, at::kDouble));
    ranks->allreduce_sum_buckets(sums, what);
    const at::Tensor total = sums.back();
    for (std::size_t i = 0; i < k; ++i) losses[i] = total[static_cast<int64_t>(i)].item<double>();
    if (logits != nullptr) {
      // Each rank's pieces' logits, from that rank to every other.
      const at::Tensor& like = pieces[mine.front()].logits;
      for (std::size_t owner = 0; owner < world; ++owner) {
        std::vector<at::Tensor> sent;
        for (std::size_t p = owner; p < pieces.size(); p += world) {
          Piece& piece = pieces[p];
          if (owner != rank) {
            piece.logits = at::empty({piece.rows, like.size(1), like.size(2)}, like.options());
          }
          sent.push_back(piece.logits);
        }
        ranks->broadcast(sent, static_cast<int>(owner), what + ": sharing logits");
      }
    }
  }
  if (tap != nullptr) tap->merge(*local);
  std::vector<std::vector<at::Tensor>> batch_logits(k);
  if (logits != nullptr) {
    for (Piece& piece : pieces) batch_logits[piece.batch].push_back(std::move(piece.logits));
    for (std::size_t i = 0; i < k; ++i) {
      out[i] = batch_logits[i].size() == 1 ? batch_logits[i][0] : at::cat(batch_logits[i], 0);
    }
    *logits = std::move(out);
  }
  return losses;
}

// Every projection through `inner` with |W| and |b| in float64: SynFlow's
// linearised network. The absolute copies are made per projection and, with
// the layers checkpointed, live for one layer at a time.
class AbsoluteTap final : public ProjectionTap {
 public:
  explicit AbsoluteTap(GradientTap& inner) : inner_(inner) {}
  at::Tensor project(int layer, Projection p, const at::Tensor& x, const at::Tensor& w,
                     std::int64_t in_features, const at::Tensor& bias) override {
    const at::Tensor b = bias.defined() ? bias.abs().to(at::kDouble) : bias;
    return inner_.project(layer, p, x, w.abs().to(at::kDouble), in_features, b);
  }

 private:
  GradientTap& inner_;
};

at::Tensor abs64(const at::Tensor& t) { return t.defined() ? t.abs().to(at::kDouble) : t; }

// SynFlow's pass on the candidate's weights `w`: the gradients of R (see
// BlockTrace::synflow_grads) with respect to every kept projection's |W|, in
// `tap`. The embedding becomes one row of ones (every position reads token 0)
// and the LM head the sum of its absolute rows, so that R = hidden . u.
void synflow_pass(const ModelConfig& config, const ModelWeights& w, std::int64_t seq_len,
                  const PassOptions& options, GradientTap& tap) {
  const at::Device device = w.embed.device();
  ModelWeights a;
  a.embed = at::ones({1, config.hidden_size}, at::TensorOptions(device).dtype(at::kDouble));
  a.final_norm = abs64(w.final_norm);
  const at::Tensor u = w.lm_head.abs().sum(0, false, at::kDouble);  // [d]
  for (const LayerWeights& l : w.layers) {
    LayerWeights c = l;  // projections stay the model's tensors: the tap takes |W|
    c.attention.input_norm = abs64(l.attention.input_norm);
    c.attention.q_norm = abs64(l.attention.q_norm);
    c.attention.k_norm = abs64(l.attention.k_norm);
    c.ffn.post_norm = abs64(l.ffn.post_norm);
    a.layers.push_back(std::move(c));
  }
  AbsoluteTap abs_tap(tap);
  ForwardOptions fo;
  fo.tap = &abs_tap;
  fo.attention_block = attention_block_for(options, seq_len);
  fo.checkpoint_layers = true;
  const at::Tensor tokens = at::zeros({1, seq_len}, at::kLong);
  const at::Tensor hidden = decoder_hidden(config, a, tokens, fo);  // [1, S, d]
  at::matmul(hidden, u).sum().backward();
}

}  // namespace

std::int64_t attention_block_for(const PassOptions& options, std::int64_t seq_len) {
  const bool plain = options.plain_within_block && seq_len <= options.attention_block;
  return plain ? 0 : options.attention_block;
}

std::string data_parallel_problem(const PassOptions& options,
                                  const std::vector<at::Tensor>& batches, bool grad_moments) {
  if (options.ranks == nullptr || options.ranks->size() <= 1) return "";
  const std::int64_t n = options.ranks->size();
  std::int64_t batch_size = batches.empty() ? 0 : batches.front().size(0), sequences = 0;
  for (const at::Tensor& b : batches) {
    batch_size = std::min(batch_size, b.size(0));
    sequences += b.size(0);
  }
  if (grad_moments && batch_size < n) {
    return "a proxy reads gradient moments, whose pass splits each batch over the ranks: "
           "batch_size " +
           std::to_string(batch_size) + " is smaller than the " + std::to_string(n) + " ranks";
  }
  if (sequences < n) {
    return "the calibration set's " + std::to_string(sequences) + " sequences are fewer than the " +
           std::to_string(n) + " ranks";
  }
  return "";
}

BaseTraces compute_base_traces(const ModelConfig& config, const PrefixWeights& prefix,
                               const std::vector<at::Tensor>& batches, const TraceNeeds& needs,
                               const PassOptions& options) {
  BaseTraces base;
  const ModelWeights& w = prefix.reordered();
  const bool grads = needs.base_weight_grads || needs.sketch_rank > 0;
  GradientTap tap(w.layers.size(), needs.base_weight_grads);
  if (needs.sketch_rank > 0) {
    base.sketch_rank = needs.sketch_rank;
    base.sketch_seed = needs.sketch_seed;
    base.sketches = draw_factors(w, tap, needs.sketch_rank, needs.sketch_seed, 0);
  }
  base.batch_losses = run_batches(config, w, batches, options, grads ? &tap : nullptr,
                                  needs.base_logits ? &base.logits : nullptr);
  ModelWeights layout = w;  // for_each_projection's slots, in the reordered shapes
  if (needs.lora_rank > 0) {
    // The LoRA pass: its own forward and backward with the adapters active.
    GradientTap lora_tap(w.layers.size(), false);
    base.lora_rank = needs.lora_rank;
    base.lora_seed = needs.lora_seed;
    base.lora_alpha = needs.lora_alpha;
    base.lora = draw_factors(w, lora_tap, needs.lora_rank, needs.lora_seed,
                             needs.lora_alpha / needs.lora_rank);
    run_batches(config, w, batches, options, &lora_tap, nullptr);
    for (std::size_t i = 0; i < layout.layers.size(); ++i) {
      collect_sketches(base.lora[i], lora_tap, static_cast<int>(i), layout.layers[i],
                       needs.lora_rank);
    }
  }
  for (std::size_t i = 0; i < layout.layers.size(); ++i) {
    const int li = static_cast<int>(i);
    if (needs.sketch_rank > 0) {
      collect_sketches(base.sketches[i], tap, li, layout.layers[i], needs.sketch_rank);
    }
    if (needs.base_weight_grads) {
      // g_M = sum over batches, in the same slots and layout as the weights.
      LayerWeights g = layout.layers[i];
      for_each_projection(g, [&](const char* name, BlockKind, at::Tensor& t) {
        t = tap_gradient(tap, li, name, t);
      });
      g.attention.input_norm = g.attention.q_norm = g.attention.k_norm = g.ffn.post_norm =
          at::Tensor();
      base.grads.push_back(std::move(g));
    }
  }
  return base;
}

Trace run_candidate_pass(const ModelConfig& config, const PrefixWeights& prefix, const Arch& arch,
                         const BaseTraces& base, const std::vector<at::Tensor>& batches,
                         const TraceNeeds& needs, const PassOptions& options) {
  const bool sketch = needs.sketch_rank > 0;
  if (sketch && (base.sketch_rank != needs.sketch_rank || base.sketch_seed != needs.sketch_seed)) {
    throw Error("candidate pass: the base traces hold no sketch of rank " +
                std::to_string(needs.sketch_rank) + " and seed " +
                std::to_string(needs.sketch_seed));
  }
  const bool full = needs.weight_grads || needs.grad_moments;
  const bool grads = full || sketch;
  ModelWeights w = prefix.view(arch);
  GradientTap tap(w.layers.size(), full);
  if (sketch) {
    for (std::size_t i = 0; i < w.layers.size(); ++i) {
      for_each_projection(w.layers[i], [&](const char* name, BlockKind, at::Tensor& t) {
        const int nout = out_dims(name);
        if (nout > 0) {
          set_tap_sketch(tap, static_cast<int>(i), name, t, nout, base.sketches.at(i).at(name));
        }
      });
    }
  }

  // The LoRA pass (its own forward and backward, adapters restricted to the
  // kept rows and columns).
  const bool lora = needs.lora_rank > 0;
  if (lora && (base.lora_rank != needs.lora_rank || base.lora_seed != needs.lora_seed ||
               base.lora_alpha != needs.lora_alpha)) {
    throw Error("candidate pass: the base traces hold no LoRA trace of rank " +
                std::to_string(needs.lora_rank) + " and seed " + std::to_string(needs.lora_seed));
  }
  GradientTap lora_tap(w.layers.size(), false);
  if (lora) {
    const double scale = needs.lora_alpha / needs.lora_rank;
    for (std::size_t i = 0; i < w.layers.size(); ++i) {
      for_each_projection(w.layers[i], [&](const char* name, BlockKind, at::Tensor& t) {
        const int nout = out_dims(name);
        if (nout > 0) {
          set_tap_sketch(lora_tap, static_cast<int>(i), name, t, nout, base.lora.at(i).at(name),
                         scale);
        }
      });
    }
    run_batches(config, w, batches, options, &lora_tap, nullptr);
  }

  // grad_moments: per projection tensor, in for_each_projection order per
  // layer, the sums over batches of g, |g| and g^2 (the tap holds one batch).
  std::vector<std::vector<at::Tensor>> sum(w.layers.size()), sum_abs(w.layers.size()),
      sum_sq(w.layers.size());
  Trace trace;
  if (!needs.grad_moments) {
    trace.batch_losses = run_batches(config, w, batches, options, grads ? &tap : nullptr,
                                     needs.logits ? &trace.logits : nullptr);
  }
  // The moments need each batch's gradient on its own: one batch at a time.
  for (std::size_t bi = 0; needs.grad_moments && bi < batches.size(); ++bi) {
    const at::Tensor& b = batches[bi];
    std::vector<at::Tensor> logits;
    trace.batch_losses.push_back(run_batches(config, w, {b}, options, grads ? &tap : nullptr,
                                             needs.logits ? &logits : nullptr)[0]);
    if (needs.logits) trace.logits.push_back(logits[0]);
    for (std::size_t i = 0; i < w.layers.size(); ++i) {
      std::size_t k = 0;
      for_each_projection(w.layers[i], [&](const char* name, BlockKind, at::Tensor&) {
        bool is_bias = false;
        ProjectionSums& s = tap.sums(static_cast<int>(i), projection_of(name, &is_bias));
        at::Tensor& acc = is_bias ? s.bias : s.weight;
        at::Tensor g = acc;  // this batch's gradient; the tap starts afresh
        acc = at::Tensor();
        if (sum[i].size() <= k) {
          sum[i].push_back(g.clone());
          sum_abs[i].push_back(g.abs());
          sum_sq[i].push_back(g.pow(2));
        } else {
          sum[i][k] += g;
          sum_abs[i][k] += g.abs();
          sum_sq[i][k] += g.pow(2);
        }
        ++k;
      });
    }
  }
  trace.base_logits = base.logits;

  const double K = static_cast<double>(batches.size());
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    const int li = static_cast<int>(i);
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
    attn.layer = mlp.layer = li;
    attn.kind = BlockKind::kAttn;
    mlp.kind = BlockKind::kMlp;
    std::size_t k = 0;
    for_each_projection(w.layers[i], [&](const char* name, BlockKind kind, at::Tensor& t) {
      BlockTrace& bt = kind == BlockKind::kAttn ? attn : mlp;
      bt.names.push_back(name);
      bt.weights.push_back(t.detach());
      const int nout = out_dims(name);
      if (sketch) {
        const BaseTraces::Sketch& bs = base.sketches.at(i).at(name);
        bool is_bias = false;
        ProjectionSums& s = tap.sums(li, projection_of(name, &is_bias));
        if (nout == 0) {
          const at::Tensor mean =
              (needs.grad_moments ? sum[i][k] : s.bias).view(t.sizes()).to(at::kDouble) / K;
          bt.sketch.push_back(mean);
          bt.base_sketch.push_back(narrow_prefix(bs.right, 0, mean.sizes()));
        } else {
          at::IntArrayRef sizes = t.sizes();
          std::vector<int64_t> right_shape(sizes.begin(), sizes.begin() + nout);
          right_shape.push_back(needs.sketch_rank);
          std::vector<int64_t> left_shape = {needs.sketch_rank};
          left_shape.insert(left_shape.end(), sizes.begin() + nout, sizes.end());
          bt.sketch.push_back(s.right.view(right_shape).to(at::kDouble) / K);
          bt.sketch.push_back(s.left.view(left_shape).to(at::kDouble) / K);
          bt.base_sketch.push_back(
              narrow_prefix(bs.right, 0, sizes.slice(0, static_cast<std::size_t>(nout))));
          bt.base_sketch.push_back(
              narrow_prefix(bs.left, 1, sizes.slice(static_cast<std::size_t>(nout))));
        }
      }
      if (lora && nout > 0) {
        const BaseTraces::Sketch& bl = base.lora.at(i).at(name);
        bool is_bias = false;
        ProjectionSums& s = lora_tap.sums(li, projection_of(name, &is_bias));
        at::IntArrayRef sizes = t.sizes();
        std::vector<int64_t> right_shape(sizes.begin(), sizes.begin() + nout);
        right_shape.push_back(needs.lora_rank);
        std::vector<int64_t> left_shape = {needs.lora_rank};
        left_shape.insert(left_shape.end(), sizes.begin() + nout, sizes.end());
        bt.lora.push_back(s.right.view(right_shape).to(at::kDouble) / K);
        bt.lora.push_back(s.left.view(left_shape).to(at::kDouble) / K);
        bt.base_lora.push_back(
            narrow_prefix(bl.right, 0, sizes.slice(0, static_cast<std::size_t>(nout))));
        bt.base_lora.push_back(
            narrow_prefix(bl.left, 1, sizes.slice(static_cast<std::size_t>(nout))));
      }
      if (full) {
        // Without moments the tap's accumulator becomes the mean in place (no copy).
        const at::Tensor mean = needs.grad_moments ? sum[i][k].view(t.sizes()) / K
                                                   : tap_gradient(tap, li, name, t).div_(K);
        if (needs.weight_grads) bt.grads.push_back(mean);
        if (needs.grad_moments) {
          at::Tensor sq = sum_sq[i][k].view(t.sizes()) / K;
          bt.grad_abs_mean.push_back(sum_abs[i][k].view(t.sizes()) / K);
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
  if (needs.synflow && !batches.empty()) {
    GradientTap flow(w.layers.size(), /*full=*/true);
    synflow_pass(config, w, batches[0].size(1), options, flow);
    for (BlockTrace& b : trace.blocks) {
      for (std::size_t k = 0; k < b.names.size(); ++k) {
        b.synflow_grads.push_back(tap_gradient(flow, b.layer, b.names[k], b.weights[k]));
      }
    }
  }
  if (needs.output_grams || needs.gate_kernel) {
    ObservedActivations seen =
        observe_activations(config, w, batches, options, needs.output_grams, needs.gate_kernel);
    for (BlockTrace& b : trace.blocks) {
      auto& per_layer = b.kind == BlockKind::kAttn ? seen.attn : seen.mlp;
      if (needs.output_grams) b.output_grams = std::move(per_layer.at(b.layer));
    }
    trace.gate_kernel = seen.gate_kernel;
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
  for (const auto& [kind, sketches] :
       {std::pair{"sketch.", &base.sketches}, {"lora.", &base.lora}}) {
    for (std::size_t i = 0; i < sketches->size(); ++i) {
      for (const auto& [name, s] : (*sketches)[i]) {
        const std::string p = kind + std::to_string(i) + "." + name + ".";
        if (s.a.defined()) tensors.emplace_back(p + "a", s.a);
        if (s.b.defined()) tensors.emplace_back(p + "b", s.b);
        tensors.emplace_back(p + "right", s.right);
        if (s.left.defined()) tensors.emplace_back(p + "left", s.left);
      }
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
  SafeTensorsMetadata meta = {{"format", "tracenas.base_traces/2"},
                              {"batch_losses", losses.str()},
                              {"layers", std::to_string(base.grads.size())},
                              {"sketch_rank", std::to_string(base.sketch_rank)},
                              {"sketch_seed", std::to_string(base.sketch_seed)},
                              {"lora_rank", std::to_string(base.lora_rank)},
                              {"lora_seed", std::to_string(base.lora_seed)},
                              {"lora_alpha", json_number(base.lora_alpha)}};
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
  if (get_meta("format") != "tracenas.base_traces/2") return std::nullopt;
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
  // "<kind>.<layer>.<proj>.<part>" entries, <proj> holding one dot.
  auto read_factors = [&](const std::string& kind,
                          std::vector<std::map<std::string, BaseTraces::Sketch>>& out) -> bool {
    out.resize(static_cast<std::size_t>(num_layers));
    for (const std::string& name : f->names()) {
      if (name.rfind(kind, 0) != 0) continue;
      const std::size_t a = name.find('.', kind.size());
      const std::size_t last = name.rfind('.');
      if (a == std::string::npos || last <= a) return false;
      const std::string digits = name.substr(kind.size(), a - kind.size());
      if (digits.empty() || digits.size() > 6 ||
          digits.find_first_not_of("0123456789") != std::string::npos) {
        return false;  // not a file this code wrote
      }
      const int layer = std::stoi(digits);
      if (layer >= num_layers) return false;
      const std::string proj = name.substr(a + 1, last - a - 1);
      const std::string part = name.substr(last + 1);
      BaseTraces::Sketch& s = out[static_cast<std::size_t>(layer)][proj];
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
        return false;
    }
    for (const auto& layer : out) {
      if (layer.empty()) return false;
    }
    return true;
  };
  if (needs.sketch_rank > 0) {
    if (get_meta("sketch_rank") != std::to_string(needs.sketch_rank) ||
        get_meta("sketch_seed") != std::to_string(needs.sketch_seed)) {
      return std::nullopt;
    }
    base.sketch_rank = needs.sketch_rank;
    base.sketch_seed = needs.sketch_seed;
    if (!read_factors("sketch.", base.sketches)) return std::nullopt;
  }
  if (needs.lora_rank > 0) {
    if (get_meta("lora_rank") != std::to_string(needs.lora_rank) ||
        get_meta("lora_seed") != std::to_string(needs.lora_seed) ||
        get_meta("lora_alpha") != json_number(needs.lora_alpha)) {
      return std::nullopt;
    }
    base.lora_rank = needs.lora_rank;
    base.lora_seed = needs.lora_seed;
    base.lora_alpha = needs.lora_alpha;
    if (!read_factors("lora.", base.lora)) return std::nullopt;
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
