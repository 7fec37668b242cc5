// Strategy benchmark: seconds per ask() round of the `bayesian` search
// strategy with 100, 500 and 1000 observations.
//
// What it is for: checking that a round (hyperparameter fit, candidate pool,
// one Cholesky posterior over every observation, expected improvement) stays
// cheap as observations accumulate. The strategy is loaded from its built
// plugin through the registry, with its declared defaults.
// The space is synthetic: 32 layers, each one depth gene and two width genes
// in [0, 7] (96 genes); params = sum over kept layers of 100 + 10 heads +
// 20 mlp, feasible in [3000, 6000]; sample() by rejection, repair() clamps.
// Observations are uniform samples of that space, told with fitness
// -sum (g - target)^2 over the width genes; each timed round is one
// ask(batch) (then told, so later rounds see batch more observations).
// A benchmark, not a test: it prints figures, then ONE JSON line.
//
// Run: OMP_WAIT_POLICY=PASSIVE tracenas_bench_strategy [--threads N] [--rounds N]
//                                                      [--batch N]
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "plugin/registry.hpp"
#include "tracenas/search.hpp"

namespace tracenas {
namespace {

constexpr const char* kUsage =
    "usage: tracenas_bench_strategy [--threads N] [--rounds N] [--batch N]\n"
    "  --threads N  LibTorch intra-op threads (default 2)\n"
    "  --rounds N   timed ask() rounds per observation count (default 3)\n"
    "  --batch N    genomes per ask (default 10)\n";

constexpr int kLayers = 32;
constexpr std::int64_t kWidthMax = 7;
constexpr std::int64_t kMinParams = 3000;
constexpr std::int64_t kMaxParams = 6000;
constexpr std::uint64_t kSeed = 1234;

class SyntheticSpace : public SearchSpace {
 public:
  SyntheticSpace() {
    for (int l = 0; l < kLayers; ++l) {
      for (GeneKind k : {GeneKind::kLayer, GeneKind::kHeads, GeneKind::kMlp}) {
        genes_.push_back(GeneInfo{k, l});
        lo_.push_back(0);
        hi_.push_back(k == GeneKind::kLayer ? 1 : kWidthMax);
      }
    }
  }
  int dims() const override { return static_cast<int>(genes_.size()); }
  const Genome& lower() const override { return lo_; }
  const Genome& upper() const override { return hi_; }
  const std::vector<GeneInfo>& genes() const override { return genes_; }
  Genome sample(std::mt19937_64& rng) const override {
    Genome g(genes_.size());
    do {
      for (std::size_t i = 0; i < g.size(); ++i) {
        g[i] = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(hi_[i] + 1));
      }
    } while (!feasible(g));
    return g;
  }
  Genome repair(const Genome& genome) const override {
    Genome g = genome;
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = std::clamp(g[i], lo_[i], hi_[i]);
    return g;
  }
  bool feasible(const Genome& g) const override {
    const std::int64_t p = params(g);
    return p >= kMinParams && p <= kMaxParams;
  }
  Arch decode(const Genome&) const override { return {}; }
  std::int64_t params(const Genome& g) const override {
    std::int64_t p = 0;
    for (std::size_t i = 0; i + 2 < g.size(); i += 3) {
      p += g[i] * (100 + 10 * g[i + 1] + 20 * g[i + 2]);
    }
    return p;
  }

 private:
  Genome lo_, hi_;
  std::vector<GeneInfo> genes_;
};

Observation evaluate(const SearchSpace& space, const Genome& g) {
  double f = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (space.genes()[i].is_depth()) continue;
    const double target = static_cast<double>((i * 5) % (kWidthMax + 1));
    f -= (static_cast<double>(g[i]) - target) * (static_cast<double>(g[i]) - target);
  }
  return Observation{g, f, true};
}

int run(int argc, char** argv) {
  int threads = 2;
  int rounds = 3;
  int batch = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--threads" || a == "--rounds" || a == "--batch") && i + 1 < argc) {
      const int v = std::atoi(argv[++i]);
      if (v < 1) {
        std::fputs(kUsage, stderr);
        return 2;
      }
      (a == "--threads" ? threads : a == "--rounds" ? rounds : batch) = v;
    } else {
      std::fputs(kUsage, stderr);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  at::set_num_threads(threads);

  Registry registry;
  registry.load_file(TN_PLUGIN_DIR "/libtracenas_search_bayesian.so");
  ParamValues params;
  for (const auto& s : registry.require(ComponentKind::kSearch, "bayesian")->info.params) {
    params.set(s.name, s.default_value);
  }
  RunContext ctx;
  auto strategy = registry.create<SearchStrategy>("bayesian", params, ctx);
  SearchStrategy& bo = strategy.get();

  SyntheticSpace space;
  bo.start(space, kSeed);
  std::mt19937_64 rng(kSeed + 1);
  int observed = 0;
  std::printf("bayesian ask(%d), %d genes, %d LibTorch threads, defaults (pool_size %lld)\n", batch,
              space.dims(), threads, static_cast<long long>(params.get_int("pool_size")));
  // CPU seconds count every thread of the process: on a busy machine they show
  // the work a round does when the wall time also counts waiting for a core.
  std::printf("%12s %10s %14s %18s\n", "observations", "rounds", "wall s / round", "CPU s / round");
  nlohmann::json figures = nlohmann::json::object();
  for (int target : {100, 500, 1000}) {
    std::vector<Observation> told;
    for (; observed < target; ++observed) told.push_back(evaluate(space, space.sample(rng)));
    bo.tell(told);
    double seconds = 0;
    double cpu_seconds = 0;
    for (int r = 0; r < rounds; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::clock_t c0 = std::clock();
      std::vector<Genome> asked = bo.ask(batch);
      cpu_seconds += static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::vector<Observation> results;
      for (const auto& g : asked) results.push_back(evaluate(space, g));
      observed += static_cast<int>(results.size());
      bo.tell(results);
    }
    std::printf("%12d %10d %14.3f %18.3f\n", target, rounds, seconds / rounds,
                cpu_seconds / rounds);
    figures[std::to_string(target)] = {{"wall_s", seconds / rounds},
                                       {"cpu_s", cpu_seconds / rounds}};
  }
  nlohmann::json out = {{"bench", "strategy"},         {"strategy", "bayesian"},
                        {"genes", space.dims()},       {"batch", batch},
                        {"threads", threads},          {"rounds", rounds},
                        {"seconds_per_round", figures}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace
}  // namespace tracenas

int main(int argc, char** argv) { return tracenas::run(argc, argv); }
