// The paper's comparison proxies on hand-made traces whose values are
// computed by hand here, and their invariants.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "plugin/registry.hpp"
#include "tracenas/proxy.hpp"

namespace tracenas {
namespace {

const Registry& proxies() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_proxy_paper_baselines.so");
    return reg;
  }();
  return *r;
}

double score(const std::string& name, const Trace& t) {
  auto proxy = proxies().create<Proxy>(name, ParamValues{}, RunContext{});
  EXPECT_EQ(proxy.call("direction", [](Proxy& p) { return p.direction(); }),
            Direction::kHigherIsBetter);
  Arch arch;
  ModelConfig cfg;
  Candidate c{&arch, &cfg, 1, 2};
  return proxy.call("score", [&](Proxy& px) { return px.score(c, t); });
}

at::Tensor m(std::vector<std::vector<double>> rows) {
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return at::tensor(flat, at::kDouble)
      .view({static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(rows[0].size())});
}

BlockTrace block(BlockKind kind, std::vector<std::string> names, std::vector<at::Tensor> w,
                 std::vector<at::Tensor> g) {
  BlockTrace b;
  b.kind = kind;
  b.names = std::move(names);
  b.weights = std::move(w);
  b.grads = std::move(g);
  return b;
}

TEST(PaperProxies, LpZeroByHand) {
  Trace t;
  // Attention: ||v||_1 = 6; o's entries {0, ln 3}: softmax {1/4, 3/4}.
  const at::Tensor v = m({{1, -2}, {0, 3}}).view({1, 2, 2});
  t.blocks.push_back(block(BlockKind::kAttn,
                           {"q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight"},
                           {m({{9}}), m({{9}}), v, m({{0, std::log(3.0)}})}, {}));
  // MLP: ||up||_1 = 2; down's entries {0, 0}: softmax {1/2, 1/2}.
  t.blocks.push_back(block(BlockKind::kMlp,
                           {"gate_proj.weight", "up_proj.weight", "down_proj.weight"},
                           {m({{7, 7}}), m({{1}, {-1}}), m({{0, 0}})}, {}));
  const double expected = 36 + 0.5 + std::sqrt(3.0) / 2 + 4 + std::sqrt(2.0);
  EXPECT_NEAR(score("lpzero", t), expected, 1e-12);
  // Data-free: no gradient is read; softmax ignores a shift of W2.
  t.blocks[1].weights[2] = t.blocks[1].weights[2] + 100;
  EXPECT_NEAR(score("lpzero", t), expected, 1e-12);
}

TEST(PaperProxies, SynapticSaliencyTakesRowsAsOutputUnits) {
  Trace t;
  // o [d | heads]: rows ||[3, 4]|| * ||[1, 0]|| + ||[0, 0]|| * ||[0, 2]|| = 5.
  // q [g=1, n=2, h=1 | d=2]: rows are the two heads: 1 * 3 + 2 * 4 = 11 (not
  // one row of 4 values: sqrt(5) * 5).
  const at::Tensor q = m({{1, 0}, {0, 2}}).view({1, 2, 1, 2});
  const at::Tensor gq = m({{0, 3}, {4, 0}}).view({1, 2, 1, 2});
  t.blocks.push_back(block(BlockKind::kAttn, {"q_proj.weight", "o_proj.weight", "o_proj.bias"},
                           {q, m({{3, 4}, {0, 0}}), at::ones({2}, at::kDouble)},
                           {gq, m({{1, 0}, {0, 2}}), at::ones({2}, at::kDouble)}));
  // up [c | d]: ||[1, 1]|| * ||[1, -1]|| = 2.
  t.blocks.push_back(block(BlockKind::kMlp, {"up_proj.weight"}, {m({{1, 1}})}, {m({{1, -1}})}));
  EXPECT_NEAR(score("synaptic_saliency", t), 11 + 5 + 2, 1e-12);
  // Linear in the gradient's scale.
  for (auto& b : t.blocks) {
    for (auto& g : b.grads) g = g * -3;
  }
  EXPECT_NEAR(score("synaptic_saliency", t), 3 * 18, 1e-10);
}

TEST(PaperProxies, SynapticDiversityIsAProductOfNuclearNorms) {
  Trace t;
  // diag(3, 4): 7; diag(1, -2): 3; rank one [1, 1]: sqrt 2 each.
  t.blocks.push_back(block(BlockKind::kMlp, {"gate_proj.weight", "down_proj.weight"},
                           {m({{3, 0}, {0, 4}}), m({{1, 1}})},
                           {m({{1, 0}, {0, -2}}), m({{1, -1}})}));
  EXPECT_NEAR(score("synaptic_diversity", t), 21 + 2, 1e-10);
  // A rotation of W leaves its singular values: the same score.
  const double c = std::cos(0.3), s = std::sin(0.3);
  t.blocks[0].weights[0] = at::matmul(m({{c, -s}, {s, c}}), t.blocks[0].weights[0]);
  EXPECT_NEAR(score("synaptic_diversity", t), 23, 1e-10);
}

TEST(PaperProxies, PrunerZeroScalesTheSquaredWeightsByMinMaxGradients) {
  Trace t;
  // mean|G| = 1, 4, 2 -> minmax 0, 1, 1/3; ||W||^2 = 5, 9, 2.
  t.blocks.push_back(block(BlockKind::kAttn, {"o_proj.weight", "v_proj.weight"},
                           {m({{1, 2}}), m({{3}}).view({1, 1, 1})},
                           {m({{1, -1}}), m({{4}}).view({1, 1, 1})}));
  t.blocks.push_back(block(BlockKind::kMlp, {"up_proj.weight"}, {m({{1, 1}})}, {m({{2, -2}})}));
  EXPECT_NEAR(score("pruner_zero", t), 9 + 2.0 / 3, 1e-9);
  // The gradient's scale cancels in the min-max; the weights' enters squared.
  for (auto& b : t.blocks) {
    for (auto& g : b.grads) g = g * 7;
    for (auto& w : b.weights) w = w * 2;
  }
  EXPECT_NEAR(score("pruner_zero", t), 4 * (9 + 2.0 / 3), 1e-8);
}

SampleGram gram_of(const at::Tensor& f) {
  SampleGram g;
  g.gram = at::matmul(f, f.t());
  g.sum = f.sum(1);
  g.features = f.size(1);
  return g;
}

TEST(PaperProxies, MecoSumsTheSmallestEigenvalueOfEachOutputCorrelation) {
  // x = [1, 2, 3, 4], y = [1, 3, 2, 4]: deviations [-1.5, -0.5, 0.5, 1.5] and
  // [-1.5, 0.5, -0.5, 1.5], r = 4 / 5: eigenvalues 1 +- 0.8, the smallest 0.2.
  const at::Tensor correlated = m({{1, 2, 3, 4}, {1, 3, 2, 4}});
  // A constant sequence: its correlations are undefined and set to 0, so
  // [[1, 0], [0, 0]]: the smallest eigenvalue is 0.
  const at::Tensor constant = m({{1, 2, 3, 4}, {5, 5, 5, 5}});
  Trace t;
  BlockTrace a = block(BlockKind::kAttn, {}, {}, {});
  a.output_grams = {gram_of(correlated), gram_of(constant)};
  BlockTrace b = block(BlockKind::kMlp, {}, {}, {});
  b.output_grams = {gram_of(correlated * 3 + 1)};  // correlation ignores scale and shift
  t.blocks = {a, b};
  EXPECT_NEAR(score("meco", t), 0.2 + 0 + 0.2, 1e-12);
  t.blocks.clear();
  EXPECT_THROW(score("meco", t), Error);
}

TEST(PaperProxies, NaswotIsTheLogDeterminantOfTheGateKernel) {
  Trace t;
  t.gate_kernel = m({{3, 1}, {1, 3}});
  EXPECT_NEAR(score("naswot", t), std::log(8.0), 1e-12);
  // Agreement of identical codes makes K singular: log 0.
  t.gate_kernel = m({{2, 2}, {2, 2}});
  EXPECT_EQ(score("naswot", t), -std::numeric_limits<double>::infinity());
  t.gate_kernel = at::Tensor();
  EXPECT_TRUE(std::isnan(score("naswot", t)));
}

TEST(PaperProxies, SynflowSumsAbsoluteWeightsTimesTheirSynflowGradients) {
  Trace t;
  BlockTrace b = block(BlockKind::kMlp, {"up_proj.weight", "up_proj.bias"},
                       {m({{-1, 2}}), at::tensor({-3.0}, at::kDouble)}, {});
  b.synflow_grads = {m({{4, 5}}), at::tensor({0.5}, at::kDouble)};
  t.blocks = {b};
  EXPECT_NEAR(score("synflow", t), 1 * 4 + 2 * 5 + 3 * 0.5, 1e-12);
  t.blocks[0].synflow_grads.clear();
  EXPECT_THROW(score("synflow", t), Error);
}

TEST(PaperProxies, GradientProxiesNeedTheGradients) {
  Trace t;
  t.blocks.push_back(block(BlockKind::kMlp, {"up_proj.weight"}, {m({{1, 1}})}, {}));
  for (const char* name : {"synaptic_saliency", "synaptic_diversity", "pruner_zero"}) {
    EXPECT_THROW(score(name, t), Error) << name;
  }
}

}  // namespace
}  // namespace tracenas
