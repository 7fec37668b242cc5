// The `llama` model adapter: Hugging Face Llama checkpoints (Llama 2, 3, 3.1,
// 3.2; model_type "llama") onto the core decoder.
//
// Config fields: see hf_config.hpp; what is Llama's own is the family below
// (hf_family.hpp), whose tensor-name table serves loading and export.
#include "tracenas/model.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/support/hf_checkpoint.hpp"

namespace {

using tracenas::ParamSpec;

// Llama configs say whether q/k/v/o ("attention_bias") and the MLP
// ("mlp_bias") have biases; no q/k norms; LlamaConfig defines head_dim.
tracenas::HfFamily llama_family() {
  tracenas::HfFamily f;
  f.model_type = "llama";
  f.names.q_norm.clear();
  f.names.k_norm.clear();
  // llama.cpp: architecture "llama", RoPE on consecutive pairs.
  f.gguf_arch = "llama";
  f.gguf_rope_pairs = true;
  return f;
}

// Nemotron-NAS (DeciLM) checkpoints: Llama blocks with per-layer widths in
// "block_configs" (written by `tracenas export --format nemotron-nas`).
tracenas::HfFamily nemotron_nas_family() {
  tracenas::HfFamily f = llama_family();
  f.model_type = "nemotron-nas";
  return f;
}

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::ModelAdapter>(
      "llama", "Hugging Face Llama checkpoints (Llama 2, 3, 3.1, 3.2; Nemotron-NAS block_configs)",
      {ParamSpec::path("path", "", "checkpoint folder (config.json + safetensors)")
           .make_required()},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        return std::make_unique<tracenas::HfDecoderAdapter>(
            p.get_string("path"),
            std::vector<tracenas::HfFamily>{llama_family(), nemotron_nas_family()});
      },
      {{"llama", "nemotron-nas"}});
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.model.llama", "0.1.0", "Apache-2.0", "Llama model adapter",
                       register_components)
