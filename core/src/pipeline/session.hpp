// A validated pipeline brought to life: its model loaded, its calibration
// batches cut, and an Evaluator over its importance criterion and proxies.
// Shared by `tracenas run`, `score` and `importance` (pipeline forms).
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "scoring/evaluator.hpp"
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
std::unique_ptr<ArchSpace> make_space(const Pipeline& p, const ModelConfig& base,
                                      const std::string& dtype);

}  // namespace tracenas
