#include "pipeline/session.hpp"

#include <ATen/Context.h>

#include <algorithm>

#include "data/calibration.hpp"
#include "model/adapters.hpp"
#include "model/runtime_export.hpp"
#include "pipeline/data_loading.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/data.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"
#include "tracenas/model.hpp"

namespace tracenas {

namespace {

// Runs `f`; a tracenas::Error it throws is thrown again with the pipeline file
// and model.params.path in front (same exit code).
template <typename F>
auto naming_the_model(const Pipeline& p, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.rfind(p.file, 0) == 0) throw;
    throw Error(p.file + ": model.params.path (" + p.model.params.get_string("path") + "): " + what,
                e.exit_code());
  }
}

}  // namespace

ModelConfig read_pipeline_model_config(const Registry& registry, const Pipeline& p,
                                       const RunContext& run) {
  return naming_the_model(p, [&] {
    auto adapter = create_model_adapter(registry, p.model.name, p.model.params, run);
    return adapter.call("read_config", [](ModelAdapter& a) { return a.read_config(); });
  });
}

PipelineSession open_session(const Registry& registry, const Pipeline& p, const RunContext& run) {
  PipelineSession s;
  s.registry = &registry;
  s.pipeline = &p;
  s.run = run;
  s.model_dir = p.model.params.get_string("path");
  TokenStream tokens = load_pipeline_tokens(registry, p, run);
  const std::string& fp = tokens.fingerprint;
  const std::vector<std::int32_t>& stream = tokens.ids;
  LoadOptions lo;
  lo.device = run.device;
  lo.dtype = run.dtype;
  s.model = naming_the_model(p, [&] {
    s.adapter = create_model_adapter(registry, p.model.name, p.model.params, run);
    return s.adapter.call("load", [&](ModelAdapter& a) { return a.load(lo); });
  });
  log().info("model {}: {} layers, {} parameters, {} on {}", s.model_dir,
             s.model->config().num_layers, s.model->num_parameters(), run.dtype, run.device);
  const BatchSpec spec = p.batch_spec();
  s.data_name = p.file + ": data " +
                (p.data.params.has("path") ? "(" + p.data.params.get_string("path") + ")"
                                           : "(source " + p.data.name + ")");
  s.batches = calibration_batches(stream, spec, s.data_name);
  s.data_fingerprint = fp + "#seq_len=" + std::to_string(spec.seq_len) +
                       "#batch=" + std::to_string(spec.batch_size) +
                       "#batches=" + std::to_string(spec.num_batches) +
                       "#shuffle=" + std::to_string(spec.shuffle ? 1 : 0) +
                       "#shuffle_seed=" + std::to_string(spec.shuffle_seed);
  return s;
}

ScoringComponents create_scoring_components(const Registry& registry, const Pipeline& p,
                                            const RunContext& run) {
  ScoringComponents c;
  c.criterion = registry.create<ImportanceCriterion>(p.importance.name, p.importance.params, run);
  for (const auto& pr : p.proxies) {
    c.proxies.push_back({pr.label, pr.name, registry.create<Proxy>(pr.name, pr.params, run)});
  }
  return c;
}

std::unique_ptr<Evaluator> make_evaluator(const PipelineSession& s, ScoringComponents components) {
  const Pipeline& p = *s.pipeline;
  EvaluatorInputs in;
  in.model = s.model;
  in.model_dir = s.model_dir;
  in.dtype = s.run.dtype;
  in.device = s.run.device;
  in.batches = s.batches;
  in.data_fingerprint = s.data_fingerprint;
  in.data_name = s.data_name;
  in.criterion = p.importance.name;
  in.criterion_params = p.importance.params;
  in.criterion_instance = std::move(components.criterion);
  in.run_seed = s.run.seed;
  in.proxies = std::move(components.proxies);
  in.cache_dir = s.run.cache_dir;
  in.pass = p.pass_options();
  return std::make_unique<Evaluator>(std::move(in));
}

}  // namespace tracenas

namespace tracenas {

std::unique_ptr<Evaluator> make_evaluator(const PipelineSession& s) {
  return make_evaluator(s, create_scoring_components(*s.registry, *s.pipeline, s.run));
}

namespace {
int dtype_bytes(const std::string& dtype) { return dtype == "float32" ? 4 : 2; }
}  // namespace

std::unique_ptr<ArchSpace> make_space(const Pipeline& p, const ModelConfig& base,
                                      const std::string& dtype) {
  const auto& formats = p.output.get_string_list("export_formats");
  if (std::find(formats.begin(), formats.end(), nemotron_nas_format()) != formats.end() &&
      p.space.get_float("query_heads") == 0 && p.space.get_bool("width")) {
    log().warn(
        "{}: output.export_formats has nemotron-nas, but the space varies query heads per layer "
        "(space.query_heads: 0), which DeciLM cannot hold; space.preset: nemotron_nas proposes "
        "only architectures it can",
        p.file);
  }
  try {
    return std::make_unique<ArchSpace>(
        base, SpaceOptions::from_params(p.space, base),
        Constraints::from_params(p.constraints, base, dtype_bytes(dtype), p.batch_spec().seq_len));
  } catch (const ConfigError& e) {
    throw ConfigError(p.file + ": error: " + e.what());
  }
}

MemoryPlan pipeline_memory_plan(const Pipeline& p, const ModelConfig& base, const ArchSpace* space,
                                const std::vector<ScoredProxy>& proxies,
                                std::int64_t train_params) {
  MemoryPlanInputs in;
  in.config = base;
  in.dtype = p.run.get_string("dtype");
  const BatchSpec spec = p.batch_spec();
  in.batch_size = spec.batch_size;
  in.seq_len = spec.seq_len;
  in.pass = p.pass_options();
  in.needs.loss = true;
  for (const auto& pr : proxies) {
    in.needs |= pr.proxy.call("needs", [](Proxy& px) { return px.needs(); });
  }
  if (space != nullptr) {
    const Constraints& k = space->constraints();
    const double total = static_cast<double>(count_params(base, full_arch(base)));
    const double embed = static_cast<double>(base.vocab_size) * base.hidden_size *
                         (base.tie_word_embeddings ? 1 : 2);
    const double top = static_cast<double>(k.max_params);
    // The window's top as a share of the parameters that pruning can remove.
    in.candidate_fraction =
        k.non_embedding ? top / (total - embed) : (top - embed) / (total - embed);
  }
  in.train_params = train_params;
  in.data_parallel = p.run.get_string("distributed_split") == "batches";
  return plan_memory(in);
}

std::optional<MemoryPlan> plan_from_config(const Registry& registry, const Pipeline& p,
                                           std::string* why) {
  try {
    const RunContext run = p.run_context();
    const ModelConfig base = read_pipeline_model_config(registry, p, run);
    std::unique_ptr<ArchSpace> space = make_space(p, base, run.dtype);
    return pipeline_memory_plan(p, base, space.get(),
                                create_scoring_components(registry, p, run).proxies);
  } catch (const Error& e) {
    *why = e.what();
    return std::nullopt;
  }
}

void check_memory_plan(const Pipeline& p, const MemoryPlan& plan, const RunContext& run,
                       bool refuse) {
  const std::string device = run.device == "auto" ? (at::hasCUDA() ? "cuda" : "cpu") : run.device;
  std::string source;
  const double available = available_memory_bytes(device, &source);
  log().info("memory plan on {}: {}; {} {}", device, plan.summary(), source,
             available >= 0 ? gigabytes(available) : std::string("unknown"));
  if (!refuse || available < 0 || plan.peak_bytes <= available) return;
  const MemoryTerm& big = plan.biggest();
  if (p.run.get_bool("allow_oversubscribe")) {
    log().warn(
        "memory plan: the estimated peak {} exceeds the {} available ({}); "
        "run.allow_oversubscribe is set, going on",
        gigabytes(plan.peak_bytes), gigabytes(available), source);
    return;
  }
  throw ConfigError(p.file + ": error: memory plan: the estimated peak of " +
                    gigabytes(plan.peak_bytes) + " exceeds the " + gigabytes(available) +
                    " available (" + source + "); the biggest term is " + big.name + " (" +
                    gigabytes(big.bytes) + ")" +
                    (big.shrink.empty() ? "" : "; " + big.shrink + " would shrink it") +
                    "; --set run.allow_oversubscribe=true runs anyway");
}

}  // namespace tracenas
