#include "report/report.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "io/svg_plot.hpp"
#include "test_dir.hpp"
#include "tracenas/error.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

// A search folder of six candidates (one invalid) with hand-made values:
// params / trace_correlation (higher is better) / loss (lower is better)
//   #0 150 0.5 3.0   #1 120 0.4 3.2   #2 180 0.9 2.5
//   #3 130 0.6 2.9   #4 160 0.55 3.1  #5 140 null 3.0
fs::path make_search(const fs::path& dir, const std::string& objective,
                     const std::string& strategy = "evolutionary") {
  const json meta = {
      {"objective", objective},
      {"strategy", strategy},
      {"proxies",
       {{{"label", "trace_correlation"}, {"component", "trace_correlation"}, {"better", "higher"}},
        {{"label", "loss"}, {"component", "loss"}, {"better", "lower"}}}},
      {"base_params", 300},
      {"embedding_params", 0},
      {"window", {{"min_params", 100}, {"max_params", 200}, {"scope", "total"}}},
      {"base",
       {{"num_layers", 2}, {"num_heads", 4}, {"num_kv_heads", 2}, {"intermediate_size", 8}}}};
  write(dir / "search.json", meta.dump());
  write(dir / "config.resolved.yaml", "run: {name: " + dir.filename().string() +
                                          ", output_dir: x}\nsearch: {strategy: " + strategy +
                                          ", max_evaluations: 6}\n");
  const double params[] = {150, 120, 180, 130, 160, 140};
  const double tc[] = {0.5, 0.4, 0.9, 0.6, 0.55, NAN};
  const double loss[] = {3.0, 3.2, 2.5, 2.9, 3.1, 3.0};
  std::string lines;
  for (int i = 0; i < 6; ++i) {
    const json p = {{"trace_correlation", std::isfinite(tc[i]) ? json(tc[i]) : json(nullptr)},
                    {"loss", loss[i]}};
    const double obj = objective == "loss" ? loss[i] : tc[i];
    const json layers = json::array(
        {{{"attn", true}, {"heads", 4}, {"kv_heads", 2}, {"mlp", true}, {"mlp_channels", 8}},
         {{"attn", false}, {"mlp", true}, {"mlp_channels", 4}}});
    lines += json({{"index", i},
                   {"params", params[i]},
                   {"proxies", p},
                   {"objective", std::isfinite(obj) ? json(obj) : json(nullptr)},
                   {"seconds", 0.5},
                   {"arch", layers}})
                 .dump() +
             "\n";
  }
  write(dir / "candidates.jsonl", lines);
  return dir;
}

TEST(Report, SearchPageHasEveryCandidateTheFrontTheBestAndTheTables) {
  testing::ScratchDir d;
  const fs::path dir = make_search(d.path() / "a", "trace_correlation");
  ReportInfo info;
  const std::string page = render_report({dir.string()}, {}, &info);
  EXPECT_EQ(info.searches, 1);
  EXPECT_EQ(info.candidates, 6);
  EXPECT_TRUE(info.notes.empty());
  // Five finite objectives drawn; the front (fewer parameters, higher
  // objective) is #1 (120, 0.4), #3 (130, 0.6) and #2 (180, 0.9).
  EXPECT_EQ(count(page, "class=\"point candidate run-0\""), 5);
  EXPECT_EQ(count(page, "class=\"point front-point\""), 3);
  EXPECT_NE(page.find("<title>front #1</title>"), std::string::npos);
  EXPECT_NE(page.find("<title>front #3</title>"), std::string::npos);
  EXPECT_NE(page.find("<title>front #2</title>"), std::string::npos);
  EXPECT_EQ(count(page, "class=\"point best\""), 1);
  EXPECT_NE(page.find("Best: candidate #2, trace_correlation 0.9 with 180 parameters (60.0% of "
                      "the base)"),
            std::string::npos);
  // The window is drawn as a band; no network, no script.
  EXPECT_EQ(count(page, "class=\"band\""), 1);
  EXPECT_EQ(page.find("<script"), std::string::npos);
  EXPECT_EQ(page.find("http-equiv=\"refresh\""), std::string::npos);
  // Spearman of trace_correlation and -loss over the five valid candidates:
  // ranks (2,3) (1,1) (5,5) (4,4) (3,2), sum d^2 = 2, rho = 1 - 12/120.
  EXPECT_NE(page.find(">+0.90</td>"), std::string::npos);
  // Top table: five rows, the best first.
  const auto top = page.find("<table class=\"num top\"");
  ASSERT_NE(top, std::string::npos);
  const std::string table = page.substr(top, page.find("</table>", top) - top);
  EXPECT_EQ(count(table, "<tr><td>"), 5);
  EXPECT_NE(table.find("<tr><td>1</td><td>#2</td>"), std::string::npos);
  // The best architecture: layer 1 without attention drawn as removed.
  EXPECT_EQ(count(page, "class=\"layer-bar removed\""), 2);
  EXPECT_EQ(count(page, "class=\"layer-bar attn\""), 2);
  EXPECT_EQ(count(page, "class=\"layer-bar mlp\""), 2);
}

TEST(Report, LowerIsBetterObjectivePicksTheLowestAndLiveReportsReload) {
  testing::ScratchDir d;
  const fs::path dir = make_search(d.path() / "b", "loss");
  ReportOptions o;
  o.refresh_s = 30;
  const std::string page = render_report({dir.string()}, o);
  EXPECT_NE(page.find("Best: candidate #2, loss 2.5"), std::string::npos);
  EXPECT_NE(page.find("<meta http-equiv=\"refresh\" content=\"30\">"), std::string::npos);
  // (fewer parameters, lower loss): #1 (120, 3.2), #3 (130, 2.9), #2 (180, 2.5).
  EXPECT_EQ(count(page, "class=\"point front-point\""), 3);
  EXPECT_EQ(count(page, "class=\"point candidate run-0\""), 6);
}

TEST(Report, FolderWithoutSearchJsonTakesTheObjectivesDirectionFromTheSummary) {
  testing::ScratchDir d;
  const fs::path dir = make_search(d.path() / "old", "loss");
  fs::remove(dir / "search.json");
  write(dir / "summary.json", json({{"objective", "loss"},
                                    {"counts", {{"evaluated", 6}}},
                                    {"top", {{{"objective", 2.5}}, {{"objective", 2.9}}}}})
                                  .dump());
  ReportInfo info;
  const std::string page = render_report({dir.string()}, {}, &info);
  EXPECT_NE(page.find("Best: candidate #2, loss 2.5"), std::string::npos);
  EXPECT_EQ(page.find(" ranks"), std::string::npos) << "one process: no ranks line";
  ASSERT_EQ(info.notes.size(), 1u);
  EXPECT_NE(info.notes[0].find("search.json is missing: higher is taken as better for "
                               "trace_correlation"),
            std::string::npos)
      << info.notes[0];
  // A distributed run's summary names its ranks and what each evaluated.
  write(dir / "summary.json",
        json({{"objective", "loss"},
              {"counts", {{"evaluated", 6}}},
              {"distributed",
               {{"world_size", 2}, {"split", "candidates"}, {"evaluated_per_rank", {4, 2}}}}})
            .dump());
  EXPECT_NE(render_report({dir.string()}, {})
                .find("2 ranks (candidates split), evaluated per rank: 4, 2"),
            std::string::npos);
  // A summary of another shape is one error naming the folder.
  write(dir / "summary.json", json({{"counts", {{"evaluated", "six"}}}}).dump());
  try {
    render_report({dir.string()}, {});
    FAIL() << "expected an error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(dir.string() + ": error: a file of the run folder"),
              std::string::npos)
        << e.what();
  }
}

TEST(Report, TornLastLineAndEmptyFolderStillReportAndSaySo) {
  testing::ScratchDir d;
  const fs::path dir = make_search(d.path() / "torn", "trace_correlation");
  std::ofstream(dir / "candidates.jsonl", std::ios::app) << "{\"index\": 6, \"genome\": [1,";
  const fs::path empty = d.path() / "empty";
  fs::create_directories(empty);
  ReportInfo info;
  const std::string page = render_report({dir.string()}, {}, &info);
  ASSERT_EQ(info.notes.size(), 1u);
  EXPECT_NE(info.notes[0].find("candidates.jsonl: skipped 1 line that is"), std::string::npos)
      << info.notes[0];
  EXPECT_NE(info.notes[0].find("(line 7)"), std::string::npos) << info.notes[0];
  EXPECT_NE(page.find("skipped 1 line"), std::string::npos);
  EXPECT_EQ(count(page, "class=\"point candidate run-0\""), 5);

  ReportInfo e;
  const std::string blank = render_report({empty.string()}, {}, &e);
  EXPECT_NE(blank.find("No candidate recorded yet."), std::string::npos);
  ASSERT_EQ(e.notes.size(), 1u);
  EXPECT_NE(e.notes[0].find("nothing recorded yet"), std::string::npos);
}

TEST(Report, SeveralSearchesAreAnAblationNamedByWhatTheyChange) {
  testing::ScratchDir d;
  const fs::path a = make_search(d.path() / "evo", "trace_correlation");
  const fs::path b = make_search(d.path() / "rnd", "trace_correlation", "random");
  ReportInfo info;
  const std::string page = render_report({a.string(), b.string()}, {}, &info);
  EXPECT_EQ(info.searches, 2);
  EXPECT_NE(page.find("The resolved configs differ in: strategy."), std::string::npos);
  EXPECT_NE(page.find("evo: strategy evolutionary"), std::string::npos);
  EXPECT_NE(page.find("rnd: strategy random"), std::string::npos);
  // Overlay: five points per run in the ablation scatter, then each run's own section.
  EXPECT_EQ(count(page, "class=\"point candidate run-1\""), 5);
  EXPECT_EQ(count(page, "class=\"point candidate run-0\""), 5 + 5 + 5);
  const auto runs = page.find("<table class=\"num runs\"");
  ASSERT_NE(runs, std::string::npos);
  const std::string table = page.substr(runs, page.find("</table>", runs) - runs);
  EXPECT_EQ(count(table, "<tr><td class=\"text\">"), 2);
}

TEST(Report, StudyInProgressIsDrawnFromItsLog) {
  testing::ScratchDir d;
  const fs::path dir = d.path() / "study";
  std::string lines;
  for (int i = 0; i < 3; ++i) {
    lines += json({{"index", i},
                   {"origin", i == 2 ? "strategy" : "uniform"},
                   {"proxies", {{"trace_correlation", 0.1 * i}, {"loss", 3.0 - 0.1 * i}}},
                   {"loss_after", 2.0 + 0.1 * i}})
                 .dump() +
             "\n";
  }
  write(dir / "study.jsonl", lines);
  ReportInfo info;
  const std::string page = render_report({dir.string()}, {}, &info);
  EXPECT_EQ(info.studies, 1);
  EXPECT_EQ(info.candidates, 3);
  EXPECT_NE(page.find("no study.json yet"), std::string::npos);
  // One plot per proxy, three points each.
  EXPECT_EQ(count(page, "vs held-out loss after recovery training</text>"), 2);
  EXPECT_EQ(count(page, "class=\"point\""), 6);
}

TEST(Report, AMissingFolderOrOneOfSomethingElseIsAnError) {
  testing::ScratchDir d;
  try {
    render_report({(d.path() / "nope").string()}, {});
    FAIL() << "expected an error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("nope: error: not a run folder (does not exist)"),
              std::string::npos)
        << e.what();
  }
  write(d.path() / "other" / "notes.txt", "x");
  EXPECT_THROW(render_report({(d.path() / "other").string()}, {}), ConfigError);
  const fs::path dir = make_search(d.path() / "a", "trace_correlation");
  const std::string out = (d.path() / "missing" / "r.html").string();
  EXPECT_THROW(write_report({dir.string()}, out, {}), ConfigError);
  EXPECT_FALSE(fs::exists(out));
}

TEST(SvgPlot, NiceTicksAndEscapedText) {
  const std::vector<double> unit = nice_ticks(0, 1, 6);
  ASSERT_EQ(unit.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(unit[static_cast<std::size_t>(i)], 0.2 * i, 1e-12);
  const std::vector<double> t = nice_ticks(113, 987, 5);
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(t.front(), 200);
  EXPECT_EQ(t.back(), 800);
  EXPECT_EQ(tick_label(-0.0), "0");
  EXPECT_EQ(tick_label(156000), "156k");
  EXPECT_EQ(tick_label(2.7e6), "2.7M");
  EXPECT_EQ(tick_label(6738415616.0), "6.738B");
  EXPECT_EQ(tick_label(0.25), "0.25");
  Plot p;
  p.title = "a < b & 'c'";
  PlotSeries s;
  s.x = {1, 2, NAN, 4};
  s.y = {1, 2, 3, INFINITY};
  s.name = "x\"y";
  p.series.push_back(s);
  const std::string svg = plot_svg(p);
  EXPECT_EQ(count(svg, "class=\"point\""), 2);
  EXPECT_NE(svg.find("a &lt; b &amp; &#39;c&#39;"), std::string::npos);
  EXPECT_NE(svg.find("x&quot;y"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
  // A numbered category axis: ticks at 1, 2, 3 only.
  p.series[0].x = {1, 2, 3};
  p.series[0].y = {0, 1, 0};
  p.integer_x = true;
  const std::string cat = plot_svg(p);
  EXPECT_NE(cat.find("text-anchor=\"middle\">2</text>"), std::string::npos);
  EXPECT_EQ(cat.find(">1.5</text>"), std::string::npos);
  EXPECT_EQ(cat.find(">2.5</text>"), std::string::npos);
}

}  // namespace
}  // namespace tracenas
