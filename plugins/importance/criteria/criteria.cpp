// Width importance criteria (SPEC.md section 3). Each returns one score per
// input channel of o_proj and of down_proj; the core sums channel scores into
// head and KV-head scores and orders them (ties toward the lower index).
//
//   wanda      S[j] = a[j] * sum_i |W[i, j]|, a[j] the L2 norm of input channel
//              j over every calibration token (activation-weighted magnitude,
//              as in Wanda-sp / FLAP: Sun et al. 2023, An et al. 2024).
//   magnitude  S[j] = sum_i |W[i, j]| (the same without activations).
//   random     S[j] ~ U[0, 1), seeded per layer: the control for ablations.
#include <ATen/ATen.h>

#include <random>

#include "tracenas/error.hpp"
#include "tracenas/importance.hpp"
#include "tracenas/plugin.hpp"

namespace {

using tracenas::LayerImportanceInput;
using tracenas::LayerImportanceScores;
using tracenas::ParamSpec;

// [rows, cols] -> [cols]: sum over rows of |W|, in float64.
at::Tensor column_abs_sum(const at::Tensor& w) { return w.to(at::kDouble).abs().sum(0); }

at::Tensor activation_weighted(const at::Tensor& w, const at::Tensor& norms, const char* name,
                               int layer) {
  if (!norms.defined()) {
    throw tracenas::Error(std::string("wanda: layer ") + std::to_string(layer) + ": no " + name +
                          " activation norms were collected");
  }
  if (norms.dim() != 1 || norms.size(0) != w.size(1)) {
    throw tracenas::Error(std::string("wanda: layer ") + std::to_string(layer) + ": " + name +
                          " has " + std::to_string(w.size(1)) + " input channels but " +
                          std::to_string(norms.numel()) + " activation norms");
  }
  return column_abs_sum(w) * norms.to(at::kDouble);
}

class Wanda final : public tracenas::ImportanceCriterion {
 public:
  bool needs_activation_norms() const override { return true; }
  LayerImportanceScores score(const LayerImportanceInput& in) override {
    return {activation_weighted(in.o_proj_weight, in.o_input_norm, "o_proj", in.layer),
            activation_weighted(in.down_proj_weight, in.down_input_norm, "down_proj", in.layer)};
  }
};

class Magnitude final : public tracenas::ImportanceCriterion {
 public:
  bool needs_activation_norms() const override { return false; }
  LayerImportanceScores score(const LayerImportanceInput& in) override {
    return {column_abs_sum(in.o_proj_weight), column_abs_sum(in.down_proj_weight)};
  }
};

class RandomImportance final : public tracenas::ImportanceCriterion {
 public:
  explicit RandomImportance(std::uint64_t seed) : seed_(seed) {}
  bool needs_activation_norms() const override { return false; }
  bool seeded() const override { return true; }
  LayerImportanceScores score(const LayerImportanceInput& in) override {
    std::mt19937_64 rng(seed_ * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(in.layer));
    auto draw = [&](std::int64_t n) {
      at::Tensor t = at::empty({n}, at::kDouble);
      auto* p = t.data_ptr<double>();
      for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<double>(rng() >> 11) * 0x1.0p-53;
      return t;
    };
    return {draw(in.o_proj_weight.size(1)), draw(in.down_proj_weight.size(1))};
  }

 private:
  std::uint64_t seed_;
};

void register_components(tracenas::Registrar& r) {
  using tracenas::ImportanceCriterion;
  r.add<ImportanceCriterion>(
      "wanda", "activation-weighted magnitude a_j * sum_i |W_ij| (Wanda-sp / FLAP)", {},
      [](const tracenas::ParamValues&, const tracenas::RunContext&) {
        return std::make_unique<Wanda>();
      },
      tracenas::Claims{{}, /*is_default=*/true});
  r.add<ImportanceCriterion>("magnitude", "weight magnitude sum_i |W_ij| (no activations)", {},
                             [](const tracenas::ParamValues&, const tracenas::RunContext&) {
                               return std::make_unique<Magnitude>();
                             });
  r.add<ImportanceCriterion>(
      "random", "seeded uniform scores: the control for ablations",
      {ParamSpec::integer("seed", -1, "seed of the scores (-1: the run's seed)").min(-1)},
      [](const tracenas::ParamValues& p, const tracenas::RunContext& run) {
        std::int64_t seed = p.get_int("seed");
        return std::make_unique<RandomImportance>(seed < 0 ? run.seed
                                                           : static_cast<std::uint64_t>(seed));
      });
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.importance.criteria", "0.1.0", "Apache-2.0",
                       "width importance criteria: wanda, magnitude, random", register_components)
