// The passes of the paper's comparison proxies against the same quantities
// computed directly, for a candidate with a narrowed MLP, a removed attention
// and a removed MLP block: the forward-only activation pass
// (scoring/activation_observer.hpp: each kept block's output Gram across the
// batch's sequences, the NASWOT gate-sign kernel) against a plain forward, and
// SynFlow's pass (tap, checkpointed layers) against plain autograd.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "model/subnet.hpp"
#include "scoring/trace.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas {
namespace {

ModelConfig small_config() {
  ModelConfig c;
  c.model_type = "llama";
  c.num_layers = 3;
  c.hidden_size = 32;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.intermediate_size = 48;
  c.vocab_size = 64;
  c.max_position_embeddings = 64;
  return c;
}

ModelWeights random_weights(const ModelConfig& c) {
  at::manual_seed(11);
  auto randn = [](at::IntArrayRef s) { return at::randn(s, at::kDouble).mul_(0.2); };
  ModelWeights w;
  w.embed = randn({c.vocab_size, c.hidden_size});
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights l;
    l.attention.input_norm = at::ones({c.hidden_size}, at::kDouble);
    l.attention.q = randn({2, 2, 8, 32});
    l.attention.k = randn({2, 8, 32});
    l.attention.v = randn({2, 8, 32});
    l.attention.o = randn({32, 2, 2, 8});
    l.ffn.post_norm = at::ones({c.hidden_size}, at::kDouble);
    l.ffn.gate = randn({48, 32});
    l.ffn.up = randn({48, 32});
    l.ffn.down = randn({32, 48});
    w.layers.push_back(std::move(l));
  }
  w.final_norm = at::ones({c.hidden_size}, at::kDouble);
  w.lm_head = randn({c.vocab_size, c.hidden_size});
  return w;
}

// Every unit in its own place: the candidates keep the first heads and channels.
ImportanceOrder identity_order() {
  ImportanceOrder order(3, LayerOrder{{0, 1}, {0, 1, 2, 3}, {}});
  for (auto& o : order) {
    for (int i = 0; i < 48; ++i) o.channel_order.push_back(i);
  }
  return order;
}

// Records the outputs of o_proj, down_proj and gate_proj of a plain forward.
class RecordingTap final : public ProjectionTap {
 public:
  at::Tensor project(int layer, Projection p, const at::Tensor& x, const at::Tensor& w,
                     std::int64_t in_features, const at::Tensor& bias) override {
    at::Tensor y = at::matmul(x, w.reshape({-1, in_features}).t());
    if (bias.defined()) y = y + bias.reshape({-1});
    if (p == Projection::kO || p == Projection::kDown || p == Projection::kGate) {
      seen[{layer, static_cast<int>(p)}].push_back(y.detach().clone());
    }
    return y;
  }
  std::map<std::pair<int, int>, std::vector<at::Tensor>> seen;  // per batch
};

TEST(ActivationObserver, GramsAndGateKernelEqualThoseOfAPlainForward) {
  const ModelConfig c = small_config();
  ModelWeights weights = random_weights(c);
  PrefixWeights prefix(c, weights, identity_order());
  at::manual_seed(5);
  const std::vector<at::Tensor> batches = {at::randint(64, {3, 7}, at::kLong),
                                           at::randint(64, {3, 7}, at::kLong)};
  Arch a = full_arch(c);
  a.layers[0].mlp_channels = 40;
  a.layers[1].attn = false;
  a.layers[2].mlp = false;
  TraceNeeds needs;
  needs.output_grams = needs.gate_kernel = true;
  const BaseTraces base = compute_base_traces(c, prefix, batches, TraceNeeds{});
  const Trace t = run_candidate_pass(c, prefix, a, base, batches, needs);

  // Independently: a plain forward of the same candidate recording the outputs.
  RecordingTap rec;
  {
    at::NoGradGuard no_grad;
    const ModelWeights w = prefix.view(a);
    for (const at::Tensor& b : batches) {
      ForwardOptions fo;
      fo.tap = &rec;
      decoder_hidden(c, w, b, fo);
    }
  }
  ASSERT_EQ(t.blocks.size(), 4u);  // attn 0, mlp 0, mlp 1, attn 2
  for (const BlockTrace& b : t.blocks) {
    const int p = static_cast<int>(b.kind == BlockKind::kAttn ? Projection::kO : Projection::kDown);
    const auto& outs = rec.seen.at({b.layer, p});
    ASSERT_EQ(b.output_grams.size(), 2u);
    for (std::size_t k = 0; k < 2; ++k) {
      const at::Tensor f = outs[k].reshape({3, -1});
      const SampleGram& g = b.output_grams[k];
      EXPECT_EQ(g.features, 7 * 32);
      EXPECT_TRUE(at::allclose(g.gram, at::matmul(f, f.t()), 1e-12, 1e-12));
      EXPECT_TRUE(at::allclose(g.sum, f.sum(1), 1e-12, 1e-12));
    }
  }
  // The kernel over the kept MLPs (layers 0 and 1) and both batches, counted
  // pairwise here.
  at::Tensor k = at::zeros({3, 3}, at::kDouble);
  int mlps = 0;
  for (const auto& [key, outs] : rec.seen) {
    if (key.second != static_cast<int>(Projection::kGate)) continue;
    ++mlps;
    for (const at::Tensor& y : outs) {
      const at::Tensor code = y.reshape({3, -1}).gt(0);
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) {
          k[i][j] += code[i].eq(code[j]).sum().item<double>();
        }
      }
    }
  }
  EXPECT_EQ(mlps, 2);
  ASSERT_TRUE(t.gate_kernel.defined());
  EXPECT_TRUE(at::equal(t.gate_kernel, k)) << t.gate_kernel << k;
  // Each diagonal entry counts every unit once: 2 batches x (40 + 48) channels x 7 positions.
  EXPECT_EQ(t.gate_kernel[0][0].item<double>(), 2.0 * (40 + 48) * 7);
}

TEST(SynflowPass, GradientsEqualPlainAutogradOfTheAbsoluteNetwork) {
  const ModelConfig c = small_config();
  ModelWeights weights = random_weights(c);
  weights.layers[1].attention.input_norm = -weights.layers[1].attention.input_norm;  // |.| matters
  PrefixWeights prefix(c, weights, identity_order());
  const std::vector<at::Tensor> batches = {at::randint(64, {2, 6}, at::kLong)};
  Arch a = full_arch(c);
  a.layers[0].mlp_channels = 40;
  a.layers[1].mlp = false;
  a.layers[2].attn = false;
  TraceNeeds needs;
  needs.synflow = true;
  const Trace t =
      run_candidate_pass(c, prefix, a, compute_base_traces(c, prefix, batches, {}), batches, needs);

  // Plain autograd: leaves |theta| (copies), an embedding of ones, R = sum of the logits.
  ModelWeights v = prefix.view(a);
  std::vector<at::Tensor*> leaves;
  auto leaf = [&](at::Tensor& x) {
    if (!x.defined()) return;
    x = x.abs().clone().requires_grad_(true);
    leaves.push_back(&x);
  };
  for (LayerWeights& l : v.layers) {
    for (at::Tensor* x : {&l.attention.input_norm, &l.attention.q, &l.attention.k, &l.attention.v,
                          &l.attention.o, &l.ffn.post_norm, &l.ffn.gate, &l.ffn.up, &l.ffn.down}) {
      leaf(*x);
    }
  }
  v.final_norm = v.final_norm.abs();
  v.embed = at::ones({c.vocab_size, c.hidden_size}, at::kDouble);  // every token reads ones
  v.lm_head = v.lm_head.abs();
  const at::Tensor logits = decoder_logits(c, v, at::zeros({1, 6}, at::kLong));
  logits.sum().backward();
  double expected = 0;
  for (const LayerWeights& l : v.layers) {
    const std::vector<const at::Tensor*> kept =
        l.attn && l.mlp
            ? std::vector<const at::Tensor*>{&l.attention.q, &l.attention.o, &l.ffn.down}
        : l.attn ? std::vector<const at::Tensor*>{&l.attention.q, &l.attention.o}
                 : std::vector<const at::Tensor*>{&l.ffn.up};
    for (const at::Tensor* x : kept) ASSERT_TRUE(x->grad().defined());
    if (l.attn) {
      for (const at::Tensor* x : {&l.attention.q, &l.attention.k, &l.attention.v, &l.attention.o}) {
        expected += (*x * x->grad()).sum().item<double>();
      }
    }
    if (l.mlp) {
      for (const at::Tensor* x : {&l.ffn.gate, &l.ffn.up, &l.ffn.down}) {
        expected += (*x * x->grad()).sum().item<double>();
      }
    }
  }
  double got = 0;
  for (const BlockTrace& b : t.blocks) {
    ASSERT_EQ(b.synflow_grads.size(), b.weights.size());
    for (std::size_t k = 0; k < b.weights.size(); ++k) {
      got += (b.weights[k].abs() * b.synflow_grads[k]).sum().item<double>();
    }
  }
  // RMSNorm makes the network far from positively homogeneous: the sum can have
  // either sign; what matters is that both computations agree.
  EXPECT_GT(std::fabs(expected), 1e-3);
  EXPECT_NEAR(got, expected, 1e-9 * std::fabs(expected));
  // Per tensor too: the kept MLP down projection of layer 0.
  EXPECT_TRUE(at::allclose(t.blocks[1].synflow_grads[2], v.layers[0].ffn.down.grad(), 1e-9, 1e-12));
}

// W + s B A in the grouped layout of W (A [r, in...], B [out..., r]).
at::Tensor effective(const at::Tensor& w, const BaseTraces::Sketch& f, double s, int r) {
  const at::Tensor a = f.a.reshape({r, -1}), b = f.b.reshape({-1, r});
  return (w.reshape({b.size(0), a.size(1)}) + s * at::matmul(b, a)).reshape(w.sizes());
}

TEST(LoraPass, TracesAreTheAdaptersGradientsWithTheBranchInTheForward) {
  const ModelConfig c = small_config();
  ModelWeights weights = random_weights(c);
  PrefixWeights prefix(c, weights, identity_order());
  at::manual_seed(3);
  const std::vector<at::Tensor> batches = {at::randint(64, {2, 6}, at::kLong),
                                           at::randint(64, {2, 6}, at::kLong)};
  TraceNeeds needs;
  needs.lora_rank = 4;
  needs.lora_seed = 9;
  needs.lora_alpha = 8;  // scale 2
  const int r = 4;
  const double s = 2;
  const BaseTraces base = compute_base_traces(c, prefix, batches, needs);
  ASSERT_EQ(base.lora.size(), 3u);
  const BaseTraces::Sketch& down0 = base.lora[0].at("down_proj.weight");
  // Kaiming-uniform factors: A within 1/sqrt(in) (in = 48), B within 1/sqrt(r).
  EXPECT_LE(down0.a.abs().max().item<double>(), 1 / std::sqrt(48.0));
  EXPECT_GT(down0.a.abs().max().item<double>(), 0.9 / std::sqrt(48.0));
  EXPECT_LE(down0.b.abs().max().item<double>(), 0.5);
  EXPECT_EQ(base.lora[0].count("q_proj.bias"), 0u);

  // Plain autograd of the effective weights W + s B A: the pass's sketches are
  // G' A^T and B^T G'.
  auto grads_of = [&](const Arch& arch, bool candidate) {
    ModelWeights v = prefix.view(arch);
    std::map<std::pair<int, std::string>, at::Tensor*> leaves;
    for (std::size_t i = 0; i < v.layers.size(); ++i) {
      LayerWeights& l = v.layers[i];
      const std::vector<std::pair<const char*, at::Tensor*>> slots = {
          {"q_proj.weight", &l.attention.q}, {"k_proj.weight", &l.attention.k},
          {"v_proj.weight", &l.attention.v}, {"o_proj.weight", &l.attention.o},
          {"gate_proj.weight", &l.ffn.gate}, {"up_proj.weight", &l.ffn.up},
          {"down_proj.weight", &l.ffn.down}};
      for (const auto& [name, t] : slots) {
        const char first = name[0];
        const bool attn = first == 'q' || first == 'k' || first == 'v' || first == 'o';
        if ((attn && !l.attn) || (!attn && !l.mlp)) continue;
        BaseTraces::Sketch f = base.lora[i].at(name);
        if (candidate) {  // restricted to the kept coordinates
          const int nout =
              std::string(name) == "q_proj.weight"                                           ? 3
              : std::string(name) == "k_proj.weight" || std::string(name) == "v_proj.weight" ? 2
                                                                                             : 1;
          for (int d = 0; d < t->dim(); ++d) {
            if (d < nout) {
              f.b = f.b.narrow(d, 0, t->size(d));
            } else {
              f.a = f.a.narrow(1 + d - nout, 0, t->size(d));
            }
          }
        }
        *t = effective(*t, f, s, r).detach().requires_grad_(true);
        leaves[{static_cast<int>(i), name}] = t;
      }
    }
    at::Tensor loss = at::zeros({}, at::kDouble);
    for (const at::Tensor& b : batches) loss = loss + causal_lm_loss(decoder_logits(c, v, b), b);
    loss.backward();
    std::map<std::pair<int, std::string>, at::Tensor> g;
    for (const auto& [key, t] : leaves) g[key] = t->grad().reshape({-1, t->size(-1)});
    return g;
  };
  // The base: every layer; o is [d | g, n, h] so its 2-D form is [d, g*n*h].
  const auto g = grads_of(full_arch(c), false);
  for (int i = 0; i < 3; ++i) {
    for (const char* name :
         {"q_proj.weight", "o_proj.weight", "up_proj.weight", "down_proj.weight"}) {
      const BaseTraces::Sketch& f = base.lora[static_cast<std::size_t>(i)].at(name);
      const at::Tensor a = f.a.reshape({r, -1}), b = f.b.reshape({-1, r});
      const at::Tensor g2 = g.at({i, name}).reshape({b.size(0), a.size(1)});
      EXPECT_TRUE(at::allclose(f.right.reshape({-1, r}), at::matmul(g2, a.t()), 1e-9, 1e-12))
          << i << " " << name;
      EXPECT_TRUE(at::allclose(f.left.reshape({r, -1}), at::matmul(b.t(), g2), 1e-9, 1e-12))
          << i << " " << name;
    }
  }
  // A candidate: the adapters cut to its kept rows and columns; its trace is
  // the mean over the batches, the base's the sum.
  Arch a = full_arch(c);
  a.layers[0].mlp_channels = 40;
  a.layers[1].attn = false;
  const Trace t = run_candidate_pass(c, prefix, a, base, batches, needs);
  const auto gc = grads_of(a, true);
  const BlockTrace& mlp0 = t.blocks[1];
  ASSERT_EQ(mlp0.kind, BlockKind::kMlp);
  ASSERT_EQ(mlp0.lora.size(), 6u);  // (right, left) of gate, up, down
  const at::Tensor a_down = down0.a.narrow(1, 0, 40).reshape({r, -1});
  const at::Tensor g_down = gc.at({0, "down_proj.weight"}).reshape({32, 40});
  EXPECT_TRUE(
      at::allclose(mlp0.lora[4].reshape({-1, r}), at::matmul(g_down, a_down.t()) / 2, 1e-9, 1e-12));
  EXPECT_TRUE(at::allclose(mlp0.base_lora[5], down0.left.narrow(1, 0, 40)));
  // The unpruned model's trace is the base's over the K = 2 batches: the
  // correlation of every block is 1.
  const Trace whole = run_candidate_pass(c, prefix, full_arch(c), base, batches, needs);
  ASSERT_EQ(whole.blocks.size(), 6u);
  for (const BlockTrace& b : whole.blocks) {
    ASSERT_EQ(b.lora.size(), b.base_lora.size());
    for (std::size_t k = 0; k < b.lora.size(); ++k) {
      EXPECT_TRUE(at::allclose(b.lora[k] * 2, b.base_lora[k], 1e-12, 1e-14));
    }
  }
}

}  // namespace
}  // namespace tracenas
