// `tracenas study PIPELINE.yaml`: the proxy validation study of
// run/study_run.hpp in the pipeline's run folder, its table on stderr and its
// one-line JSON result.
#include <iostream>
#include <nlohmann/json.hpp>

#include "base/runtime.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "run/distributed.hpp"
#include "run/run_folder.hpp"
#include "run/study_run.hpp"

namespace tracenas::cli {

int cmd_study(const std::vector<std::string>& argv) {
  Options o("study", argv, {{"--set", true, true}, {"--resume", false}});
  const std::string file = pipeline_file(o);
  const bool resume = o.flag("--resume");
  Registry registry;
  Pipeline p = load_pipeline(file, o.all("--set"), registry);
  // The window and the data split are checked before the folder is touched.
  check_study(p, registry);
  // A study over several seeds holds its seeds' folders; seeds.json marks it.
  const char* marker = p.study.get_int_list("seeds").empty() ? "architectures.json" : "seeds.json";
  // Under torchrun or srun: architecture-parallel; only rank 0 writes and prints.
  Ranks ranks = join_ranks(p, "study");
  RunContext run;
  root_first(ranks.get(), "setting up the study folder", [&] {
    if (ranks.root()) run = open_run_folder(p, "study", marker, resume);
  });
  if (!ranks.root()) run = apply_runtime(p.run_context());
  const StudyRunResult r = run_study(p, registry, run, resume, ranks.get());
  if (!ranks.root()) return 0;
  std::cerr << "\n" << r.table << "\n";
  print_result({{"study_dir", r.study_dir},
                {"architectures", r.architectures},
                {"study_jsonl", r.study_jsonl},
                {"study_json", r.study_json},
                {"table", r.table_md},
                {"plots", r.plots},
                {"base_loss", r.base_loss},
                {"coefficients", r.coefficients}});
  return 0;
}

}  // namespace tracenas::cli
