#include "study/study.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "io/svg_plot.hpp"
#include "tracenas/arch.hpp"

namespace tracenas {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

Coefficient coefficient(const std::vector<double>& x, const std::vector<double>& y,
                        const PairStatistic& stat, int resamples, std::uint64_t seed) {
  Coefficient c;
  c.value = stat(x, y);
  c.ci = bootstrap_ci(x, y, stat, resamples, seed);
  return c;
}

}  // namespace

UniformDraws draw_distinct(const ArchSpace& space, int n, std::uint64_t seed, int max_draws) {
  UniformDraws out;
  std::mt19937_64 rng(seed);
  std::set<std::string> seen;
  while (static_cast<int>(out.genomes.size()) < n && out.draws < max_draws) {
    Genome g = space.sample(rng);
    ++out.draws;
    if (!space.feasible(g)) continue;
    if (seen.insert(arch_to_json(space.decode(g), space.base())).second) {
      out.genomes.push_back(std::move(g));
    }
  }
  return out;
}

ProxyCorrelation correlate_proxy(const std::string& label, Direction direction,
                                 const std::vector<double>& values,
                                 const std::vector<double>& loss_after,
                                 const std::vector<double>& loss_before, int resamples,
                                 std::uint64_t seed, const std::vector<double>& accuracy) {
  ProxyCorrelation r;
  r.label = label;
  r.direction = direction;
  std::vector<double> score, after, before, ppl;
  const std::size_t n = std::min({values.size(), loss_after.size(), loss_before.size()});
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i]) || !std::isfinite(loss_after[i]) ||
        !std::isfinite(loss_before[i])) {
      continue;
    }
    score.push_back(direction == Direction::kHigherIsBetter ? values[i] : -values[i]);
    after.push_back(-loss_after[i]);
    before.push_back(-loss_before[i]);
    ppl.push_back(-std::exp(loss_after[i]));
  }
  r.n = static_cast<int>(score.size());
  const PairStatistic rho = [](const auto& x, const auto& y) { return spearman(x, y); };
  const PairStatistic tau = [](const auto& x, const auto& y) { return kendall(x, y); };
  r.spearman_after = coefficient(score, after, rho, resamples, seed);
  r.kendall_after = coefficient(score, after, tau, resamples, seed);
  r.spearman_before = coefficient(score, before, rho, resamples, seed);
  r.kendall_before = coefficient(score, before, tau, resamples, seed);
  r.spearman_ppl = coefficient(score, ppl, rho, resamples, seed);
  r.kendall_ppl = coefficient(score, ppl, tau, resamples, seed);
  if (!accuracy.empty()) {
    r.has_accuracy = true;
    std::vector<double> s, acc;
    for (std::size_t i = 0; i < std::min(values.size(), accuracy.size()); ++i) {
      if (!std::isfinite(values[i]) || !std::isfinite(accuracy[i])) continue;
      s.push_back(direction == Direction::kHigherIsBetter ? values[i] : -values[i]);
      acc.push_back(accuracy[i]);
    }
    r.n_accuracy = static_cast<int>(s.size());
    r.spearman_acc = coefficient(s, acc, rho, resamples, seed);
    r.kendall_acc = coefficient(s, acc, tau, resamples, seed);
  }
  return r;
}

std::string study_table(const std::vector<ProxyCorrelation>& rows) {
  auto cell = [](const Coefficient& c) {
    if (!std::isfinite(c.value)) return std::string("undefined");
    std::string s = format("%+.3f", c.value);
    if (c.ci.used > 0)
      s += " [" + format("%+.2f", c.ci.low) + ", " + format("%+.2f", c.ci.high) + "]";
    return s;
  };
  const bool acc = !rows.empty() && rows.front().has_accuracy;
  std::ostringstream out;
  out << "| proxy | better | n | Spearman rho, after | Kendall tau, after | Spearman rho, before "
         "| Kendall tau, before |"
      << (acc ? " Spearman rho, task accuracy | Kendall tau, task accuracy |" : "") << "\n"
      << "| --- | --- | --- | --- | --- | --- | --- |" << (acc ? " --- | --- |" : "") << "\n";
  for (const auto& r : rows) {
    out << "| " << r.label << " | "
        << (r.direction == Direction::kHigherIsBetter ? "higher" : "lower") << " | " << r.n << " | "
        << cell(r.spearman_after) << " | " << cell(r.kendall_after) << " | "
        << cell(r.spearman_before) << " | " << cell(r.kendall_before) << " |";
    if (acc) out << " " << cell(r.spearman_acc) << " | " << cell(r.kendall_acc) << " |";
    out << "\n";
  }
  return out.str();
}

std::string scatter_svg(const std::string& title, const std::string& subtitle,
                        const std::string& x_label, const std::string& y_label,
                        const std::vector<ScatterPoint>& points,
                        const std::vector<std::string>& legend) {
  Plot plot;
  plot.title = title;
  plot.subtitle = subtitle;
  plot.x_label = x_label;
  plot.y_label = y_label;
  plot.height = 420;
  for (int group : {0, 1}) {
    PlotSeries series;
    series.style = group;
    if (static_cast<std::size_t>(group) < legend.size()) series.name = legend[group];
    for (const ScatterPoint& p : points) {
      if ((p.group == 1) != (group == 1)) continue;
      series.x.push_back(p.x);
      series.y.push_back(p.y);
    }
    if (!series.x.empty() || !series.name.empty()) plot.series.push_back(series);
  }
  return plot_svg(plot);
}

}  // namespace tracenas
