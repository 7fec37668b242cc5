// The `bayesian` search strategy, loaded from its built plugin and driven
// through ask/tell on a mock space.
#include <gtest/gtest.h>

#include "search_strategy_util.hpp"

// The bayesian plugin's source, for its Matern kernel (without its entry point).
#define TN_SEARCH_BAYESIAN_NO_ENTRY
#include "bayesian.cpp"
#undef TN_SEARCH_BAYESIAN_NO_ENTRY

namespace tracenas {
namespace {

TEST(SearchStrategiesBayesian, DeterministicPerSeedFeasibleAndInBounds) {
  GridSpace space = default_space();
  auto objective = [&](const Genome& g) { return synthetic(space, g); };
  const std::map<std::string, ParamValue> p = {{"pool_size", std::int64_t{300}}};
  auto a = make("bayesian", p);
  auto b = make("bayesian", p);
  SearchRun ra = drive(a.get(), space, 7, 40, 5, objective);
  SearchRun rb = drive(b.get(), space, 7, 40, 5, objective);
  EXPECT_EQ(ra.evaluations, 40);
  EXPECT_EQ(ra.rounds, rb.rounds);
  SearchRun rc = drive(b.get(), space, 8, 40, 5, objective);
  EXPECT_NE(ra.rounds.front(), rc.rounds.front());
  EXPECT_NE(ra.rounds.back(), rc.rounds.back());
  expect_feasible_in_bounds(space, ra);
  expect_feasible_in_bounds(space, rc);
}

TEST(SearchStrategiesBayesian, FirstInitialSamplesAreTheSeededUniformSamples) {
  GridSpace space = default_space();
  auto bo =
      make("bayesian", {{"initial_samples", std::int64_t{10}}, {"pool_size", std::int64_t{300}}});
  SearchStrategy& s = bo.get();
  s.start(space, 3);
  std::vector<Genome> asked;
  for (std::size_t expected : {4u, 4u, 2u}) {  // the initial design ends at 10
    std::vector<Genome> part = s.ask(4);
    ASSERT_EQ(part.size(), expected);
    asked.insert(asked.end(), part.begin(), part.end());
    s.tell(score_all(space, part));
  }
  std::mt19937_64 rng(3);
  std::vector<Genome> reference;
  for (int i = 0; i < 10; ++i) reference.push_back(space.sample(rng));
  EXPECT_EQ(asked, reference);
  for (const auto& g : asked) EXPECT_TRUE(space.feasible(g));
  // Then the surrogate: a full batch of new feasible genomes.
  std::vector<Genome> next = s.ask(4);
  ASSERT_EQ(next.size(), 4u);
  for (const auto& g : next) {
    EXPECT_TRUE(space.feasible(g));
    EXPECT_EQ(std::count(asked.begin(), asked.end(), g), 0);
  }
}

TEST(SearchStrategiesBayesian, NeverProposesAnObservedOrPendingGenome) {
  // 2 layers, widths 0..3, params in [200, 300]: a small space the pool covers.
  GridSpace space(200, 300, 2, 3);
  // Genomes whose first width gene is 0 have no finite objective.
  auto objective = [&](const Genome& g) {
    Observation o = synthetic(space, g);
    if (g[1] == 0) {
      o.valid = false;
      o.fitness = std::numeric_limits<double>::quiet_NaN();
    }
    return o;
  };
  int feasible = 0;
  for (std::int64_t i = 0; i < 2 * 2 * 4 * 4 * 4 * 4; ++i) {
    Genome g(6);
    std::int64_t r = i;
    for (int j = 0; j < 6; ++j) {
      const std::int64_t base = j % 3 == 0 ? 2 : 4;
      g[j] = r % base;
      r /= base;
    }
    feasible += space.feasible(g);
  }
  ASSERT_GT(feasible, 20);

  auto bo = make("bayesian", {{"initial_samples", std::int64_t{5}}});
  SearchRun run = drive(bo.get(), space, 11, 1000, 6, objective);
  std::set<Genome> distinct;
  int invalid = 0;
  for (const auto& round : run.rounds) {
    for (const auto& g : round) {
      EXPECT_TRUE(distinct.insert(g).second) << "proposed twice";
      invalid += g[1] == 0;
    }
  }
  EXPECT_GT(invalid, 0);
  // Every feasible genome once, then nothing: the search ends.
  EXPECT_EQ(static_cast<int>(distinct.size()), feasible);
  expect_feasible_in_bounds(space, run);

  // Asked and not told yet (pending): not asked again.
  auto pending = make("bayesian", {{"initial_samples", std::int64_t{2}}});
  SearchStrategy& s = pending.get();
  s.start(space, 2);
  std::vector<Genome> first = s.ask(2);
  s.tell(score_all(space, first));
  std::vector<Genome> a = s.ask(3);
  std::vector<Genome> b = s.ask(3);
  std::set<Genome> all(first.begin(), first.end());
  all.insert(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(a.size(), 3u);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(all.size(), 8u);
}

// A batch by the constant liar starts with the same pick as the n highest EI of one
// posterior (both maximize the same EI first) and then spreads: its genomes lie
// farther apart than the top-EI batch's, which crowds round the surrogate's optimum.
TEST(SearchStrategiesBayesian, ConstantLiarBatchStartsAtTheTopEiAndSpreads) {
  GridSpace space = default_space();
  auto batch = [&](const std::string& kind) {
    auto bo = make("bayesian", {{"initial_samples", std::int64_t{12}},
                                {"pool_size", std::int64_t{400}},
                                {"batch", std::string(kind)}});
    SearchStrategy& s = bo.get();
    s.start(space, 5);
    std::vector<Genome> first = s.ask(12);
    s.tell(score_all(space, first));
    return s.ask(8);
  };
  const std::vector<Genome> liar = batch("constant_liar");
  const std::vector<Genome> top = batch("top_ei");
  ASSERT_EQ(liar.size(), 8u);
  ASSERT_EQ(top.size(), 8u);
  EXPECT_EQ(liar.front(), top.front());
  EXPECT_NE(liar, top);
  auto mean_distance = [](const std::vector<Genome>& b) {
    double sum = 0;
    int pairs = 0;
    for (std::size_t i = 0; i < b.size(); ++i) {
      for (std::size_t j = i + 1; j < b.size(); ++j, ++pairs) {
        for (std::size_t k = 0; k < b[i].size(); ++k) sum += std::abs(b[i][k] - b[j][k]);
      }
    }
    return sum / pairs;
  };
  std::printf("mean L1 distance within the batch: constant liar %.3f, top EI %.3f\n",
              mean_distance(liar), mean_distance(top));
  EXPECT_GT(mean_distance(liar), mean_distance(top));
}

TEST(SearchStrategiesBayesian, MaternKernelMatchesHandComputedValues) {
  const at::Tensor x1 = at::tensor({0.0, 0.0}, at::kDouble).view({1, 2});
  const at::Tensor x2 = at::tensor({0.3, 0.4}, at::kDouble).view({1, 2});
  const at::Tensor unit = at::ones({2}, at::kDouble);
  const at::Tensor one = at::tensor(1.0, at::kDouble);
  // r = |(0.3, 0.4)| = 0.5
  auto k = [&](const at::Tensor& a, const at::Tensor& b, const at::Tensor& ls, const at::Tensor& s2,
               Nu nu) { return ::matern_kernel(a, b, ls, s2, nu).item<double>(); };
  EXPECT_NEAR(k(x1, x2, unit, one, Nu::kHalf), 0.6065306597126334, 1e-12);  // exp(-0.5)
  // (1 + sqrt(3)/2) exp(-sqrt(3)/2)
  EXPECT_NEAR(k(x1, x2, unit, one, Nu::kThreeHalves), 0.7848876539574506, 1e-12);
  // (1 + sqrt(5)/2 + 5/12) exp(-sqrt(5)/2)
  EXPECT_NEAR(k(x1, x2, unit, one, Nu::kFiveHalves), 0.8286491424181253, 1e-12);
  // Per-gene lengthscales (0.5, 2): r^2 = 0.6^2 + 0.2^2 = 0.4; signal variance 2.
  const at::Tensor ls = at::tensor({0.5, 2.0}, at::kDouble);
  const at::Tensor two = at::tensor(2.0, at::kDouble);
  EXPECT_NEAR(k(x1, x2, ls, two, Nu::kFiveHalves), 1.4980270809341614, 1e-12);
  // The differentiable path (taken when a gradient is needed) agrees.
  const at::Tensor two_grad = at::tensor(2.0, at::kDouble).requires_grad_(true);
  for (Nu nu : {Nu::kHalf, Nu::kThreeHalves, Nu::kFiveHalves}) {
    EXPECT_NEAR(k(x1, x2, ls, two_grad, nu), k(x1, x2, ls, two, nu), 1e-14);
  }
  EXPECT_NEAR(k(x1, x2, ls, two_grad, Nu::kFiveHalves), 1.4980270809341614, 1e-12);
  // k(x, x) = signal variance, and the matrix is symmetric.
  EXPECT_NEAR(k(x2, x2, ls, two, Nu::kFiveHalves), 2.0, 1e-12);
  const at::Tensor both = at::cat({x1, x2});
  const at::Tensor kk = ::matern_kernel(both, both, ls, two, Nu::kThreeHalves);
  EXPECT_TRUE(at::allclose(kk, kk.t()));
}

}  // namespace
}  // namespace tracenas
