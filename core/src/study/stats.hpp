// Rank correlations for proxy validation studies: how well a zero-shot proxy
// orders architectures the way their loss (after or before recovery
// training) does.
//
//   spearman(x, y)  Spearman's rho: the Pearson correlation of the average
//                   ranks (tied values share the mean of their ranks).
//   kendall(x, y)   Kendall's tau-b: (n_c - n_d) / sqrt((n_0 - n_1)(n_0 - n_2)),
//                   n_0 = n(n-1)/2 pairs, n_c / n_d concordant / discordant
//                   pairs, n_1 / n_2 pairs tied in x / in y (Kendall 1945).
//   bootstrap_ci    percentile bootstrap: resample the n pairs with
//                   replacement `resamples` times (seeded), the 2.5th and
//                   97.5th percentiles of the statistic (resamples where it
//                   is undefined, e.g. constant, are left out).
// A statistic that is undefined (fewer than 2 points, a constant side) is NaN.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace tracenas {

// Average ranks, 1-based (ties share the mean of their ranks).
std::vector<double> average_ranks(const std::vector<double>& v);
double pearson(const std::vector<double>& x, const std::vector<double>& y);
double spearman(const std::vector<double>& x, const std::vector<double>& y);
double kendall(const std::vector<double>& x, const std::vector<double>& y);

struct Interval {
  double low = 0;
  double high = 0;
  int used = 0;  // resamples with a defined statistic
};

using PairStatistic = std::function<double(const std::vector<double>&, const std::vector<double>&)>;
Interval bootstrap_ci(const std::vector<double>& x, const std::vector<double>& y,
                      const PairStatistic& statistic, int resamples, std::uint64_t seed,
                      double level = 0.95);

}  // namespace tracenas
