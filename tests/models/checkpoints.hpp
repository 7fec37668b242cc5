// Reading and loading the reference checkpoints as the host does: the
// adapter that claims the folder's model_type (the built-in llama and qwen
// plugins), so tests use the families those plugins define.
#pragma once

#include <memory>
#include <string>

#include "model/adapters.hpp"
#include "plugin/registry.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas::testing {

inline const Registry& model_adapters() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_model_llama.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_model_qwen.so");
    return reg;
  }();
  return *r;
}

// Adapter `name` created directly by the registry (no host-side check).
inline Instance<ModelAdapter> named_adapter(const std::string& name, const std::string& dir) {
  ParamValues p;
  p.set("path", dir);
  return model_adapters().create<ModelAdapter>(name, p, RunContext{});
}

// The config as adapter `name` reads it (through the plugin's guard).
inline ModelConfig read_config_as(const std::string& name, const std::string& dir) {
  return named_adapter(name, dir).call("read_config",
                                       [](ModelAdapter& a) { return a.read_config(); });
}

inline Instance<ModelAdapter> checkpoint_adapter(const std::string& dir) {
  ParamValues p;
  p.set("path", dir);
  return create_model_adapter(model_adapters(), "", p, RunContext{});
}

inline ModelConfig read_checkpoint_config(const std::string& dir) {
  return checkpoint_adapter(dir).get().read_config();
}

// Loads unguarded, so a loader ModelError reaches the test as it is.
inline std::shared_ptr<DecoderModel> load_checkpoint(const std::string& dir,
                                                     const LoadOptions& options = {}) {
  return checkpoint_adapter(dir).get().load(options);
}

}  // namespace tracenas::testing
