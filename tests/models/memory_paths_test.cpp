// The memory-saving paths give what the plain paths give (issue: the paper's
// models on the paper's hardware):
//   - blockwise causal attention and the chunked LM-head loss: the same loss
//     and the same projection gradients as the reference decoder math, on the
//     tiny Llama 3 (GQA), Qwen2 (biases) and Qwen3 (q/k norms) checkpoints;
//   - sketches formed in the backward (GradientTap) equal the full gradient
//     projected afterwards, G A^T and B^T G, computed here from weight leaves;
//   - micro-batches, attention blocks and loss chunks leave every proxy value
//     unchanged; the unpruned model still scores 2L;
//   - in sketch mode no tensor of a weight's size is allocated at all during a
//     candidate pass (an allocator probe; in full mode it sees dW, so it can fail);
//   - the importance reordering happens in place and is undone exactly;
//   - per-layer activation checkpointing gives the plain losses, gradients and sketches.
#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>

#include "base/runtime.hpp"
#include "base/torch_compat.hpp"
#include "checkpoints.hpp"
#include "data/calibration.hpp"
#include "io/llama2c.hpp"
#include "model/subnet.hpp"
#include "plugin/registry.hpp"
#include "scoring/evaluator.hpp"
#include "scoring/trace.hpp"
#include "test_dir.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/support/decoder.hpp"
#include "tracenas/support/tokens.hpp"

namespace tracenas {
namespace {

const Registry& plugins() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_importance_criteria.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_proxy_trace_correlation.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_proxy_gradient_baselines.so");
    return reg;
  }();
  return *r;
}

ScoredProxy proxy(const std::string& name, ParamValues p = {}) {
  for (const auto& s : plugins().require(ComponentKind::kProxy, name)->info.params) {
    if (!p.has(s.name)) p.set(s.name, s.default_value);
  }
  return {name, name, plugins().create<Proxy>(name, p, RunContext{})};
}

ParamValues sketch_params() {
  ParamValues p;
  p.set("gradient", std::string("sketch"));
  p.set("sketch_rank", std::int64_t{8});
  return p;
}

struct Stories {
  std::string dir;
  std::vector<at::Tensor> batches;  // 2 batches of 3 x 96 tokens
};

const Stories& stories() {
  static Stories* s = [] {
    auto* st = new Stories();
    st->dir = tracenas::testing::test_path("tn_memory_paths_stories260K");
    convert_llama2c(TN_SHARED_DIR "/models/stories260K.bin", st->dir);
    BatchSpec spec;
    spec.seq_len = 96;
    spec.batch_size = 3;
    spec.num_batches = 2;
    st->batches = calibration_batches(
        read_token_file(TN_SHARED_DIR "/data/stories260K-samples.u16"), spec, "samples");
    return st;
  }();
  return *s;
}

std::shared_ptr<DecoderModel> load_dir(const std::string& dir, const std::string& dtype,
                                       const std::string& device = "cpu") {
  LoadOptions o;
  o.dtype = dtype;
  o.device = device;
  return tracenas::testing::load_checkpoint(dir, o);
}

// A pruned stories260K candidate: widths and depth both cut.
Arch stories_candidate(const ModelConfig& c) {
  Arch a = full_arch(c);
  a.layers[1].heads = 4;
  a.layers[1].kv_heads = 2;
  a.layers[1].mlp_channels = 100;
  a.layers[2].attn = false;
  a.layers[3].heads = 6;
  a.layers[3].kv_heads = 3;
  a.layers[3].mlp = false;
  a.layers[4].mlp_channels = 37;
  return a;
}

// Every projection weight and bias of one layer, in a fixed order.
std::vector<at::Tensor*> projections_of(LayerWeights& l) {
  std::vector<at::Tensor*> out;
  AttentionWeights& a = l.attention;
  MlpWeights& m = l.ffn;
  for (at::Tensor* t : {&a.q, &a.k, &a.v, &a.o, &a.q_bias, &a.k_bias, &a.v_bias, &a.o_bias, &m.gate,
                        &m.up, &m.down, &m.gate_bias, &m.up_bias, &m.down_bias}) {
    if (t->defined()) out.push_back(t);
  }
  return out;
}

// Every projection weight and bias of the layers, layer by layer.
std::vector<at::Tensor*> projections(ModelWeights& w) {
  std::vector<at::Tensor*> out;
  for (LayerWeights& l : w.layers) {
    for (at::Tensor* t : projections_of(l)) out.push_back(t);
  }
  return out;
}

struct LossAndGrads {
  double loss = 0;
  std::vector<at::Tensor> grads;  // summed over batches, projections() order
};

// The reference: projections as gradient leaves (copies), the plain or the
// chunked loss per batch, backward.
LossAndGrads leaf_gradients(const ModelConfig& c, const ModelWeights& weights,
                            const std::vector<at::Tensor>& batches, const ForwardOptions& fo,
                            bool chunked_loss, std::int64_t chunk = 0) {
  ModelWeights w = weights;
  std::vector<at::Tensor*> leaves = projections(w);
  for (at::Tensor* t : leaves) *t = t->detach().clone().requires_grad_(true);
  LossAndGrads out;
  for (const at::Tensor& b : batches) {
    at::Tensor loss = chunked_loss
                          ? chunked_causal_lm_loss(decoder_hidden(c, w, b, fo), w.lm_head, b, chunk)
                          : causal_lm_loss(decoder_logits(c, w, b, fo), b);
    loss.backward();
    out.loss += loss.item<double>();
  }
  for (at::Tensor* t : leaves) out.grads.push_back(t->grad());
  return out;
}

// max |a - b| / max |b| over a list of tensors.
double relative_error(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double err = 0, scale = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    EXPECT_EQ(a[i].sizes(), b[i].sizes()) << "tensor " << i;
    err = std::max(err, (a[i].to(at::kDouble) - b[i].to(at::kDouble)).abs().max().item<double>());
    scale = std::max(scale, b[i].to(at::kDouble).abs().max().item<double>());
  }
  return err / scale;
}

std::vector<at::Tensor> random_batches(const ModelConfig& c, int count, int64_t rows, int64_t seq) {
  at::manual_seed(7);
  std::vector<at::Tensor> out;
  for (int i = 0; i < count; ++i) out.push_back(at::randint(c.vocab_size, {rows, seq}, at::kLong));
  return out;
}

const char* const kTinyModels[] = {"llama3-tiny", "qwen2-tiny", "qwen3-tiny"};

TEST(MemoryPaths, BlockwiseAttentionGivesThePlainLossAndGradients) {
  for (const char* folder : kTinyModels) {
    for (const char* dtype : {"float64", "float32"}) {
      auto m = load_dir(std::string(TN_SHARED_DIR "/reference/") + folder, dtype);
      const ModelConfig& c = m->config();
      const auto batches = random_batches(c, 2, 2, 37);
      const LossAndGrads plain = leaf_gradients(c, m->weights(), batches, {}, false);
      const double tol = std::string(dtype) == "float64" ? 1e-10 : 2e-5;
      // Blocks that divide the sequence, that do not, and one block for all of it.
      for (std::int64_t block : {1, 5, 16, 37, 64}) {
        ForwardOptions fo;
        fo.attention_block = block;
        const LossAndGrads blockwise = leaf_gradients(c, m->weights(), batches, fo, false);
        EXPECT_NEAR(blockwise.loss, plain.loss, tol * plain.loss)
            << folder << " " << dtype << " block " << block;
        EXPECT_LT(relative_error(blockwise.grads, plain.grads), tol)
            << folder << " " << dtype << " block " << block;
      }
    }
  }
}

TEST(MemoryPaths, ChunkedLossGivesThePlainLossAndGradients) {
  for (const char* folder : kTinyModels) {
    for (const char* dtype : {"float64", "float32"}) {
      auto m = load_dir(std::string(TN_SHARED_DIR "/reference/") + folder, dtype);
      const ModelConfig& c = m->config();
      const auto batches = random_batches(c, 2, 3, 21);
      const LossAndGrads plain = leaf_gradients(c, m->weights(), batches, {}, false);
      const double tol = std::string(dtype) == "float64" ? 1e-12 : 1e-5;
      for (std::int64_t chunk : {1, 7, 60, 0}) {
        const LossAndGrads chunked = leaf_gradients(c, m->weights(), batches, {}, true, chunk);
        EXPECT_NEAR(chunked.loss, plain.loss, tol * plain.loss) << folder << " chunk " << chunk;
        EXPECT_LT(relative_error(chunked.grads, plain.grads), tol) << folder << " chunk " << chunk;
      }
    }
  }
}

// g [out..., in...] (nout output dims) -> (g A^T [out..., r], B^T g [r, in...]),
// with A [r, in_base...] and B [out_base..., r] prefix-narrowed to g's dims.
std::pair<at::Tensor, at::Tensor> project(const at::Tensor& g, const at::Tensor& a,
                                          const at::Tensor& b, int64_t nout) {
  at::Tensor ak = a, bk = b;
  std::vector<int64_t> in_g, in_a, out_dims;
  for (int64_t d = 0; d < g.dim(); ++d) {
    if (d < nout) {
      bk = bk.narrow(d, 0, g.size(d));
      out_dims.push_back(d);
    } else {
      ak = ak.narrow(1 + d - nout, 0, g.size(d));
      in_g.push_back(d);
      in_a.push_back(1 + d - nout);
    }
  }
  const at::Tensor g64 = g.to(at::kDouble);
  return {at::tensordot(g64, ak.to(at::kDouble), in_g, in_a),
          at::tensordot(bk.to(at::kDouble), g64, out_dims, out_dims)};
}

// Output dims per projection weight, in projections() order for a bias-free layer.
constexpr int64_t kOutDims[] = {3, 2, 2, 1, 1, 1, 1};
const char* const kWeightNames[] = {"q_proj.weight",   "k_proj.weight",    "v_proj.weight",
                                    "o_proj.weight",   "gate_proj.weight", "up_proj.weight",
                                    "down_proj.weight"};

TEST(MemoryPaths, SketchFromTheBackwardEqualsTheProjectedFullGradient) {
  for (const char* dtype : {"float64", "float32"}) {
    auto m = load_dir(stories().dir, dtype);
    const ModelConfig& c = m->config();
    const double tol = std::string(dtype) == "float64" ? 1e-10 : 1e-5;
    ImportanceOrder order;
    for (int l = 0; l < c.num_layers; ++l) {  // a non-trivial order: reversed
      LayerOrder o;
      for (int i = c.num_kv_heads - 1; i >= 0; --i) o.kv_order.push_back(i);
      for (int i = c.num_heads - 1; i >= 0; --i) o.head_order.push_back(i);
      for (int i = c.intermediate_size - 1; i >= 0; --i) o.channel_order.push_back(i);
      order.push_back(o);
    }
    PrefixWeights prefix(c, m->mutable_weights(), order);
    TraceNeeds needs;
    needs.sketch_rank = 8;
    needs.sketch_seed = 3;
    const BaseTraces base = compute_base_traces(c, prefix, stories().batches, needs);

    // Base: g_M = sum over batches, at full width.
    const LossAndGrads full = leaf_gradients(c, prefix.reordered(), stories().batches, {}, false);
    std::vector<at::Tensor> got, want;
    for (int l = 0; l < c.num_layers; ++l) {
      for (int p = 0; p < 7; ++p) {
        const auto& s = base.sketches[static_cast<std::size_t>(l)].at(kWeightNames[p]);
        auto [right, left] =
            project(full.grads[static_cast<std::size_t>(7 * l + p)], s.a, s.b, kOutDims[p]);
        got.insert(got.end(), {s.right, s.left});
        want.insert(want.end(), {right, left});
      }
    }
    EXPECT_LT(relative_error(got, want), tol) << dtype << " base";

    // Candidate: g_C = mean over batches of its kept coordinates.
    const Arch a = stories_candidate(c);
    const Trace t = run_candidate_pass(c, prefix, a, base, stories().batches, needs);
    const ModelWeights views = prefix.view(a);
    const LossAndGrads cand = leaf_gradients(c, views, stories().batches, {}, false);
    got.clear();
    want.clear();
    std::size_t g = 0;
    for (const BlockTrace& bt : t.blocks) {
      for (std::size_t j = 0; j < bt.names.size(); ++j) {
        const int p = static_cast<int>(
            std::find(std::begin(kWeightNames), std::end(kWeightNames), bt.names[j]) -
            std::begin(kWeightNames));
        ASSERT_LT(p, 7) << bt.names[j];
        const auto& s = base.sketches[static_cast<std::size_t>(bt.layer)].at(bt.names[j]);
        const at::Tensor mean = cand.grads[g++] / static_cast<double>(stories().batches.size());
        auto [right, left] = project(mean, s.a, s.b, kOutDims[p]);
        got.insert(got.end(), {bt.sketch[2 * j], bt.sketch[2 * j + 1]});
        want.insert(want.end(), {right, left});
      }
    }
    EXPECT_EQ(g, cand.grads.size());
    EXPECT_LT(relative_error(got, want), tol) << dtype << " candidate";
  }
}

// The identity importance order of `c` (every layer's units in place).
ImportanceOrder identity_order(const ModelConfig& c) {
  ImportanceOrder order;
  for (int l = 0; l < c.num_layers; ++l) {
    LayerOrder o;
    for (int i = 0; i < c.num_kv_heads; ++i) o.kv_order.push_back(i);
    for (int i = 0; i < c.num_heads; ++i) o.head_order.push_back(i);
    for (int i = 0; i < c.intermediate_size; ++i) o.channel_order.push_back(i);
    order.push_back(o);
  }
  return order;
}

// Checkpointed layers, and batches run at once on their own threads
// (parallel_batches; with one LibTorch thread they run one after the other,
// still through forked and merged accumulators).
TEST(MemoryPaths, CheckpointedLayersAndParallelBatchesGiveThePlainLossGradientsAndSketches) {
  for (const char* folder : kTinyModels) {
    for (const char* dtype : {"float64", "float32"}) {
      auto m = load_dir(std::string(TN_SHARED_DIR "/reference/") + folder, dtype);
      const ModelConfig& c = m->config();
      const auto batches = random_batches(c, 3, 3, 29);
      PrefixWeights prefix(c, m->mutable_weights(), identity_order(c));
      TraceNeeds needs;
      needs.base_weight_grads = true;
      needs.sketch_rank = 4;
      needs.sketch_seed = 11;
      const double tol = std::string(dtype) == "float64" ? 1e-10 : 2e-5;
      // The reference: projections as leaves, plain attention, whole batches.
      const LossAndGrads leaves = leaf_gradients(c, prefix.reordered(), batches, {}, false);
      for (const PassOptions& o :
           {PassOptions{0, 0, false, 0, true}, PassOptions{2, 8, false, 13, true},
            PassOptions{0, 0, false, 0, false, 2}, PassOptions{2, 8, false, 13, true, 2},
            PassOptions{1, 0, false, 0, false, 3}, PassOptions{0, 8, false, 13, false, 4}}) {
        const BaseTraces plain = compute_base_traces(
            c, prefix, batches, needs,
            PassOptions{o.micro_batch_size, o.attention_block, false, o.loss_chunk_tokens});
        const BaseTraces ckpt = compute_base_traces(c, prefix, batches, needs, o);
        const std::string what =
            std::string(folder) + " " + dtype + " micro " + std::to_string(o.micro_batch_size) +
            " block " + std::to_string(o.attention_block) + " checkpoint " +
            std::to_string(o.checkpoint_layers) + " parallel " + std::to_string(o.parallel_batches);
        ASSERT_EQ(ckpt.batch_losses.size(), batches.size()) << what;
        double loss = 0;
        for (std::size_t k = 0; k < batches.size(); ++k) {
          EXPECT_NEAR(ckpt.batch_losses[k], plain.batch_losses[k], tol * plain.batch_losses[k])
              << what;
          loss += ckpt.batch_losses[k];
        }
        EXPECT_NEAR(loss, leaves.loss, tol * leaves.loss) << what;
        std::vector<at::Tensor> got, want, got_sk, want_sk;
        for (std::size_t l = 0; l < ckpt.grads.size(); ++l) {
          LayerWeights g = ckpt.grads[l], p = plain.grads[l];
          for (at::Tensor* t : projections_of(g)) got.push_back(*t);
          for (at::Tensor* t : projections_of(p)) want.push_back(*t);
          for (const auto& [name, sk] : ckpt.sketches[l]) {
            const auto& pk = plain.sketches[l].at(name);
            got_sk.push_back(sk.right);
            want_sk.push_back(pk.right);
            if (sk.left.defined()) {
              got_sk.push_back(sk.left);
              want_sk.push_back(pk.left);
            }
          }
        }
        ASSERT_FALSE(got.empty()) << what;
        EXPECT_LT(relative_error(got, want), tol) << what << " gradients";
        EXPECT_LT(relative_error(got, leaves.grads), tol) << what << " gradients against leaves";
        EXPECT_LT(relative_error(got_sk, want_sk), tol) << what << " sketches";
      }
    }
  }
}

// Pieces at once keep each batch's logits and loss in batch order: whole
// batches (2 threads, 3 batches) and row ranges of each (4 and 7 threads:
// 2 and 3 ranges of a 3-row batch).
TEST(MemoryPaths, PiecesAtOnceKeepEachBatchsLogitsAndLoss) {
  auto m = load_dir(std::string(TN_SHARED_DIR "/reference/") + kTinyModels[0], "float64");
  const ModelConfig& c = m->config();
  const auto batches = random_batches(c, 3, 3, 17);
  PrefixWeights prefix(c, m->mutable_weights(), identity_order(c));
  TraceNeeds needs;
  needs.base_weight_grads = true;
  needs.base_logits = true;
  const BaseTraces one = compute_base_traces(c, prefix, batches, needs, PassOptions{});
  ASSERT_EQ(one.logits.size(), batches.size());
  for (int n : {2, 4, 7}) {
    PassOptions o;
    o.parallel_batches = n;
    const BaseTraces many = compute_base_traces(c, prefix, batches, needs, o);
    ASSERT_EQ(many.logits.size(), batches.size()) << n;
    for (std::size_t k = 0; k < batches.size(); ++k) {
      EXPECT_TRUE(many.logits[k].sizes() == one.logits[k].sizes()) << n << " batch " << k;
      EXPECT_LT(relative_error({many.logits[k]}, {one.logits[k]}), 1e-12) << n << " batch " << k;
      EXPECT_NEAR(many.batch_losses[k], one.batch_losses[k], 1e-12 * one.batch_losses[k]) << n;
    }
    std::vector<at::Tensor> got, want;
    for (std::size_t l = 0; l < many.grads.size(); ++l) {
      LayerWeights g = many.grads[l], p = one.grads[l];
      for (at::Tensor* t : projections_of(g)) got.push_back(*t);
      for (at::Tensor* t : projections_of(p)) want.push_back(*t);
    }
    EXPECT_LT(relative_error(got, want), 1e-10) << n << " gradients";
  }
}

struct Scores {
  std::vector<double> values;
  double full_arch_phi = 0;
};

// Every gradient proxy on the stories260K candidate and trace_correlation
// (full and sketch) on the unpruned model, with the given pass options.
Scores scores_with(const PassOptions& pass, const std::string& device = "cpu") {
  auto m = load_dir(stories().dir, "float64", device);
  std::vector<ScoredProxy> ps;
  for (const char* name : {"trace_correlation", "snip", "grad_norm", "fisher", "zico"}) {
    ps.push_back(proxy(name));
  }
  ps.push_back(proxy("trace_correlation", sketch_params()));
  ps.back().label = "trace_correlation_sketch";
  EvaluatorInputs in;
  in.model = m;
  in.model_dir = stories().dir;
  in.dtype = "float64";
  in.device = device;
  in.batches = stories().batches;
  in.data_fingerprint = "samples#96x3x2";
  in.criterion = "wanda";
  in.criterion_instance = plugins().create<ImportanceCriterion>("wanda", {}, RunContext{});
  in.proxies = std::move(ps);
  in.pass = pass;
  Evaluator ev(std::move(in));
  Scores s;
  s.values = ev.evaluate(stories_candidate(m->config())).values;
  const Evaluation full = ev.evaluate(full_arch(m->config()));
  s.full_arch_phi = full.values[0];
  s.values.push_back(full.values.back());  // the sketch proxy on the unpruned model
  return s;
}

TEST(MemoryPaths, MicroBatchesAttentionBlocksAndLossChunksLeaveEveryProxyUnchanged) {
  const Scores plain = scores_with(PassOptions{0, 0, false, 0});  // plain, whole batches
  const int L = 5;
  EXPECT_NEAR(plain.full_arch_phi, 2.0 * L, 1e-9);
  EXPECT_NEAR(plain.values.back(), 2.0 * L, 1e-9);  // sketch mode, unpruned
  for (const PassOptions& o :
       {PassOptions{1, 0, false, 0}, PassOptions{2, 40, false, 50}, PassOptions{0, 7, false, 1},
        PassOptions{3, 96, false, 0}, PassOptions{}, PassOptions{0, 0, false, 0, true},
        PassOptions{2, 16, false, 30, true}, PassOptions{0, 0, false, 0, false, 2}}) {
    const Scores other = scores_with(o);
    ASSERT_EQ(other.values.size(), plain.values.size());
    for (std::size_t i = 0; i < plain.values.size(); ++i) {
      // zico (index 4) divides by the across-batch std of each coordinate,
      // sqrt(E[g^2] - E[g]^2): a coordinate nearly equal in both batches turns
      // float64 rounding of the gradient into a relative change near 1e-6.
      const double rel = i == 4 ? 1e-5 : 1e-9;
      EXPECT_NEAR(other.values[i], plain.values[i], rel * std::max(1.0, std::abs(plain.values[i])))
          << "proxy " << i << " micro " << o.micro_batch_size << " block " << o.attention_block
          << " chunk " << o.loss_chunk_tokens << " checkpoint " << o.checkpoint_layers
          << " parallel " << o.parallel_batches;
    }
    EXPECT_NEAR(other.full_arch_phi, 2.0 * L, 1e-9);
  }
}

// The GPU check (scripts/device/run.sh runs the tests named *Cuda*): every
// proxy of the traced pass on CUDA, in float64, against the CPU, on the plain
// path and on the memory-saving one; skipped without a CUDA device.
TEST(MemoryPathsCuda, EveryProxyOnTheGpuMatchesTheCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device in this LibTorch";
  for (const PassOptions& o : {PassOptions{0, 0, false, 0}, PassOptions{2, 16, false, 30, true}}) {
    const Scores cpu = scores_with(o, "cpu");
    const Scores gpu = scores_with(o, "cuda");
    ASSERT_EQ(gpu.values.size(), cpu.values.size());
    for (std::size_t i = 0; i < cpu.values.size(); ++i) {
      const double rel = i == 4 ? 1e-5 : 1e-9;  // zico: see above
      EXPECT_NEAR(gpu.values[i], cpu.values[i], rel * std::max(1.0, std::abs(cpu.values[i])))
          << "proxy " << i << " checkpoint " << o.checkpoint_layers;
    }
    EXPECT_NEAR(gpu.full_arch_phi, 10.0, 1e-9);
  }
}

// Records the largest single CPU allocation while armed.
class LargestAllocation final : public at::Allocator {
 public:
  LargestAllocation() : inner_(c10::GetCPUAllocator()) { c10::SetCPUAllocator(this); }
  ~LargestAllocation() override { c10::SetCPUAllocator(inner_); }
  at::DataPtr allocate(size_t n) TN_ALLOCATE_CONST override {
    if (armed_) {
      size_t seen = largest_.load();
      while (n > seen && !largest_.compare_exchange_weak(seen, n)) {
      }
    }
    return inner_->allocate(n);
  }
  at::DeleterFnPtr raw_deleter() const override { return inner_->raw_deleter(); }
  TN_ALLOCATOR_COPY_DATA
  void arm() {
    largest_ = 0;
    armed_ = true;
  }
  size_t disarm() {
    armed_ = false;
    return largest_.load();
  }

 private:
  at::Allocator* inner_;
  mutable std::atomic<size_t> largest_{0};
  std::atomic<bool> armed_{false};
};

TEST(MemoryPaths, SketchCandidatePassAllocatesNothingOfAWeightsSize) {
  // Weights far larger than the activations of 1 x 8 tokens.
  ModelConfig c;
  c.model_type = "llama";
  c.num_layers = 2;
  c.hidden_size = 256;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 64;
  c.intermediate_size = 1024;
  c.vocab_size = 64;
  c.max_position_embeddings = 64;
  at::manual_seed(3);
  ModelWeights w;
  auto randn = [](at::IntArrayRef s) { return at::randn(s, at::kFloat).mul_(0.05); };
  w.embed = randn({64, 256});
  for (int i = 0; i < 2; ++i) {
    LayerWeights l;
    l.attention.input_norm = at::ones({256});
    l.attention.q = randn({2, 2, 64, 256});
    l.attention.k = randn({2, 64, 256});
    l.attention.v = randn({2, 64, 256});
    l.attention.o = randn({256, 2, 2, 64});
    l.ffn.post_norm = at::ones({256});
    l.ffn.gate = randn({1024, 256});
    l.ffn.up = randn({1024, 256});
    l.ffn.down = randn({256, 1024});
    w.layers.push_back(std::move(l));
  }
  w.final_norm = at::ones({256});
  w.lm_head = randn({64, 256});
  ImportanceOrder order(2, LayerOrder{{0, 1}, {0, 1, 2, 3}, {}});
  for (int i = 0; i < 1024; ++i) order[0].channel_order.push_back(i);
  order[1].channel_order = order[0].channel_order;
  PrefixWeights prefix(c, w, order);
  const std::vector<at::Tensor> batches = random_batches(c, 2, 1, 8);
  // Narrowed widths that stay views without copies: whole KV groups, MLP rows.
  Arch a = full_arch(c);
  a.layers[0].heads = 2;
  a.layers[0].kv_heads = 1;
  a.layers[0].mlp_channels = 600;
  a.layers[1].attn = false;
  const size_t smallest_weight = 64 * 256 * sizeof(float);  // k of one KV group, at least

  for (const bool sketch : {true, false}) {
    TraceNeeds needs;
    if (sketch) {
      needs.sketch_rank = 4;
    } else {
      needs.weight_grads = needs.base_weight_grads = true;
    }
    const BaseTraces base = compute_base_traces(c, prefix, batches, needs);
    LargestAllocation probe;
    probe.arm();
    const Trace t = run_candidate_pass(c, prefix, a, base, batches, needs);
    const size_t largest = probe.disarm();
    ASSERT_FALSE(t.blocks.empty());
    if (sketch) {
      EXPECT_LT(largest, smallest_weight) << "sketch mode allocated " << largest << " bytes";
    } else {
      // The control: full mode forms dW of the kept MLP, 600 x 256 floats.
      EXPECT_GE(largest, size_t{600} * 256 * sizeof(float));
    }
  }
  for (const at::Tensor* t : projections(w)) EXPECT_FALSE(t->requires_grad());
}

TEST(MemoryPaths, ReorderingIsInPlaceAndUndoneExactly) {
  auto m = load_dir(stories().dir, "float32");
  const ModelConfig& c = m->config();
  ModelWeights original = m->weights();
  std::vector<at::Tensor> before;
  std::vector<const void*> storage;
  for (at::Tensor* t : projections(original)) {
    before.push_back(t->clone());
    storage.push_back(t->data_ptr());
  }
  ImportanceOrder order;
  for (int l = 0; l < c.num_layers; ++l) {  // a different permutation per layer
    LayerOrder o;
    for (int i = 0; i < c.num_kv_heads; ++i) o.kv_order.push_back((i + l) % c.num_kv_heads);
    for (int i = 0; i < c.num_heads; ++i) o.head_order.push_back((i * 3 + l) % c.num_heads);
    for (int i = 0; i < c.intermediate_size; ++i) {
      o.channel_order.push_back((i * 5 + l) % c.intermediate_size);
    }
    order.push_back(o);
  }
  Arch a = stories_candidate(c);
  for (LayerArch& la : a.layers) {  // explicit units, read by original index
    la.head_index.clear();
    la.channel_index.clear();
  }
  const auto sel = select_units(c, a, &order);
  const ModelWeights want = realize_weights(c, m->weights(), sel);
  {
    PrefixWeights prefix(c, m->mutable_weights(), order);
    ModelWeights now = m->weights();
    std::size_t i = 0, changed = 0;
    for (at::Tensor* t : projections(now)) {
      EXPECT_EQ(t->data_ptr(), storage[i]) << "tensor " << i << " moved";
      changed += t->equal(before[i]) ? 0 : 1;
      ++i;
    }
    EXPECT_GT(changed, 0u);
    // Layer 0: KV groups (0, 1, 2, 3); inside group 1, head 3 ranks before head 2.
    EXPECT_TRUE(m->weights().layers[0].attention.q[1][0].equal(before[0][1][1]));
    // Layer 1: KV groups (1, 2, 3, 0), so reordered KV head 0 is original KV head 1.
    EXPECT_TRUE(m->weights().layers[1].attention.k[0].equal(before[8][1]));
    ModelWeights got = prefix.realize(sel);
    ModelWeights got_copy = got, want_copy = want;
    std::vector<at::Tensor> g, wv;
    for (at::Tensor* t : projections(got_copy)) g.push_back(*t);
    for (at::Tensor* t : projections(want_copy)) wv.push_back(*t);
    ASSERT_EQ(g.size(), wv.size());
    for (std::size_t k = 0; k < g.size(); ++k) EXPECT_TRUE(g[k].equal(wv[k])) << "tensor " << k;
  }
  ModelWeights after = m->weights();
  std::size_t i = 0;
  for (at::Tensor* t : projections(after)) {
    EXPECT_TRUE(t->equal(before[i])) << "tensor " << i << " not restored";
    ++i;
  }
}

}  // namespace
}  // namespace tracenas
