// GGUF exports proven against the real llama.cpp (node-llama-cpp, CPU): every
// export is loaded by llama.cpp in a child process and its logits compared
// with TraceNAS's own forward on the same tokens (and, for the reference
// checkpoints, with the independent reference logits too). Nemotron-NAS
// exports have no runtime here: their config is checked against DeciLM's
// rules and TraceNAS reads them back to the same logits.
#include "model/runtime_export.hpp"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "checkpoints.hpp"
#include "io/llama2c.hpp"
#include "io/safetensors.hpp"
#include "model/export.hpp"
#include "model/subnet.hpp"
#include "test_dir.hpp"
#include "test_util.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/error.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

const std::string kLlamaCpp = TN_SOURCE_DIR "/tests/llamacpp";

// llama.cpp's logits [n, vocab] for `tokens` (one sequence from position 0),
// or a failure naming what went wrong. With `texts`, also llama.cpp's
// tokenization of each {"text"} line into `ids`.
struct LlamaCppRun {
  at::Tensor logits;
  std::vector<std::vector<std::int64_t>> ids;
  std::string error;
};

LlamaCppRun run_llamacpp(const std::string& gguf, const std::vector<std::int64_t>& tokens,
                         const std::string& texts = "") {
  LlamaCppRun r;
  if (!fs::exists(kLlamaCpp + "/node_modules/node-llama-cpp/package.json")) {
    r.error =
        "node-llama-cpp is not installed in " + kLlamaCpp + " (bash scripts/setup.sh installs it)";
    return r;
  }
  const std::string base = gguf + ".run";
  {
    std::ofstream t(base + ".tokens.txt");
    for (std::int64_t id : tokens) t << id << ' ';
  }
  std::string cmd =
      "node " + kLlamaCpp + "/logits.mjs " + gguf + " " + base + ".tokens.txt " + base + ".f32";
  if (!texts.empty()) cmd += " " + texts + " " + base + ".ids.jsonl";
  cmd += " >" + base + ".out 2>" + base + ".err";
  const int status = std::system(cmd.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::ifstream e(base + ".err");
    std::stringstream ss;
    ss << e.rdbuf();
    r.error = "llama.cpp failed on " + gguf + ": " + ss.str();
    return r;
  }
  std::ifstream in(base + ".f32", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto n = static_cast<std::int64_t>(tokens.size());
  const std::int64_t vocab = static_cast<std::int64_t>(bytes.size() / 4) / n;
  r.logits = at::from_blob(bytes.data(), {n, vocab}, at::kFloat).clone();
  if (!texts.empty()) {
    std::ifstream ids(base + ".ids.jsonl");
    std::string line;
    while (std::getline(ids, line)) {
      r.ids.push_back(json::parse(line)["ids"].get<std::vector<std::int64_t>>());
    }
  }
  return r;
}

std::vector<std::int64_t> read_ids(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::int64_t> ids;
  for (std::int64_t v; in >> v;) ids.push_back(v);
  return ids;
}

at::Tensor read_f32(const std::string& path, std::int64_t rows) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto n = static_cast<std::int64_t>(bytes.size() / 4);
  return at::from_blob(bytes.data(), {rows, n / rows}, at::kFloat).clone();
}

// TraceNAS's float32 logits [n, vocab] for the folder's model.
at::Tensor our_logits(const std::string& dir, const std::vector<std::int64_t>& tokens) {
  auto m = testing::load_checkpoint(dir);
  at::NoGradGuard ng;
  at::Tensor t = at::tensor(tokens, at::kLong).view({1, -1});
  return m->logits(t).squeeze(0).to(at::kFloat);
}

FormatExport export_dir(const std::string& dir, const std::string& format, at::ScalarType dtype,
                        const std::string& out) {
  auto m = testing::load_checkpoint(dir);
  return export_model(dir, *m, format, dtype, out);
}

double max_abs(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

// Fraction of positions where both pick the same next token.
double argmax_agreement(const at::Tensor& a, const at::Tensor& b) {
  return a.argmax(-1).eq(b.argmax(-1)).to(at::kFloat).mean().item<double>();
}

const std::string& stories_dir() {
  static const std::string dir = [] {
    const std::string d = testing::test_path("rt_stories260K");
    convert_llama2c(TN_SHARED_DIR "/models/stories260K.bin", d);
    return d;
  }();
  return dir;
}

std::vector<std::int64_t> stories_tokens() {
  return read_ids(TN_SHARED_DIR "/reference/stories260K-llama2c/tokens.txt");
}

// --- uniform: llama.cpp's own architectures ------------------------------

void check_reference(const std::string& name, const std::string& arch) {
  const std::string dir = TN_SHARED_DIR "/reference/" + name;
  const std::string out = testing::test_path(name + ".gguf");
  const FormatExport e = export_dir(dir, "gguf", at::kFloat, out);
  EXPECT_EQ(e.arch, arch);
  const auto tokens = read_ids(dir + "/tokens.txt");
  const LlamaCppRun r = run_llamacpp(out, tokens);
  ASSERT_TRUE(r.error.empty()) << r.error;
  const at::Tensor ours = our_logits(dir, tokens);
  const at::Tensor reference =
      read_f32(dir + "/logits.f32", static_cast<std::int64_t>(tokens.size()));
  const double d_ours = max_abs(r.logits, ours);
  const double d_ref = max_abs(r.logits, reference);
  std::cout << "[llama.cpp] " << name << " F32 " << arch << ": max |diff| vs TraceNAS " << d_ours
            << ", vs reference " << d_ref << "\n";
  EXPECT_LT(d_ours, 1e-3);
  EXPECT_LT(d_ref, 1e-3);
}

TEST(GgufExport, Llama3TinyRunsInLlamaCpp) { check_reference("llama3-tiny", "llama"); }
TEST(GgufExport, Qwen2TinyRunsInLlamaCpp) { check_reference("qwen2-tiny", "qwen2"); }
TEST(GgufExport, Qwen3TinyRunsInLlamaCpp) { check_reference("qwen3-tiny", "qwen3"); }

TEST(GgufExport, Stories260KRunsInLlamaCppWithPlaceholderTokens) {
  const std::string out = testing::test_path("stories.gguf");
  const FormatExport e = export_dir(stories_dir(), "gguf", at::kFloat, out);
  EXPECT_EQ(e.arch, "llama");
  ASSERT_EQ(e.notes.size(), 1u);
  EXPECT_THAT(e.notes[0], ::testing::HasSubstr("placeholder tokens"));
  const auto tokens = stories_tokens();
  const LlamaCppRun r = run_llamacpp(out, tokens);
  ASSERT_TRUE(r.error.empty()) << r.error;
  const at::Tensor reference = read_f32(TN_SHARED_DIR "/reference/stories260K-llama2c/logits.f32",
                                        static_cast<std::int64_t>(tokens.size()));
  const double d_ours = max_abs(r.logits, our_logits(stories_dir(), tokens));
  const double d_ref = max_abs(r.logits, reference);
  std::cout << "[llama.cpp] stories260K F32 llama: max |diff| vs TraceNAS " << d_ours
            << ", vs reference " << d_ref << "\n";
  EXPECT_LT(d_ours, 1e-3);
  EXPECT_LT(d_ref, 1e-3);
}

// --- non-uniform: deci with stand-ins ------------------------------------

struct LayerPlan {
  bool attn;
  int heads, kv_heads;
  bool mlp;
  int channels;
};

// stories260K (8 query heads in 4 KV groups, MLP 172) pruned to `plan`,
// keeping the first units of each group (explicit indices, no importance).
std::string pruned_stories(const std::string& tag, const std::vector<LayerPlan>& plan) {
  auto base = testing::load_checkpoint(stories_dir());
  Arch a = full_arch(base->config());
  for (std::size_t i = 0; i < plan.size(); ++i) {
    LayerArch& l = a.layers[i];
    l.attn = plan[i].attn;
    l.mlp = plan[i].mlp;
    l.heads = plan[i].attn ? plan[i].heads : 0;
    l.kv_heads = plan[i].attn ? plan[i].kv_heads : 0;
    l.mlp_channels = plan[i].mlp ? plan[i].channels : 0;
    l.head_index.clear();
    l.channel_index.clear();
    if (l.attn) {
      for (int g = 0; g < l.kv_heads; ++g) {
        for (int j = 0; j < l.heads / l.kv_heads; ++j) l.head_index.push_back(g * 2 + j);
      }
    }
    for (int c = 0; c < l.mlp_channels; ++c) l.channel_index.push_back(c);
  }
  auto sel = select_units(base->config(), a, nullptr);
  const std::string out = testing::test_path("rt_pruned_" + tag);
  fs::remove_all(out);
  export_pruned(stories_dir(), *base, a, sel, out, 1ull << 30);
  return out;
}

struct DeciCase {
  std::string tag;
  std::vector<LayerPlan> plan;
  std::vector<std::string> notes;  // substrings the export's notes must hold
};

std::vector<DeciCase> deci_cases() {
  return {
      {"heads",
       {{true, 8, 4, true, 172},
        {true, 4, 2, true, 96},
        {true, 2, 2, true, 64},
        {true, 6, 3, true, 120},
        {true, 4, 4, true, 172}},
       {}},
      {"no_attention_first_and_middle",
       {{false, 0, 0, true, 172},
        {true, 4, 2, true, 96},
        {false, 0, 0, true, 64},
        {true, 8, 4, true, 120},
        {true, 4, 4, true, 172}},
       {"layer 0: no attention, written as a zero linear attention"}},
      {"no_mlp_middle_and_last",
       {{true, 8, 4, true, 172},
        {true, 4, 2, true, 96},
        {true, 8, 4, false, 0},
        {true, 8, 4, true, 120},
        {true, 4, 2, false, 0}},
       {"layer 2: no MLP, written as an MLP of width 1", "layer 4: no MLP"}},
      {"layer_with_both_removed",
       {{true, 8, 4, true, 172},
        {true, 4, 2, true, 96},
        {false, 0, 0, false, 0},
        {true, 8, 4, true, 120},
        {true, 8, 4, true, 172}},
       {}},
  };
}

// BF16: llama.cpp multiplies bfloat16 weights with activations rounded to
// bfloat16; TraceNAS's side has the same bfloat16 weights in float32
// arithmetic, so the bound covers the activations' rounding (measured with
// logits up to |17|: see the figures the test prints).
constexpr double kBf16Bound = 1.0;

void check_deci(const DeciCase& c, at::ScalarType dtype) {
  const std::string dir = pruned_stories(c.tag, c.plan);
  const std::string out =
      testing::test_path("rt_" + c.tag + (dtype == at::kFloat ? "_f32" : "_bf16") + ".gguf");
  const FormatExport e = export_dir(dir, "gguf", dtype, out);
  EXPECT_EQ(e.arch, "deci");
  std::string notes;
  for (const auto& n : e.notes) notes += n + "\n";
  for (const auto& want : c.notes) EXPECT_THAT(notes, ::testing::HasSubstr(want));
  const auto tokens = stories_tokens();
  const LlamaCppRun r = run_llamacpp(out, tokens);
  ASSERT_TRUE(r.error.empty()) << r.error;
  const at::Tensor ours = our_logits(dir, tokens);
  if (dtype == at::kFloat) {
    const double d = max_abs(r.logits, ours);
    std::cout << "[llama.cpp] stories260K " << c.tag << " F32 deci: max |diff| vs TraceNAS " << d
              << "\n";
    EXPECT_LT(d, 1e-3);
    return;
  }
  // TraceNAS on the same bfloat16 weights (the hf export in bfloat16, computed
  // in float32), and the argmax against the float32 model.
  const std::string rounded = testing::test_path("rt_" + c.tag + "_bf16_hf");
  fs::remove_all(rounded);
  export_dir(dir, "hf", at::kBFloat16, rounded);
  const double d = max_abs(r.logits, our_logits(rounded, tokens));
  const double agree = argmax_agreement(r.logits, ours);
  std::cout << "[llama.cpp] stories260K " << c.tag
            << " BF16 deci: max |diff| vs TraceNAS on the same bf16 weights " << d
            << ", vs float32 model " << max_abs(r.logits, ours) << ", argmax agreement with it "
            << agree << "\n";
  EXPECT_LT(d, kBf16Bound);
  EXPECT_GE(agree, 0.9);
}

TEST(GgufExport, DeciPerLayerHeadsF32) { check_deci(deci_cases()[0], at::kFloat); }
TEST(GgufExport, DeciPerLayerHeadsBF16) { check_deci(deci_cases()[0], at::kBFloat16); }
TEST(GgufExport, DeciWithoutAttentionF32) { check_deci(deci_cases()[1], at::kFloat); }
TEST(GgufExport, DeciWithoutAttentionBF16) { check_deci(deci_cases()[1], at::kBFloat16); }
TEST(GgufExport, DeciWithoutMlpF32) { check_deci(deci_cases()[2], at::kFloat); }
TEST(GgufExport, DeciWithoutMlpBF16) { check_deci(deci_cases()[2], at::kBFloat16); }
TEST(GgufExport, DeciLayerRemovedF32) { check_deci(deci_cases()[3], at::kFloat); }
TEST(GgufExport, DeciLayerRemovedBF16) { check_deci(deci_cases()[3], at::kBFloat16); }

// --- the tokenizer inside the file ----------------------------------------

// A one-layer random model of `vocab` rows in `dir`, with the tokenizer
// files of `tokenizer_dir` (or the one `tokenizer_file`) beside it.
void random_model(const std::string& dir, const std::string& model_type, int vocab,
                  const std::vector<std::string>& tokenizer_files) {
  fs::create_directories(dir);
  const int d = 32, h = 16, heads = 2, kv = 1, inter = 64;
  json cfg = {{"model_type", model_type},    {"hidden_size", d},
              {"num_hidden_layers", 1},      {"num_attention_heads", heads},
              {"num_key_value_heads", kv},   {"head_dim", h},
              {"intermediate_size", inter},  {"vocab_size", vocab},
              {"rms_norm_eps", 1e-5},        {"rope_theta", 10000.0},
              {"tie_word_embeddings", true}, {"torch_dtype", "float32"}};
  std::ofstream(dir + "/config.json") << cfg.dump(2);
  at::manual_seed(7);
  auto r = [](std::vector<std::int64_t> shape) { return at::randn(shape).mul(0.05); };
  NamedTensors t = {{"model.embed_tokens.weight", r({vocab, d})},
                    {"model.norm.weight", at::ones({d})},
                    {"model.layers.0.input_layernorm.weight", at::ones({d})},
                    {"model.layers.0.self_attn.q_proj.weight", r({heads * h, d})},
                    {"model.layers.0.self_attn.k_proj.weight", r({kv * h, d})},
                    {"model.layers.0.self_attn.v_proj.weight", r({kv * h, d})},
                    {"model.layers.0.self_attn.o_proj.weight", r({d, heads * h})},
                    {"model.layers.0.post_attention_layernorm.weight", at::ones({d})},
                    {"model.layers.0.mlp.gate_proj.weight", r({inter, d})},
                    {"model.layers.0.mlp.up_proj.weight", r({inter, d})},
                    {"model.layers.0.mlp.down_proj.weight", r({d, inter})}};
  if (model_type == "qwen2") {
    t.push_back({"model.layers.0.self_attn.q_proj.bias", r({heads * h})});
    t.push_back({"model.layers.0.self_attn.k_proj.bias", r({kv * h})});
    t.push_back({"model.layers.0.self_attn.v_proj.bias", r({kv * h})});
  }
  save_checkpoint(dir, t, {{"format", "pt"}}, 1ull << 32);
  for (const std::string& f : tokenizer_files) {
    // A SentencePiece model is always tokenizer.model in a model folder.
    const fs::path name =
        fs::path(f).extension() == ".model" ? fs::path("tokenizer.model") : fs::path(f).filename();
    fs::copy_file(f, fs::path(dir) / name, fs::copy_options::overwrite_existing);
  }
}

// Exports the model with its tokenizer, then has llama.cpp tokenize every
// text of the reference file (no special tokens) and counts the texts whose
// ids equal the reference tokenizer's.
// `llama_cpp_differs`: texts llama.cpp is known to tokenize differently from
// the Hugging Face tokenizer whatever the file says: it applies no NFC
// normalizer (Qwen's tokenizer.json has one), and it treats the ordinary
// Qwen token "</s>" as an end-of-generation token it matches in text.
void check_tokenizer(const std::string& name, const std::string& model_type, int vocab,
                     const std::vector<std::string>& files, const std::string& expect_model,
                     const std::set<std::string>& llama_cpp_differs = {}) {
  const std::string dir = testing::test_path("rt_tok_" + name);
  random_model(dir, model_type, vocab, files);
  const std::string out = dir + ".gguf";
  const FormatExport e = export_dir(dir, "gguf", at::kFloat, out);
  EXPECT_TRUE(e.notes.empty());
  const std::string ref = TN_SHARED_DIR "/reference/tokenizers/" + name + ".jsonl";
  const LlamaCppRun r = run_llamacpp(out, {1, 2, 3}, ref);
  ASSERT_TRUE(r.error.empty()) << r.error;
  const auto cases = testing::read_jsonl(ref);
  ASSERT_EQ(r.ids.size(), cases.size());
  int wiki = 0, wiki_same = 0, other = 0, other_same = 0;
  std::string differ;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const bool is_wiki = cases[i]["name"].get<std::string>().rfind("wikitext2", 0) == 0;
    const bool same = r.ids[i] == cases[i]["ids"].get<std::vector<std::int64_t>>();
    (is_wiki ? wiki : other) += 1;
    (is_wiki ? wiki_same : other_same) += same ? 1 : 0;
    if (!same) {
      differ += " " + cases[i]["name"].get<std::string>();
      EXPECT_TRUE(llama_cpp_differs.count(cases[i]["name"].get<std::string>()))
          << name << ": " << cases[i]["name"];
    }
  }
  std::cout << "[llama.cpp] " << name << " tokenizer (" << expect_model << "): wikitext "
            << wiki_same << "/" << wiki << ", hand-written " << other_same << "/" << other
            << " equal to the reference ids; differ:" << differ << "\n";
  EXPECT_EQ(wiki_same, wiki);
}

TEST(GgufExport, Llama3TokenizerAsGpt2) {
  check_tokenizer("llama3", "llama", 128256,
                  {TN_SHARED_DIR "/tokenizers/llama3/tokenizer.json",
                   TN_SHARED_DIR "/tokenizers/llama3/tokenizer_config.json"},
                  "gpt2");
}

TEST(GgufExport, Qwen3TokenizerAsGpt2PaddedToTheEmbedding) {
  check_tokenizer("qwen3", "qwen2", 151936,
                  {TN_SHARED_DIR "/tokenizers/qwen3/tokenizer.json",
                   TN_SHARED_DIR "/tokenizers/qwen3/tokenizer_config.json"},
                  "gpt2", {"accents-nfd", "nfc-singletons", "zalgo", "special-sp-markers"});
}

TEST(GgufExport, Llama2SentencePieceAsLlama) {
  check_tokenizer("llama2", "llama", 32000, {TN_SHARED_DIR "/tokenizers/llama2-tokenizer.model"},
                  "llama");
}

}  // namespace
}  // namespace tracenas
