// The search strategies against each other: at the same budget on a synthetic
// objective, `evolutionary` and `bayesian` beat `random`.
#include <gtest/gtest.h>

#include "search_strategy_util.hpp"

namespace tracenas {
namespace {

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
