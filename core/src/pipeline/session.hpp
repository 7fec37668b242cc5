// A validated pipeline brought to life: its model loaded, its calibration
// batches cut, and an Evaluator over its importance criterion and proxies.
// Shared by `tracenas run`, `score` and `importance` (pipeline forms).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "scoring/evaluator.hpp"
#include "scoring/memory_plan.hpp"
#include "search/search_space.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas {

struct PipelineSession {
  const Registry* registry = nullptr;
  const Pipeline* pipeline = nullptr;
  RunContext run;
  Instance<ModelAdapter> adapter;
  std::shared_ptr<DecoderModel> model;
  std::string model_dir;
  std::vector<at::Tensor> batches;  // the K calibration batches
  std::string data_fingerprint;     // source fingerprint + batching
  std::string data_name;            // the data for messages: its file, or the source's name
};

// Reads the calibration batches (the data source first, so that bad data
// fails before a large model loads), then loads the model of `pipeline` (components
// created through `registry`; `run` as apply_runtime() returned it).
PipelineSession open_session(const Registry& registry, const Pipeline& pipeline,
                             const RunContext& run);

// The pipeline's importance criterion and proxies, created (so that a
// component that fails to build fails before any compute).
struct ScoringComponents {
  Instance<ImportanceCriterion> criterion;
  std::vector<ScoredProxy> proxies;
};
ScoringComponents create_scoring_components(const Registry& registry, const Pipeline& pipeline,
                                            const RunContext& run);

// An Evaluator over the pipeline's importance criterion and proxies.
std::unique_ptr<Evaluator> make_evaluator(const PipelineSession& session,
                                          ScoringComponents components);
std::unique_ptr<Evaluator> make_evaluator(const PipelineSession& session);

// The search space and constraints of `p` over `base` (ConfigError prefixed
// with the pipeline file); `dtype` sizes the KV cache.
// The pipeline's model config (config.json through its adapter). Errors name
// the pipeline file and model.params.path first.
ModelConfig read_pipeline_model_config(const Registry& registry, const Pipeline& p,
                                       const RunContext& run);

std::unique_ptr<ArchSpace> make_space(const Pipeline& p, const ModelConfig& base,
                                      const std::string& dtype);

// The memory plan of the pipeline's passes over base model `base`
// (scoring/memory_plan.hpp): its batching, pass options and dtype, the
// proxies' needs, and the largest candidate `space`'s window admits (the full
// model without a space). `train_params` > 0 adds AdamW state.
MemoryPlan pipeline_memory_plan(const Pipeline& p, const ModelConfig& base, const ArchSpace* space,
                                const std::vector<ScoredProxy>& proxies,
                                std::int64_t train_params = 0);

// The plan from the model's config.json alone (`tracenas validate`):
// nullopt, with the reason in `why`, when the model's config cannot be read.
std::optional<MemoryPlan> plan_from_config(const Registry& registry, const Pipeline& p,
                                           std::string* why);

// Logs the plan against what the device has. With `refuse`, a peak above the
// available memory is a ConfigError naming the pipeline file, the biggest
// term and the setting that shrinks it, unless run.allow_oversubscribe.
void check_memory_plan(const Pipeline& p, const MemoryPlan& plan, const RunContext& run,
                       bool refuse);

}  // namespace tracenas
