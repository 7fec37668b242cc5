// The `evolutionary` search strategy: a generational genetic algorithm over the
// genome. Its defaults reproduce the evolutionary search of the reference
// TraceNAS implementation.
//
// Generation 0 is population_size uniform samples of the constrained space.
// Once every genome of a generation has been told, the generation is ranked
// (valid observations by fitness, higher first, then the invalid ones; ties
// keep the order told) and the next one is bred:
//   elites     the `elites` best distinct valid genomes, carried over unchanged
//              (asked again; the engine answers them from its store)
//   parents    truncation: uniform from the better half of the ranked generation;
//              tournament: the best of tournament_size uniform draws, with
//              replacement, from the whole generation
//   crossover  with probability crossover_rate: each depth gene from either
//              parent (probability 1/2); the width genes of layer l blended,
//                child = round(w a + (1 - w) b),  w ~ U(blend_min, blend_max)
//              drawn once per layer; otherwise the child copies the first parent
//   mutation   each depth gene flipped with probability depth_mutation_rate,
//              each width gene resampled uniformly in its bounds with
//              probability width_mutation_rate
//   infeasible reject: breed the child again; repair: space.repair(child),
//              breed again while it stays infeasible. After max_tries
//              attempts the child is a uniform sample of the space.
// A child equal to a genome of its generation or to one told before is bred
// again too (same bounded attempts), so the budget goes to new architectures.
//
// Every random draw comes from the one std::mt19937_64 seeded in start(),
// through the portable draws below (the std distributions differ between
// standard libraries), so the same seed and tells give the same asks.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/random.hpp"
#include "tracenas/search.hpp"

namespace {

using tracenas::Genome;
using tracenas::Observation;

using tracenas::uniform01;
using tracenas::uniform_int;

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

enum class Selection { kTruncation, kTournament };
enum class Infeasible { kReject, kRepair };

struct Options {
  int population_size = 30;
  int elites = 5;
  double crossover_rate = 0.7;
  double depth_mutation_rate = 0.2;
  double width_mutation_rate = 0.2;
  double blend_min = 0.2;
  double blend_max = 0.8;
  Selection selection = Selection::kTruncation;
  int tournament_size = 3;
  Infeasible infeasible = Infeasible::kReject;
  int max_tries = 100;
};

class Evolutionary final : public tracenas::SearchStrategy {
 public:
  explicit Evolutionary(Options options) : opt_(options) {}

  void start(const tracenas::SearchSpace& space, std::uint64_t seed) override {
    space_ = &space;
    rng_.seed(seed);
    told_.clear();
    ranked_.clear();
    seen_.clear();
    generation_.clear();
    next_ = 0;
    std::set<Genome> taken;
    for (int i = 0; i < opt_.population_size; ++i) {
      generation_.push_back(fresh_sample(taken));
      taken.insert(generation_.back());
    }
  }

  std::vector<Genome> ask(int n) override {
    std::vector<Genome> out;
    for (; n > 0 && next_ < generation_.size(); --n) out.push_back(generation_[next_++]);
    return out;
  }

  void tell(const std::vector<Observation>& results) override {
    for (const auto& r : results) {
      told_.push_back(r);
      told_.back().valid = r.valid && std::isfinite(r.fitness);
      seen_.insert(r.genome);
    }
    if (next_ < generation_.size() || told_.size() < generation_.size()) return;
    ranked_ = std::move(told_);
    told_.clear();
    std::stable_sort(ranked_.begin(), ranked_.end(),
                     [](const Observation& a, const Observation& b) {
                       if (a.valid != b.valid) return a.valid;
                       return a.valid && a.fitness > b.fitness;
                     });
    breed();
  }

 private:
  bool is_new(const Genome& g, const std::set<Genome>& taken) const {
    return taken.count(g) == 0 && seen_.count(g) == 0;
  }

  // A uniform sample, drawn again (bounded) while it is not new.
  Genome fresh_sample(const std::set<Genome>& taken) {
    Genome g = space_->sample(rng_);
    for (int t = 1; t < opt_.max_tries && !is_new(g, taken); ++t) g = space_->sample(rng_);
    return g;
  }

  void breed() {
    generation_.clear();
    next_ = 0;
    std::set<Genome> taken;
    for (const auto& o : ranked_) {
      if (static_cast<int>(generation_.size()) >= opt_.elites || !o.valid) break;
      if (taken.insert(o.genome).second) generation_.push_back(o.genome);
    }
    while (static_cast<int>(generation_.size()) < opt_.population_size) {
      generation_.push_back(make_child(taken));
      taken.insert(generation_.back());
    }
  }

  Genome make_child(const std::set<Genome>& taken) {
    for (int t = 0; t < opt_.max_tries; ++t) {
      Genome child = offspring();
      if (opt_.infeasible == Infeasible::kRepair && !space_->feasible(child)) {
        child = space_->repair(child);
      }
      if (space_->feasible(child) && is_new(child, taken)) return child;
    }
    return fresh_sample(taken);
  }

  const Genome& select() {
    const auto size = static_cast<std::int64_t>(ranked_.size());
    if (opt_.selection == Selection::kTruncation) {
      return ranked_[uniform_int(rng_, 0, std::max<std::int64_t>(1, size / 2) - 1)].genome;
    }
    // The ranking is sorted, so the best of the draws is the smallest index.
    std::int64_t best = size - 1;
    for (int i = 0; i < opt_.tournament_size; ++i)
      best = std::min(best, uniform_int(rng_, 0, size - 1));
    return ranked_[best].genome;
  }

  Genome offspring() {
    const Genome& a = select();
    Genome child;
    if (uniform01(rng_) < opt_.crossover_rate) {
      child = crossover(a, select());
    } else {
      child = a;
    }
    mutate(child);
    return child;
  }

  Genome crossover(const Genome& a, const Genome& b) {
    const auto& genes = space_->genes();
    const auto& lo = space_->lower();
    const auto& hi = space_->upper();
    std::map<int, double> weight;  // per layer, drawn at its first width gene
    Genome child(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (genes[i].is_depth()) {
        child[i] = uniform01(rng_) < 0.5 ? a[i] : b[i];
        continue;
      }
      auto it = weight.find(genes[i].layer);
      if (it == weight.end()) {
        const double w = opt_.blend_min + (opt_.blend_max - opt_.blend_min) * uniform01(rng_);
        it = weight.emplace(genes[i].layer, w).first;
      }
      const double w = it->second;
      const double v = w * static_cast<double>(a[i]) + (1.0 - w) * static_cast<double>(b[i]);
      child[i] = std::clamp(static_cast<std::int64_t>(std::floor(v + 0.5)), lo[i], hi[i]);
    }
    return child;
  }

  void mutate(Genome& g) {
    const auto& genes = space_->genes();
    const auto& lo = space_->lower();
    const auto& hi = space_->upper();
    for (std::size_t i = 0; i < g.size(); ++i) {
      if (genes[i].is_depth()) {
        if (uniform01(rng_) < opt_.depth_mutation_rate) g[i] = lo[i] + hi[i] - g[i];  // 0 <-> 1
      } else if (uniform01(rng_) < opt_.width_mutation_rate) {
        g[i] = uniform_int(rng_, lo[i], hi[i]);
      }
    }
  }

  Options opt_;
  const tracenas::SearchSpace* space_ = nullptr;
  std::mt19937_64 rng_;
  std::vector<Genome> generation_;   // the generation being asked
  std::size_t next_ = 0;             // first genome of generation_ not asked yet
  std::vector<Observation> told_;    // results of the generation being asked
  std::vector<Observation> ranked_;  // the last complete generation, best first
  std::set<Genome> seen_;            // every genome told so far
};

[[noreturn]] void bad(const std::string& field, const std::string& rule, const std::string& got) {
  throw tracenas::ConfigError("search.params." + field + ": " + rule + " (got " + got + ")");
}

std::unique_ptr<tracenas::SearchStrategy> make(const tracenas::ParamValues& p,
                                               const tracenas::RunContext&) {
  Options o;
  o.population_size = static_cast<int>(p.get_int("population_size"));
  o.elites = static_cast<int>(p.get_int("elites"));
  o.crossover_rate = p.get_float("crossover_rate");
  o.depth_mutation_rate = p.get_float("depth_mutation_rate");
  o.width_mutation_rate = p.get_float("width_mutation_rate");
  o.blend_min = p.get_float("blend_min");
  o.blend_max = p.get_float("blend_max");
  o.selection =
      p.get_string("selection") == "tournament" ? Selection::kTournament : Selection::kTruncation;
  o.tournament_size = static_cast<int>(p.get_int("tournament_size"));
  o.infeasible = p.get_string("infeasible") == "repair" ? Infeasible::kRepair : Infeasible::kReject;
  o.max_tries = static_cast<int>(p.get_int("max_tries"));
  if (o.elites >= o.population_size) {
    bad("elites", "must be below population_size " + std::to_string(o.population_size),
        std::to_string(o.elites));
  }
  if (o.blend_min > o.blend_max) {
    bad("blend_min", "must be <= blend_max " + number(o.blend_max), number(o.blend_min));
  }
  return std::make_unique<Evolutionary>(o);
}

void register_components(tracenas::Registrar& r) {
  using tracenas::ParamSpec;
  r.add<tracenas::SearchStrategy>(
      "evolutionary",
      "genetic algorithm: elites, truncation or tournament parents, per-layer width blending, "
      "depth flips and width resampling",
      {ParamSpec::integer("population_size", 30, "genomes per generation").min(2),
       ParamSpec::integer("elites", 5, "best genomes carried over unchanged (< population_size)")
           .min(0),
       ParamSpec::real("crossover_rate", 0.7, "probability that a child has two parents")
           .range(0, 1),
       ParamSpec::real("depth_mutation_rate", 0.2, "probability of flipping each depth gene")
           .range(0, 1),
       ParamSpec::real("width_mutation_rate", 0.2,
                       "probability of resampling each width gene uniformly in its bounds")
           .range(0, 1),
       ParamSpec::real("blend_min", 0.2, "lower bound of the per-layer width blend weight")
           .range(0, 1),
       ParamSpec::real("blend_max", 0.8, "upper bound of the per-layer width blend weight")
           .range(0, 1),
       ParamSpec::choice("selection", {"truncation", "tournament"}, "truncation",
                         "parents: uniform from the better half, or tournaments"),
       ParamSpec::integer("tournament_size", 3,
                          "draws (with replacement) per tournament (selection: tournament)")
           .min(1),
       ParamSpec::choice("infeasible", {"reject", "repair"}, "reject",
                         "an infeasible child: breed it again, or move it with space.repair()"),
       ParamSpec::integer("max_tries", 100,
                          "attempts to breed a feasible new child before taking a uniform sample")
           .min(1)},
      make);
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.search.evolutionary", "0.1.0", "Apache-2.0",
                       "evolutionary search strategy", register_components)
