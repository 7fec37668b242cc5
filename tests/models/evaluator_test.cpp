// The Evaluator on the real stories260K model: one pass per candidate for
// every proxy, the SPEC.md section 5 invariants of trace_correlation (2L,
// loss scale, masking == prefix slicing, sketch determinism), the on-disk
// cache of importance and base traces, and the vocabulary check.
#include "scoring/evaluator.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "checkpoints.hpp"
#include "data/calibration.hpp"
#include "io/llama2c.hpp"
#include "model/subnet.hpp"
#include "plugin/registry.hpp"
#include "test_dir.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/hf_checkpoint.hpp"
#include "tracenas/support/hf_config.hpp"
#include "tracenas/support/tokens.hpp"

namespace tracenas {
namespace {

namespace fs = std::filesystem;

const Registry& plugins() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_importance_criteria.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_proxy_trace_correlation.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_proxy_gradient_baselines.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_proxy_baselines.so");
    return reg;
  }();
  return *r;
}

struct Stories {
  std::string dir;
  ModelConfig config;
  std::vector<at::Tensor> batches;
};

const Stories& stories() {
  static Stories* s = [] {
    auto* st = new Stories();
    st->dir = tracenas::testing::test_path("tn_evaluator_stories260K");
    convert_llama2c(TN_SHARED_DIR "/models/stories260K.bin", st->dir);
    st->config = tracenas::testing::read_checkpoint_config(st->dir);
    BatchSpec spec;
    spec.seq_len = 128;
    spec.batch_size = 2;
    spec.num_batches = 2;
    st->batches = calibration_batches(
        read_token_file(TN_SHARED_DIR "/data/stories260K-samples.u16"), spec, "samples");
    return st;
  }();
  return *s;
}

std::shared_ptr<DecoderModel> load(const std::string& dtype) {
  LoadOptions o;
  o.dtype = dtype;
  return tracenas::testing::load_checkpoint(stories().dir, o);
}

ScoredProxy proxy(const std::string& name, const std::string& label, ParamValues p = {}) {
  for (const auto& s : plugins().require(ComponentKind::kProxy, name)->info.params) {
    if (!p.has(s.name)) p.set(s.name, s.default_value);
  }
  return {label, name, plugins().create<Proxy>(name, p, RunContext{})};
}

ParamValues sketch_params(std::int64_t seed) {
  ParamValues p;
  p.set("gradient", std::string("sketch"));
  p.set("sketch_rank", std::int64_t{16});
  p.set("sketch_seed", seed);
  return p;
}

EvaluatorInputs inputs(std::shared_ptr<DecoderModel> m, std::vector<ScoredProxy> proxies,
                       const std::string& cache_dir = "") {
  EvaluatorInputs in;
  in.model = std::move(m);
  in.model_dir = stories().dir;
  in.dtype = in.model->weights().embed.scalar_type() == at::kDouble ? "float64" : "float32";
  in.batches = stories().batches;
  in.data_fingerprint = "samples#128x2x2";
  in.criterion = "wanda";
  in.criterion_instance = plugins().create<ImportanceCriterion>("wanda", {}, RunContext{});
  in.proxies = std::move(proxies);
  in.cache_dir = cache_dir;
  return in;
}

// A depth-and-width candidate of stories260K (5 layers, 8 heads, 4 KV heads, I = 172).
Arch candidate() {
  Arch a = full_arch(stories().config);
  a.layers[1].heads = 4;
  a.layers[1].mlp_channels = 96;
  a.layers[2].attn = false;
  a.layers[2].mlp_channels = 64;
  a.layers[3].mlp = false;
  a.layers[3].kv_heads = 2;
  a.layers[3].heads = 4;
  a.layers[4].mlp_channels = 100;
  validate_arch(a, stories().config, "test");
  return a;
}

TEST(Evaluator, OnePassPerCandidateServesEveryProxy) {
  std::vector<ScoredProxy> ps;
  ps.push_back(proxy("trace_correlation", "phi"));
  ps.push_back(proxy("trace_correlation", "phi_sketch", sketch_params(3)));
  for (const char* n :
       {"loss", "kl_to_parent", "grad_norm", "snip", "fisher", "zico", "param_count", "random"}) {
    ps.push_back(proxy(n, n));
  }
  Evaluator ev(inputs(load("float32"), std::move(ps)));
  ev.prepare();
  EXPECT_EQ(ev.passes(), 0);  // base work is not a candidate pass
  std::vector<Arch> archs = {full_arch(stories().config), candidate()};
  archs.push_back(candidate());
  archs.back().layers[0].mlp_channels = 50;
  for (std::size_t i = 0; i < archs.size(); ++i) {
    Evaluation e = ev.evaluate(archs[i]);
    EXPECT_EQ(ev.passes(), static_cast<int>(i) + 1);
    ASSERT_EQ(e.values.size(), 10u);
    for (double v : e.values) EXPECT_TRUE(std::isfinite(v));
    EXPECT_EQ(e.params, count_params(stories().config, archs[i]));
  }
}

TEST(Evaluator, FullModelScoresTwiceTheLayerCountInFullAndSketchMode) {
  std::vector<ScoredProxy> ps;
  ps.push_back(proxy("trace_correlation", "phi"));
  ps.push_back(proxy("trace_correlation", "phi_sketch", sketch_params(0)));
  Evaluator ev(inputs(load("float64"), std::move(ps)));
  Evaluation e = ev.evaluate(full_arch(stories().config));
  EXPECT_NEAR(e.values[0], 2.0 * stories().config.num_layers, 1e-12);
  EXPECT_NEAR(e.values[1], 2.0 * stories().config.num_layers, 1e-12);
}

TEST(Evaluator, SketchIsIdenticalAcrossRunsWithTheSameSeed) {
  auto m = load("float32");
  auto score = [&](std::int64_t seed) {
    std::vector<ScoredProxy> ps;
    ps.push_back(proxy("trace_correlation", "phi_sketch", sketch_params(seed)));
    Evaluator ev(inputs(m, std::move(ps)));
    return ev.evaluate(candidate()).values[0];
  };
  const double a = score(7);
  const double b = score(7);
  const double c = score(8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // A pruned candidate correlates imperfectly: below 2 per kept block.
  EXPECT_LT(a, 2.0 * stories().config.num_layers);
}

// Scaling the candidate's loss by c and the base's by c' scales their
// gradients (linear in the loss), which Pearson ignores.
TEST(Evaluator, TraceCorrelationIsInvariantToScalingTheLoss) {
  auto m = load("float64");
  ImportanceResult imp =
      compute_importance(*m, stories().batches, true, [&](const LayerImportanceInput& in) {
        auto w = plugins().create<ImportanceCriterion>("wanda", {}, RunContext{});
        return w.call("score", [&](ImportanceCriterion& c) { return c.score(in); });
      });
  PrefixWeights prefix(m->config(), m->mutable_weights(), imp.order);
  TraceNeeds needs;
  needs.weight_grads = needs.base_weight_grads = true;
  BaseTraces base = compute_base_traces(m->config(), prefix, stories().batches, needs);
  const Arch a = candidate();
  Trace t = run_candidate_pass(m->config(), prefix, a, base, stories().batches, needs);
  ScoredProxy phi = proxy("trace_correlation", "phi");
  Candidate cand{&a, &m->config(), 0, 0};
  const double v = phi.proxy.call("score", [&](Proxy& p) { return p.score(cand, t); });
  Trace scaled = t;
  for (auto& b : scaled.blocks) {
    for (auto& g : b.grads) g = g * 1000.0;
    for (auto& g : b.base_grads) g = g * 0.01;
  }
  const double vs = phi.proxy.call("score", [&](Proxy& p) { return p.score(cand, scaled); });
  EXPECT_NEAR(v, vs, 1e-12);
  EXPECT_GT(v, 0.5);
}

// Realized by masking: the full-width base with the removed heads, KV heads
// and channels zeroed (removed blocks skipped), gradients taken at full
// width and read at the kept coordinates (original indices). Must equal the
// prefix-slicing fast path.
TEST(Evaluator, MaskingAndPrefixSlicingGiveTheSameTraceCorrelation) {
  auto m = load("float64");
  const ModelConfig& c = m->config();
  std::vector<ScoredProxy> ps;
  ps.push_back(proxy("trace_correlation", "phi"));
  Evaluator ev(inputs(m, std::move(ps)));
  const Arch a = candidate();
  const double prefix_value = ev.evaluate(a).values[0];
  ev.release_weights();  // the model's units back in their original order

  const auto sel = select_units(c, a, &ev.order());
  const int n_full = c.num_heads / c.num_kv_heads;
  auto grads_of = [&](bool masked) {
    ModelWeights w = m->weights();
    for (auto& l : w.layers) {
      for (at::Tensor* t : {&l.attention.q, &l.attention.k, &l.attention.v, &l.attention.o,
                            &l.ffn.gate, &l.ffn.up, &l.ffn.down}) {
        *t = t->detach().clone();
      }
    }
    if (masked) {
      for (int i = 0; i < c.num_layers; ++i) {
        auto& l = w.layers[static_cast<std::size_t>(i)];
        const auto& s = sel[static_cast<std::size_t>(i)];
        l.attn = s.attn;
        l.mlp = s.mlp;
        at::NoGradGuard ng;
        for (int j = 0; j < c.num_heads; ++j) {
          if (std::find(s.heads.begin(), s.heads.end(), j) != s.heads.end()) continue;
          l.attention.q[j / n_full][j % n_full].zero_();
          l.attention.o.select(1, j / n_full).select(1, j % n_full).zero_();
        }
        for (int g = 0; g < c.num_kv_heads; ++g) {
          if (std::find(s.kv_heads.begin(), s.kv_heads.end(), g) != s.kv_heads.end()) continue;
          l.attention.k[g].zero_();
          l.attention.v[g].zero_();
        }
        for (int ch = 0; ch < c.intermediate_size; ++ch) {
          if (std::find(s.channels.begin(), s.channels.end(), ch) != s.channels.end()) continue;
          l.ffn.gate[ch].zero_();
          l.ffn.up[ch].zero_();
          l.ffn.down.select(1, ch).zero_();
        }
      }
    }
    for (auto& l : w.layers) {
      for (at::Tensor* t : {&l.attention.q, &l.attention.k, &l.attention.v, &l.attention.o,
                            &l.ffn.gate, &l.ffn.up, &l.ffn.down}) {
        t->requires_grad_(true);
      }
    }
    for (const auto& b : stories().batches) {
      causal_lm_loss(decoder_logits(c, w, b), b).backward();
    }
    return w;  // .grad() = sum over batches (the mean differs by a constant factor)
  };
  ModelWeights gm = grads_of(true);
  ModelWeights gb = grads_of(false);
  double phi = 0;
  for (int i = 0; i < c.num_layers; ++i) {
    const auto& s = sel[static_cast<std::size_t>(i)];
    const auto& lm = gm.layers[static_cast<std::size_t>(i)];
    const auto& lb = gb.layers[static_cast<std::size_t>(i)];
    auto kept = [&](const LayerWeights& l, bool attn) {
      std::vector<at::Tensor> parts;
      if (attn) {
        for (int j : s.heads) {
          parts.push_back(l.attention.q.grad()[j / n_full][j % n_full].flatten());
          parts.push_back(
              l.attention.o.grad().select(1, j / n_full).select(1, j % n_full).flatten());
        }
        for (int g : s.kv_heads) {
          parts.push_back(l.attention.k.grad()[g].flatten());
          parts.push_back(l.attention.v.grad()[g].flatten());
        }
      } else {
        for (int ch : s.channels) {
          parts.push_back(l.ffn.gate.grad()[ch]);
          parts.push_back(l.ffn.up.grad()[ch]);
          parts.push_back(l.ffn.down.grad().select(1, ch));
        }
      }
      return at::cat(parts);
    };
    auto pearson = [](at::Tensor x, at::Tensor y) {
      x = x - x.mean();
      y = y - y.mean();
      return (x.dot(y) / (x.norm() * y.norm())).item<double>();
    };
    if (s.attn) phi += pearson(kept(lm, true), kept(lb, true));
    if (s.mlp) phi += pearson(kept(lm, false), kept(lb, false));
  }
  EXPECT_NEAR(prefix_value, phi, 1e-9);
}

TEST(Evaluator, ASecondRunLoadsImportanceAndBaseTracesFromTheCache) {
  tracenas::testing::ScratchDir cache;
  auto m = load("float32");
  auto make = [&] {
    std::vector<ScoredProxy> ps;
    ps.push_back(proxy("trace_correlation", "phi"));
    ps.push_back(proxy("trace_correlation", "phi_sketch", sketch_params(1)));
    ps.push_back(proxy("kl_to_parent", "kl"));
    return std::make_unique<Evaluator>(inputs(m, std::move(ps), cache.str()));
  };
  auto cold = make();
  cold->prepare();
  EXPECT_FALSE(cold->importance_from_cache());
  EXPECT_FALSE(cold->traces_from_cache());
  EXPECT_TRUE(fs::exists(cache.path() / "importance"));
  EXPECT_TRUE(fs::exists(cache.path() / "base_traces"));
  auto warm = make();
  warm->prepare();
  EXPECT_TRUE(warm->importance_from_cache());
  EXPECT_TRUE(warm->traces_from_cache());
  EXPECT_EQ(cold->order().size(), warm->order().size());
  for (std::size_t i = 0; i < cold->order().size(); ++i) {
    EXPECT_EQ(cold->order()[i].channel_order, warm->order()[i].channel_order);
    EXPECT_EQ(cold->order()[i].head_order, warm->order()[i].head_order);
  }
  const Arch a = candidate();
  Evaluation x = cold->evaluate(a);
  Evaluation y = warm->evaluate(a);
  ASSERT_EQ(x.values.size(), y.values.size());
  for (std::size_t i = 0; i < x.values.size(); ++i) EXPECT_DOUBLE_EQ(x.values[i], y.values[i]);
}

TEST(Evaluator, TokenIdsMustBeBelowTheVocabularySize) {
  auto in = inputs(load("float32"), {});
  in.batches[1] = in.batches[1].clone();
  in.batches[1][1][5] = 512;  // stories260K has 512 tokens
  try {
    Evaluator ev(std::move(in));
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_STREQ(e.what(),
                 "samples#128x2x2: token id 512 is not below the model's vocabulary size 512 "
                 "(batch 1, window 1, position 5)");
  }
}

TEST(Evaluator, ProxiesAskingForDifferentSketchesAreAConfigError) {
  std::vector<ScoredProxy> ps;
  ps.push_back(proxy("trace_correlation", "a", sketch_params(1)));
  ps.push_back(proxy("trace_correlation", "b", sketch_params(2)));
  try {
    Evaluator ev(inputs(load("float32"), std::move(ps)));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("proxies: 'a' and 'b' ask for different gradient "
                                         "sketches (rank 16 seed 1 vs rank 16 seed 2)"),
              std::string::npos);
  }
  // Two LoRA traces of different ranks: one pass serves one.
  auto lora = [](std::int64_t rank) {
    ParamValues p = sketch_params(0);
    p.set("gradient", std::string("lora"));
    p.set("lora_rank", rank);
    return p;
  };
  std::vector<ScoredProxy> lp;
  lp.push_back(proxy("trace_correlation", "c", lora(8)));
  lp.push_back(proxy("trace_correlation", "d", lora(4)));
  try {
    Evaluator ev(inputs(load("float32"), std::move(lp)));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("proxies: 'c' and 'd' ask for different LoRA traces "
                                         "(rank 8 vs 4, or another seed or alpha); one pass "
                                         "serves one LoRA trace"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tracenas
