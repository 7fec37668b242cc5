// Part of the SDK's support folder, for authors of model adapters and data
// sources: the helpers behind ModelAdapter::load (config.json, checkpoint
// loading, the decoder) and behind data sources (token files, content
// hashes and cache entries). Proxies and search strategies need none of it.
//
// Hugging Face `config.json` -> the normalized ModelConfig.
//
// Supported: `model_type` llama (Llama 2, 3, 3.1, 3.2: MHA and GQA,
// `head_dim`, `rope_theta`, `rope_scaling` of type `llama3` and `linear`,
// `tie_word_embeddings`, `attention_bias`, `mlp_bias`), qwen2 (Qwen2 and
// Qwen2.5: q/k/v biases) and qwen3 (per-head RMSNorm of q and k, explicit
// `head_dim`). Defaults follow the Hugging Face configuration classes. An
// unsupported model_type or rope type, a missing or ill-typed field, or
// inconsistent sizes are a ModelError naming the file and the field.
#pragma once

#include <string>

#include "tracenas/api.hpp"
#include "tracenas/model.hpp"

namespace tracenas {

// `path` is a checkpoint folder (reads path/config.json) or a config.json file.
TN_API ModelConfig read_hf_config(const std::string& path);
// The same from JSON text; `origin` names the file in messages.
TN_API ModelConfig parse_hf_config(const std::string& json_text, const std::string& origin);

}  // namespace tracenas
