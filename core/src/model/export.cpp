#include "model/export.hpp"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/json_text.hpp"
#include "io/safetensors.hpp"
#include "model/runtime_export.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/cache.hpp"

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace tracenas {

ordered_json read_config_template(const std::string& base_dir) {
  const std::string config_path = (fs::path(base_dir) / "config.json").string();
  std::ifstream in(config_path);
  if (!in) throw ModelError(config_path + ": cannot read the model config");
  std::ostringstream text;
  text << in.rdbuf();
  ordered_json cfg = parse_json_text<ordered_json>(
      text.str(), [&](const std::string& why) { throw ModelError(config_path + ": " + why); });
  if (!cfg.is_object()) throw ModelError(config_path + ": expected a JSON object");
  return cfg;
}

void write_hf_folder(const std::string& base_dir, const std::string& out_dir,
                     const NamedTensors& tensors, const ordered_json& config,
                     const SafeTensorsMetadata& metadata, std::uint64_t max_shard_bytes,
                     const std::vector<std::pair<std::string, std::string>>& extra_files) {
  fs::create_directories(out_dir);
  save_checkpoint(out_dir, tensors, metadata, max_shard_bytes);
  write_file_atomic(fs::path(out_dir) / "config.json", config.dump(2) + "\n");
  for (const auto& [name, text] : extra_files) write_file_atomic(fs::path(out_dir) / name, text);
  for (const char* extra : {"generation_config.json", "tokenizer.json", "tokenizer_config.json",
                            "tokenizer.model", "special_tokens_map.json"}) {
    const fs::path src = fs::path(base_dir) / extra;
    std::error_code ec;
    if (fs::exists(src, ec) && !fs::equivalent(src, fs::path(out_dir) / extra, ec)) {
      fs::copy_file(src, fs::path(out_dir) / extra, fs::copy_options::overwrite_existing, ec);
    }
  }
}

ExportResult write_hf_model(const std::string& base_dir, const DecoderModel& base,
                            const ModelWeights& weights, const std::string& out_dir,
                            std::uint64_t max_shard_bytes, at::ScalarType dtype,
                            const std::string& arch_json) {
  const ModelConfig& c = base.config();
  // Drop layers with nothing left; keep the widths of the rest.
  const ModelWeights kept = without_empty_layers(weights);
  const std::vector<LayerShape> shapes = layer_shapes(kept);
  bool uniform = is_uniform(shapes);
  const LayerShape& first = shapes[0];
  ordered_json cfg = read_config_template(base_dir);
  // A plain config can only change the head count if head_dim stays expressible:
  // when the family's config class defines head_dim, or this config has one.
  const bool head_dim_defined = cfg.contains("head_dim") || base.family().config_has_head_dim;
  if (uniform && first.heads != c.num_heads && !head_dim_defined &&
      c.hidden_size / first.heads != c.head_dim) {
    uniform = false;
  }
  const std::size_t base_layers =
      cfg.contains("num_hidden_layers") && cfg["num_hidden_layers"].is_number_integer()
          ? cfg["num_hidden_layers"].get<std::size_t>()
          : 0;
  if (cfg.contains("layer_types") && cfg["layer_types"].is_array() &&
      cfg["layer_types"].size() == base_layers && base_layers == weights.layers.size()) {
    ordered_json types = ordered_json::array();
    for (std::size_t i = 0; i < weights.layers.size(); ++i) {
      if (weights.layers[i].attn || weights.layers[i].mlp) types.push_back(cfg["layer_types"][i]);
    }
    cfg["layer_types"] = types;
  }
  cfg["num_hidden_layers"] = kept.layers.size();
  cfg.erase("tracenas_layers");
  if (uniform) {
    if (head_dim_defined) cfg["head_dim"] = c.head_dim;
    cfg["num_attention_heads"] = first.heads;
    cfg["num_key_value_heads"] = first.kv_heads;
    cfg["intermediate_size"] = first.channels;
  } else {
    // The base sizes stay; each layer states its own.
    int max_heads = 0, max_kv = 0, max_channels = 0;
    for (const LayerShape& l : shapes) {
      max_heads = std::max(max_heads, l.heads);
      max_kv = std::max(max_kv, l.kv_heads);
      max_channels = std::max(max_channels, l.channels);
    }
    if (max_heads > c.num_heads) cfg["num_attention_heads"] = max_heads;
    if (max_kv > c.num_kv_heads) cfg["num_key_value_heads"] = max_kv;
    if (max_channels > c.intermediate_size) cfg["intermediate_size"] = max_channels;
    ordered_json layers = ordered_json::array();
    for (const LayerShape& l : shapes) {
      ordered_json lj = {{"attn", l.attn}};
      if (l.attn) {
        lj["heads"] = l.heads;
        lj["kv_heads"] = l.kv_heads;
      }
      lj["mlp"] = l.mlp;
      if (l.mlp) lj["mlp_channels"] = l.channels;
      layers.push_back(lj);
    }
    cfg["tracenas_layers"] = layers;
  }
  cfg["torch_dtype"] = dtype_name(dtype);

  // The renumbered model's tensors (the config used for names is the pruned one).
  ModelConfig named = c;
  named.num_layers = static_cast<int>(kept.layers.size());
  NamedTensors tensors;
  for (auto& [name, t] : named_hf_tensors(named, kept, base.family().names))
    tensors.emplace_back(name, t.to(dtype).contiguous());
  std::int64_t params = 0;
  for (const auto& [name, t] : tensors) params += t.numel();

  SafeTensorsMetadata metadata = {{"format", "pt"}};
  std::vector<std::pair<std::string, std::string>> extra;
  if (!arch_json.empty()) {
    // The architecture with every kept unit (indices into the base model's layers).
    metadata["pruned_by"] = "tracenas";
    metadata["tracenas_arch"] = ordered_json::parse(arch_json).dump();
    extra.emplace_back("arch.json", arch_json);
  }
  write_hf_folder(base_dir, out_dir, tensors, cfg, metadata, max_shard_bytes, extra);
  return {out_dir, params, uniform};
}

ExportResult export_pruned(const std::string& base_dir, const DecoderModel& base, const Arch& arch,
                           const std::vector<LayerSelection>& selection, const std::string& out_dir,
                           std::uint64_t max_shard_bytes) {
  const ModelConfig& c = base.config();
  ModelWeights cut = realize_weights(c, base.weights(), selection);
  const Arch named_arch = with_explicit_indices(arch, selection);
  return write_hf_model(base_dir, base, cut, out_dir, max_shard_bytes, base.dtype(),
                        arch_to_json(named_arch, c));
}

}  // namespace tracenas
