// Part of the SDK's support folder, for authors of model adapters and data
// sources: the helpers behind ModelAdapter::load (config.json, checkpoint
// loading, the decoder) and behind data sources (token files, content
// hashes and cache entries). Proxies and search strategies need none of it.
//
// Hugging Face `config.json` -> the normalized ModelConfig.
//
// The fields every decoder family shares (sizes, MHA and GQA, `head_dim`,
// `rope_theta`, `rope_scaling` of type `llama3` and `linear`,
// `tie_word_embeddings`, TraceNAS's per-layer `tracenas_layers`) are read
// here; what differs between families (biases, q/k norms) comes from the
// HfFamily the adapter gives for the config's `model_type`. Defaults follow
// the Hugging Face configuration classes. A model_type none of the families
// reads, an unsupported rope type, a missing or ill-typed field, or
// inconsistent sizes are a ModelError naming the file and the field.
#pragma once

#include <string>
#include <vector>

#include "tracenas/api.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/hf_family.hpp"

namespace tracenas {

// `path` is a checkpoint folder (reads path/config.json) or a config.json
// file; its model_type must be one of the families'.
TN_API ModelConfig read_hf_config(const std::string& path, const std::vector<HfFamily>& families);
// The same from JSON text; `origin` names the file in messages.
TN_API ModelConfig parse_hf_config(const std::string& json_text, const std::string& origin,
                                   const std::vector<HfFamily>& families);
// The config's `model_type` alone (the host picks the adapter by it).
TN_API std::string read_hf_model_type(const std::string& path);
// The family of `families` whose model_type is the config's (nullptr: none).
TN_API const HfFamily* find_hf_family(const std::vector<HfFamily>& families,
                                      const std::string& model_type);

}  // namespace tracenas
