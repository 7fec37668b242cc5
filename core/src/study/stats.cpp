#include "study/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "tracenas/error.hpp"
#include "tracenas/random.hpp"

namespace tracenas {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_pairs(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) {
    throw Error("rank correlation: " + std::to_string(x.size()) + " x values but " +
                std::to_string(y.size()) + " y values");
  }
}

// Linear interpolation between order statistics (the usual "type 7" quantile).
double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<std::size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> ranks(v.size());
  std::size_t i = 0;
  while (i < idx.size()) {
    std::size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double r = 0.5 * static_cast<double>(i + j) + 1.0;  // mean of ranks i+1 .. j+1
    for (std::size_t k = i; k <= j; ++k) ranks[idx[k]] = r;
    i = j + 1;
  }
  return ranks;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  check_pairs(x, y);
  const std::size_t n = x.size();
  if (n < 2) return kNaN;
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  if (sxx == 0 || syy == 0) return kNaN;
  return sxy / std::sqrt(sxx * syy);
}

double spearman(const std::vector<double>& x, const std::vector<double>& y) {
  check_pairs(x, y);
  return pearson(average_ranks(x), average_ranks(y));
}

double kendall(const std::vector<double>& x, const std::vector<double>& y) {
  check_pairs(x, y);
  const std::size_t n = x.size();
  if (n < 2) return kNaN;
  double concordant = 0, discordant = 0, tied_x = 0, tied_y = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const double dx = x[i] - x[j];
      const double dy = y[i] - y[j];
      if (dx == 0) tied_x += 1;
      if (dy == 0) tied_y += 1;
      if (dx == 0 || dy == 0) continue;
      if ((dx > 0) == (dy > 0)) {
        concordant += 1;
      } else {
        discordant += 1;
      }
    }
  }
  const double n0 = static_cast<double>(n) * static_cast<double>(n - 1) / 2;
  const double denom = std::sqrt((n0 - tied_x) * (n0 - tied_y));
  if (denom == 0) return kNaN;
  return (concordant - discordant) / denom;
}

Interval bootstrap_ci(const std::vector<double>& x, const std::vector<double>& y,
                      const PairStatistic& statistic, int resamples, std::uint64_t seed,
                      double level) {
  check_pairs(x, y);
  Interval out;
  out.low = out.high = kNaN;
  if (x.size() < 2 || resamples < 1) return out;
  std::mt19937_64 rng(seed);
  std::vector<double> values;
  std::vector<double> bx(x.size()), by(y.size());
  const auto last = static_cast<std::int64_t>(x.size()) - 1;
  for (int r = 0; r < resamples; ++r) {
    for (std::size_t i = 0; i < x.size(); ++i) {
      const auto k = static_cast<std::size_t>(uniform_int(rng, 0, last));
      bx[i] = x[k];
      by[i] = y[k];
    }
    const double v = statistic(bx, by);
    if (std::isfinite(v)) values.push_back(v);
  }
  out.used = static_cast<int>(values.size());
  if (values.empty()) return out;
  const double tail = (1 - level) / 2;
  out.low = quantile(values, tail);
  out.high = quantile(values, 1 - tail);
  return out;
}

}  // namespace tracenas
