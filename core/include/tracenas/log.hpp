// Logging: one spdlog logger, "tracenas", shared by the core and every plugin.
//
// Logs go to stderr (stdout is reserved for the one-JSON-line result) and,
// once a run folder exists, to `<run_dir>/tracenas.log` as well.
#pragma once

#include <string>

#include <spdlog/spdlog.h>

namespace tracenas {

// The shared logger (created on first use, writing to stderr at info level).
spdlog::logger& log();
// Debug output on or off (-v).
void set_verbose(bool verbose);
// Also write every log line to `file` (appending).
void add_log_file(const std::string& file);

}  // namespace tracenas
