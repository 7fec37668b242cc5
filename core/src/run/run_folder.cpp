#include "run/run_folder.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/folder_lock.hpp"
#include "base/runtime.hpp"
#include "report/report.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"
#include "tracenas/support/cache.hpp"
#include "tracenas/version.hpp"

namespace fs = std::filesystem;

namespace tracenas {

RunContext open_run_folder(const Pipeline& p, const std::string& command, const char* marker,
                           bool resume) {
  RunContext run = p.run_context();
  const fs::path dir = run.run_dir;
  // One process per run folder, before anything in it is read or written.
  lock_folder(dir.string(), "run folder");
  const fs::path resolved = dir / "config.resolved.yaml";
  const std::string text = p.resolved_yaml();
  // A folder holds a run once its marker has content; one left by a run that
  // failed before recording anything is reused.
  std::error_code ec;
  const bool holds_run = fs::file_size(dir / marker, ec) > 0 && !ec;
  if (holds_run) {
    if (!resume) {
      throw ConfigError(p.file + ": error: run.name: run folder '" + dir.string() +
                        "' already holds a " + command +
                        "; pass --resume to continue it or choose another run.name (got " +
                        p.run.get_string("name") + ")");
    }
    std::ifstream in(resolved);
    std::stringstream old;
    old << in.rdbuf();
    if (in && old.str() != text) {
      throw ConfigError(p.file +
                        ": error: --resume: the resolved pipeline differs from the one "
                        "the " +
                        command + " in '" + dir.string() + "' was started with (" +
                        resolved.string() + ")");
    }
  }
  fs::create_directories(dir);
  fs::create_directories(run.cache_dir);
  write_file_atomic(resolved.string(), text);
  add_log_file((dir / "tracenas.log").string());
  log().info("tracenas {} {} '{}' in {}{}", TN_VERSION, command, p.run.get_string("name"),
             dir.string(), resume ? " (resume)" : "");
  run = apply_runtime(run);
  log().info("device {}, dtype {}, {} thread(s)", run.device, run.dtype, run.threads);
  return run;
}

void update_report(const std::string& dir, bool live) {
  const std::string out = (fs::path(dir) / "report.html").string();
  try {
    ReportOptions o;
    o.refresh_s = live ? 30 : 0;
    write_report({dir}, out, o);
    log().debug("report written to {} ({})", out, live ? "in progress" : "final");
  } catch (const std::exception& e) {
    log().warn("report: {} not written ({})", out, e.what());
  }
}

}  // namespace tracenas
