#include "study/stats.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

// x has a tie (2, 2), y has a tie (3, 3).
const std::vector<double> kX = {1, 2, 2, 3, 4};
const std::vector<double> kY = {2, 1, 3, 3, 5};

TEST(Stats, AverageRanksShareTies) {
  EXPECT_EQ(average_ranks(kX), (std::vector<double>{1, 2.5, 2.5, 4, 5}));
  EXPECT_EQ(average_ranks(kY), (std::vector<double>{2, 1, 3.5, 3.5, 5}));
  EXPECT_EQ(average_ranks({7, 7, 7}), (std::vector<double>{2, 2, 2}));
}

// By hand: ranks rx = [1, 2.5, 2.5, 4, 5], ry = [2, 1, 3.5, 3.5, 5], both mean 3;
// centred products sum to 2 + 1 - 0.25 + 0.5 + 4 = 7.25, squares to 9.5 each.
TEST(Stats, SpearmanWithTiesMatchesHandComputedValue) {
  EXPECT_NEAR(spearman(kX, kY), 7.25 / 9.5, 1e-15);
  EXPECT_NEAR(spearman({1, 2, 3}, {30, 20, 10}), -1.0, 1e-15);
}

// By hand: of the 10 pairs, (1,2) is tied in x, (2,3) tied in y, (0,1)
// discordant, the other 7 concordant: tau_b = (7 - 1) / sqrt(9 * 9) = 2/3.
TEST(Stats, KendallTauBWithTiesMatchesHandComputedValue) {
  EXPECT_NEAR(kendall(kX, kY), 6.0 / 9.0, 1e-15);
  // No ties: 3 points in reverse order -> -1; one swap of 4 -> (5 - 1) / 6.
  EXPECT_NEAR(kendall({1, 2, 3}, {3, 2, 1}), -1.0, 1e-15);
  EXPECT_NEAR(kendall({1, 2, 3, 4}, {1, 3, 2, 4}), 4.0 / 6.0, 1e-15);
}

TEST(Stats, UndefinedCasesAreNaNAndMismatchedSizesAnError) {
  EXPECT_TRUE(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(kendall({1}, {2})));
  EXPECT_THROW(kendall({1, 2}, {1}), Error);
}

TEST(Stats, BootstrapIntervalIsSeededAndBracketsTheStatistic) {
  std::vector<double> x, y;
  for (int i = 0; i < 40; ++i) {
    x.push_back(i);
    y.push_back(i + 15.0 * std::sin(i * 1.7));  // a noisy increasing relation
  }
  const double rho = spearman(x, y);
  Interval a = bootstrap_ci(x, y, spearman, 500, 7);
  Interval b = bootstrap_ci(x, y, spearman, 500, 7);
  Interval c = bootstrap_ci(x, y, spearman, 500, 8);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_NE(a.low, c.low);
  EXPECT_EQ(a.used, 500);
  EXPECT_LT(a.low, rho);
  EXPECT_GT(a.high, rho);
  EXPECT_GT(a.low, 0.0);
  EXPECT_LT(a.high, 1.0);
  // A perfect relation stays perfect in every resample with >= 2 distinct points.
  Interval p = bootstrap_ci({1, 2, 3, 4, 5, 6}, {2, 4, 6, 8, 10, 12}, kendall, 200, 1);
  EXPECT_EQ(p.low, 1.0);
  EXPECT_EQ(p.high, 1.0);
}

}  // namespace
}  // namespace tracenas
