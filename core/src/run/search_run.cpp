#include "run/search_run.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "base/util.hpp"
#include "model/adapters.hpp"
#include "model/export.hpp"
#include "model/runtime_export.hpp"
#include "model/subnet.hpp"
#include "pipeline/data_loading.hpp"
#include "pipeline/session.hpp"
#include "run/distributed.hpp"
#include "run/run_folder.hpp"
#include "search/engine.hpp"
#include "search/search_space.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/cache.hpp"
#include "train/train.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

void write_json(const fs::path& path, const json& j) {
  write_file_atomic(path.string(), j.dump(2) + "\n");
}

// The recovery stage: trains the exported best model (realized again in
// memory, float32 master weights on the model's device) and exports it to
// <run>/recovered. A finished stage is reused on --resume; an interrupted one
// continues from its last checkpoint.
// output.export_formats: the model in `model_dir` written as `<stem>.gguf`
// and `<stem>-nemotron-nas/` beside it (replacing an earlier export on
// --resume). {format: {"out", "arch", "bytes", "dtype"}}.
json export_runtime_formats(const Pipeline& p, const Registry& registry, const RunContext& run,
                            const fs::path& model_dir) {
  json out = json::object();
  const auto& formats = p.output.get_string_list("export_formats");
  if (formats.empty()) return out;
  ParamValues params;
  params.set("path", model_dir.string());
  auto adapter = create_model_adapter(registry, "", params, run);
  LoadOptions lo;
  lo.device = "cpu";
  lo.dtype = "float32";  // exact for any stored dtype; converted once when written
  auto model = adapter.call("load", [&](ModelAdapter& a) { return a.load(lo); });
  std::string dtype = p.output.get_string("export_dtype");
  if (dtype == "auto") {
    dtype = read_config_template(model_dir.string()).value("torch_dtype", std::string("float32"));
    if (dtype != "float16" && dtype != "bfloat16") dtype = "float32";
  }
  for (const std::string& f : formats) {
    const fs::path target = model_dir.parent_path() /
                            (model_dir.filename().string() + (f == "gguf" ? ".gguf" : "-" + f));
    std::error_code ec;
    fs::remove_all(target, ec);
    const FormatExport r =
        export_model(model_dir.string(), *model, f, parse_dtype(dtype), target.string());
    for (const std::string& note : r.notes) log().info("{}: {}", f, note);
    log().info("{} written to {} ({}, {} bytes)", f, r.out, r.arch, r.bytes);
    out[f] = {{"out", r.out}, {"arch", r.arch}, {"bytes", r.bytes}, {"dtype", dtype}};
  }
  return out;
}

// search.json, written when the search starts: what a report of the folder
// needs before summary.json exists (the proxies and their directions, the
// window, the base model's shape).
void write_search_meta(const Pipeline& p, const fs::path& dir, const Evaluator& evaluator,
                       const ArchSpace& space) {
  const ModelConfig& c = evaluator.config();
  json proxies = json::array();
  for (std::size_t i = 0; i < p.proxies.size(); ++i) {
    proxies.push_back(
        {{"label", p.proxies[i].label},
         {"component", p.proxies[i].name},
         {"objective", static_cast<int>(i) == p.objective},
         {"better", evaluator.directions()[i] == Direction::kHigherIsBetter ? "higher" : "lower"}});
  }
  const Arch full = full_arch(c);
  write_json(dir / "search.json",
             {{"objective", p.proxies[static_cast<std::size_t>(p.objective)].label},
              {"strategy", p.search.name},
              {"proxies", proxies},
              {"base_params", evaluator.base_params()},
              {"embedding_params", count_params(c, full) - space.scoped_params(full)},
              {"window",
               {{"min_params", space.constraints().min_params},
                {"max_params", space.constraints().max_params},
                {"scope", space.constraints().non_embedding ? "non_embedding" : "total"}}},
              {"base",
               {{"num_layers", c.num_layers},
                {"num_heads", c.num_heads},
                {"num_kv_heads", c.num_kv_heads},
                {"intermediate_size", c.intermediate_size}}}});
}

// Whether the recovery stage still has to run (not finished by an earlier run).
bool recovery_pending(const Pipeline& p, const fs::path& dir, bool resume) {
  if (!p.output.get_bool("export_best") || p.recovery.get_int("steps") == 0) return false;
  return !(resume && fs::exists(dir / "recovered" / "recovery.json"));
}

// With ranks, recovery training is data-parallel (train/train.hpp); rank 0 alone
// writes, and the other ranks return an empty object.
json run_recovery(const Pipeline& p, const Registry& registry, const RunContext& run,
                  const PipelineSession& session, const std::vector<LayerSelection>& selection,
                  const fs::path& dir, bool resume, Communicator* ranks) {
  const bool root = ranks == nullptr || ranks->is_root();
  const ParamValues& v = p.recovery;
  const fs::path out = dir / "recovered";
  const fs::path done = out / "recovery.json";
  if (root && resume && fs::exists(done)) {
    std::ifstream in(done);
    json j = json::parse(in, nullptr, false);
    if (!j.is_discarded()) {
      log().info("recovery: already done ({})", done.string());
      return j;
    }
  }
  TrainOptions t = train_options_from_params(v, p.batch_spec().seq_len);
  t.comm = ranks;
  t.shuffle = true;
  t.seed = run.seed;
  t.eval_every = v.get_int("eval_every");
  t.checkpoint_every = v.get_int("checkpoint_every");
  t.checkpoint_dir = (out / "checkpoints").string();
  t.compute_dtype = run.dtype == "bfloat16" ? "bfloat16" : "float32";
  if (resume && fs::exists(out / "checkpoints" / "latest")) t.resume = out.string();
  const ModelConfig& c = session.model->config();
  std::string eval_name;
  TokenStream train = *section_tokens(p, v, "recovery", "train", true, registry, run,
                                      session.model_dir, t.data_name);
  std::optional<TokenStream> eval =
      section_tokens(p, v, "recovery", "eval", false, registry, run, session.model_dir, eval_name);
  if (eval) t.eval_name = eval_name;
  if (v.get_bool("distill")) {
    t.teacher = session.model.get();
    t.kd_alpha = v.get_float("kd_alpha");
    t.kd_temperature = v.get_float("kd_temperature");
  }
  DecoderModel pruned(c, float32_weights(realize_weights(c, session.model->weights(), selection),
                                         session.model->device()));
  log().info("recovery: {} steps of {} x {} tokens on {}{}", t.steps, t.batch * t.accumulate,
             t.seq_len, t.data_name, t.teacher != nullptr ? ", distilled from the parent" : "");
  TrainResult r = train_model(pruned, train.ids, eval ? &eval->ids : nullptr, t);
  if (!root) return json::object();
  const auto shard = static_cast<std::uint64_t>(p.output.get_int("shard_size_mb")) << 20;
  ExportResult e = export_trained(session.model_dir, pruned, out.string(), shard);
  json j = {{"model", e.out_dir},
            {"params", e.params},
            {"steps", t.steps},
            {"loss", r.log.empty() ? json(nullptr) : json(r.log.back().loss)},
            {"eval_loss", r.eval_loss ? json(*r.eval_loss) : json(nullptr)}};
  write_file_atomic(done.string(), j.dump(2) + "\n");
  log().info("recovery: trained model written to {}", e.out_dir);
  return j;
}

}  // namespace

SearchRunResult run_search(const Pipeline& p, const Registry& registry, const RunContext& run,
                           bool resume, Communicator* ranks) {
  const bool root = ranks == nullptr || ranks->is_root();
  const auto t_start = std::chrono::steady_clock::now();
  const fs::path dir = run.run_dir;

  // The space and its constraints first: an impossible window fails before any compute.
  const ModelConfig base = read_pipeline_model_config(registry, p, run);
  std::unique_ptr<ArchSpace> space = make_space(p, base, run.dtype);
  log().info("search space: {} genes; parameter window [{}, {}] ({})", space->dims(),
             space->constraints().min_params, space->constraints().max_params,
             space->constraints().non_embedding ? "non-embedding" : "total");
  auto strategy = registry.create<SearchStrategy>(p.search.name, p.search.params, run);
  ScoringComponents scoring = create_scoring_components(registry, p, run);
  check_memory_plan(p, pipeline_memory_plan(p, base, space.get(), scoring.proxies), run,
                    /*refuse=*/true);

  // Base work, once (or from the cache).
  const auto t_prep = std::chrono::steady_clock::now();
  PipelineSession session = open_session(registry, p, run);
  std::unique_ptr<Evaluator> evaluator = make_evaluator(session, std::move(scoring));
  const bool data_parallel =
      ranks != nullptr && ranks->size() > 1 && p.run.get_string("distributed_split") == "batches";
  if (data_parallel) {
    try {
      evaluator->set_pass_ranks(ranks);
    } catch (const ConfigError& e) {
      throw ConfigError(p.file + ": error: run.distributed_split: batches: " + e.what());
    }
  }
  if (data_parallel) {
    // Importance from rank 0 first (the others then find it in the cache); the base
    // pass split over the ranks like every candidate's, unless rank 0 has it cached.
    root_first(ranks, "waiting for rank 0's importance", [&] { evaluator->prepare_importance(); });
    if (!root) evaluator->prepare_importance();
    evaluator->prepare_traces(ranks);
  } else {
    // Rank 0 first: the others then find importance and base traces in the cache.
    root_first(ranks, "waiting for rank 0's base preparation (importance, base traces)",
               [&] { evaluator->prepare(); });
    if (!root) evaluator->prepare();
  }
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
  eo.comm = ranks;
  eo.data_parallel = data_parallel;
  // search.ask_size, else 8 genomes a round, or one per rank when there are
  // more ranks (the strategy then sees larger rounds than a one-process run's).
  if (const std::int64_t ask = p.search_budget.get_int("ask_size"); ask > 0) {
    eo.ask_size = static_cast<int>(ask);
  } else if (ranks != nullptr && !data_parallel) {
    eo.ask_size = std::max(eo.ask_size, ranks->size());
  }
  if (!root) {
    // This rank evaluates what rank 0 sends, then takes its share of recovery training.
    Engine engine(*evaluator, *space, strategy, eo);
    const EngineResult w = engine.run();
    log().info("search: this rank evaluated {} candidates in {:.1f} s", w.evaluated,
               w.candidate_seconds);
    evaluator->release_weights();
    const json next = json::parse(ranks->broadcast_bytes("", 0, "waiting for rank 0's best"));
    if (next.value("recover", false)) {
      const Arch arch = space->decode(next["genome"].get<Genome>());
      run_recovery(p, registry, run, session,
                   select_units(evaluator->config(), arch, &evaluator->order()), dir, resume,
                   ranks);
    }
    SearchRunResult result;
    result.evaluated = w.evaluated;
    return result;
  }
  write_search_meta(p, dir, *evaluator, *space);
  const std::int64_t report_every = p.output.get_int("report_every");
  if (report_every > 0) {
    eo.on_recorded = [&](std::int64_t evaluated) {
      if (evaluated % report_every == 0) update_report(dir.string(), /*live=*/true);
    };
  }
  Engine engine(*evaluator, *space, strategy, eo);
  EngineResult r = engine.run();
  // Export and recovery cut units out by their original indices.
  evaluator->release_weights();
  if (ranks != nullptr && ranks->size() > 1) {
    // The other ranks train with rank 0 when the recovery stage runs.
    const bool recover = r.best.has_value() && recovery_pending(p, dir, resume);
    ranks->broadcast_bytes(
        json{{"recover", recover}, {"genome", r.best ? json(r.best->genome) : json(nullptr)}}
            .dump(),
        0, "sending the best candidate");
  }

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
                    {"base_traces", evaluator->traces_from_cache()}}},
                  {"distributed",
                   {{"world_size", ranks != nullptr ? ranks->size() : 1},
                    {"split", data_parallel ? "batches" : "candidates"},
                    {"evaluated_per_rank", r.evaluated_per_rank}}}};
  json top = json::array();
  for (const auto& t : r.top) top.push_back(candidate_json(t, *evaluator, c));
  summary["top"] = top;
  SearchRunResult result;
  result.run_dir = dir.string();
  result.evaluated = r.evaluated;
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
    const auto shard = static_cast<std::uint64_t>(p.output.get_int("shard_size_mb")) << 20;
    ExportResult ex =
        export_pruned(session.model_dir, *session.model, best.arch, selection, out.string(), shard);
    log().info("best model exported to {} ({} parameters)", ex.out_dir, ex.params);
    best_json["model"] = ex.out_dir;
    summary["best"]["model"] = ex.out_dir;
    result.model_dir = ex.out_dir;
    if (p.recovery.get_int("steps") > 0) {
      json rec = run_recovery(p, registry, run, session, selection, dir, resume, ranks);
      best_json["recovered"] = rec;
      summary["best"]["recovered"] = rec;
      result.recovered = rec;
    }
  }
  summary["seconds"]["total"] = seconds_since(t_start);
  write_json(dir / "best.json", best_json);
  write_json(dir / "summary.json", summary);
  // The other formats last, so that a format refusing the best architecture
  // (one line, exit 2) leaves the run's results written.
  if (p.output.get_bool("export_best") && !p.output.get_string_list("export_formats").empty()) {
    for (const char* stage : {"model", "recovered"}) {
      if (std::string(stage) == "recovered" && p.recovery.get_int("steps") == 0) continue;
      const json formats = export_runtime_formats(p, registry, run, dir / stage);
      json& where = std::string(stage) == "model" ? best_json : best_json["recovered"];
      where["exports"] = formats;
      (std::string(stage) == "model" ? summary["best"] : summary["best"]["recovered"])["exports"] =
          formats;
      write_json(dir / "best.json", best_json);
      write_json(dir / "summary.json", summary);
    }
  }
  update_report(dir.string(), /*live=*/false);
  log().info(
      "best: {} = {} with {} parameters ({:.1f}% of the base); {} evaluated, {} "
      "duplicates, {} rejected",
      summary["objective"].get<std::string>(), best.objective, best.params,
      100.0 * static_cast<double>(best.params) / static_cast<double>(evaluator->base_params()),
      r.evaluated, r.duplicates, [&] {
        std::int64_t n = 0;
        for (const auto& [k, v] : r.rejected) n += v;
        return n;
      }());
  result.best_params = best.params;
  result.best_objective = best_json["objective"];
  result.best_proxies = best_json["proxies"];
  result.best_json = (dir / "best.json").string();
  result.summary_json = (dir / "summary.json").string();
  return result;
}

}  // namespace tracenas
