#include "io/llama2c.hpp"

#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/safetensors.hpp"
#include "tracenas/error.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

// [heads * h, dim] rows from interleaved-pair order to rotate-half order.
at::Tensor permute_rope_rows(const at::Tensor& w, int64_t heads, int64_t head_size) {
  const int64_t dim = w.size(1);
  return w.view({heads, head_size / 2, 2, dim}).transpose(1, 2).reshape({heads * head_size, dim});
}

}  // namespace

Llama2cResult convert_llama2c(const std::string& bin_path, const std::string& out_dir) {
  std::ifstream in(bin_path, std::ios::binary);
  if (!in) throw ModelError(bin_path + ": cannot read the llama2.c checkpoint");
  in.seekg(0, std::ios::end);
  const std::int64_t file_size = static_cast<std::int64_t>(in.tellg());
  in.seekg(0);
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
  const int64_t dim = hdr[0], hidden = hdr[1], L = hdr[2], H = hdr[3], G = hdr[4];
  const bool shared = hdr[5] > 0;
  const int64_t V = shared ? hdr[5] : -static_cast<int64_t>(hdr[5]);
  const int64_t seq_len = hdr[6];
  if (dim % H != 0) {
    throw ModelError(bin_path + ": header field n_heads " + std::to_string(H) +
                     " does not divide dim " + std::to_string(dim));
  }
  if (H % G != 0) {
    throw ModelError(bin_path + ": header field n_kv_heads " + std::to_string(G) +
                     " does not divide n_heads " + std::to_string(H));
  }
  const int64_t hs = dim / H, kv_dim = G * hs;
  if (hs % 2 != 0) {
    throw ModelError(bin_path + ": head size " + std::to_string(hs) + " must be even for RoPE");
  }
  const int64_t floats = V * dim + L * dim + L * dim * dim + 2 * L * kv_dim * dim + L * dim * dim +
                         L * dim + 3 * L * hidden * dim + dim + seq_len * hs +
                         (shared ? 0 : V * dim);
  const int64_t expected = 28 + 4 * floats;
  if (file_size != expected) {
    throw ModelError(bin_path + ": size " + std::to_string(file_size) +
                     " bytes does not match the header's shapes (expected " +
                     std::to_string(expected) + " bytes; is this a llama2.c version-0 file?)");
  }
  at::Tensor all = at::empty({floats}, at::kFloat);
  in.read(reinterpret_cast<char*>(all.data_ptr<float>()), floats * 4);
  if (!in) throw ModelError(bin_path + ": read failed");

  int64_t off = 0;
  auto take = [&](std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    at::Tensor t = all.narrow(0, off, n).view(shape);
    off += n;
    return t;
  };
  at::Tensor embed = take({V, dim});
  at::Tensor att_norm = take({L, dim});
  at::Tensor wq = take({L, dim, dim});
  at::Tensor wk = take({L, kv_dim, dim});
  at::Tensor wv = take({L, kv_dim, dim});
  at::Tensor wo = take({L, dim, dim});
  at::Tensor ffn_norm = take({L, dim});
  at::Tensor w1 = take({L, hidden, dim});
  at::Tensor w2 = take({L, dim, hidden});
  at::Tensor w3 = take({L, hidden, dim});
  at::Tensor final_norm = take({dim});
  take({seq_len, hs});  // freq_cis_real and freq_cis_imag: [seq_len, hs/2] each
  at::Tensor wcls = shared ? embed : take({V, dim});

  NamedTensors tensors;
  tensors.emplace_back("model.embed_tokens.weight", embed);
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    tensors.emplace_back(p + "input_layernorm.weight", att_norm[l]);
    tensors.emplace_back(p + "self_attn.q_proj.weight", permute_rope_rows(wq[l], H, hs));
    tensors.emplace_back(p + "self_attn.k_proj.weight", permute_rope_rows(wk[l], G, hs));
    tensors.emplace_back(p + "self_attn.v_proj.weight", wv[l]);
    tensors.emplace_back(p + "self_attn.o_proj.weight", wo[l]);
    tensors.emplace_back(p + "post_attention_layernorm.weight", ffn_norm[l]);
    tensors.emplace_back(p + "mlp.gate_proj.weight", w1[l]);
    tensors.emplace_back(p + "mlp.down_proj.weight", w2[l]);
    tensors.emplace_back(p + "mlp.up_proj.weight", w3[l]);
  }
  tensors.emplace_back("model.norm.weight", final_norm);
  if (!shared) tensors.emplace_back("lm_head.weight", wcls);
  int64_t params = 0;
  for (const auto& [n, t] : tensors) params += t.numel();

  nlohmann::ordered_json cfg = {{"architectures", {"LlamaForCausalLM"}},
                                {"model_type", "llama"},
                                {"hidden_size", dim},
                                {"intermediate_size", hidden},
                                {"num_hidden_layers", L},
                                {"num_attention_heads", H},
                                {"num_key_value_heads", G},
                                {"head_dim", hs},
                                {"vocab_size", V},
                                {"max_position_embeddings", seq_len},
                                {"rms_norm_eps", 1e-5},
                                {"rope_theta", 10000.0},
                                {"hidden_act", "silu"},
                                {"attention_bias", false},
                                {"mlp_bias", false},
                                {"tie_word_embeddings", shared},
                                {"bos_token_id", 1},
                                {"eos_token_id", 2},
                                {"torch_dtype", "float32"}};
  fs::create_directories(out_dir);
  save_checkpoint(out_dir, tensors, {{"format", "pt"}, {"source", "llama2.c"}}, 0);
  const fs::path cfg_path = fs::path(out_dir) / "config.json";
  const fs::path tmp = cfg_path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << cfg.dump(2) << "\n";
    if (!out) throw Error("cannot write " + tmp.string());
  }
  fs::rename(tmp, cfg_path);
  return {out_dir, params};
}

}  // namespace tracenas
