// Search strategies: propose architectures, learn from their scores (ask/tell).
//
// The engine owns evaluation: it asks the strategy for genomes, checks
// constraints, answers duplicates from its store, runs the proxies and tells
// the strategy the results. A strategy only proposes and learns. Given the
// same seed and the same sequence of tell() calls it must propose the same
// genomes, which is how a resumed search ends where an uninterrupted one does.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "tracenas/api.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/component.hpp"

namespace tracenas {

// An architecture encoded as one integer per decision (implemented by the core).
using Genome = std::vector<std::int64_t>;

// What one gene decides. Depth genes are 0 (removed) or 1 (kept); width genes
// are ordinal indices into a layer's allowed widths (0 = narrowest, upper =
// the base width), so that blending two parents' genes blends their widths.
enum class GeneKind {
  kLayer,     // depth: the whole layer kept (1) or removed (0)
  kAttn,      // depth: the attention block kept or removed
  kMlpBlock,  // depth: the MLP block kept or removed
  kKvHeads,   // width: KV groups kept
  kHeads,     // width: query heads per kept KV group
  kMlp,       // width: MLP channels kept
};

struct TN_API GeneInfo {
  GeneKind kind = GeneKind::kLayer;
  int layer = 0;
  bool is_depth() const {
    return kind == GeneKind::kLayer || kind == GeneKind::kAttn || kind == GeneKind::kMlpBlock;
  }
};

class TN_API SearchSpace {
 public:
  virtual ~SearchSpace();
  virtual int dims() const = 0;
  // Inclusive bounds of each gene.
  virtual const Genome& lower() const = 0;
  virtual const Genome& upper() const = 0;
  // What each gene decides (dims() entries).
  virtual const std::vector<GeneInfo>& genes() const = 0;
  // A uniform sample from the constrained space.
  virtual Genome sample(std::mt19937_64& rng) const = 0;
  // The nearest legal genome (inside the space and the constraints); may
  // still be infeasible when no legal genome is reachable (check feasible()).
  virtual Genome repair(const Genome& genome) const = 0;
  virtual bool feasible(const Genome& genome) const = 0;
  virtual Arch decode(const Genome& genome) const = 0;
  virtual std::int64_t params(const Genome& genome) const = 0;
};

// One evaluated genome. `fitness` is oriented so that higher is better; a
// candidate whose objective was not finite has valid == false.
struct TN_API Observation {
  Genome genome;
  double fitness = 0.0;
  bool valid = true;
};

class TN_API SearchStrategy : public Component {
 public:
  static constexpr ComponentKind kKind = ComponentKind::kSearch;
  ~SearchStrategy() override;

  virtual void start(const SearchSpace& space, std::uint64_t seed) = 0;
  // Up to n genomes to evaluate next (fewer, or none, when it has no more).
  virtual std::vector<Genome> ask(int n) = 0;
  virtual void tell(const std::vector<Observation>& results) = 0;
};

}  // namespace tracenas
