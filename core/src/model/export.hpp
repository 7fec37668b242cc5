// Exporting a pruned model as a Hugging Face-layout checkpoint folder.
//
// The folder holds config.json, safetensors weights and arch.json (the
// architecture with every kept unit named; the same JSON is in the safetensors
// metadata under "tracenas_arch"). Kept units stay in their original
// order. Layers whose attention and MLP are both removed are dropped and the
// rest renumbered. When every remaining layer keeps both blocks at the same
// widths, config.json is a plain Hugging Face config (num_attention_heads,
// num_key_value_heads, intermediate_size, and head_dim where the model_type
// defines it) that any tool loads; no field is added that the model_type does
// not define. Otherwise it keeps the base sizes and adds "tracenas_layers" (one
// {attn, heads, kv_heads, mlp, mlp_channels} per layer), which TraceNAS's own
// adapters read; other tools need per-layer widths to load such a model.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/safetensors.hpp"
#include "model/subnet.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/support/decoder.hpp"

namespace tracenas {

struct ExportResult {
  std::string out_dir;
  std::int64_t params = 0;
  bool uniform = false;  // true: a plain Hugging Face config
};

// `base_dir` is the base checkpoint folder (its config.json is the template,
// so token ids and other fields carry over).
ExportResult export_pruned(const std::string& base_dir, const DecoderModel& base, const Arch& arch,
                           const std::vector<LayerSelection>& selection, const std::string& out_dir,
                           std::uint64_t max_shard_bytes);

// Writes `weights` (any per-layer widths; layers with neither block are
// dropped) as a Hugging Face folder with `base_dir`'s config.json as the
// template and tensors in `dtype`. `arch_json` (may be empty) goes to arch.json
// and the safetensors metadata.
ExportResult write_hf_model(const std::string& base_dir, const DecoderModel& base,
                            const ModelWeights& weights, const std::string& out_dir,
                            std::uint64_t max_shard_bytes, at::ScalarType dtype,
                            const std::string& arch_json);

// `base_dir`/config.json as an ordered JSON object (ModelError naming the file).
nlohmann::ordered_json read_config_template(const std::string& base_dir);

// Safetensors, config.json, `extra_files` (name, text) and the tokenizer and
// generation files of `base_dir` into `out_dir`.
void write_hf_folder(const std::string& base_dir, const std::string& out_dir,
                     const NamedTensors& tensors, const nlohmann::ordered_json& config,
                     const SafeTensorsMetadata& metadata, std::uint64_t max_shard_bytes,
                     const std::vector<std::pair<std::string, std::string>>& extra_files);

}  // namespace tracenas
