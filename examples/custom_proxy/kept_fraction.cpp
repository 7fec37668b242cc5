// An example third-party proxy plugin for TraceNAS.
//
//   kept_fraction  Phi(C) = (P(C) / P(base)) ^ exponent
//
// where P is the parameter count (Candidate::params and
// Candidate::base_params, SPEC.md section 4). Higher is better. It asks the
// engine for nothing (needs() is empty: no loss, gradients or logits): it is a
// size prior in [0, 1] whose `exponent` sets how sharply it penalizes small
// candidates (exponent 1: linear in the kept fraction).
//
// Everything a plugin needs is in the installed headers: the interface
// (tracenas/proxy.hpp), parameter declarations (tracenas/params.hpp, through
// component.hpp), errors (tracenas/error.hpp) and the entry point macro
// (tracenas/plugin.hpp).
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>

#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/proxy.hpp"

namespace {

using tracenas::ParamSpec;

class KeptFraction final : public tracenas::Proxy {
 public:
  explicit KeptFraction(double exponent) : exponent_(exponent) {}

  tracenas::Direction direction() const override { return tracenas::Direction::kHigherIsBetter; }

  // Nothing from the candidate's forward/backward pass: the score depends on
  // the architecture only.
  tracenas::TraceNeeds needs() const override { return {}; }

  double score(const tracenas::Candidate& c, const tracenas::Trace&) override {
    // Errors are thrown as tracenas::Error subclasses; the host reports them as
    // a PluginError naming this plugin and component.
    if (c.base_params <= 0) {
      throw tracenas::ArchError("kept_fraction: the base model has no parameters (got " +
                                std::to_string(c.base_params) + ")");
    }
    if (c.params < 0 || c.params > c.base_params) {
      throw tracenas::ArchError("kept_fraction: candidate parameter count " +
                                std::to_string(c.params) + " is outside [0, " +
                                std::to_string(c.base_params) + "]");
    }
    const double fraction = static_cast<double>(c.params) / static_cast<double>(c.base_params);
    return std::pow(fraction, exponent_);
  }

 private:
  double exponent_;
};

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::Proxy>(
      "kept_fraction",
      "(candidate params / base params) ^ exponent: a size prior in [0, 1] (higher is better)",
      // The host validates the pipeline's YAML against this declaration (type,
      // range) and fills in the default, so the factory gets a checked double.
      {ParamSpec::real("exponent", 1.0, "power applied to the kept parameter fraction")
           .range(0.1, 10.0)},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        return std::make_unique<KeptFraction>(p.get_float("exponent"));
      });
}

}  // namespace

// The one exported symbol: identity (reverse-DNS id, semver, SPDX license),
// a one-line summary, the build fingerprint and the register callback.
TN_PLUGIN_WITH_SUMMARY("org.example.custom_proxy", "0.1.0", "MIT",
                       "example out-of-tree proxy: kept parameter fraction", register_components)
