// The `qwen` model adapter: Hugging Face Qwen2 / Qwen2.5 (model_type "qwen2",
// q/k/v biases) and Qwen3 (model_type "qwen3", per-head q/k RMSNorm, explicit
// head_dim) checkpoints onto the core decoder.
#include "tracenas/model.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/support/hf_checkpoint.hpp"

namespace {

using tracenas::ParamSpec;

tracenas::HfTensorNames qwen_names() {
  tracenas::HfTensorNames t = tracenas::hf_decoder_names();
  t.gate_bias.clear();
  t.up_bias.clear();
  t.down_bias.clear();
  return t;
}

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::ModelAdapter>(
      "qwen", "Hugging Face Qwen2, Qwen2.5 and Qwen3 checkpoints",
      {ParamSpec::path("path", "", "checkpoint folder (config.json + safetensors)")
           .make_required()},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        return std::make_unique<tracenas::HfDecoderAdapter>(
            p.get_string("path"), qwen_names(), std::vector<std::string>{"qwen2", "qwen3"}, "qwen",
            "llama");
      });
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.model.qwen", "0.1.0", "Apache-2.0",
                       "Qwen2 / Qwen2.5 / Qwen3 model adapter", register_components)
