#include "tracenas/support/hf_checkpoint.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "base/util.hpp"
#include "io/safetensors.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/hf_config.hpp"

namespace tracenas {
namespace {

std::string shape_str(at::IntArrayRef s) { return shape_text(s.vec()); }

class Loader {
 public:
  Loader(const std::string& dir, const LoadOptions& options)
      : ckpt_(Checkpoint::open_dir(dir)),
        dir_(dir),
        device_(options.device == "cuda" ? at::Device(at::kCUDA) : at::Device(options.device)),
        dtype_(parse_dtype(options.dtype)) {}

  at::Tensor take(const std::string& name, std::vector<int64_t> expected) {
    if (name.empty()) {
      throw ModelError(dir_ +
                       ": config.json asks for a tensor this architecture does not have "
                       "(shape " +
                       shape_str(expected) + ")");
    }
    if (!ckpt_.has(name)) throw ModelError(dir_ + ": tensor '" + name + "' is missing");
    at::Tensor t = ckpt_.get(name);
    if (t.sizes() != at::IntArrayRef(expected)) {
      throw ModelError(dir_ + ": tensor '" + name + "': expected shape " + shape_str(expected) +
                       ", found " + shape_str(t.sizes()));
    }
    used_.insert(name);
    return t.to(device_, dtype_);
  }

  void check_all_used() const {
    for (const std::string& n : ckpt_.names()) {
      if (used_.count(n)) continue;
      if (n.size() >= 19 && n.compare(n.size() - 19, 19, "rotary_emb.inv_freq") == 0) continue;
      throw ModelError(dir_ + ": tensor '" + n +
                       "' is not used by this architecture (check config.json: attention_bias, "
                       "mlp_bias, tie_word_embeddings, num_hidden_layers)");
    }
  }

  bool has(const std::string& name) const { return ckpt_.has(name); }

 private:
  Checkpoint ckpt_;
  std::string dir_;
  at::Device device_;
  at::ScalarType dtype_;
  std::set<std::string> used_;
};

}  // namespace

std::shared_ptr<DecoderModel> load_hf_decoder(const std::string& dir, const ModelConfig& c,
                                              const HfFamily& family, const LoadOptions& options) {
  const HfTensorNames& names = family.names;
  Loader ld(dir, options);
  const int64_t d = c.hidden_size, V = c.vocab_size, h = c.head_dim;
  ModelWeights w;
  w.embed = ld.take(names.embed, {V, d});
  w.final_norm = ld.take(names.final_norm, {d});
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;
    // Some tied checkpoints also store the head; it must then equal the embedding.
    if (ld.has(names.lm_head)) {
      at::Tensor head = ld.take(names.lm_head, {V, d});
      if (!at::equal(head, w.embed)) {
        throw ModelError(dir + ": tie_word_embeddings is true but '" + names.lm_head +
                         "' differs from '" + names.embed + "'");
      }
    }
  } else {
    w.lm_head = ld.take(names.lm_head, {V, d});
  }
  for (int i = 0; i < c.num_layers; ++i) {
    auto nm = [&](const std::string& p) { return hf_layer_name(p, i); };
    LayerWeights l;
    // Per-layer widths of a model pruned by TraceNAS (uniform otherwise).
    int64_t G = c.num_kv_heads, n = c.num_heads / c.num_kv_heads, I = c.intermediate_size;
    if (!c.layer_widths.empty()) {
      const ModelConfig::LayerWidth& lw = c.layer_widths[static_cast<std::size_t>(i)];
      l.attn = lw.attn;
      l.mlp = lw.mlp;
      if (lw.attn) {
        G = lw.kv_heads;
        n = lw.heads / lw.kv_heads;
      }
      if (lw.mlp) I = lw.mlp_channels;
    }
    AttentionWeights& a = l.attention;
    if (l.attn) {
      a.input_norm = ld.take(nm(names.input_norm), {d});
      a.q = ld.take(nm(names.q), {G * n * h, d}).view({G, n, h, d});
      a.k = ld.take(nm(names.k), {G * h, d}).view({G, h, d});
      a.v = ld.take(nm(names.v), {G * h, d}).view({G, h, d});
      a.o = ld.take(nm(names.o), {d, G * n * h}).view({d, G, n, h});
      if (c.attention_bias) {
        a.q_bias = ld.take(nm(names.q_bias), {G * n * h}).view({G, n, h});
        a.k_bias = ld.take(nm(names.k_bias), {G * h}).view({G, h});
        a.v_bias = ld.take(nm(names.v_bias), {G * h}).view({G, h});
      }
      if (c.o_proj_bias) a.o_bias = ld.take(nm(names.o_bias), {d});
      if (c.qk_norm) {
        a.q_norm = ld.take(nm(names.q_norm), {h});
        a.k_norm = ld.take(nm(names.k_norm), {h});
      }
    }
    MlpWeights& m = l.ffn;
    if (l.mlp) {
      m.post_norm = ld.take(nm(names.post_norm), {d});
      m.gate = ld.take(nm(names.gate), {I, d});
      m.up = ld.take(nm(names.up), {I, d});
      m.down = ld.take(nm(names.down), {d, I});
      if (c.mlp_bias) {
        m.gate_bias = ld.take(nm(names.gate_bias), {I});
        m.up_bias = ld.take(nm(names.up_bias), {I});
        m.down_bias = ld.take(nm(names.down_bias), {d});
      }
    }
    w.layers.push_back(std::move(l));
  }
  ld.check_all_used();
  return std::make_shared<DecoderModel>(c, std::move(w), family);
}

std::int64_t checkpoint_numel(const std::string& dir) {
  return Checkpoint::open_dir(dir).numel_total();
}

HfDecoderAdapter::HfDecoderAdapter(std::string path, std::vector<HfFamily> families)
    : path_(std::move(path)),
      families_(std::move(families)),
      config_(read_hf_config(path_, families_)) {}

HfDecoderAdapter::~HfDecoderAdapter() = default;

std::shared_ptr<DecoderModel> HfDecoderAdapter::load(const LoadOptions& options) const {
  return load_hf_decoder(path_, config_, *find_hf_family(families_, config_.model_type), options);
}

}  // namespace tracenas
