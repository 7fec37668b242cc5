// The proxy validation study (`tracenas study PIPELINE`): does a zero-shot
// proxy order architectures the way recovery training does?
//
//   1. N distinct architectures inside the pipeline's constraint window:
//      round(strategy_share * N) of them are the best proposals of the
//      pipeline's search strategy (a search of proposal_evaluations
//      candidates, kept in <study>/proposals/), the rest uniform samples of
//      the window (ArchSpace::sample with the run seed). Distinct means a
//      different decoded Arch. A window that yields fewer than N distinct
//      architectures in max_draws uniform draws is a ConfigError naming
//      study.architectures, raised before the model loads.
//   2. For each: every proxy of the pipeline (one Evaluator pass), the
//      pruned model realized from the importance order (as `prune` exports
//      it), its held-out loss before training, recovery training with the
//      same settings and seed for all, and its held-out loss after.
//   3. For every proxy: Spearman's rho and Kendall's tau-b (stats.hpp) of
//      (score, -loss), where score is the proxy's value when higher is
//      better and its negation when lower is better, against the loss after
//      and before training, each with a seeded percentile-bootstrap 95%
//      interval. +1: the proxy orders the architectures exactly as their
//      loss does (best first); 0: no relation; -1: reversed. Architectures
//      whose proxy value is not finite are left out of that proxy's
//      coefficients (n says how many were used).
//
// Outputs in the study folder (<output_dir>/<run.name>): architectures.json,
// study.jsonl (one line per architecture, appended and fsynced as each
// finishes), study.json (the coefficients), study.md (the table) and
// plots/<label>.svg (proxy value against loss after training). --resume
// continues from study.jsonl; the architecture list is read back from
// architectures.json, so the result equals an uninterrupted run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "search/search_space.hpp"
#include "study/stats.hpp"
#include "tracenas/proxy.hpp"

namespace tracenas {

// Distinct architectures (by decoded Arch) from uniform draws of `space`, in
// draw order: stops at `n` or after `max_draws` draws.
struct UniformDraws {
  std::vector<Genome> genomes;
  int draws = 0;
};
UniformDraws draw_distinct(const ArchSpace& space, int n, std::uint64_t seed, int max_draws);

struct Coefficient {
  double value = 0;  // NaN when undefined (fewer than 2 points, a constant side)
  Interval ci;
};

struct ProxyCorrelation {
  std::string label;
  Direction direction = Direction::kHigherIsBetter;
  int n = 0;  // architectures with a finite proxy value and finite losses
  Coefficient spearman_after, kendall_after, spearman_before, kendall_before;
  // Against the held-out perplexity exp(loss) after training, as (score,
  // -perplexity). A rank coefficient is unchanged by a monotone map, so these
  // equal the loss coefficients; they are computed from the perplexities all
  // the same, so that the column's numbers are what its name says.
  Coefficient spearman_ppl, kendall_ppl;
  // Against the zero-shot multiple-choice accuracy after training, as
  // (score, +accuracy), when the study has a task file (has_accuracy).
  bool has_accuracy = false;
  int n_accuracy = 0;  // architectures with a finite proxy value and accuracy
  Coefficient spearman_acc, kendall_acc;
};

// The coefficients of one proxy (header comment, step 3). `values`,
// `loss_after`, `loss_before` and (when not empty) `accuracy` hold one entry
// per architecture.
ProxyCorrelation correlate_proxy(const std::string& label, Direction direction,
                                 const std::vector<double>& values,
                                 const std::vector<double>& loss_after,
                                 const std::vector<double>& loss_before, int resamples,
                                 std::uint64_t seed, const std::vector<double>& accuracy = {});

// The coefficients as a markdown table, one row per proxy; the accuracy
// columns appear when the first row has them.
std::string study_table(const std::vector<ProxyCorrelation>& rows);

// A standalone SVG scatter plot. Points with `group` 1 are drawn as orange
// squares, the rest as blue circles; `legend` names the groups (0, 1).
struct ScatterPoint {
  double x = 0;
  double y = 0;
  int group = 0;
};
std::string scatter_svg(const std::string& title, const std::string& subtitle,
                        const std::string& x_label, const std::string& y_label,
                        const std::vector<ScatterPoint>& points,
                        const std::vector<std::string>& legend);

}  // namespace tracenas
