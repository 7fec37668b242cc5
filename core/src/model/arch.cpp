#include "tracenas/arch.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/json_text.hpp"
#include "base/util.hpp"
#include "tracenas/error.hpp"
#include "tracenas/model.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace tracenas {
namespace {

[[noreturn]] void fail(const std::string& origin, const std::string& field,
                       const std::string& what) {
  throw ArchError(origin + ": " + field + ": " + what);
}

std::string layer_field(std::size_t i, const char* field) {
  return "layers[" + std::to_string(i) + "]." + field;
}

int get_int(const json& j, const std::string& origin, const std::string& field) {
  if (!j.is_number_integer())
    fail(origin, field, "expected an integer (got " + json_preview(j) + ")");
  long long v = j.get<long long>();
  if (v < INT32_MIN || v > INT32_MAX)
    fail(origin, field, "out of range (got " + json_preview(j) + ")");
  return static_cast<int>(v);
}

bool get_bool(const json& j, const std::string& origin, const std::string& field) {
  if (!j.is_boolean()) fail(origin, field, "expected true or false (got " + json_preview(j) + ")");
  return j.get<bool>();
}

std::vector<int> get_int_list(const json& j, const std::string& origin, const std::string& field) {
  if (!j.is_array())
    fail(origin, field, "expected a list of integers (got " + json_preview(j) + ")");
  std::vector<int> out;
  for (std::size_t k = 0; k < j.size(); ++k) {
    out.push_back(get_int(j[k], origin, field + "[" + std::to_string(k) + "]"));
  }
  return out;
}

void check_keys(const json& obj, const std::vector<std::string>& known, const std::string& origin,
                const std::string& where) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
      fail(origin, where + (where.empty() ? "" : ".") + it.key(),
           "unknown key" + suggest(it.key(), known));
    }
  }
}

}  // namespace

bool LayerArch::operator==(const LayerArch& o) const {
  return attn == o.attn && heads == o.heads && kv_heads == o.kv_heads && mlp == o.mlp &&
         mlp_channels == o.mlp_channels && head_index == o.head_index &&
         channel_index == o.channel_index;
}

Arch full_arch(const ModelConfig& base) {
  Arch a;
  for (int i = 0; i < base.num_layers; ++i) {
    LayerArch l;
    l.heads = base.num_heads;
    l.kv_heads = base.num_kv_heads;
    l.mlp_channels = base.intermediate_size;
    a.layers.push_back(l);
  }
  return a;
}

void validate_arch(const Arch& arch, const ModelConfig& base, const std::string& origin) {
  if (!base.layer_widths.empty()) {
    throw ArchError(origin +
                    ": architectures apply to unpruned models; this model was already "
                    "pruned to per-layer widths (config.json tracenas_layers)");
  }
  if (static_cast<int>(arch.layers.size()) != base.num_layers) {
    fail(origin, "layers",
         "expected one entry per base layer, " + std::to_string(base.num_layers) + " (got " +
             std::to_string(arch.layers.size()) + ")");
  }
  const int H = base.num_heads, G = base.num_kv_heads, per_group = H / G;
  for (std::size_t i = 0; i < arch.layers.size(); ++i) {
    const LayerArch& l = arch.layers[i];
    if (l.attn) {
      if (l.kv_heads < 1 || l.kv_heads > G) {
        fail(origin, layer_field(i, "kv_heads"),
             "must be in 1.." + std::to_string(G) + " (got " + std::to_string(l.kv_heads) + ")");
      }
      if (l.heads < 1 || l.heads % l.kv_heads != 0) {
        fail(origin, layer_field(i, "heads"),
             "must be a positive multiple of kv_heads " + std::to_string(l.kv_heads) + " (got " +
                 std::to_string(l.heads) + ")");
      }
      if (l.heads / l.kv_heads > per_group) {
        fail(origin, layer_field(i, "heads"),
             "keeps " + std::to_string(l.heads / l.kv_heads) +
                 " query heads per KV group, but the base has " + std::to_string(per_group) +
                 " (got heads " + std::to_string(l.heads) + ", kv_heads " +
                 std::to_string(l.kv_heads) + ")");
      }
      if (!l.head_index.empty()) {
        if (static_cast<int>(l.head_index.size()) != l.heads) {
          fail(origin, layer_field(i, "head_index"),
               "lists " + std::to_string(l.head_index.size()) + " heads, but heads is " +
                   std::to_string(l.heads));
        }
        std::set<int> seen;
        std::map<int, int> per_kv;
        for (int hidx : l.head_index) {
          if (hidx < 0 || hidx >= H) {
            fail(origin, layer_field(i, "head_index"),
                 "query head index out of range 0.." + std::to_string(H - 1) + " (got " +
                     std::to_string(hidx) + ")");
          }
          if (!seen.insert(hidx).second) {
            fail(origin, layer_field(i, "head_index"),
                 "query head " + std::to_string(hidx) + " is listed twice");
          }
          per_kv[hidx / per_group]++;
        }
        if (static_cast<int>(per_kv.size()) != l.kv_heads) {
          fail(origin, layer_field(i, "head_index"),
               "the listed heads span " + std::to_string(per_kv.size()) +
                   " KV groups, but kv_heads is " + std::to_string(l.kv_heads));
        }
        for (const auto& [g, count] : per_kv) {
          if (count != l.heads / l.kv_heads) {
            fail(origin, layer_field(i, "head_index"),
                 "KV group " + std::to_string(g) + " keeps " + std::to_string(count) +
                     " query heads; every kept group must keep heads / kv_heads = " +
                     std::to_string(l.heads / l.kv_heads));
          }
        }
      }
    } else if (!l.head_index.empty()) {
      fail(origin, layer_field(i, "head_index"), "given for a removed attention block");
    }
    if (l.mlp) {
      if (l.mlp_channels < 1 || l.mlp_channels > base.intermediate_size) {
        fail(origin, layer_field(i, "mlp_channels"),
             "must be in 1.." + std::to_string(base.intermediate_size) + " (got " +
                 std::to_string(l.mlp_channels) + ")");
      }
      if (!l.channel_index.empty()) {
        if (static_cast<int>(l.channel_index.size()) != l.mlp_channels) {
          fail(origin, layer_field(i, "channel_index"),
               "lists " + std::to_string(l.channel_index.size()) +
                   " channels, but mlp_channels is " + std::to_string(l.mlp_channels));
        }
        std::set<int> seen;
        for (int c : l.channel_index) {
          if (c < 0 || c >= base.intermediate_size) {
            fail(origin, layer_field(i, "channel_index"),
                 "channel index out of range 0.." + std::to_string(base.intermediate_size - 1) +
                     " (got " + std::to_string(c) + ")");
          }
          if (!seen.insert(c).second) {
            fail(origin, layer_field(i, "channel_index"),
                 "channel " + std::to_string(c) + " is listed twice");
          }
        }
      }
    } else if (!l.channel_index.empty()) {
      fail(origin, layer_field(i, "channel_index"), "given for a removed MLP block");
    }
  }
}

Arch parse_arch(const std::string& text, const std::string& origin, const ModelConfig& base) {
  const json j =
      parse_json_text(text, [&](const std::string& why) { throw ArchError(origin + ": " + why); });
  if (!j.is_object()) throw ArchError(origin + ": expected a JSON object");
  check_keys(j, {"format", "base", "layers"}, origin, "");
  if (!j.contains("format"))
    fail(origin, "format", "missing (expected \"" + std::string(kArchFormat) + "\")");
  if (j["format"] != kArchFormat) {
    fail(origin, "format",
         "expected \"" + std::string(kArchFormat) + "\" (got " + json_preview(j["format"]) + ")");
  }
  if (j.contains("base")) {
    const json& b = j["base"];
    if (!b.is_object()) fail(origin, "base", "expected an object (got " + json_preview(b) + ")");
    const std::vector<std::pair<std::string, int>> fields = {
        {"num_layers", base.num_layers}, {"hidden_size", base.hidden_size},
        {"num_heads", base.num_heads},   {"num_kv_heads", base.num_kv_heads},
        {"head_dim", base.head_dim},     {"intermediate_size", base.intermediate_size}};
    std::vector<std::string> known;
    for (const auto& f : fields) known.push_back(f.first);
    check_keys(b, known, origin, "base");
    for (const auto& [name, value] : fields) {
      if (!b.contains(name)) continue;
      int got = get_int(b[name], origin, "base." + name);
      if (got != value) {
        fail(origin, "base." + name,
             "the model has " + std::to_string(value) + " (got " + std::to_string(got) +
                 "); this architecture is for "
                 "another model");
      }
    }
  }
  if (!j.contains("layers")) fail(origin, "layers", "missing");
  const json& layers = j["layers"];
  if (!layers.is_array())
    fail(origin, "layers", "expected a list (got " + json_preview(layers) + ")");
  Arch arch;
  const int per_group = base.num_heads / base.num_kv_heads;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const json& lj = layers[i];
    const std::string where = "layers[" + std::to_string(i) + "]";
    if (!lj.is_object()) fail(origin, where, "expected an object (got " + json_preview(lj) + ")");
    check_keys(lj,
               {"attn", "heads", "kv_heads", "mlp", "mlp_channels", "head_index", "channel_index"},
               origin, where);
    LayerArch l;
    if (!lj.contains("attn")) fail(origin, layer_field(i, "attn"), "missing");
    if (!lj.contains("mlp")) fail(origin, layer_field(i, "mlp"), "missing");
    l.attn = get_bool(lj["attn"], origin, layer_field(i, "attn"));
    l.mlp = get_bool(lj["mlp"], origin, layer_field(i, "mlp"));
    if (l.attn) {
      if (!lj.contains("heads")) fail(origin, layer_field(i, "heads"), "missing");
      l.heads = get_int(lj["heads"], origin, layer_field(i, "heads"));
      l.kv_heads = lj.contains("kv_heads")
                       ? get_int(lj["kv_heads"], origin, layer_field(i, "kv_heads"))
                       : base.num_kv_heads;
      if (lj.contains("head_index")) {
        const json& hi = lj["head_index"];
        if (hi.is_array() && !hi.empty() && hi[0].is_array()) {
          // Per KV group: a list of lists of flat query-head indices.
          for (std::size_t g = 0; g < hi.size(); ++g) {
            auto grp = get_int_list(hi[g], origin,
                                    layer_field(i, "head_index") + "[" + std::to_string(g) + "]");
            if (!grp.empty()) {
              int kv = grp[0] / per_group;
              for (int hidx : grp) {
                if (hidx / per_group != kv && hidx >= 0) {
                  fail(origin, layer_field(i, "head_index") + "[" + std::to_string(g) + "]",
                       "query head " + std::to_string(hidx) + " is not in KV group " +
                           std::to_string(kv) + " of the group's first head");
                }
              }
            }
            l.head_index.insert(l.head_index.end(), grp.begin(), grp.end());
          }
        } else {
          l.head_index = get_int_list(hi, origin, layer_field(i, "head_index"));
        }
        std::sort(l.head_index.begin(), l.head_index.end());
      }
    } else {
      for (const char* k : {"heads", "kv_heads", "head_index"}) {
        if (lj.contains(k)) fail(origin, layer_field(i, k), "given for a removed attention block");
      }
    }
    if (l.mlp) {
      if (!lj.contains("mlp_channels")) fail(origin, layer_field(i, "mlp_channels"), "missing");
      l.mlp_channels = get_int(lj["mlp_channels"], origin, layer_field(i, "mlp_channels"));
      if (lj.contains("channel_index")) {
        l.channel_index =
            get_int_list(lj["channel_index"], origin, layer_field(i, "channel_index"));
        std::sort(l.channel_index.begin(), l.channel_index.end());
      }
    } else {
      for (const char* k : {"mlp_channels", "channel_index"}) {
        if (lj.contains(k)) fail(origin, layer_field(i, k), "given for a removed MLP block");
      }
    }
    arch.layers.push_back(std::move(l));
  }
  validate_arch(arch, base, origin);
  return arch;
}

Arch read_arch(const std::string& path, const ModelConfig& base) {
  std::ifstream in(path);
  if (!in) throw ArchError(path + ": cannot read the architecture file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_arch(ss.str(), path, base);
}

std::string arch_to_json(const Arch& arch, const ModelConfig& base) {
  ordered_json j;
  j["format"] = kArchFormat;
  j["base"] = {{"num_layers", base.num_layers}, {"hidden_size", base.hidden_size},
               {"num_heads", base.num_heads},   {"num_kv_heads", base.num_kv_heads},
               {"head_dim", base.head_dim},     {"intermediate_size", base.intermediate_size}};
  ordered_json layers = ordered_json::array();
  for (const LayerArch& l : arch.layers) {
    ordered_json lj;
    lj["attn"] = l.attn;
    if (l.attn) {
      lj["heads"] = l.heads;
      lj["kv_heads"] = l.kv_heads;
      if (!l.head_index.empty()) lj["head_index"] = l.head_index;
    }
    lj["mlp"] = l.mlp;
    if (l.mlp) {
      lj["mlp_channels"] = l.mlp_channels;
      if (!l.channel_index.empty()) lj["channel_index"] = l.channel_index;
    }
    layers.push_back(lj);
  }
  j["layers"] = layers;
  return j.dump(1) + "\n";
}

void write_arch(const std::string& path, const Arch& arch, const ModelConfig& base) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << arch_to_json(arch, base);
    if (!out) throw Error("cannot write " + tmp);
  }
  fs::rename(tmp, path);
}

std::int64_t count_params(const ModelConfig& c, const Arch& arch) {
  const std::int64_t d = c.hidden_size, h = c.head_dim, V = c.vocab_size;
  std::int64_t n = V * d + d;  // embeddings, final norm
  if (!c.tie_word_embeddings) n += V * d;
  for (const LayerArch& l : arch.layers) {
    if (l.attn) {
      const std::int64_t q = static_cast<std::int64_t>(l.heads) * h;
      const std::int64_t kv = static_cast<std::int64_t>(l.kv_heads) * h;
      n += d;                   // input norm
      n += q * d + 2 * kv * d;  // q, k, v
      n += d * q;               // o
      if (c.attention_bias) n += q + 2 * kv;
      if (c.o_proj_bias) n += d;
      if (c.qk_norm) n += 2 * h;
    }
    if (l.mlp) {
      const std::int64_t ch = l.mlp_channels;
      n += d + 3 * ch * d;  // post-attention norm, gate, up, down
      if (c.mlp_bias) n += 2 * ch + d;
    }
  }
  return n;
}

}  // namespace tracenas
