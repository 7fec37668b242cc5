// A model opened from a checkpoint folder for the model commands (eval,
// importance, score, prune, train): --model, --adapter, --device, --threads,
// --dtype.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "options.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas::cli {

struct ModelSession {
  std::unique_ptr<Registry> registry = std::make_unique<Registry>();
  std::string dir;
  RunContext run;
  Instance<ModelAdapter> adapter;
  std::shared_ptr<DecoderModel> model;
  std::vector<at::Tensor> batches;  // calibration batches (pipeline forms)
};

// Discovers the plugins, applies --threads (0: every core) and --device, and
// loads --model with --adapter (default: by model_type) in --dtype, or in
// `dtype` when it is not empty.
void open_model(ModelSession& s, const Options& o, const std::string& dtype = "");

// --dtype (or `def`): a name parse_dtype knows; a UsageError naming the option otherwise.
std::string dtype_option(const Options& o, const std::string& def);

// The pipeline form of score and importance: the one positional pipeline
// file with its --set overrides, opened like `tracenas run` opens it
// (pipeline/session.hpp: the data first, so bad data fails before the model
// loads, then the model and the calibration batches).
Pipeline open_pipeline_session(ModelSession& s, const Options& o);

// Another checkpoint folder (a teacher) loaded like the session's model.
std::shared_ptr<DecoderModel> load_other_model(const ModelSession& s, const std::string& dir);

}  // namespace tracenas::cli
