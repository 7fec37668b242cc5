// The run folder of `tracenas run` and `tracenas study`: one folder per
// run name under run.output_dir, holding the resolved pipeline, the log and
// the command's outputs.
#pragma once

#include <string>

#include "pipeline/pipeline.hpp"
#include "tracenas/component.hpp"

namespace tracenas {

// Sets up the run folder of `p` for `command` ("run", "study"): refuses a
// folder that already holds that command's work (its `marker` file is not
// empty) unless resuming with the same resolved pipeline (ConfigError naming
// run.name or --resume), writes config.resolved.yaml, opens the log file and
// applies the runtime settings. Returns the run context with the device
// resolved.
RunContext open_run_folder(const Pipeline& p, const std::string& command, const char* marker,
                           bool resume);

// Writes <dir>/report.html (report/report.hpp) atomically; `live` makes the
// page reload itself. A report that cannot be written is a warning: it never
// ends the run.
void update_report(const std::string& dir, bool live);

}  // namespace tracenas
