// Test helpers for the search strategies: the built strategy plugins loaded
// through the registry, a mock grid search space, a synthetic objective and
// an ask/tell driver. Shared by plugins/search/*/*_test.cpp.
#pragma once

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

}  // namespace
}  // namespace tracenas
