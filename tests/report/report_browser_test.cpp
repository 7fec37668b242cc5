// The HTML report of real runs rendered in headless Chromium (the Debian
// package `chromium`, installed by scripts/test.sh): the quickstart search, a
// two-run ablation and a study. The DOM Chromium builds must hold every plot
// with the right number of points and every table with the right number of
// rows, and a screenshot must show a page, not a blank one.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_runner.hpp"
#include "test_dir.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

using testing::CliResult;

CliResult run_cli(const std::string& args) { return testing::run_tracenas(args, "tn_report"); }

const std::string& model_dir() { return testing::converted_stories260K("tn_report_stories260K"); }

std::string chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (fs::exists(p)) return p;
  }
  return "";
}

std::string run_command(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[65536];
  std::size_t n = 0;
  while (p != nullptr && (n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (p != nullptr) pclose(p);
  return out;
}

// Chromium headless with the network-free flags and a fresh profile.
std::string headless(const std::string& args) {
  const std::string profile = testing::test_path("chromium_profile");
  fs::remove_all(profile);
  return run_command(chromium() +
                     " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                     "--disable-background-networking --disable-component-update --disable-sync "
                     "--user-data-dir=" +
                     profile + " " + args + " 2>/dev/null");
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// The text of the first element starting with `open` up to its `close`.
std::string element(const std::string& dom, const std::string& open, const std::string& close) {
  const auto a = dom.find(open);
  if (a == std::string::npos) return "";
  const auto b = dom.find(close, a);
  return dom.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

// Rows of a table in Chromium's DOM (which adds <tbody>): every <tr> but the header.
int body_rows(const std::string& table) { return count(table, "<tr>") - 1; }

// Candidates with a finite objective, read from the folder itself.
int finite_candidates(const fs::path& run) {
  int n = 0;
  for (const json& j : testing::read_jsonl((run / "candidates.jsonl").string())) {
    n += j["objective"].is_number() && std::isfinite(j["objective"].get<double>()) ? 1 : 0;
  }
  return n;
}

// A 40-candidate search of a shipped config; the report is rewritten every 10
// candidates while it runs (debug log lines, -v), and once at the end.
std::string search(const fs::path& out, const std::string& config, const std::string& name) {
  const CliResult r = run_cli("-v run " TN_SOURCE_DIR "/configs/" + config +
                              " --set run.output_dir=" + out.string() + " --set run.name=" + name +
                              " --set model.params.path=" + model_dir() +
                              " --set search.max_evaluations=40 --set output.report_every=10");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(count(r.err, "report.html (in progress)"), 4) << r.err;
  EXPECT_EQ(count(r.err, "report.html (final)"), 1) << r.err;
  return (out / name).string();
}

void expect_screenshot_shows_a_page(const std::string& html, const std::string& png) {
  fs::remove(png);
  headless("--hide-scrollbars --window-size=1400,2600 --screenshot=" + png + " file://" + html);
  ASSERT_TRUE(fs::exists(png)) << "chromium wrote no screenshot of " << html;
  const json stats = json::parse(
      run_command("node " TN_SOURCE_DIR "/tests/report/png_colours.mjs " + png), nullptr, false);
  ASSERT_TRUE(stats.is_object()) << png;
  EXPECT_EQ(stats["width"], 1400);
  // Plots in several colours, text and rules: many colours that each cover a
  // visible area, and far from all white.
  EXPECT_GE(stats["major_colours"].get<int>(), 8) << stats.dump();
  EXPECT_GT(stats["non_white"].get<double>(), 0.05) << stats.dump();
}

TEST(ReportBrowser, QuickstartSearchAndAnAblationRenderInChromium) {
  ASSERT_FALSE(chromium().empty())
      << "chromium is not installed (bash scripts/test.sh installs it)";
  testing::ScratchDir d;
  const fs::path qs = search(d.path(), "quickstart.yaml", "qs");
  const fs::path html = qs / "report.html";
  ASSERT_TRUE(fs::exists(html));

  const std::string dom = headless("--dump-dom file://" + html.string());
  ASSERT_NE(dom.find("<h2>Search: qs</h2>"), std::string::npos) << dom.substr(0, 2000);
  const int finite = finite_candidates(qs);
  EXPECT_GT(finite, 20);
  EXPECT_EQ(count(dom, "class=\"point candidate run-0\""), finite);
  EXPECT_EQ(count(dom, "class=\"point best\""), 1);
  EXPECT_GE(count(dom, "class=\"point front-point\""), 1);
  // Two progress plots, the scatter, the architecture; a title on each.
  for (const char* id : {"search-0-progress\"", "search-0-progress-time\"", "search-0-scatter\"",
                         "search-0-arch\""}) {
    EXPECT_EQ(count(dom, std::string("id=\"") + id), 1) << id;
  }
  EXPECT_EQ(count(dom, "class=\"band\""), 1);
  // The best architecture: three bars per layer of the base model's six.
  const json best_arch = [&] {
    std::ifstream in(qs / "best_arch.json");
    return json::parse(in);
  }();
  EXPECT_EQ(count(dom, "class=\"layer-bar "), 3 * static_cast<int>(best_arch["layers"].size()));
  EXPECT_EQ(body_rows(element(dom, "<table class=\"num arch\"", "</table>")),
            static_cast<int>(best_arch["layers"].size()));
  EXPECT_EQ(body_rows(element(dom, "<table class=\"num top\"", "</table>")), std::min(10, finite));
  // Three proxies: a 3 x 3 Spearman matrix, each proxy with itself +1.
  const std::string matrix = element(dom, "<table class=\"num matrix\"", "</table>");
  EXPECT_EQ(body_rows(matrix), 3);
  EXPECT_GE(count(matrix, ">+1.00</td>"), 2);
  EXPECT_EQ(dom.find("http-equiv=\"refresh\""), std::string::npos) << "a finished run reloads";
  expect_screenshot_shows_a_page(html.string(), testing::test_path("report_quickstart.png"));

  // The ablation: the quickstart against the random strategy.
  const fs::path rnd = search(d.path(), "ablations/strategy-random.yaml", "rnd");
  const std::string out = (d.path() / "ablation.html").string();
  const CliResult r = run_cli("report " + qs.string() + " " + rnd.string() + " --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.last["searches"], 2);
  const std::string adom = headless("--dump-dom file://" + out);
  // The two configs differ in the strategy and in the quickstart's GGUF export.
  EXPECT_NE(adom.find("The resolved configs differ in: output.export_formats, strategy."),
            std::string::npos);
  EXPECT_NE(adom.find("qs: output.export_formats [gguf], strategy evolutionary"),
            std::string::npos);
  EXPECT_NE(adom.find("rnd: output.export_formats [], strategy random"), std::string::npos);
  EXPECT_EQ(count(adom, "class=\"point candidate run-1\""), finite_candidates(rnd));
  EXPECT_EQ(body_rows(element(adom, "<table class=\"num runs\"", "</table>")), 2);
  EXPECT_EQ(count(adom, "<h2>Search: "), 2);
  expect_screenshot_shows_a_page(out, testing::test_path("report_ablation.png"));
}

TEST(ReportBrowser, StudyRendersItsTableAndPlotsInChromium) {
  ASSERT_FALSE(chromium().empty())
      << "chromium is not installed (bash scripts/test.sh installs it)";
  testing::ScratchDir d;
  const fs::path file = d.path() / "study.yaml";
  std::ofstream(file)
      << "schema_version: 1\n"
      << "run: {name: s, seed: 5, output_dir: " << (d.path() / "runs").string() << ", threads: 1}\n"
      << "model: {adapter: llama, params: {path: " << model_dir() << "}}\n"
      << "data: {source: tokens, seq_len: 64, batch_size: 2, num_batches: 2,\n"
      << "       params: {path: " TN_SHARED_DIR "/data/stories260K-samples.u16}}\n"
      << "proxies:\n"
      << "  - {proxy: trace_correlation, objective: true}\n"
      << "  - {proxy: loss}\n"
      << "  - {proxy: param_count}\n"
      << "  - {proxy: random}\n"
      << "search: {strategy: evolutionary, max_evaluations: 40,\n"
      << "         params: {population_size: 6, elites: 2}}\n"
      << "space: {min_layers: 3, mlp_align: 4}\n"
      << "constraints: {min_params: 150000, max_params: 200000}\n"
      << "output: {report_every: 2}\n"
      << "study: {architectures: 6, strategy_share: 0.5, proposal_evaluations: 12,\n"
      << "        seq_len: 64, batch_size: 4, steps: 6, warmup_steps: 1,\n"
      << "        eval_fraction: 0.05, resamples: 200}\n";
  const CliResult r = run_cli("-v study " + file.string());
  ASSERT_EQ(r.code, 0) << r.err;
  // Rewritten after every second of the six architectures, then once at the end.
  EXPECT_EQ(count(r.err, "report.html (in progress)"), 3) << r.err;
  EXPECT_EQ(count(r.err, "report.html (final)"), 1) << r.err;
  const fs::path html = d.path() / "runs" / "s" / "report.html";
  ASSERT_TRUE(fs::exists(html));
  const std::string dom = headless("--dump-dom file://" + html.string());
  ASSERT_NE(dom.find("<h2>Proxy study: s</h2>"), std::string::npos) << dom.substr(0, 2000);
  // Four proxies: four rows with intervals, four plots of six points.
  const std::string table = element(dom, "<table class=\"num coefficients\"", "</table>");
  EXPECT_EQ(body_rows(table), 4);
  EXPECT_GE(count(table, "class=\"ci\""), 4);
  EXPECT_EQ(count(dom, "vs held-out loss after recovery training</text>"), 4);
  EXPECT_EQ(count(dom, "class=\"point\""), 4 * 6);
  expect_screenshot_shows_a_page(html.string(), testing::test_path("report_study.png"));
}

}  // namespace
}  // namespace tracenas
