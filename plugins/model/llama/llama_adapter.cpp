// The `llama` model adapter: Hugging Face Llama checkpoints (Llama 2, 3, 3.1,
// 3.2; model_type "llama") onto the core decoder.
//
// Config fields: see hf_config.hpp. Tensor names: the table below (one entry
// per canonical role; "{i}" is the layer index).
#include "tracenas/model.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/support/hf_checkpoint.hpp"

namespace {

using tracenas::ParamSpec;

tracenas::HfTensorNames llama_names() {
  tracenas::HfTensorNames t = tracenas::hf_decoder_names();
  t.q_norm.clear();
  t.k_norm.clear();
  return t;
}

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::ModelAdapter>(
      "llama", "Hugging Face Llama checkpoints (Llama 2, 3, 3.1, 3.2)",
      {ParamSpec::path("path", "", "checkpoint folder (config.json + safetensors)")
           .make_required()},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        return std::make_unique<tracenas::HfDecoderAdapter>(p.get_string("path"), llama_names(),
                                                            std::vector<std::string>{"llama"},
                                                            "llama", "qwen");
      });
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.model.llama", "0.1.0", "Apache-2.0", "Llama model adapter",
                       register_components)
