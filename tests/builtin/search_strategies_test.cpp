// The `evolutionary` and `bayesian` search strategies, loaded from their built
// plugins through the registry and driven through ask/tell on a mock space.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "plugin/registry.hpp"
#include "tracenas/search.hpp"

// The bayesian plugin's source, for its Matern kernel (without its entry point).
#define TN_SEARCH_BAYESIAN_NO_ENTRY
#include "../../plugins/search/bayesian/bayesian.cpp"
#undef TN_SEARCH_BAYESIAN_NO_ENTRY

namespace tracenas {
namespace {

const Registry& strategies() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_search_random.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_search_evolutionary.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_search_bayesian.so");
    return reg;
  }();
  return *r;
}

// The declared defaults of a strategy, with `overrides` set on top.
ParamValues params(const std::string& name, const std::map<std::string, ParamValue>& overrides) {
  ParamValues v;
  for (const auto& s : strategies().require(ComponentKind::kSearch, name)->info.params) {
    v.set(s.name, s.default_value);
  }
  for (const auto& [k, value] : overrides) v.set(k, value);
  return v;
}

Instance<SearchStrategy> make(const std::string& name,
                              const std::map<std::string, ParamValue>& overrides = {}) {
  RunContext run;
  return strategies().create<SearchStrategy>(name, params(name, overrides), run);
}

// Per layer: one depth gene (kLayer, 0/1) and two width genes (kHeads, kMlp)
// in [0, width_max]. params = sum over kept layers of 100 + 10 heads + 20 mlp;
// feasible: inside the bounds and params in [min_params, max_params].
class GridSpace : public SearchSpace {
 public:
  GridSpace(std::int64_t min_params, std::int64_t max_params, int layers = 4, int width_max = 7)
      : min_(min_params), max_(max_params) {
    for (int l = 0; l < layers; ++l) {
      for (GeneKind k : {GeneKind::kLayer, GeneKind::kHeads, GeneKind::kMlp}) {
        genes_.push_back(GeneInfo{k, l});
        lo_.push_back(0);
        hi_.push_back(k == GeneKind::kLayer ? 1 : width_max);
      }
    }
  }
  int dims() const override { return static_cast<int>(genes_.size()); }
  const Genome& lower() const override { return lo_; }
  const Genome& upper() const override { return hi_; }
  const std::vector<GeneInfo>& genes() const override { return genes_; }
  // Uniform over the feasible genomes, by rejection.
  Genome sample(std::mt19937_64& rng) const override {
    Genome g(genes_.size());
    do {
      for (std::size_t i = 0; i < g.size(); ++i) {
        g[i] = lo_[i] +
               static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi_[i] - lo_[i] + 1));
      }
    } while (!feasible(g));
    return g;
  }
  // Clamp, then a greedy walk of single +-1 steps that shrink the distance to
  // the window, while one does.
  Genome repair(const Genome& genome) const override {
    ++repairs;
    Genome g = genome;
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = std::clamp(g[i], lo_[i], hi_[i]);
    while (!feasible(g)) {
      std::int64_t best_distance = distance(g);
      Genome best = g;
      for (std::size_t i = 0; i < g.size(); ++i) {
        for (int step : {-1, 1}) {
          Genome h = g;
          h[i] += step;
          if (h[i] < lo_[i] || h[i] > hi_[i]) continue;
          if (distance(h) < best_distance) {
            best_distance = distance(h);
            best = h;
          }
        }
      }
      if (best == g) break;
      g = best;
    }
    return g;
  }
  bool feasible(const Genome& g) const override {
    if (g.size() != genes_.size()) return false;
    for (std::size_t i = 0; i < g.size(); ++i) {
      if (g[i] < lo_[i] || g[i] > hi_[i]) return false;
    }
    return distance(g) == 0;
  }
  Arch decode(const Genome&) const override { return {}; }
  std::int64_t params(const Genome& g) const override {
    std::int64_t p = 0;
    for (std::size_t i = 0; i + 2 < g.size(); i += 3)
      p += g[i] * (100 + 10 * g[i + 1] + 20 * g[i + 2]);
    return p;
  }

  mutable int repairs = 0;

 private:
  std::int64_t distance(const Genome& g) const {
    const std::int64_t p = params(g);
    return std::max<std::int64_t>(0, min_ - p) + std::max<std::int64_t>(0, p - max_);
  }

  std::int64_t min_, max_;
  Genome lo_, hi_;
  std::vector<GeneInfo> genes_;
};

// The default space of these tests: 4 layers, widths 0..7, params in [300, 900].
GridSpace default_space() { return GridSpace(300, 900); }

// fitness = -sum over width genes of (g - target)^2; the optimum (every
// layer kept) has 810 params, inside the default window.
const Genome kTarget = {1, 5, 2, 1, 3, 6, 1, 1, 4, 1, 6, 1};
Observation synthetic(const SearchSpace& space, const Genome& g) {
  double f = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (!space.genes()[i].is_depth()) f -= std::pow(static_cast<double>(g[i] - kTarget[i]), 2);
  }
  return Observation{g, f, true};
}

using Objective = std::function<Observation(const Genome&)>;

struct SearchRun {
  std::vector<std::vector<Genome>> rounds;  // what each ask returned
  double best = -std::numeric_limits<double>::infinity();
  int evaluations = 0;
};

// The engine's loop: ask(min(batch, remaining)), evaluate, tell, until the
// budget is spent or the strategy has nothing more.
SearchRun drive(SearchStrategy& s, const SearchSpace& space, std::uint64_t seed, int budget,
                int batch, const Objective& objective) {
  SearchRun run;
  s.start(space, seed);
  while (run.evaluations < budget) {
    std::vector<Genome> asked = s.ask(std::min(batch, budget - run.evaluations));
    if (asked.empty()) break;
    std::vector<Observation> results;
    for (const auto& g : asked) {
      results.push_back(objective(g));
      if (results.back().valid) run.best = std::max(run.best, results.back().fitness);
    }
    run.evaluations += static_cast<int>(asked.size());
    s.tell(results);
    run.rounds.push_back(std::move(asked));
  }
  return run;
}

void expect_feasible_in_bounds(const SearchSpace& space, const SearchRun& run) {
  for (const auto& round : run.rounds) {
    for (const auto& g : round) {
      ASSERT_EQ(g.size(), static_cast<std::size_t>(space.dims()));
      for (int i = 0; i < space.dims(); ++i) {
        EXPECT_GE(g[i], space.lower()[i]);
        EXPECT_LE(g[i], space.upper()[i]);
      }
      EXPECT_TRUE(space.feasible(g)) << "params " << space.params(g);
    }
  }
}

std::vector<Observation> score_all(const SearchSpace& space, const std::vector<Genome>& gs) {
  std::vector<Observation> out;
  for (const auto& g : gs) out.push_back(synthetic(space, g));
  return out;
}

// --- evolutionary -----------------------------------------------------------

TEST(SearchStrategiesEvolutionary, DeterministicPerSeedFeasibleAndInBounds) {
  GridSpace space = default_space();
  auto objective = [&](const Genome& g) { return synthetic(space, g); };
  for (const char* mode : {"reject", "repair"}) {
    SCOPED_TRACE(mode);
    auto a = make("evolutionary", {{"infeasible", std::string(mode)}});
    auto b = make("evolutionary", {{"infeasible", std::string(mode)}});
    // A batch of 7 does not divide the generation of 30.
    SearchRun ra = drive(a.get(), space, 7, 200, 7, objective);
    SearchRun rb = drive(b.get(), space, 7, 200, 7, objective);
    EXPECT_EQ(ra.evaluations, 200);
    EXPECT_EQ(ra.rounds, rb.rounds);
    SearchRun rc = drive(b.get(), space, 8, 200, 7, objective);
    EXPECT_NE(ra.rounds.front(), rc.rounds.front());
    expect_feasible_in_bounds(space, ra);
    expect_feasible_in_bounds(space, rc);
  }
}

TEST(SearchStrategiesEvolutionary, GenerationSizesAndElitesCarriedOverUnchanged) {
  GridSpace space = default_space();
  auto evo =
      make("evolutionary", {{"population_size", std::int64_t{12}}, {"elites", std::int64_t{3}}});
  SearchStrategy& s = evo.get();
  s.start(space, 5);
  // Generation 0 in batches of 5: 5 + 5 + 2, then nothing until it is told.
  std::vector<Genome> gen0;
  for (std::size_t expected : {5u, 5u, 2u}) {
    std::vector<Genome> part = s.ask(5);
    ASSERT_EQ(part.size(), expected);
    gen0.insert(gen0.end(), part.begin(), part.end());
    if (expected == 2u) {
      EXPECT_TRUE(s.ask(5).empty());  // the rest is not told yet
    }
    s.tell(score_all(space, part));
  }
  EXPECT_EQ(std::set<Genome>(gen0.begin(), gen0.end()).size(), 12u);

  std::vector<Observation> ranked = score_all(space, gen0);
  std::stable_sort(ranked.begin(), ranked.end(), [](const Observation& a, const Observation& b) {
    return a.fitness > b.fitness;
  });
  std::vector<Genome> gen1 = s.ask(100);
  ASSERT_EQ(gen1.size(), 12u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(gen1[i], ranked[i].genome) << "elite " << i;
  // The children are new: not in generation 0, not repeated.
  std::set<Genome> old(gen0.begin(), gen0.end());
  std::set<Genome> children;
  for (int i = 3; i < 12; ++i) {
    EXPECT_EQ(old.count(gen1[i]), 0u) << "child " << i;
    children.insert(gen1[i]);
  }
  EXPECT_EQ(children.size(), 9u);

  // An invalid genome is never an elite, even when it is told first.
  std::vector<Observation> told = score_all(space, gen1);
  told[0].valid = false;
  told[0].fitness = std::numeric_limits<double>::quiet_NaN();
  s.tell(told);
  std::vector<Genome> gen2 = s.ask(100);
  ASSERT_EQ(gen2.size(), 12u);
  for (int i = 0; i < 3; ++i) EXPECT_NE(gen2[i], gen1[0]);
}

TEST(SearchStrategiesEvolutionary, BlendedWidthGenesLieBetweenTheParents) {
  GridSpace space(0, 1000000);  // every genome feasible: no child is rejected
  for (double blend_max : {0.8, 0.5}) {
    SCOPED_TRACE(blend_max);
    const double blend_min = blend_max == 0.5 ? 0.5 : 0.2;
    // Population 4: truncation draws both parents from the best 2.
    auto evo = make("evolutionary", {{"population_size", std::int64_t{4}},
                                     {"elites", std::int64_t{0}},
                                     {"crossover_rate", 1.0},
                                     {"depth_mutation_rate", 0.0},
                                     {"width_mutation_rate", 0.0},
                                     {"blend_min", blend_min},
                                     {"blend_max", blend_max}});
    SearchStrategy& s = evo.get();
    s.start(space, 21);
    std::vector<Genome> gen0 = s.ask(4);
    ASSERT_EQ(gen0.size(), 4u);
    // The two best: the pair furthest apart in their width genes.
    auto width_distance = [&](const Genome& a, const Genome& b) {
      std::int64_t d = 0;
      for (int i = 0; i < space.dims(); ++i) {
        if (!space.genes()[i].is_depth()) d += std::abs(a[i] - b[i]);
      }
      return d;
    };
    std::size_t pa = 0, pb = 1;
    for (std::size_t i = 0; i < 4; ++i) {
      for (std::size_t j = i + 1; j < 4; ++j) {
        if (width_distance(gen0[i], gen0[j]) > width_distance(gen0[pa], gen0[pb])) {
          pa = i;
          pb = j;
        }
      }
    }
    std::vector<Observation> told;
    for (std::size_t i = 0; i < 4; ++i) {
      told.push_back({gen0[i], i == pa ? 2.0 : i == pb ? 1.0 : 0.0, true});
    }
    s.tell(told);
    const Genome& a = gen0[pa];
    const Genome& b = gen0[pb];
    std::vector<Genome> gen1 = s.ask(4);
    ASSERT_EQ(gen1.size(), 4u);
    // The first child is always bred; the later ones too, unless breeding
    // runs out of new genomes (only possible with the fixed w = 0.5).
    const std::size_t checked = blend_max == 0.5 ? 1 : gen1.size();
    int strictly_between = 0;
    for (std::size_t k = 0; k < checked; ++k) {
      const Genome& c = gen1[k];
      for (int i = 0; i < space.dims(); ++i) {
        if (space.genes()[i].is_depth()) {
          EXPECT_TRUE(c[i] == a[i] || c[i] == b[i]);
        } else {
          EXPECT_GE(c[i], std::min(a[i], b[i]));
          EXPECT_LE(c[i], std::max(a[i], b[i]));
          strictly_between += c[i] > std::min(a[i], b[i]) && c[i] < std::max(a[i], b[i]);
          if (blend_max == 0.5) {  // w = 0.5 exactly: the rounded midpoint
            EXPECT_EQ(c[i], static_cast<std::int64_t>(std::floor(0.5 * (a[i] + b[i]) + 0.5)));
          }
        }
      }
    }
    EXPECT_GT(strictly_between, 0);
  }
}

TEST(SearchStrategiesEvolutionary, ALargeTournamentAlwaysPicksTheBest) {
  GridSpace space(0, 1000000);
  // No crossover and no depth mutation: a child keeps its parent's depth
  // genes. 200 draws with replacement from 6 miss the best with p = (5/6)^200.
  auto evo = make("evolutionary", {{"population_size", std::int64_t{6}},
                                   {"elites", std::int64_t{0}},
                                   {"selection", std::string("tournament")},
                                   {"tournament_size", std::int64_t{200}},
                                   {"crossover_rate", 0.0},
                                   {"depth_mutation_rate", 0.0},
                                   {"width_mutation_rate", 0.5}});
  SearchStrategy& s = evo.get();
  s.start(space, 4);
  std::vector<Genome> gen0 = s.ask(6);
  ASSERT_EQ(gen0.size(), 6u);
  auto depth_of = [&](const Genome& g) {
    Genome d;
    for (int i = 0; i < space.dims(); ++i) {
      if (space.genes()[i].is_depth()) d.push_back(g[i]);
    }
    return d;
  };
  // The best: a genome whose depth pattern no other one shares.
  std::map<Genome, int> patterns;
  for (const auto& g : gen0) ++patterns[depth_of(g)];
  std::size_t best = gen0.size();
  for (std::size_t i = 0; i < gen0.size() && best == gen0.size(); ++i) {
    if (patterns[depth_of(gen0[i])] == 1) best = i;
  }
  ASSERT_LT(best, gen0.size());
  std::vector<Observation> told;
  for (std::size_t i = 0; i < gen0.size(); ++i) {
    told.push_back({gen0[i], i == best ? 1.0 : 0.0, true});
  }
  s.tell(told);
  std::vector<Genome> gen1 = s.ask(6);
  ASSERT_EQ(gen1.size(), 6u);
  for (const auto& c : gen1) {
    EXPECT_EQ(depth_of(c), depth_of(gen0[best]));
    EXPECT_NE(c, gen0[best]);
  }
}

TEST(SearchStrategiesEvolutionary, RepairOptionRepairsInfeasibleChildren) {
  // A narrow window: most children of crossover and mutation fall outside it.
  GridSpace space(500, 560);
  auto objective = [&](const Genome& g) { return synthetic(space, g); };
  auto reject = make("evolutionary", {{"infeasible", std::string("reject")}});
  space.repairs = 0;
  SearchRun rr = drive(reject.get(), space, 3, 120, 30, objective);
  EXPECT_EQ(space.repairs, 0);
  EXPECT_EQ(rr.evaluations, 120);
  expect_feasible_in_bounds(space, rr);

  auto repair = make("evolutionary", {{"infeasible", std::string("repair")}});
  SearchRun rp = drive(repair.get(), space, 3, 120, 30, objective);
  EXPECT_GT(space.repairs, 0);
  EXPECT_EQ(rp.evaluations, 120);
  expect_feasible_in_bounds(space, rp);
  EXPECT_EQ(rp.rounds.front(), rr.rounds.front());  // generation 0: the same samples
  EXPECT_NE(rp.rounds.back(), rr.rounds.back());
}

TEST(SearchStrategiesEvolutionary, ParameterErrorsNameTheField) {
  auto expect_error = [](const std::map<std::string, ParamValue>& overrides,
                         const std::string& message) {
    try {
      make("evolutionary", overrides);
      ADD_FAILURE() << "no error for " << message;
    } catch (const PluginError& e) {
      EXPECT_EQ(e.exit_code(), 2);
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  };
  expect_error({{"elites", std::int64_t{30}}},
               "search.params.elites: must be below population_size 30 (got 30)");
  expect_error({{"population_size", std::int64_t{4}}, {"elites", std::int64_t{5}}},
               "search.params.elites: must be below population_size 4 (got 5)");
  expect_error({{"blend_min", 0.9}}, "search.params.blend_min: must be <= blend_max 0.8 (got 0.9)");
  EXPECT_NO_THROW(make("evolutionary", {{"blend_min", 0.5}, {"blend_max", 0.5}}));
}

// --- bayesian ---------------------------------------------------------------

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

// --- both -------------------------------------------------------------------

TEST(SearchStrategiesCompare, EvolutionaryAndBayesianBeatRandomOnASyntheticObjective) {
  GridSpace space = default_space();
  auto objective = [&](const Genome& g) { return synthetic(space, g); };
  constexpr int kBudget = 150;
  constexpr int kBatch = 10;
  std::map<std::string, double> mean_best;
  for (const char* name : {"random", "evolutionary", "bayesian"}) {
    double sum = 0;
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      auto s = make(name);
      SearchRun run = drive(s.get(), space, seed, kBudget, kBatch, objective);
      EXPECT_EQ(run.evaluations, kBudget) << name;
      sum += run.best;
    }
    mean_best[name] = sum / 3;
    std::printf("[          ] %-12s mean best-so-far after %d: %.2f\n", name, kBudget,
                mean_best[name]);
  }
  EXPECT_GT(mean_best["evolutionary"], mean_best["random"]);
  EXPECT_GT(mean_best["bayesian"], mean_best["random"]);
}

}  // namespace
}  // namespace tracenas
