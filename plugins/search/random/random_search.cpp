// The `random` search strategy: uniform samples of the constrained search
// space, independent of every result (the control every strategy must beat).
#include <random>

#include "tracenas/plugin.hpp"
#include "tracenas/search.hpp"

namespace {

using tracenas::Genome;

class RandomSearch final : public tracenas::SearchStrategy {
 public:
  void start(const tracenas::SearchSpace& space, std::uint64_t seed) override {
    space_ = &space;
    rng_.seed(seed);
  }
  std::vector<Genome> ask(int n) override {
    std::vector<Genome> out;
    for (int i = 0; i < n; ++i) out.push_back(space_->sample(rng_));
    return out;
  }
  void tell(const std::vector<tracenas::Observation>&) override {}

 private:
  const tracenas::SearchSpace* space_ = nullptr;
  std::mt19937_64 rng_;
};

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::SearchStrategy>("random",
                                  "uniform samples of the constrained space; ignores results", {},
                                  [](const tracenas::ParamValues&, const tracenas::RunContext&) {
                                    return std::make_unique<RandomSearch>();
                                  });
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.search.random", "0.1.0", "Apache-2.0",
                       "random search strategy", register_components)
