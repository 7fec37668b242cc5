#include "study/study.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <set>
#include <sstream>

#include "tracenas/arch.hpp"

namespace tracenas {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Coefficient coefficient(const std::vector<double>& x, const std::vector<double>& y,
                        const PairStatistic& stat, int resamples, std::uint64_t seed) {
  Coefficient c;
  c.value = stat(x, y);
  c.ci = bootstrap_ci(x, y, stat, resamples, seed);
  return c;
}

// Tick values: `count` evenly spaced over [lo, hi].
std::vector<double> ticks(double lo, double hi, int count) {
  std::vector<double> t;
  for (int i = 0; i < count; ++i) t.push_back(lo + (hi - lo) * i / (count - 1));
  return t;
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
                                 std::uint64_t seed) {
  ProxyCorrelation r;
  r.label = label;
  r.direction = direction;
  std::vector<double> score, after, before;
  const std::size_t n = std::min({values.size(), loss_after.size(), loss_before.size()});
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i]) || !std::isfinite(loss_after[i]) ||
        !std::isfinite(loss_before[i])) {
      continue;
    }
    score.push_back(direction == Direction::kHigherIsBetter ? values[i] : -values[i]);
    after.push_back(-loss_after[i]);
    before.push_back(-loss_before[i]);
  }
  r.n = static_cast<int>(score.size());
  const PairStatistic rho = [](const auto& x, const auto& y) { return spearman(x, y); };
  const PairStatistic tau = [](const auto& x, const auto& y) { return kendall(x, y); };
  r.spearman_after = coefficient(score, after, rho, resamples, seed);
  r.kendall_after = coefficient(score, after, tau, resamples, seed);
  r.spearman_before = coefficient(score, before, rho, resamples, seed);
  r.kendall_before = coefficient(score, before, tau, resamples, seed);
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
  std::ostringstream out;
  out << "| proxy | better | n | Spearman rho, after | Kendall tau, after | Spearman rho, before "
         "| Kendall tau, before |\n"
      << "| --- | --- | --- | --- | --- | --- | --- |\n";
  for (const auto& r : rows) {
    out << "| " << r.label << " | "
        << (r.direction == Direction::kHigherIsBetter ? "higher" : "lower") << " | " << r.n << " | "
        << cell(r.spearman_after) << " | " << cell(r.kendall_after) << " | "
        << cell(r.spearman_before) << " | " << cell(r.kendall_before) << " |\n";
  }
  return out.str();
}

std::string scatter_svg(const std::string& title, const std::string& subtitle,
                        const std::string& x_label, const std::string& y_label,
                        const std::vector<ScatterPoint>& points,
                        const std::vector<std::string>& legend) {
  constexpr double kW = 560, kH = 420, kLeft = 78, kRight = 20, kTop = 74, kBottom = 58;
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  double x0 = kNaN, x1 = kNaN, y0 = kNaN, y1 = kNaN;
  std::vector<ScatterPoint> shown;
  for (const auto& p : points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
    shown.push_back(p);
    x0 = std::isnan(x0) ? p.x : std::min(x0, p.x);
    x1 = std::isnan(x1) ? p.x : std::max(x1, p.x);
    y0 = std::isnan(y0) ? p.y : std::min(y0, p.y);
    y1 = std::isnan(y1) ? p.y : std::max(y1, p.y);
  }
  if (shown.empty()) x0 = x1 = y0 = y1 = 0;
  auto pad = [](double& lo, double& hi) {
    const double span = hi - lo;
    const double m = span > 0 ? 0.05 * span : std::max(1e-9, 0.05 * std::fabs(lo) + 0.5);
    lo -= m;
    hi += m;
  };
  pad(x0, x1);
  pad(y0, y1);
  auto sx = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * pw; };
  auto sy = [&](double y) { return kTop + ph - (y - y0) / (y1 - y0) * ph; };

  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kW << "\" height=\"" << kH
    << "\" viewBox=\"0 0 " << kW << " " << kH << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << kW / 2 << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">"
    << xml_escape(title) << "</text>\n"
    << "<text x=\"" << kW / 2 << "\" y=\"40\" text-anchor=\"middle\" fill=\"#444\">"
    << xml_escape(subtitle) << "</text>\n"
    << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"#888\"/>\n";
  for (double t : ticks(x0, x1, 5)) {
    s << "<line x1=\"" << sx(t) << "\" y1=\"" << kTop + ph << "\" x2=\"" << sx(t) << "\" y2=\""
      << kTop + ph + 5 << "\" stroke=\"#888\"/>"
      << "<text x=\"" << sx(t) << "\" y=\"" << kTop + ph + 18 << "\" text-anchor=\"middle\">"
      << format("%.4g", t) << "</text>\n";
  }
  for (double t : ticks(y0, y1, 5)) {
    s << "<line x1=\"" << kLeft - 5 << "\" y1=\"" << sy(t) << "\" x2=\"" << kLeft << "\" y2=\""
      << sy(t) << "\" stroke=\"#888\"/>"
      << "<text x=\"" << kLeft - 8 << "\" y=\"" << sy(t) + 4 << "\" text-anchor=\"end\">"
      << format("%.4g", t) << "</text>\n";
  }
  s << "<text x=\"" << kLeft + pw / 2 << "\" y=\"" << kH - 14 << "\" text-anchor=\"middle\">"
    << xml_escape(x_label) << "</text>\n"
    << "<text x=\"18\" y=\"" << kTop + ph / 2
    << "\" text-anchor=\"middle\" transform=\"rotate(-90 18 " << kTop + ph / 2 << ")\">"
    << xml_escape(y_label) << "</text>\n";
  for (const auto& p : shown) {
    if (p.group == 1) {
      s << "<rect class=\"point\" x=\"" << sx(p.x) - 4 << "\" y=\"" << sy(p.y) - 4
        << "\" width=\"8\" height=\"8\" fill=\"#e07b00\" fill-opacity=\"0.8\"/>\n";
    } else {
      s << "<circle class=\"point\" cx=\"" << sx(p.x) << "\" cy=\"" << sy(p.y)
        << "\" r=\"4.5\" fill=\"#2b6cb0\" fill-opacity=\"0.8\"/>\n";
    }
  }
  for (std::size_t i = 0; i < legend.size() && i < 2; ++i) {
    const double lx = kLeft + 10 + 150.0 * static_cast<double>(i),
                 ly = kTop - 14;  // above the plot area
    if (i == 1) {
      s << "<rect x=\"" << lx - 4 << "\" y=\"" << ly - 4
        << "\" width=\"8\" height=\"8\" fill=\"#e07b00\"/>";
    } else {
      s << "<circle cx=\"" << lx << "\" cy=\"" << ly << "\" r=\"4.5\" fill=\"#2b6cb0\"/>";
    }
    s << "<text x=\"" << lx + 10 << "\" y=\"" << ly + 4 << "\">" << xml_escape(legend[i])
      << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace tracenas
