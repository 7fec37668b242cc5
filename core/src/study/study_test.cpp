// The study's pieces (study.hpp): distinct uniform draws, the orientation of
// the coefficients (checked against hand-computed Spearman and Kendall
// values with ties), the markdown table and the SVG scatter plot.
#include "study/study.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <regex>
#include <set>

#include "test_models.hpp"
#include "tracenas/arch.hpp"

namespace tracenas {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

ModelConfig five_layers() { return testing::stories260K_shape(5, false); }

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t pos = text.find(what); pos != std::string::npos;
       pos = text.find(what, pos + 1)) {
    ++n;
  }
  return n;
}

TEST(Study, DrawDistinctFindsEveryArchitectureOfASmallSpaceAndNoMore) {
  // Depth only, layer 0 protected: 2^4 = 16 architectures in an open window.
  SpaceOptions o;
  o.width = false;
  o.protected_layers = {0};
  const ArchSpace space(five_layers(), o, Constraints{});
  const UniformDraws d = draw_distinct(space, 24, 7, 3000);
  EXPECT_EQ(d.genomes.size(), 16u);
  EXPECT_EQ(d.draws, 3000);
  std::set<std::string> archs;
  for (const Genome& g : d.genomes) {
    EXPECT_TRUE(space.feasible(g));
    archs.insert(arch_to_json(space.decode(g), space.base()));
  }
  EXPECT_EQ(archs.size(), 16u);

  // Asked for fewer, it stops as soon as it has them; the same seed repeats.
  const UniformDraws a = draw_distinct(space, 5, 7, 3000);
  const UniformDraws b = draw_distinct(space, 5, 7, 3000);
  EXPECT_EQ(a.genomes.size(), 5u);
  EXPECT_LT(a.draws, 3000);
  EXPECT_EQ(a.genomes, b.genomes);
}

TEST(Study, CoefficientsAreOfScoreAgainstNegatedLossWithTies) {
  // A higher-is-better proxy x = (1, 2, 2, 4) and losses (4, 3, 1, 2):
  // score = x, -loss = (-4, -3, -1, -2).
  // Ranks: x (1, 2.5, 2.5, 4), -loss (1, 2, 4, 3). Deviations from 2.5:
  // (-1.5, 0, 0, 1.5) and (-1.5, -0.5, 1.5, 0.5): sum of products 3,
  // sums of squares 4.5 and 5 -> rho = 3 / sqrt(22.5).
  // Pairs: (1,2) (1,3) (1,4) (2,4) concordant, (3,4) discordant, (2,3) tied
  // in x -> tau-b = (4 - 1) / sqrt((6 - 1) * 6) = 3 / sqrt(30).
  const std::vector<double> x = {1, 2, 2, 4};
  const std::vector<double> loss = {4, 3, 1, 2};
  ProxyCorrelation r = correlate_proxy("p", Direction::kHigherIsBetter, x, loss, loss, 200, 1);
  EXPECT_EQ(r.n, 4);
  EXPECT_NEAR(r.spearman_after.value, 3 / std::sqrt(22.5), 1e-12);
  EXPECT_NEAR(r.kendall_after.value, 3 / std::sqrt(30.0), 1e-12);
  EXPECT_NEAR(r.spearman_before.value, 3 / std::sqrt(22.5), 1e-12);

  // The same proxy read as lower-is-better orders everything the other way.
  const std::vector<double> neg = {-1, -2, -2, -4};
  ProxyCorrelation q = correlate_proxy("q", Direction::kLowerIsBetter, neg, loss, loss, 200, 1);
  EXPECT_NEAR(q.spearman_after.value, r.spearman_after.value, 1e-12);
  EXPECT_NEAR(q.kendall_after.value, r.kendall_after.value, 1e-12);

  // The loss itself as a lower-is-better proxy ranks perfectly: +1.
  const std::vector<double> after = {5.1, 4.2, 6.3, 4.8, 5.0};
  const std::vector<double> before = {9, 8, 6, 7, 5};
  ProxyCorrelation self =
      correlate_proxy("loss", Direction::kLowerIsBetter, after, after, before, 500, 3);
  EXPECT_DOUBLE_EQ(self.spearman_after.value, 1.0);
  EXPECT_DOUBLE_EQ(self.kendall_after.value, 1.0);
  EXPECT_DOUBLE_EQ(self.spearman_after.ci.low, 1.0);  // every defined resample is +1
  // Against the loss before training: score = -after has ranks (2, 5, 1, 4, 3),
  // -before has ranks (1, 2, 4, 3, 5); d = (1, 3, -3, 1, -2), sum d^2 = 24 ->
  // rho = 1 - 6 * 24 / (5 * 24) = -0.2. Pairs: (1,2) (1,4) (1,5) (3,5)
  // concordant, the other 6 discordant -> tau = (4 - 6) / 10 = -0.2.
  EXPECT_NEAR(self.spearman_before.value, -0.2, 1e-12);
  EXPECT_NEAR(self.kendall_before.value, -0.2, 1e-12);
}

TEST(Study, NonFiniteValuesAreLeftOutAndConstantProxiesAreUndefined) {
  const std::vector<double> loss = {3, 2, 1, 4};
  ProxyCorrelation r =
      correlate_proxy("p", Direction::kHigherIsBetter,
                      {1, kNaN, 3, std::numeric_limits<double>::infinity()}, loss, loss, 100, 0);
  EXPECT_EQ(r.n, 2);
  ProxyCorrelation c =
      correlate_proxy("c", Direction::kHigherIsBetter, {5, 5, 5, 5}, loss, loss, 100, 0);
  EXPECT_EQ(c.n, 4);
  EXPECT_TRUE(std::isnan(c.spearman_after.value));
  EXPECT_TRUE(std::isnan(c.kendall_after.value));
  const std::string table = study_table({r, c});
  EXPECT_NE(table.find("| p | higher | 2 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| c | higher | 4 | undefined |"), std::string::npos) << table;
  EXPECT_EQ(count(table, "\n"), 4);  // header, rule, two rows
}

TEST(Study, TableShowsValuesWithTheirIntervals) {
  const std::vector<double> loss = {4, 3, 2, 1, 0.5, 0.2};
  ProxyCorrelation r =
      correlate_proxy("trace", Direction::kHigherIsBetter, {1, 2, 3, 4, 5, 6}, loss, loss, 300, 2);
  const std::string table = study_table({r});
  EXPECT_NE(table.find("| trace | higher | 6 | +1.000 [+1.00, +1.00] |"), std::string::npos)
      << table;
}

TEST(Study, ScatterPlotIsStandaloneSvgWithOnePointPerFiniteValue) {
  const std::vector<ScatterPoint> pts = {{1, 2, 0},
                                         {2, 3, 1},
                                         {3, 1, 0},
                                         {kNaN, 1, 0},
                                         {4, std::numeric_limits<double>::infinity(), 1}};
  const std::string svg = scatter_svg("a < b & c", "rho", "x", "y", pts, {"uniform", "strategy"});
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "class=\"point\""), 3);
  EXPECT_EQ(count(svg, "<circle class=\"point\""), 2);
  EXPECT_NE(svg.find("a &lt; b &amp; c"), std::string::npos);
  EXPECT_EQ(svg.find("a < b"), std::string::npos);
  // Every coordinate is a finite number inside the canvas.
  const std::regex coord("(?:cx|cy)=\"([^\"]+)\"");
  int seen = 0;
  for (std::sregex_iterator it(svg.begin(), svg.end(), coord), end; it != end; ++it) {
    const double v = std::stod((*it)[1].str());
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_GE(v, 0);
    EXPECT_LE(v, 560);
    ++seen;
  }
  EXPECT_GE(seen, 4);
  // All points equal: still a valid plot.
  const std::string flat = scatter_svg("t", "s", "x", "y", {{1, 1, 0}, {1, 1, 0}}, {});
  EXPECT_EQ(count(flat, "class=\"point\""), 2);
  EXPECT_EQ(flat.find("nan"), std::string::npos);
}

}  // namespace
}  // namespace tracenas
