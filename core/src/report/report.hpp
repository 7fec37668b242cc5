// The HTML report of run folders: one self-contained page (inline SVG and
// CSS, no script, no network) for the folders of `tracenas run` (a search)
// and `tracenas study`.
//
//   one search        progress (best objective against candidates and
//                     against time), parameters against objective with the
//                     constraint window and the Pareto front, the best
//                     architecture per layer, the top-k table with every
//                     proxy, the proxies' rank agreement (Spearman) over the
//                     evaluated candidates, and where the time went
//   several searches  the same plots overlaid, one style per run, named by
//                     the settings in which their resolved configs differ
//                     (an ablation), and a table of their results
//   a study           the coefficient table with its intervals and a scatter
//                     plot per proxy against the held-out loss
//
// The page is built from what the folders hold: `candidates.jsonl` (a torn or
// unreadable line is skipped and said so), `search.json` (written when a
// search starts: proxies and their directions, the window, the base shape),
// and `summary.json`, `best_arch.json`, `best.json` once the search has
// finished; `study.jsonl`, `study.json` and `plots/*.svg` for a study. A
// folder whose run has not recorded anything yet still gets its section.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tracenas {

struct ReportOptions {
  int refresh_s = 0;  // > 0: the page reloads itself (a run in progress)
};

struct ReportInfo {
  int searches = 0;
  int studies = 0;
  std::int64_t candidates = 0;     // search candidates and study architectures read
  std::vector<std::string> notes;  // what was skipped or assumed, one line each
};

// The page for `dirs`. ConfigError naming the folder when one does not exist
// or holds neither a search nor a study.
std::string render_report(const std::vector<std::string>& dirs, const ReportOptions& options,
                          ReportInfo* info = nullptr);

// render_report written atomically to `out`; returns its size in bytes.
std::uint64_t write_report(const std::vector<std::string>& dirs, const std::string& out,
                           const ReportOptions& options, ReportInfo* info = nullptr);

}  // namespace tracenas
