// Logging: one spdlog logger, "tracenas", shared by the core and every plugin.
//
// Logs go to stderr (stdout is reserved for the one-JSON-line result) and,
// once a run folder exists, to `<run_dir>/tracenas.log` as well.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

#include "tracenas/api.hpp"

namespace tracenas {

// The shared logger (created on first use, writing to stderr at info level).
TN_API spdlog::logger& log();
// Debug output on or off (-v).
TN_API void set_verbose(bool verbose);
// Also write every log line to `file` (appending).
TN_API void add_log_file(const std::string& file);

}  // namespace tracenas
