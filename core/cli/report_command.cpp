// `tracenas report RUN_DIR... [--out FILE.html] [--refresh S]`: the HTML
// report of report/report.hpp for one or several run folders.
#include <chrono>
#include <filesystem>

#include "commands.hpp"
#include "options.hpp"
#include "report/report.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"

namespace fs = std::filesystem;

namespace tracenas::cli {

int cmd_report(const std::vector<std::string>& argv) {
  Options o("report", argv, {{"--out", true}, {"--refresh", true}});
  const std::vector<std::string>& dirs = o.positional();
  if (dirs.empty()) throw UsageError("report: expected one or more run folders");
  // One folder: its report.html; several: report.html here.
  const std::string out = o.get_or(
      "--out", dirs.size() == 1 ? (fs::path(dirs[0]) / "report.html").string() : "report.html");
  ReportOptions options;
  options.refresh_s = o.get_int("--refresh", 0, 0, 86400);
  ReportInfo info;
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t bytes = write_report(dirs, out, options, &info);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const std::string& n : info.notes) log().warn("report: {}", n);
  log().info("report written to {} ({} bytes, {:.3f} s)", out, bytes, seconds);
  print_result({{"out", out},
                {"bytes", bytes},
                {"seconds", seconds},
                {"searches", info.searches},
                {"studies", info.studies},
                {"candidates", info.candidates},
                {"skipped", info.notes}});
  return 0;
}

}  // namespace tracenas::cli
