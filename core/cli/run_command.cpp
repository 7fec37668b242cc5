// `tracenas run PIPELINE.yaml`: the search (search_space.hpp, engine.hpp) and
// its outputs in the run folder: candidates.jsonl, best.json, best_arch.json,
// summary.json and, with output.export_best, the pruned model in model/.
#include <chrono>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "tracenas/cache.hpp"
#include "tracenas/engine.hpp"
#include "tracenas/error.hpp"
#include "tracenas/export.hpp"
#include "tracenas/log.hpp"
#include "tracenas/model.hpp"
#include "tracenas/search_space.hpp"
#include "tracenas/session.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int dtype_bytes(const std::string& dtype) { return dtype == "float32" ? 4 : 2; }

void write_json(const fs::path& path, const json& j) {
  write_file_atomic(path.string(), j.dump(2) + "\n");
}

}  // namespace

std::unique_ptr<ArchSpace> make_space(const Pipeline& p, const ModelConfig& base,
                                      const std::string& dtype) {
  try {
    return std::make_unique<ArchSpace>(
        base, SpaceOptions::from_params(p.space, base),
        Constraints::from_params(p.constraints, base, dtype_bytes(dtype),
                                 p.batch_spec().seq_len));
  } catch (const ConfigError& e) {
    throw ConfigError(p.file + ": error: " + e.what());
  }
}

int run_search(const Pipeline& p, const Registry& registry, const RunContext& run, bool resume) {
  const auto t_start = std::chrono::steady_clock::now();
  const fs::path dir = run.run_dir;

  // The space and its constraints first: an impossible window fails before any compute.
  auto adapter = registry.create<ModelAdapter>(p.model.name, p.model.params, run);
  const ModelConfig base = adapter.call("read_config", [](ModelAdapter& a) {
    return a.read_config();
  });
  std::unique_ptr<ArchSpace> space = make_space(p, base, run.dtype);
  log().info("search space: {} genes; parameter window [{}, {}] ({})", space->dims(),
             space->constraints().min_params, space->constraints().max_params,
             space->constraints().non_embedding ? "non-embedding" : "total");
  auto strategy = registry.create<SearchStrategy>(p.search.name, p.search.params, run);
  ScoringComponents scoring = create_scoring_components(registry, p, run);

  // Base work, once (or from the cache).
  const auto t_prep = std::chrono::steady_clock::now();
  PipelineSession session = open_session(registry, p, run);
  std::unique_ptr<Evaluator> evaluator = make_evaluator(session, std::move(scoring));
  evaluator->prepare();
  const double prepare_seconds = seconds_since(t_prep);
  log().info("base prepared in {:.2f} s (importance {}, base traces {})", prepare_seconds,
             evaluator->importance_from_cache() ? "cached" : "computed",
             evaluator->traces_from_cache() ? "cached" : "computed");

  EngineOptions eo;
  eo.max_evaluations = p.search_budget.get_int("max_evaluations");
  eo.time_limit_s = p.search_budget.get_float("time_limit_s");
  eo.top_k = static_cast<int>(p.output.get_int("top_k"));
  eo.seed = run.seed;
  eo.run_dir = dir.string();
  eo.resume = resume;
  eo.objective = p.objective;
  Engine engine(*evaluator, *space, strategy, eo);
  EngineResult r = engine.run();

  const ModelConfig& c = evaluator->config();
  json summary = {{"run_dir", dir.string()},
                  {"stop_reason", r.stop_reason},
                  {"objective", p.proxies[static_cast<std::size_t>(p.objective)].label},
                  {"base_params", evaluator->base_params()},
                  {"window",
                   {{"min_params", space->constraints().min_params},
                    {"max_params", space->constraints().max_params},
                    {"scope", space->constraints().non_embedding ? "non_embedding" : "total"}}},
                  {"counts",
                   {{"evaluated", r.evaluated},
                    {"replayed_from_log", r.replayed},
                    {"duplicates", r.duplicates},
                    {"invalid", r.invalid},
                    {"rejected", r.rejected},
                    {"rounds", r.rounds}}},
                  {"seconds",
                   {{"base_preparation", prepare_seconds},
                    {"importance", evaluator->importance_seconds()},
                    {"base_traces", evaluator->traces_seconds()},
                    {"candidates", r.candidate_seconds},
                    {"search", r.search_seconds}}},
                  {"cache",
                   {{"importance", evaluator->importance_from_cache()},
                    {"base_traces", evaluator->traces_from_cache()}}}};
  json top = json::array();
  for (const auto& t : r.top) top.push_back(candidate_json(t, *evaluator, c));
  summary["top"] = top;
  json result = {{"run_dir", dir.string()}, {"evaluated", r.evaluated}};
  if (!r.best) {
    summary["best"] = nullptr;
    write_json(dir / "summary.json", summary);
    throw Error("run: no candidate with a finite objective was found (" +
                std::to_string(r.evaluated) + " evaluated); see " +
                (dir / "summary.json").string());
  }
  const CandidateRecord& best = *r.best;
  json best_json = candidate_json(best, *evaluator, c);
  auto selection = select_units(c, best.arch, &evaluator->order());
  const Arch explicit_arch = with_explicit_indices(best.arch, selection);
  write_arch((dir / "best_arch.json").string(), explicit_arch, c);
  best_json["arch_file"] = (dir / "best_arch.json").string();
  summary["best"] = best_json;
  if (p.output.get_bool("export_best")) {
    const fs::path out = dir / "model";
    const auto shard =
        static_cast<std::uint64_t>(p.output.get_int("shard_size_mb")) << 20;
    ExportResult ex = export_pruned(session.model_dir, *session.model, best.arch, selection,
                                    out.string(), shard);
    log().info("best model exported to {} ({} parameters)", ex.out_dir, ex.params);
    best_json["model"] = ex.out_dir;
    summary["best"]["model"] = ex.out_dir;
    result["model"] = ex.out_dir;
  }
  summary["seconds"]["total"] = seconds_since(t_start);
  write_json(dir / "best.json", best_json);
  write_json(dir / "summary.json", summary);
  log().info("best: {} = {} with {} parameters ({:.1f}% of the base); {} evaluated, {} "
             "duplicates, {} rejected",
             summary["objective"].get<std::string>(), best.objective, best.params,
             100.0 * static_cast<double>(best.params) /
                 static_cast<double>(evaluator->base_params()),
             r.evaluated, r.duplicates,
             [&] {
               std::int64_t n = 0;
               for (const auto& [k, v] : r.rejected) n += v;
               return n;
             }());
  result["best"] = {{"params", best.params},
                    {"objective", best_json["objective"]},
                    {"proxies", best_json["proxies"]}};
  result["best_json"] = (dir / "best.json").string();
  result["summary"] = (dir / "summary.json").string();
  print_result(result);
  return 0;
}

}  // namespace tracenas::cli
