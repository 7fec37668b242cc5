// `tracenas study` as a library function: the proxy validation study of
// study/study.hpp in a prepared run folder (run_folder.hpp). N architectures
// of the constraint window (uniform samples and the search strategy's
// proposals), every proxy of each, its Wanda-realized pruned model trained
// with the same recovery settings, the held-out loss before and after, and the
// rank correlations of every proxy with those losses. Writes
// architectures.json, study.jsonl (one fsynced record per architecture;
// resumable), study.json, study.md and plots/<proxy>.svg.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dist/communicator.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "tracenas/component.hpp"

namespace tracenas {

struct StudyRunResult {
  std::string study_dir;
  int architectures = 0;
  std::string study_jsonl;         // <run>/study.jsonl
  std::string study_json;          // <run>/study.json
  std::string table_md;            // <run>/study.md
  std::vector<std::string> plots;  // <run>/plots/<proxy>.svg
  double base_loss = 0.0;          // the unpruned model's held-out loss
  nlohmann::json coefficients;     // label -> {spearman_after, kendall_after}
  std::string table;               // the coefficient table (markdown)
};

// Validates the study section against the search space before anything is
// written or loaded: the schedule and a window holding N distinct
// architectures (ConfigError naming the field).
void check_study(const Pipeline& pipeline, const Registry& registry);

// Runs the study in `run.run_dir`, resuming from its architecture list and
// study.jsonl when `resume`.
// With `ranks` (more than one): architecture-parallel. Rank 0 plans the
// architectures (and runs the strategy's proposal search) while the others
// wait; then each pending architecture is scored, trained and evaluated by one
// rank (the k-th of a group of N by rank k), and rank 0 appends the records
// in index order and writes every output; the other ranks write nothing and
// return an empty result.
StudyRunResult run_study(const Pipeline& pipeline, const Registry& registry, const RunContext& run,
                         bool resume, Communicator* ranks = nullptr);

}  // namespace tracenas
