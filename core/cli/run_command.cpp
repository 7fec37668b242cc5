// `tracenas run PIPELINE.yaml`: the search run of run/search_run.hpp in the
// pipeline's run folder, and its one-line JSON result.
#include <nlohmann/json.hpp>

#include "base/runtime.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "run/distributed.hpp"
#include "run/run_folder.hpp"
#include "run/search_run.hpp"

using nlohmann::json;

namespace tracenas::cli {
namespace {

json result_json(const SearchRunResult& r) {
  json j = {
      {"run_dir", r.run_dir},
      {"evaluated", r.evaluated},
      {"best",
       {{"params", r.best_params}, {"objective", r.best_objective}, {"proxies", r.best_proxies}}},
      {"best_json", r.best_json},
      {"summary", r.summary_json}};
  if (!r.model_dir.empty()) j["model"] = r.model_dir;
  if (r.recovered) j["recovered"] = *r.recovered;
  return j;
}

}  // namespace

int cmd_run(const std::vector<std::string>& argv) {
  Options o("run", argv, {{"--set", true, true}, {"--resume", false}});
  const std::string file = pipeline_file(o);
  const bool resume = o.flag("--resume");
  Registry registry;
  Pipeline p = load_pipeline(file, o.all("--set"), registry);
  // Under torchrun or srun: one process per rank; only rank 0 writes the folder and prints.
  Ranks ranks = join_ranks(p, "run");
  RunContext run;
  root_first(ranks.get(), "setting up the run folder", [&] {
    if (ranks.root()) run = open_run_folder(p, "run", "candidates.jsonl", resume);
  });
  if (!ranks.root()) run = apply_runtime(p.run_context());
  const SearchRunResult r = run_search(p, registry, run, resume, ranks.get());
  if (ranks.root()) print_result(result_json(r));
  return 0;
}

}  // namespace tracenas::cli
