#include "model/runtime_export.hpp"

#include <ATen/ATen.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "base/util.hpp"
#include "io/gguf.hpp"
#include "model/export.hpp"
#include "model/gguf_vocab.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"

namespace fs = std::filesystem;

namespace tracenas {

const std::vector<std::string>& export_formats() {
  static const std::vector<std::string> f = {"hf", "gguf", nemotron_nas_format()};
  return f;
}

const std::string& nemotron_nas_format() {
  static const std::string name = "nemotron-nas";
  return name;
}

std::vector<LayerShape> layer_shapes(const ModelWeights& w) {
  std::vector<LayerShape> out;
  for (const LayerWeights& l : w.layers) {
    LayerShape s;
    s.attn = l.attn;
    if (l.attn) {
      s.kv_heads = l.attention.kv_heads();
      s.heads = s.kv_heads * l.attention.heads_per_group();
    }
    s.mlp = l.mlp;
    if (l.mlp) s.channels = l.ffn.channels();
    out.push_back(s);
  }
  return out;
}

ModelWeights without_empty_layers(const ModelWeights& w) {
  ModelWeights kept = w;
  kept.layers.clear();
  for (const LayerWeights& l : w.layers) {
    if (l.attn || l.mlp) kept.layers.push_back(l);
  }
  if (kept.layers.empty()) {
    throw ArchError("architecture: every block of every layer is removed; nothing to export");
  }
  return kept;
}

bool is_uniform(const std::vector<LayerShape>& s) {
  for (const LayerShape& l : s) {
    if (!l.attn || !l.mlp || l.heads != s[0].heads || l.kv_heads != s[0].kv_heads ||
        l.channels != s[0].channels) {
      return false;
    }
  }
  return true;
}

namespace {

std::string folder_name(const std::string& dir) {
  fs::path p = fs::path(dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

// GGUF names in the Hugging Face table's shape (llama.cpp's llama-arch.cpp).
HfTensorNames gguf_names() {
  HfTensorNames t;
  t.embed = "token_embd.weight";
  t.final_norm = "output_norm.weight";
  t.lm_head = "output.weight";
  const std::string b = "blk.{i}.";
  t.input_norm = b + "attn_norm.weight";
  t.q = b + "attn_q.weight";
  t.k = b + "attn_k.weight";
  t.v = b + "attn_v.weight";
  t.o = b + "attn_output.weight";
  t.q_bias = b + "attn_q.bias";
  t.k_bias = b + "attn_k.bias";
  t.v_bias = b + "attn_v.bias";
  t.o_bias = b + "attn_output.bias";
  t.q_norm = b + "attn_q_norm.weight";
  t.k_norm = b + "attn_k_norm.weight";
  t.post_norm = b + "ffn_norm.weight";
  t.gate = b + "ffn_gate.weight";
  t.up = b + "ffn_up.weight";
  t.down = b + "ffn_down.weight";
  t.gate_bias = b + "ffn_gate.bias";
  t.up_bias = b + "ffn_up.bias";
  t.down_bias = b + "ffn_down.bias";
  return t;
}

// Rows of q or k (weight [heads * h, d] or bias [heads * h]) from Hugging
// Face's rotate-half order to the pairs GGML's "normal" RoPE rotates: within
// each head, row j of the first half goes to 2j, row j of the second half to
// 2j + 1 (the inverse of the permutation HF's converter applies to Meta's
// weights).
at::Tensor rotate_half_to_pairs(const at::Tensor& t, std::int64_t heads) {
  std::vector<std::int64_t> shape = t.sizes().vec();
  const std::int64_t h = shape[0] / heads;
  std::vector<std::int64_t> split = {heads, 2, h / 2};
  split.insert(split.end(), shape.begin() + 1, shape.end());
  return t.reshape(split).transpose(1, 2).reshape(shape);
}

// llama.cpp's rope_freqs for rope_type llama3: per rotated pair, the factor
// its frequency is divided by (transformers' _compute_llama3_parameters).
at::Tensor llama3_rope_factors(const ModelConfig& c) {
  const std::int64_t half = c.head_dim / 2;
  at::Tensor f = at::empty({half}, at::kFloat);
  const double low_wavelen = c.rope_original_max_position / c.rope_low_freq_factor;
  const double high_wavelen = c.rope_original_max_position / c.rope_high_freq_factor;
  for (std::int64_t i = 0; i < half; ++i) {
    const double freq =
        1.0 / std::pow(c.rope_theta, static_cast<double>(2 * i) / static_cast<double>(c.head_dim));
    const double wavelen = 2 * M_PI / freq;
    double factor = 1.0;
    if (wavelen > low_wavelen) {
      factor = c.rope_factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (c.rope_original_max_position / wavelen - c.rope_low_freq_factor) /
                            (c.rope_high_freq_factor - c.rope_low_freq_factor);
      factor = 1.0 / ((1 - smooth) / c.rope_factor + smooth);
    }
    f[i] = static_cast<float>(factor);
  }
  return f;
}

// The GGUF architecture of `model`: its family's own when uniform (and, for a
// family whose llama.cpp architecture has square q/o projections, when the
// heads fill hidden_size), else llama.cpp's per-layer "deci".
std::string gguf_arch_for(const DecoderModel& model, bool uniform,
                          const std::vector<LayerShape>& shapes) {
  const HfFamily& f = model.family();
  const ModelConfig& c = model.config();
  if (f.gguf_arch.empty()) {
    throw ModelError("export --format gguf: model_type " + quote(c.model_type) +
                     " has no llama.cpp architecture (its adapter names none)");
  }
  const bool square = !f.gguf_square_attention || shapes[0].heads * c.head_dim == c.hidden_size;
  if (uniform && square) return f.gguf_arch;
  if (c.qk_norm) {
    std::size_t i = 0;
    while (i < shapes.size() && is_uniform({shapes[0], shapes[i]})) ++i;
    throw ModelError("export --format gguf: this " + c.model_type +
                     " model has per-layer widths (layer " + std::to_string(i) +
                     " differs from layer 0), which llama.cpp holds only as the 'deci' "
                     "architecture, and deci has no place for per-head q/k norms; export it as "
                     "hf, or search a space that keeps every layer's widths equal");
  }
  return "deci";
}

FormatExport export_gguf(const std::string& model_dir, const DecoderModel& model,
                         at::ScalarType dtype, const std::string& out) {
  const ModelConfig& c = model.config();
  const ModelWeights w = without_empty_layers(model.weights());
  const std::vector<LayerShape> shapes = layer_shapes(w);
  const bool uniform = is_uniform(shapes);
  const std::string arch = gguf_arch_for(model, uniform, shapes);
  const bool deci = arch == "deci";
  // llama.cpp rotates consecutive pairs in deci, and in the family's own
  // architecture when the family says so (else halves).
  const bool pairs_rope = deci || model.family().gguf_rope_pairs;
  const GgmlType matrix_type = ggml_type_of(dtype);
  const int L = static_cast<int>(w.layers.size());
  FormatExport r;
  r.format = "gguf";
  r.out = out;
  r.arch = arch;

  GgufWriter g;
  g.set_string("general.architecture", arch);
  g.set_string("general.name", folder_name(model_dir));
  // llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_BF16 32.
  g.set_u32("general.file_type", dtype == at::kFloat ? 0 : dtype == at::kHalf ? 1 : 32);
  const std::string A = arch + ".";
  g.set_u32(A + "context_length", static_cast<std::uint32_t>(c.max_position_embeddings));
  g.set_u32(A + "embedding_length", static_cast<std::uint32_t>(c.hidden_size));
  g.set_u32(A + "block_count", static_cast<std::uint32_t>(L));
  g.set_u32(A + "vocab_size", static_cast<std::uint32_t>(c.vocab_size));
  g.set_f32(A + "attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  g.set_f32(A + "rope.freq_base", static_cast<float>(c.rope_theta));
  g.set_u32(A + "rope.dimension_count", static_cast<std::uint32_t>(c.head_dim));
  g.set_u32(A + "attention.key_length", static_cast<std::uint32_t>(c.head_dim));
  g.set_u32(A + "attention.value_length", static_cast<std::uint32_t>(c.head_dim));
  if (c.rope_type == "linear") {
    g.set_string(A + "rope.scaling.type", "linear");
    g.set_f32(A + "rope.scaling.factor", static_cast<float>(c.rope_factor));
  }

  // Per-layer sizes, and for deci the stand-ins llama.cpp needs to compute
  // the same function (deci.cpp): a layer whose feed_forward_length is 0 is
  // skipped whole, attention output included, so a layer that keeps its
  // attention but not its MLP gets an MLP of width 1 whose down projection is
  // zero; layer 0 must have attention, so a layer 0 without it gets a
  // "linear attention" (head_count > 0, head_count_kv 0: only attn_output)
  // that is zero.
  std::vector<std::int32_t> heads(L), kv_heads(L), ffn(L);
  std::vector<bool> zero_mlp(L, false), zero_linear_attn(L, false);
  for (int i = 0; i < L; ++i) {
    const LayerShape& s = shapes[i];
    heads[i] = s.heads;
    kv_heads[i] = s.kv_heads;
    ffn[i] = s.channels;
    if (!deci) continue;
    if (!s.mlp) {
      ffn[i] = 1;
      zero_mlp[i] = true;
      r.notes.push_back("layer " + std::to_string(i) +
                        ": no MLP, written as an MLP of width 1 with a zero down projection");
    }
    if (!s.attn && i == 0) {
      heads[i] = c.num_heads;
      kv_heads[i] = 0;
      zero_linear_attn[i] = true;
      r.notes.push_back(
          "layer 0: no attention, written as a zero linear attention (llama.cpp needs "
          "attention in layer 0)");
    }
  }
  if (deci) {
    g.set_i32_array(A + "attention.head_count", heads);
    g.set_i32_array(A + "attention.head_count_kv", kv_heads);
    g.set_i32_array(A + "feed_forward_length", ffn);
  } else {
    g.set_u32(A + "attention.head_count", static_cast<std::uint32_t>(heads[0]));
    g.set_u32(A + "attention.head_count_kv", static_cast<std::uint32_t>(kv_heads[0]));
    g.set_u32(A + "feed_forward_length", static_cast<std::uint32_t>(ffn[0]));
  }

  // Tensors: the Hugging Face list under GGUF names, q/k rows reordered per
  // head where llama.cpp rotates pairs.
  const HfTensorNames names = gguf_names();
  std::map<std::string, std::int64_t> rope_rows;  // tensor name -> its heads
  for (int i = 0; i < L; ++i) {
    if (!shapes[i].attn) continue;
    rope_rows[hf_layer_name(names.q, i)] = shapes[i].heads;
    rope_rows[hf_layer_name(names.q_bias, i)] = shapes[i].heads;
    rope_rows[hf_layer_name(names.k, i)] = shapes[i].kv_heads;
    rope_rows[hf_layer_name(names.k_bias, i)] = shapes[i].kv_heads;
  }
  ModelConfig named = c;
  named.num_layers = L;
  // A tied head has no tensor: llama.cpp uses token_embd when output.weight
  // is absent (llama, qwen2, qwen3 and deci alike).
  const auto options = at::TensorOptions().dtype(at::kFloat);
  const std::int64_t d = c.hidden_size;
  auto add = [&](const std::string& name, const at::Tensor& t) {
    // 1-D tensors (norms, biases, rope factors) stay float32, as llama.cpp's
    // converter writes them.
    g.add_tensor(name, t, t.dim() == 1 ? GgmlType::kF32 : matrix_type);
  };
  for (auto& [name, t] : named_hf_tensors(named, w, names)) {
    auto it = rope_rows.find(name);
    add(name, pairs_rope && it != rope_rows.end() ? rotate_half_to_pairs(t, it->second) : t);
  }
  for (int i = 0; i < L; ++i) {
    if (zero_linear_attn[i]) {
      add(hf_layer_name(names.input_norm, i), at::ones({d}, options));
      add(hf_layer_name(names.o, i), at::zeros({d, d}, options));
    }
    if (zero_mlp[i]) {
      add(hf_layer_name(names.post_norm, i), at::ones({d}, options));
      add(hf_layer_name(names.gate, i), at::zeros({1, d}, options));
      add(hf_layer_name(names.up, i), at::zeros({1, d}, options));
      add(hf_layer_name(names.down, i), at::zeros({d, 1}, options));
    }
  }
  if (c.rope_type == "llama3") add("rope_freqs.weight", llama3_rope_factors(c));
  // Stand-ins and rope factors are not the model's parameters.
  r.params = count_parameters(c, w);

  const std::string vocab_note = add_gguf_vocab(g, model_dir, c.vocab_size);
  if (!vocab_note.empty()) r.notes.push_back(vocab_note);
  g.write(out);
  r.bytes = fs::file_size(out);
  return r;
}

// --- Nemotron-NAS (DeciLM) -------------------------------------------------

// The width DeciLM's config gives an MLP: round_up(int(2 * ffn_mult * hidden / 3), 256),
// evaluated as Python evaluates it (left to right in double precision).
std::int64_t deci_ffn_width(double ffn_mult, std::int64_t hidden) {
  const auto n = static_cast<std::int64_t>(2.0 * ffn_mult * static_cast<double>(hidden) / 3.0);
  return n % 256 == 0 ? n : n + 256 - n % 256;
}

// An ffn_mult whose width is exactly `width` (a multiple of 256).
double deci_ffn_mult(std::int64_t width, std::int64_t hidden) {
  double m = 1.5 * static_cast<double>(width) / static_cast<double>(hidden);
  for (int i = 0; i < 8 && deci_ffn_width(m, hidden) != width; ++i) {
    m = std::nextafter(m, deci_ffn_width(m, hidden) < width ? 1e300 : 0.0);
  }
  if (deci_ffn_width(m, hidden) != width) {
    throw Error("nemotron-nas: no ffn_mult gives width " + std::to_string(width));
  }
  return m;
}

// Zero rows of gate/up and zero columns of down up to `width` channels: the
// extra channels compute silu(0) * 0 = 0, so the function is unchanged.
MlpWeights zero_padded(const MlpWeights& m, std::int64_t width) {
  const std::int64_t extra = width - m.channels();
  if (extra == 0) return m;
  MlpWeights p = m;
  auto rows = [&](const at::Tensor& t) {
    return at::cat({t, at::zeros({extra, t.size(1)}, t.options())}, 0);
  };
  p.gate = rows(m.gate);
  p.up = rows(m.up);
  p.down = at::cat({m.down, at::zeros({m.down.size(0), extra}, m.down.options())}, 1);
  auto bias = [&](const at::Tensor& b) {
    return b.defined() ? at::cat({b, at::zeros({extra}, b.options())}, 0) : b;
  };
  p.gate_bias = bias(m.gate_bias);
  p.up_bias = bias(m.up_bias);
  return p;
}

FormatExport export_nemotron_nas(const std::string& model_dir, const DecoderModel& model,
                                 at::ScalarType dtype, const std::string& out,
                                 std::uint64_t max_shard_bytes) {
  const ModelConfig& c = model.config();
  const std::string what = "export --format nemotron-nas: ";
  // DeciLM's config states Llama-style blocks: one attention_bias flag for
  // q/k/v/o, no q/k norms.
  if (c.qk_norm || c.attention_bias != c.o_proj_bias) {
    throw ModelError(
        what + "DeciLM's config holds Llama-style blocks only; model_type " + quote(c.model_type) +
        (c.qk_norm ? " has per-head q/k norms" : " has q/k/v biases without o_proj's") +
        ", which it has no field for (export it as gguf or hf)");
  }
  ModelWeights w = without_empty_layers(model.weights());
  const std::vector<LayerShape> shapes = layer_shapes(w);
  int heads = 0, first_attn = -1;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    if (!shapes[i].attn) continue;
    if (first_attn < 0) {
      heads = shapes[i].heads;
      first_attn = static_cast<int>(i);
    } else if (shapes[i].heads != heads) {
      throw ModelError(what + "layer " + std::to_string(i) + " keeps " +
                       std::to_string(shapes[i].heads) + " query heads and layer " +
                       std::to_string(first_attn) + " keeps " + std::to_string(heads) +
                       ": DeciLM has one num_attention_heads for every layer (search a space "
                       "with space.preset: nemotron_nas)");
    }
  }
  if (first_attn < 0) heads = c.num_heads;
  FormatExport r;
  r.format = nemotron_nas_format();
  r.out = out;
  r.arch = nemotron_nas_format();
  nlohmann::ordered_json blocks = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const LayerShape& s = shapes[i];
    nlohmann::ordered_json attn = {{"no_op", !s.attn}, {"replace_with_linear", false}};
    attn["n_heads_in_group"] = nullptr;
    if (s.attn) attn["n_heads_in_group"] = heads / s.kv_heads;
    nlohmann::ordered_json ffn = {{"no_op", !s.mlp}, {"replace_with_linear", false}};
    ffn["ffn_mult"] = nullptr;
    if (s.mlp) {
      const std::int64_t width = (s.channels + 255) / 256 * 256;
      if (width != s.channels) {
        w.layers[i].ffn = zero_padded(w.layers[i].ffn, width);
        r.notes.push_back("layer " + std::to_string(i) + ": MLP width " +
                          std::to_string(s.channels) + " zero-padded to " + std::to_string(width) +
                          " (DeciLM widths are multiples of 256)");
      }
      ffn["ffn_mult"] = deci_ffn_mult(width, c.hidden_size);
    }
    blocks.push_back({{"attention", attn}, {"ffn", ffn}});
  }
  nlohmann::ordered_json cfg = read_config_template(model_dir);
  for (const char* k : {"tracenas_layers", "layer_types", "num_key_value_heads",
                        "intermediate_size", "block_configs", "max_window_layers"}) {
    cfg.erase(k);
  }
  cfg["architectures"] = {"DeciLMForCausalLM"};
  cfg["model_type"] = nemotron_nas_format();
  // The config and modeling code NVIDIA publishes with its Nemotron-NAS models.
  cfg["auto_map"] = {{"AutoConfig", "configuration_decilm.DeciLMConfig"},
                     {"AutoModelForCausalLM", "modeling_decilm.DeciLMForCausalLM"}};
  cfg["num_hidden_layers"] = w.layers.size();
  cfg["num_attention_heads"] = heads;
  cfg["head_dim"] = c.head_dim;
  cfg["block_configs"] = blocks;
  cfg["torch_dtype"] = dtype_name(dtype);

  ModelConfig named = c;
  named.num_layers = static_cast<int>(w.layers.size());
  NamedTensors tensors;
  for (auto& [name, t] : named_hf_tensors(named, w, hf_decoder_names())) {
    tensors.emplace_back(name, t.to(dtype).contiguous());
    r.params += t.numel();
  }
  write_hf_folder(model_dir, out, tensors, cfg, {{"format", "pt"}}, max_shard_bytes, {});
  return r;
}

// --- Hugging Face --------------------------------------------------------

FormatExport export_hf(const std::string& model_dir, const DecoderModel& model,
                       at::ScalarType dtype, const std::string& out,
                       std::uint64_t max_shard_bytes) {
  std::string arch_json;
  std::error_code ec;
  if (fs::exists(fs::path(model_dir) / "arch.json", ec)) {
    std::ifstream in(fs::path(model_dir) / "arch.json");
    std::ostringstream ss;
    ss << in.rdbuf();
    arch_json = ss.str();
  }
  if (read_config_template(model_dir).contains("block_configs")) {
    throw ModelError("export --format hf: " + model_dir +
                     " is a Nemotron-NAS folder, already in Hugging Face layout (DeciLM's own "
                     "config)");
  }
  ExportResult e =
      write_hf_model(model_dir, model, model.weights(), out, max_shard_bytes, dtype, arch_json);
  FormatExport r;
  r.format = "hf";
  r.out = out;
  r.arch = model.config().model_type;
  r.params = e.params;
  if (!e.uniform) r.notes.push_back("per-layer widths: config.json holds tracenas_layers");
  return r;
}

std::uint64_t folder_bytes(const fs::path& dir) {
  std::uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) n += e.file_size();
  }
  return n;
}

// Runs `write(staging)` into a new folder beside `out` and renames it to `out`
// only when it succeeded; a failure removes the staging folder.
template <typename Write>
FormatExport staged_folder(const std::string& out, Write&& write) {
  const fs::path target = fs::path(out).lexically_normal();
  const fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::string pattern = (parent / ("." + target.filename().string() + ".partial-XXXXXX")).string();
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    throw Error(out + ": cannot create a folder beside it: " + std::strerror(errno));
  }
  const fs::path staging(buf.data());
  try {
    FormatExport r = write(staging.string());
    std::error_code ec;
    if (fs::exists(target, ec)) fs::remove(target);  // an empty folder (checked before)
    fs::rename(staging, target);
    r.out = out;
    r.bytes = folder_bytes(target);
    return r;
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
}

}  // namespace

FormatExport export_model(const std::string& model_dir, const DecoderModel& model,
                          const std::string& format, at::ScalarType dtype, const std::string& out,
                          std::uint64_t max_shard_bytes) {
  if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16) {
    throw UsageError(std::string("export: --dtype must be float32, float16 or bfloat16 (got ") +
                     dtype_name(dtype) + ")");
  }
  if (std::find(export_formats().begin(), export_formats().end(), format) ==
      export_formats().end()) {
    throw UsageError("export: unknown format " + quote(format) +
                     " (known: " + join(export_formats(), ", ") + ")");
  }
  // The output path: its folder must exist; a folder output must not hold
  // anything yet, and is never the model folder itself.
  const fs::path target = fs::path(out).lexically_normal();
  const fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    throw UsageError("export: --out " + quote(out) + ": the folder " + quote(parent.string()) +
                     " does not exist");
  }
  if (format == "gguf") {
    if (fs::is_directory(target, ec)) {
      throw UsageError("export: --out " + quote(out) + " is a folder; name the .gguf file");
    }
    return export_gguf(model_dir, model, dtype, out);
  }
  if (fs::exists(target, ec) && !(fs::is_directory(target, ec) && fs::is_empty(target, ec))) {
    throw UsageError("export: --out " + quote(out) +
                     " already exists and is not an empty folder; choose a new folder");
  }
  return staged_folder(out, [&](const std::string& staging) {
    return format == "hf" ? export_hf(model_dir, model, dtype, staging, max_shard_bytes)
                          : export_nemotron_nas(model_dir, model, dtype, staging, max_shard_bytes);
  });
}

}  // namespace tracenas
