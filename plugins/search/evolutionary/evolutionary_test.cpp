// The `evolutionary` search strategy, loaded from its built plugin and driven
// through ask/tell on a mock space.
#include <gtest/gtest.h>

#include "search_strategy_util.hpp"

namespace tracenas {
namespace {

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

}  // namespace
}  // namespace tracenas
