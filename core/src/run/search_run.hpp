// `tracenas run` as a library function: the search of a validated pipeline
// (search/engine.hpp over search/search_space.hpp) in its prepared run folder
// (run_folder.hpp), and its outputs there: candidates.jsonl, best.json,
// best_arch.json, summary.json and, with output.export_best, the pruned model
// in model/ and, with recovery.steps > 0, the recovery stage's model in
// recovered/.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "dist/communicator.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "tracenas/component.hpp"

namespace tracenas {

struct SearchRunResult {
  std::string run_dir;
  std::int64_t evaluated = 0;               // candidates evaluated (this run and the log replayed)
  std::int64_t best_params = 0;             // parameters of the best candidate
  nlohmann::json best_objective;            // its objective (null when not finite)
  nlohmann::json best_proxies;              // every proxy of it, by label
  std::string model_dir;                    // the exported best model; empty without export_best
  std::optional<nlohmann::json> recovered;  // the recovery stage's record (recovery.json)
  std::string best_json;                    // <run>/best.json
  std::string summary_json;                 // <run>/summary.json
};

// Runs the search of `pipeline` in `run.run_dir` (set up by open_run_folder),
// resuming from its candidates.jsonl when `resume`. Throws tracenas::Error
// when no candidate has a finite objective (summary.json is written first).
// With `ranks` (more than one): candidate-parallel (search/engine.hpp). Rank
// 0 prepares the base first (the other ranks then read it from the cache),
// runs the search and writes everything; the other ranks only evaluate and
// return with `evaluated` = their own count and nothing written.
SearchRunResult run_search(const Pipeline& pipeline, const Registry& registry,
                           const RunContext& run, bool resume, Communicator* ranks = nullptr);

}  // namespace tracenas
