// The proxies that read the candidate pass, on hand-made traces whose values
// are computed by hand here.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "plugin/registry.hpp"
#include "tracenas/proxy.hpp"

namespace tracenas {
namespace {

const Registry& proxies() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_proxy_trace_correlation.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_proxy_gradient_baselines.so");
    return reg;
  }();
  return *r;
}

double score(const std::string& name, const Trace& t, ParamValues p = {}) {
  for (const auto& s : proxies().require(ComponentKind::kProxy, name)->info.params) {
    if (!p.has(s.name)) p.set(s.name, s.default_value);
  }
  auto proxy = proxies().create<Proxy>(name, p, RunContext{});
  Arch arch;
  ModelConfig cfg;
  Candidate c{&arch, &cfg, 1, 2};
  return proxy.call("score", [&](Proxy& px) { return px.score(c, t); });
}

at::Tensor t(std::vector<double> v) { return at::tensor(v, at::kDouble); }

// Two blocks: x = [1, 2, 3] vs y = [2, 4, 7] (split over two projections in
// the first block), and x = [1, 0] vs y = [0, 1] in the second.
Trace two_blocks() {
  Trace tr;
  BlockTrace a;
  a.grads = {t({1, 2}), t({3})};
  a.base_grads = {t({2, 4}), t({7})};
  a.weights = {t({-1, 0.5}), t({2})};
  BlockTrace b;
  b.kind = BlockKind::kMlp;
  b.grads = {t({1, 0})};
  b.base_grads = {t({0, 1})};
  b.weights = {t({3, 3})};
  tr.blocks = {a, b};
  tr.batch_losses = {1.0, 3.0};
  return tr;
}

TEST(GradientProxies, TraceCorrelationByHand) {
  Trace tr = two_blocks();
  // Block 1: centred x = [-1, 0, 1], y = [-7/3, -1/3, 8/3]: rho = 5 / (sqrt(2) sqrt(114)/3).
  const double rho1 = 15.0 / std::sqrt(228.0);
  // Block 2: x = [1, 0], y = [0, 1]: centred [0.5, -0.5] vs [-0.5, 0.5]: rho = -1.
  EXPECT_NEAR(score("trace_correlation", tr), rho1 - 1.0, 1e-12);
  ParamValues mean;
  mean.set("aggregate", std::string("mean"));
  EXPECT_NEAR(score("trace_correlation", tr, mean), (rho1 - 1.0) / 2, 1e-12);
  ParamValues cos;
  cos.set("similarity", std::string("cosine"));
  EXPECT_NEAR(score("trace_correlation", tr, cos), 31.0 / std::sqrt(14.0 * 69.0) + 0.0, 1e-12);
  ParamValues dot;
  dot.set("similarity", std::string("dot"));
  EXPECT_NEAR(score("trace_correlation", tr, dot), 31.0, 1e-12);
  // The reference's z(x) . z(y) / n with unbiased std: (n - 1) / n of pearson.
  ParamValues zdot;
  zdot.set("similarity", std::string("standardised_dot"));
  EXPECT_NEAR(score("trace_correlation", tr, zdot), rho1 * 2 / 3 - 1.0 / 2, 1e-12);
  // Scale invariance: multiplying the loss (every gradient) by 7 leaves Pearson unchanged.
  for (auto& b : tr.blocks) {
    for (auto& g : b.grads) g = g * 7;
  }
  EXPECT_NEAR(score("trace_correlation", tr), rho1 - 1.0, 1e-12);
}

TEST(GradientProxies, LossGradNormSnipByHand) {
  Trace tr = two_blocks();
  EXPECT_DOUBLE_EQ(score("loss", tr), 2.0);
  EXPECT_NEAR(score("grad_norm", tr), std::sqrt(1 + 4 + 9 + 1), 1e-12);
  // |w * g|: |-1*1| + |0.5*2| + |2*3| + |3*1| + |3*0| = 1 + 1 + 6 + 3 = 11
  EXPECT_NEAR(score("snip", tr), 11.0, 1e-12);
}

TEST(GradientProxies, FisherAndZicoByHand) {
  Trace tr;
  tr.batch_losses = {1.0, 2.0};
  BlockTrace b;
  // Two batches of gradients for 3 coordinates: g1 = [1, 2, 5], g2 = [3, 2, -5].
  b.grads = {t({2, 2, 0})};
  b.grad_abs_mean = {t({2, 2, 5})};
  b.grad_sq_mean = {t({5, 4, 25})};
  b.grad_std = {t({1, 0, 5})};  // population std across the two batches
  b.weights = {t({1, 1, 1})};
  tr.blocks = {b};
  EXPECT_NEAR(score("fisher", tr), 34.0, 1e-12);
  // zico: log(2/1 + 5/5); the coordinate with std 0 is left out.
  EXPECT_NEAR(score("zico", tr), std::log(3.0), 1e-12);
  tr.batch_losses = {1.0};
  try {
    score("zico", tr);
    FAIL();
  } catch (const PluginError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("zico: needs at least 2 calibration batches (got 1)"),
              std::string::npos);
  }
}

TEST(GradientProxies, KlToParentByHand) {
  Trace tr;
  // One batch, one sequence, one position, vocabulary 2.
  tr.base_logits = {t({0.0, 0.0}).view({1, 1, 2})};       // p = [1/2, 1/2]
  tr.logits = {t({std::log(3.0), 0.0}).view({1, 1, 2})};  // q = [3/4, 1/4]
  const double kl = 0.5 * std::log(0.5 / 0.75) + 0.5 * std::log(0.5 / 0.25);
  EXPECT_NEAR(score("kl_to_parent", tr), kl, 1e-12);
  tr.logits = tr.base_logits;
  EXPECT_NEAR(score("kl_to_parent", tr), 0.0, 1e-15);
}

TEST(GradientProxies, DirectionsAndNeeds) {
  RunContext run;
  auto dir = [&](const std::string& n) {
    ParamValues p;
    for (const auto& s : proxies().require(ComponentKind::kProxy, n)->info.params) {
      p.set(s.name, s.default_value);
    }
    return proxies().create<Proxy>(n, p, run).get().direction();
  };
  EXPECT_EQ(dir("trace_correlation"), Direction::kHigherIsBetter);
  EXPECT_EQ(dir("loss"), Direction::kLowerIsBetter);
  EXPECT_EQ(dir("kl_to_parent"), Direction::kLowerIsBetter);
  EXPECT_EQ(dir("snip"), Direction::kHigherIsBetter);
  auto tc = proxies().create<Proxy>(
      "trace_correlation",
      [] {
        ParamValues p;
        p.set("gradient", std::string("full"));
        p.set("similarity", std::string("pearson"));
        p.set("aggregate", std::string("sum"));
        p.set("sketch_rank", std::int64_t{64});
        p.set("sketch_seed", std::int64_t{0});
        p.set("lora_rank", std::int64_t{64});
        p.set("lora_alpha", 16.0);
        return p;
      }(),
      run);
  TraceNeeds n = tc.get().needs();
  EXPECT_TRUE(n.weight_grads);
  EXPECT_TRUE(n.base_weight_grads);
  EXPECT_FALSE(n.logits);
  EXPECT_EQ(n.lora_rank, 0);
  // gradient: lora asks for the LoRA pass only, with its rank, seed and alpha.
  ParamValues lp;
  for (const auto& s : proxies().require(ComponentKind::kProxy, "trace_correlation")->info.params) {
    lp.set(s.name, s.default_value);
  }
  lp.set("gradient", std::string("lora"));
  lp.set("sketch_seed", std::int64_t{7});
  const TraceNeeds ln = proxies().create<Proxy>("trace_correlation", lp, run).get().needs();
  EXPECT_FALSE(ln.weight_grads || ln.base_weight_grads);
  EXPECT_EQ(ln.sketch_rank, 0);
  EXPECT_EQ(ln.lora_rank, 64);
  EXPECT_EQ(ln.lora_seed, 7u);
  EXPECT_EQ(ln.lora_alpha, 16.0);
}

}  // namespace
}  // namespace tracenas
