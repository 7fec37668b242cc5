#include "tracenas/support/hf_config.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/json_text.hpp"
#include "tracenas/error.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

// Upper bounds on the sizes in config.json, far above any released model's
// (Llama 3.1 405B: 126 layers, hidden 16384, 128 heads, FFN 53248), so that
// parameter counts and search spaces stay small integers.
constexpr long long kMaxSize = 1LL << 30;
constexpr long long kMaxLayers = 1024;
constexpr long long kMaxHeads = 4096;
constexpr long long kMaxWidth = 1LL << 20;  // hidden_size, intermediate_size, head_dim
constexpr long long kMaxVocab = 1LL << 24;

class Fields {
 public:
  Fields(const json& j, std::string origin) : j_(j), origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw ModelError(origin_ + ": " + field + ": " + what);
  }
  bool has(const std::string& f) const { return j_.contains(f) && !j_.at(f).is_null(); }

  // A positive integer no larger than `max`: sizes are bounded before anything
  // is allocated for them (the bounds are well above any released model's).
  int positive_int(const std::string& f, long long max = kMaxSize) const {
    if (!has(f)) fail(f, "missing");
    const json& v = j_.at(f);
    const bool positive = v.is_number_unsigned()  ? v.get<unsigned long long>() > 0
                          : v.is_number_integer() ? v.get<long long>() > 0
                                                  : false;
    if (!positive) fail(f, "must be a positive integer (got " + json_preview(v) + ")");
    if (v.get<unsigned long long>() > static_cast<unsigned long long>(max)) {
      fail(f, json_preview(v) + " is larger than TraceNAS supports (at most " +
                  std::to_string(max) + ")");
    }
    return v.get<int>();
  }
  int positive_int_or(const std::string& f, int def, long long max = kMaxSize) const {
    return has(f) ? positive_int(f, max) : def;
  }
  double positive_number_or(const std::string& f, double def) const {
    if (!has(f)) return def;
    const json& v = j_.at(f);
    if (!v.is_number() || !(v.get<double>() > 0)) {
      fail(f, "must be a positive number (got " + json_preview(v) + ")");
    }
    return v.get<double>();
  }
  bool bool_or(const std::string& f, bool def) const {
    if (!has(f)) return def;
    const json& v = j_.at(f);
    if (!v.is_boolean()) fail(f, "must be true or false (got " + json_preview(v) + ")");
    return v.get<bool>();
  }
  std::string string_or(const std::string& f, const std::string& def) const {
    if (!has(f)) return def;
    const json& v = j_.at(f);
    if (!v.is_string()) fail(f, "must be a string (got " + json_preview(v) + ")");
    return v.get<std::string>();
  }

 private:
  const json& j_;
  std::string origin_;
};

json parse_object(const std::string& json_text, const std::string& origin) {
  json j = parse_json_text(json_text,
                           [&](const std::string& why) { throw ModelError(origin + ": " + why); });
  if (!j.is_object()) throw ModelError(origin + ": expected a JSON object");
  return j;
}

std::string model_type_of(const Fields& f) {
  if (!f.has("model_type")) f.fail("model_type", "missing");
  return f.string_or("model_type", "");
}

// A family's bias rule applied to the config's flag `field` (default false).
bool bias_of(const Fields& f, HfBias rule, const std::string& field) {
  switch (rule) {
    case HfBias::kAlways:
      return true;
    case HfBias::kNever:
      return false;
    case HfBias::kConfig:
      break;
  }
  return f.bool_or(field, false);
}

// (path/config.json or path, its text)
std::pair<std::string, std::string> read_config_text(const std::string& path) {
  fs::path p(path);
  std::error_code ec;
  if (!fs::exists(p, ec)) throw ModelError(path + ": no such checkpoint folder or config file");
  if (fs::is_directory(p, ec)) p /= "config.json";
  std::ifstream in(p);
  if (!in) throw ModelError(p.string() + ": cannot read the model config");
  std::stringstream ss;
  ss << in.rdbuf();
  return {p.string(), ss.str()};
}

// DeciLM width of an MLP: round_up(int(2 * ffn_mult * hidden / 3), 256).
int deci_ffn_width(double ffn_mult, int hidden) {
  const auto n = static_cast<long long>(2.0 * ffn_mult * static_cast<double>(hidden) / 3.0);
  return static_cast<int>(n % 256 == 0 ? n : n + 256 - n % 256);
}

// Nemotron-NAS "block_configs": per layer {attention: {no_op, replace_with_linear,
// n_heads_in_group}, ffn: {no_op, replace_with_linear, ffn_mult}}; query heads
// are num_attention_heads in every layer with attention.
void read_block_configs(const json& blocks, const Fields& f, const std::string& origin,
                        ModelConfig& c) {
  if (!blocks.is_array() || static_cast<int>(blocks.size()) != c.num_layers) {
    f.fail("block_configs",
           "must be a list of num_hidden_layers = " + std::to_string(c.num_layers) + " entries");
  }
  int max_kv = 0, max_width = 0;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::string where = "block_configs[" + std::to_string(i) + "]";
    const json& b = blocks[i];
    if (!b.is_object() || !b.contains("attention") || !b["attention"].is_object() ||
        !b.contains("ffn") || !b["ffn"].is_object()) {
      f.fail(where, "must be an object with attention and ffn objects");
    }
    Fields af(b["attention"], origin), ff(b["ffn"], origin);
    if (af.bool_or("replace_with_linear", false) || ff.bool_or("replace_with_linear", false)) {
      f.fail(where, "replace_with_linear blocks are not supported");
    }
    ModelConfig::LayerWidth w;
    w.attn = !af.bool_or("no_op", false);
    if (w.attn) {
      const int group = af.positive_int("n_heads_in_group", kMaxHeads);
      if (c.num_heads % group != 0) {
        f.fail(where + ".attention.n_heads_in_group", std::to_string(group) +
                                                          " does not divide num_attention_heads " +
                                                          std::to_string(c.num_heads));
      }
      w.heads = c.num_heads;
      w.kv_heads = c.num_heads / group;
      max_kv = std::max(max_kv, w.kv_heads);
    }
    w.mlp = !ff.bool_or("no_op", false);
    if (w.mlp) {
      if (ff.has("intermediate_size")) {
        w.mlp_channels = ff.positive_int("intermediate_size", kMaxWidth);
      } else {
        const double mult = ff.positive_number_or("ffn_mult", 0);
        if (mult <= 0) f.fail(where + ".ffn.ffn_mult", "missing");
        const double width = 2.0 * mult * c.hidden_size / 3.0;
        if (width > static_cast<double>(kMaxWidth)) {
          f.fail(where + ".ffn.ffn_mult", "gives a width above " + std::to_string(kMaxWidth));
        }
        w.mlp_channels = deci_ffn_width(mult, c.hidden_size);
      }
      max_width = std::max(max_width, w.mlp_channels);
    }
    c.layer_widths.push_back(w);
  }
  if (max_kv > 0 && !f.has("num_key_value_heads")) c.num_kv_heads = max_kv;
  if (max_width > 0 && !f.has("intermediate_size")) c.intermediate_size = max_width;
}

}  // namespace

const HfFamily* find_hf_family(const std::vector<HfFamily>& families,
                               const std::string& model_type) {
  for (const HfFamily& fam : families) {
    if (fam.model_type == model_type) return &fam;
  }
  return nullptr;
}

ModelConfig parse_hf_config(const std::string& json_text, const std::string& origin,
                            const std::vector<HfFamily>& families) {
  const json j = parse_object(json_text, origin);
  Fields f(j, origin);
  ModelConfig c;
  c.model_type = model_type_of(f);
  const HfFamily* family = find_hf_family(families, c.model_type);
  if (family == nullptr) {
    std::string supported;
    for (const HfFamily& fam : families) {
      supported += (supported.empty() ? "" : ", ") + fam.model_type;
    }
    f.fail("model_type",
           "unsupported model type \"" + c.model_type + "\" (supported: " + supported + ")");
  }
  std::string act = f.string_or("hidden_act", "silu");
  if (act != "silu") f.fail("hidden_act", "only silu (SwiGLU) is supported (got \"" + act + "\")");

  c.num_layers = f.positive_int("num_hidden_layers", kMaxLayers);
  c.hidden_size = f.positive_int("hidden_size", kMaxWidth);
  c.num_heads = f.positive_int("num_attention_heads", kMaxHeads);
  c.num_kv_heads = f.positive_int_or("num_key_value_heads", c.num_heads, kMaxHeads);
  // Nemotron-NAS (DeciLM) configs state widths per layer in block_configs only.
  const bool blocks = f.has("block_configs");
  c.intermediate_size = blocks ? f.positive_int_or("intermediate_size", 1, kMaxWidth)
                               : f.positive_int("intermediate_size", kMaxWidth);
  c.vocab_size = f.positive_int("vocab_size", kMaxVocab);
  c.max_position_embeddings = f.positive_int_or("max_position_embeddings", 2048);
  c.rms_norm_eps = f.positive_number_or("rms_norm_eps", 1e-6);
  c.rope_theta = f.positive_number_or("rope_theta", 10000.0);
  if (c.num_heads % c.num_kv_heads != 0) {
    f.fail("num_key_value_heads", "must divide num_attention_heads " + std::to_string(c.num_heads) +
                                      " (got " + std::to_string(c.num_kv_heads) + ")");
  }
  if (f.has("head_dim")) {
    c.head_dim = f.positive_int("head_dim", kMaxWidth);
  } else {
    if (c.hidden_size % c.num_heads != 0) {
      f.fail("head_dim", "missing, and hidden_size " + std::to_string(c.hidden_size) +
                             " is not a multiple of num_attention_heads " +
                             std::to_string(c.num_heads));
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  c.tie_word_embeddings = f.bool_or("tie_word_embeddings", false);

  c.attention_bias = bias_of(f, family->attention_bias, "attention_bias");
  c.o_proj_bias = bias_of(f, family->o_proj_bias, "attention_bias");
  c.mlp_bias = bias_of(f, family->mlp_bias, "mlp_bias");
  c.qk_norm = family->qk_norm;

  if (f.has("tracenas_layers")) {
    const json& tl = j.at("tracenas_layers");
    if (!tl.is_array() || static_cast<int>(tl.size()) != c.num_layers) {
      f.fail("tracenas_layers",
             "must be a list of num_hidden_layers = " + std::to_string(c.num_layers) + " entries");
    }
    for (std::size_t i = 0; i < tl.size(); ++i) {
      const std::string where = "tracenas_layers[" + std::to_string(i) + "]";
      if (!tl[i].is_object()) f.fail(where, "must be an object (got " + json_preview(tl[i]) + ")");
      Fields lf(tl[i], origin);
      ModelConfig::LayerWidth w;
      w.attn = lf.bool_or("attn", true);
      w.mlp = lf.bool_or("mlp", true);
      if (w.attn) {
        w.heads = lf.positive_int_or("heads", c.num_heads, kMaxHeads);
        w.kv_heads = lf.positive_int_or("kv_heads", c.num_kv_heads, kMaxHeads);
        if (w.kv_heads > c.num_kv_heads || w.heads % w.kv_heads != 0 ||
            w.heads / w.kv_heads > c.num_heads / c.num_kv_heads) {
          f.fail(where + ".heads", "heads " + std::to_string(w.heads) + " / kv_heads " +
                                       std::to_string(w.kv_heads) +
                                       " do not fit the base grouping");
        }
      }
      if (w.mlp) {
        w.mlp_channels = lf.positive_int_or("mlp_channels", c.intermediate_size, kMaxWidth);
        if (w.mlp_channels > c.intermediate_size) {
          f.fail(where + ".mlp_channels",
                 "exceeds intermediate_size " + std::to_string(c.intermediate_size));
        }
      }
      c.layer_widths.push_back(w);
    }
  }

  if (blocks) read_block_configs(j.at("block_configs"), f, origin, c);

  if (f.has("rope_scaling")) {
    const json& rs = j.at("rope_scaling");
    if (!rs.is_object()) f.fail("rope_scaling", "must be an object (got " + json_preview(rs) + ")");
    Fields r(rs, origin);
    std::string type = r.string_or("rope_type", r.string_or("type", "default"));
    if (type == "default") {
      c.rope_type = "default";
    } else if (type == "linear") {
      c.rope_type = "linear";
      if (!r.has("factor")) f.fail("rope_scaling.factor", "missing");
      c.rope_factor = r.positive_number_or("factor", 1.0);
    } else if (type == "llama3") {
      c.rope_type = "llama3";
      for (const char* k :
           {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
        if (!r.has(k)) f.fail(std::string("rope_scaling.") + k, "missing");
      }
      c.rope_factor = r.positive_number_or("factor", 1.0);
      c.rope_low_freq_factor = r.positive_number_or("low_freq_factor", 1.0);
      c.rope_high_freq_factor = r.positive_number_or("high_freq_factor", 4.0);
      c.rope_original_max_position = r.positive_int("original_max_position_embeddings");
      if (c.rope_high_freq_factor <= c.rope_low_freq_factor) {
        f.fail("rope_scaling.high_freq_factor", "must exceed low_freq_factor");
      }
    } else {
      f.fail("rope_scaling.rope_type",
             "unsupported rope type \"" + type + "\" (supported: default, linear, llama3)");
    }
  }
  return c;
}

ModelConfig read_hf_config(const std::string& path, const std::vector<HfFamily>& families) {
  const auto [file, text] = read_config_text(path);
  return parse_hf_config(text, file, families);
}

std::string read_hf_model_type(const std::string& path) {
  const auto [file, text] = read_config_text(path);
  const json j = parse_object(text, file);
  return model_type_of(Fields(j, file));
}

}  // namespace tracenas
