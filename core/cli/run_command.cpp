// `tracenas run PIPELINE.yaml`: the search run of run/search_run.hpp in the
// pipeline's run folder, and its one-line JSON result.
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "options.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
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
  RunContext run = open_run_folder(p, "run", "candidates.jsonl", resume);
  print_result(result_json(run_search(p, registry, run, resume)));
  return 0;
}

}  // namespace tracenas::cli
