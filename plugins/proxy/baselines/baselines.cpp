// Baseline proxies that need no gradients:
//
//   param_count  Phi(C) = parameter count of C (SPEC.md section 4). Higher is
//                better: the "bigger is better" prior every zero-shot proxy
//                should beat at a fixed budget.
//   random       Phi(C) = a uniform number in [0, 1) drawn from a hash of the
//                architecture and the seed: the same candidate always gets the
//                same value. The control for ablations.
#include <cstdint>

#include "tracenas/plugin.hpp"
#include "tracenas/proxy.hpp"

namespace {

using tracenas::ParamSpec;

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class ParamCountProxy final : public tracenas::Proxy {
 public:
  tracenas::Direction direction() const override { return tracenas::Direction::kHigherIsBetter; }
  tracenas::TraceNeeds needs() const override { return {}; }
  double score(const tracenas::Candidate& c, const tracenas::Trace&) override {
    return static_cast<double>(c.params);
  }
};

class RandomProxy final : public tracenas::Proxy {
 public:
  explicit RandomProxy(std::uint64_t seed) : seed_(seed) {}
  tracenas::Direction direction() const override { return tracenas::Direction::kHigherIsBetter; }
  tracenas::TraceNeeds needs() const override { return {}; }
  double score(const tracenas::Candidate& c, const tracenas::Trace&) override {
    std::uint64_t h = splitmix64(seed_);
    auto mix = [&](std::uint64_t v) { h = splitmix64(h ^ v); };
    for (const auto& l : c.arch->layers) {
      mix(l.attn ? 1 : 0);
      mix(static_cast<std::uint64_t>(l.attn ? l.heads : 0));
      mix(static_cast<std::uint64_t>(l.attn ? l.kv_heads : 0));
      mix(l.mlp ? 1 : 0);
      mix(static_cast<std::uint64_t>(l.mlp ? l.mlp_channels : 0));
      for (int i : l.head_index) mix(static_cast<std::uint64_t>(i) + 0x100000000ULL);
      for (int i : l.channel_index) mix(static_cast<std::uint64_t>(i) + 0x200000000ULL);
    }
    return static_cast<double>(h >> 11) * 0x1.0p-53;
  }

 private:
  std::uint64_t seed_;
};

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::Proxy>("param_count", "parameter count of the candidate (higher is better)", {},
                         [](const tracenas::ParamValues&, const tracenas::RunContext&) {
                           return std::make_unique<ParamCountProxy>();
                         });
  r.add<tracenas::Proxy>(
      "random", "seeded uniform value per architecture in [0, 1): the control for ablations",
      {ParamSpec::integer("seed", -1, "seed of the draw (-1: the run's seed)").min(-1)},
      [](const tracenas::ParamValues& p, const tracenas::RunContext& run) {
        std::int64_t seed = p.get_int("seed");
        return std::make_unique<RandomProxy>(seed < 0 ? run.seed
                                                      : static_cast<std::uint64_t>(seed));
      });
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.proxy.baselines", "0.1.0", "Apache-2.0",
                       "gradient-free baseline proxies", register_components)
