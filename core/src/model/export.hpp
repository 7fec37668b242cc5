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
#include <string>
#include <vector>

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

}  // namespace tracenas
