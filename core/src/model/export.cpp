#include "model/export.hpp"

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/json_text.hpp"
#include "io/safetensors.hpp"
#include "tracenas/error.hpp"

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace tracenas {

ExportResult export_pruned(const std::string& base_dir, const DecoderModel& base, const Arch& arch,
                           const std::vector<LayerSelection>& selection, const std::string& out_dir,
                           std::uint64_t max_shard_bytes) {
  const ModelConfig& c = base.config();
  ModelWeights cut = realize_weights(c, base.weights(), selection);

  // Drop layers with nothing left; keep the widths of the rest.
  ModelWeights kept;
  kept.embed = cut.embed;
  kept.final_norm = cut.final_norm;
  kept.lm_head = cut.lm_head;
  std::vector<std::size_t> kept_index;
  for (std::size_t i = 0; i < cut.layers.size(); ++i) {
    if (cut.layers[i].attn || cut.layers[i].mlp) {
      kept.layers.push_back(cut.layers[i]);
      kept_index.push_back(i);
    }
  }
  if (kept.layers.empty()) {
    throw ArchError("architecture: every block of every layer is removed; nothing to export");
  }
  bool uniform = true;
  const LayerArch& first = arch.layers[kept_index[0]];
  for (std::size_t i : kept_index) {
    const LayerArch& l = arch.layers[i];
    if (!l.attn || !l.mlp || l.heads != first.heads || l.kv_heads != first.kv_heads ||
        l.mlp_channels != first.mlp_channels) {
      uniform = false;
    }
  }

  const std::string config_path = (fs::path(base_dir) / "config.json").string();
  std::ifstream in(config_path);
  if (!in) throw ModelError(config_path + ": cannot read the model config");
  std::ostringstream text;
  text << in.rdbuf();
  ordered_json cfg = parse_json_text<ordered_json>(
      text.str(), [&](const std::string& why) { throw ModelError(config_path + ": " + why); });
  if (!cfg.is_object()) throw ModelError(config_path + ": expected a JSON object");
  // A plain config can only change the head count if head_dim stays expressible:
  // when the family's config class defines head_dim, or this config has one.
  const bool head_dim_defined = cfg.contains("head_dim") || base.family().config_has_head_dim;
  if (uniform && first.heads != c.num_heads && !head_dim_defined &&
      c.hidden_size / first.heads != c.head_dim) {
    uniform = false;
  }
  cfg["num_hidden_layers"] = kept.layers.size();
  cfg.erase("tracenas_layers");
  if (cfg.contains("layer_types") && cfg["layer_types"].is_array() &&
      cfg["layer_types"].size() == arch.layers.size()) {
    ordered_json types = ordered_json::array();
    for (std::size_t i : kept_index) types.push_back(cfg["layer_types"][i]);
    cfg["layer_types"] = types;
  }
  if (uniform) {
    if (head_dim_defined) cfg["head_dim"] = c.head_dim;
    cfg["num_attention_heads"] = first.heads;
    cfg["num_key_value_heads"] = first.kv_heads;
    cfg["intermediate_size"] = first.mlp_channels;
  } else {
    ordered_json layers = ordered_json::array();
    for (std::size_t i : kept_index) {
      const LayerArch& l = arch.layers[i];
      ordered_json lj = {{"attn", l.attn}};
      if (l.attn) {
        lj["heads"] = l.heads;
        lj["kv_heads"] = l.kv_heads;
      }
      lj["mlp"] = l.mlp;
      if (l.mlp) lj["mlp_channels"] = l.mlp_channels;
      layers.push_back(lj);
    }
    cfg["tracenas_layers"] = layers;
  }
  cfg["torch_dtype"] = dtype_name(base.dtype());

  // The renumbered model's tensors (the config used for names is the pruned one).
  ModelConfig named = c;
  named.num_layers = static_cast<int>(kept.layers.size());
  NamedTensors tensors;
  for (auto& [name, t] : named_hf_tensors(named, kept, base.family().names))
    tensors.emplace_back(name, t.contiguous());
  std::int64_t params = 0;
  for (const auto& [name, t] : tensors) params += t.numel();

  fs::create_directories(out_dir);
  const Arch named_arch = with_explicit_indices(arch, selection);
  // The architecture with every kept unit (indices into the base model's layers).
  save_checkpoint(out_dir, tensors,
                  {{"format", "pt"},
                   {"pruned_by", "tracenas"},
                   {"tracenas_arch", ordered_json::parse(arch_to_json(named_arch, c)).dump()}},
                  max_shard_bytes);
  auto write_text = [](const fs::path& path, const std::string& text) {
    const fs::path tmp = path.string() + ".tmp";
    {
      std::ofstream out(tmp);
      out << text;
      if (!out) throw Error("cannot write " + tmp.string());
    }
    fs::rename(tmp, path);
  };
  write_text(fs::path(out_dir) / "config.json", cfg.dump(2) + "\n");
  write_text(fs::path(out_dir) / "arch.json", arch_to_json(named_arch, c));
  for (const char* extra : {"generation_config.json", "tokenizer.json", "tokenizer_config.json",
                            "tokenizer.model", "special_tokens_map.json"}) {
    const fs::path src = fs::path(base_dir) / extra;
    std::error_code ec;
    if (fs::exists(src, ec)) {
      fs::copy_file(src, fs::path(out_dir) / extra, fs::copy_options::overwrite_existing, ec);
    }
  }
  return {out_dir, params, uniform};
}

}  // namespace tracenas
