#include "io/llama2c.hpp"

#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/safetensors.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/cache.hpp"
#include "tracenas/support/hf_family.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

// [heads * h, dim] rows from llama2.c's interleaved-pair order (per head: x0 y0
// x1 y1 ...) to Hugging Face's rotate-half order (x0 x1 ... y0 y1 ...).
at::Tensor permute_rope_rows(const at::Tensor& w, int64_t heads, int64_t head_size) {
  const int64_t dim = w.size(1);
  return w.view({heads, head_size / 2, 2, dim}).transpose(1, 2).reshape({heads * head_size, dim});
}

// The version-0 header: seven int32 (a negative vocab_size: a separate
// classifier follows the weights), checked against the file size.
struct Header {
  int64_t dim = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, vocab = 0, seq_len = 0;
  bool shared = true;  // the classifier is the embedding
  int64_t head_size() const { return dim / heads; }
  int64_t kv_dim() const { return kv_heads * head_size(); }
  // Every float32 of the file after the header, in file order.
  int64_t floats() const {
    const int64_t L = layers, hs = head_size();
    return vocab * dim + L * dim + L * dim * dim + 2 * L * kv_dim() * dim + L * dim * dim +
           L * dim + 3 * L * hidden * dim + dim + seq_len * hs + (shared ? 0 : vocab * dim);
  }
};

Header read_header(std::ifstream& in, const std::string& bin_path, std::int64_t file_size) {
  if (file_size < 28) {
    throw ModelError(bin_path + ": " + std::to_string(file_size) +
                     " bytes is too short for a llama2.c header (28 bytes)");
  }
  std::int32_t hdr[7];
  in.read(reinterpret_cast<char*>(hdr), sizeof hdr);
  const char* names[7] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                          "n_kv_heads", "vocab_size", "seq_len"};
  for (int i = 0; i < 7; ++i) {
    if (hdr[i] == 0 || (hdr[i] < 0 && i != 5) || hdr[i] > (1 << 24) || hdr[i] < -(1 << 24)) {
      throw ModelError(bin_path + ": header field " + names[i] + " is " + std::to_string(hdr[i]) +
                       " (expected a positive value)");
    }
  }
  Header h;
  h.dim = hdr[0];
  h.hidden = hdr[1];
  h.layers = hdr[2];
  h.heads = hdr[3];
  h.kv_heads = hdr[4];
  h.shared = hdr[5] > 0;
  h.vocab = h.shared ? hdr[5] : -static_cast<int64_t>(hdr[5]);
  h.seq_len = hdr[6];
  if (h.dim % h.heads != 0) {
    throw ModelError(bin_path + ": header field n_heads " + std::to_string(h.heads) +
                     " does not divide dim " + std::to_string(h.dim));
  }
  if (h.heads % h.kv_heads != 0) {
    throw ModelError(bin_path + ": header field n_kv_heads " + std::to_string(h.kv_heads) +
                     " does not divide n_heads " + std::to_string(h.heads));
  }
  if (h.head_size() % 2 != 0) {
    throw ModelError(bin_path + ": head size " + std::to_string(h.head_size()) +
                     " must be even for RoPE");
  }
  const int64_t expected = 28 + 4 * h.floats();
  if (file_size != expected) {
    throw ModelError(bin_path + ": size " + std::to_string(file_size) +
                     " bytes does not match the header's shapes (expected " +
                     std::to_string(expected) + " bytes; is this a llama2.c version-0 file?)");
  }
  return h;
}

// The weights under the Hugging Face decoder names (hf_family.hpp), q and k
// rows in rotate-half order. `all` holds the file's floats after the header.
NamedTensors hf_tensors(const Header& h, const at::Tensor& all) {
  const int64_t dim = h.dim, hidden = h.hidden, L = h.layers, V = h.vocab;
  const int64_t hs = h.head_size(), kv_dim = h.kv_dim();
  int64_t off = 0;
  auto take = [&](std::vector<int64_t> shape) {  // the next prod(shape) floats, as a view
    int64_t n = 1;
    for (auto s : shape) n *= s;
    at::Tensor t = all.narrow(0, off, n).view(shape);
    off += n;
    return t;
  };
  at::Tensor embed = take({V, dim});
  at::Tensor att_norm = take({L, dim});
  at::Tensor wq = take({L, dim, dim});     // [L, H * hs, dim]
  at::Tensor wk = take({L, kv_dim, dim});  // [L, G * hs, dim]
  at::Tensor wv = take({L, kv_dim, dim});
  at::Tensor wo = take({L, dim, dim});
  at::Tensor ffn_norm = take({L, dim});
  at::Tensor w1 = take({L, hidden, dim});  // gate
  at::Tensor w2 = take({L, dim, hidden});  // down
  at::Tensor w3 = take({L, hidden, dim});  // up
  at::Tensor final_norm = take({dim});
  take({h.seq_len, hs});  // freq_cis_real and freq_cis_imag: [seq_len, hs/2] each
  at::Tensor wcls = h.shared ? embed : take({V, dim});

  const HfTensorNames n = hf_decoder_names();
  NamedTensors tensors;
  tensors.emplace_back(n.embed, embed);
  for (int64_t l = 0; l < L; ++l) {
    const int i = static_cast<int>(l);
    auto add = [&](const std::string& pattern, const at::Tensor& t) {
      tensors.emplace_back(hf_layer_name(pattern, i), t);
    };
    add(n.input_norm, att_norm[l]);
    add(n.q, permute_rope_rows(wq[l], h.heads, hs));
    add(n.k, permute_rope_rows(wk[l], h.kv_heads, hs));
    add(n.v, wv[l]);
    add(n.o, wo[l]);
    add(n.post_norm, ffn_norm[l]);
    add(n.gate, w1[l]);
    add(n.down, w2[l]);
    add(n.up, w3[l]);
  }
  tensors.emplace_back(n.final_norm, final_norm);
  if (!h.shared) tensors.emplace_back(n.lm_head, wcls);
  return tensors;
}

// A llama2.c model is a Llama by definition of the format.
nlohmann::ordered_json llama_config(const Header& h) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", h.dim},
          {"intermediate_size", h.hidden},
          {"num_hidden_layers", h.layers},
          {"num_attention_heads", h.heads},
          {"num_key_value_heads", h.kv_heads},
          {"head_dim", h.head_size()},
          {"vocab_size", h.vocab},
          {"max_position_embeddings", h.seq_len},
          {"rms_norm_eps", 1e-5},
          {"rope_theta", 10000.0},
          {"hidden_act", "silu"},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"tie_word_embeddings", h.shared},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"torch_dtype", "float32"}};
}

}  // namespace

Llama2cResult convert_llama2c(const std::string& bin_path, const std::string& out_dir) {
  std::ifstream in(bin_path, std::ios::binary);
  if (!in) throw ModelError(bin_path + ": cannot read the llama2.c checkpoint");
  in.seekg(0, std::ios::end);
  const std::int64_t file_size = static_cast<std::int64_t>(in.tellg());
  in.seekg(0);
  const Header h = read_header(in, bin_path, file_size);
  at::Tensor all = at::empty({h.floats()}, at::kFloat);  // [floats], the file after the header
  in.read(reinterpret_cast<char*>(all.data_ptr<float>()), h.floats() * 4);
  if (!in) throw ModelError(bin_path + ": read failed");
  const NamedTensors tensors = hf_tensors(h, all);
  int64_t params = 0;
  for (const auto& [n, t] : tensors) params += t.numel();

  fs::create_directories(out_dir);
  save_checkpoint(out_dir, tensors, {{"format", "pt"}, {"source", "llama2.c"}}, 0);
  write_file_atomic((fs::path(out_dir) / "config.json").string(), llama_config(h).dump(2) + "\n");
  return {out_dir, params};
}
}  // namespace tracenas
