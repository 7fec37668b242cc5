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
#include "cli_runner.hpp"
#include "io/gguf.hpp"
#include "io/llama2c.hpp"
#include "io/safetensors.hpp"
#include "model/export.hpp"
#include "model/gguf_vocab.hpp"
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

// TraceNAS's logits [n, vocab] for the folder's model (float32, or float64
// computed when `dtype` says so), as float32 or float64.
at::Tensor our_logits(const std::string& dir, const std::vector<std::int64_t>& tokens,
                      const std::string& dtype = "float32") {
  LoadOptions lo;
  lo.dtype = dtype;
  auto m = testing::load_checkpoint(dir, lo);
  at::NoGradGuard ng;
  at::Tensor t = at::tensor(tokens, at::kLong).view({1, -1});
  return m->logits(t).squeeze(0).to(dtype == "float64" ? at::kDouble : at::kFloat);
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

// --- other families through deci ------------------------------------------

// The reference checkpoint `name` pruned to per-layer `plan` (first units of
// each group), exported as GGUF and run in llama.cpp.
void check_pruned_reference(const std::string& name, const std::vector<LayerPlan>& plan,
                            const std::string& want_arch) {
  const std::string src = TN_SHARED_DIR "/reference/" + name;
  auto base = testing::load_checkpoint(src);
  const ModelConfig& c = base->config();
  Arch a = full_arch(c);
  const int per_group = c.num_heads / c.num_kv_heads;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    LayerArch& l = a.layers[i];
    l.attn = plan[i].attn;
    l.mlp = plan[i].mlp;
    l.heads = l.attn ? plan[i].heads : 0;
    l.kv_heads = l.attn ? plan[i].kv_heads : 0;
    l.mlp_channels = l.mlp ? plan[i].channels : 0;
    l.head_index.clear();
    l.channel_index.clear();
    for (int g = 0; l.attn && g < l.kv_heads; ++g) {
      for (int j = 0; j < l.heads / l.kv_heads; ++j) l.head_index.push_back(g * per_group + j);
    }
    for (int ch = 0; ch < l.mlp_channels; ++ch) l.channel_index.push_back(ch);
  }
  const std::string dir = testing::test_path("rt_pruned_" + name);
  fs::remove_all(dir);
  export_pruned(src, *base, a, select_units(c, a, nullptr), dir, 1ull << 30);
  const std::string out = dir + ".gguf";
  EXPECT_EQ(export_dir(dir, "gguf", at::kFloat, out).arch, want_arch);
  const auto tokens = read_ids(src + "/tokens.txt");
  const LlamaCppRun r = run_llamacpp(out, tokens);
  ASSERT_TRUE(r.error.empty()) << r.error;
  const double d = max_abs(r.logits, our_logits(dir, tokens));
  std::cout << "[llama.cpp] " << name << " pruned F32 " << want_arch << ": max |diff| vs TraceNAS "
            << d << "\n";
  EXPECT_LT(d, 1e-3);
}

TEST(GgufExport, PrunedLlama3WithRopeFactorsAndTiedHeadAsDeci) {
  // 8 heads in 2 KV groups, MLP 344; tied embeddings, llama3 rope factors.
  check_pruned_reference(
      "llama3-tiny", {{true, 8, 2, true, 344}, {true, 3, 1, true, 100}, {false, 0, 0, true, 50}},
      "deci");
}

TEST(GgufExport, PrunedQwen2WithBiasesAsDeci) {
  // 4 heads in 2 KV groups, q/k/v biases, untied head.
  check_pruned_reference("qwen2-tiny", {{true, 2, 1, true, 176}, {true, 4, 2, false, 0}}, "deci");
}

TEST(GgufExport, UniformQwen2WithFewerHeadsAsDeci) {
  // llama.cpp's qwen2 needs heads x head_dim = hidden; deci sizes per layer.
  check_pruned_reference("qwen2-tiny", {{true, 2, 2, true, 100}, {true, 2, 2, true, 100}}, "deci");
}

TEST(GgufExport, NonUniformQwen3IsRefusedWithTheReason) {
  const std::string src = TN_SHARED_DIR "/reference/qwen3-tiny";
  auto base = testing::load_checkpoint(src);
  Arch a = full_arch(base->config());
  a.layers[1].heads = 2;
  a.layers[1].kv_heads = 1;
  a.layers[1].head_index = {0, 1};
  a.layers[0].head_index = {0, 1, 2, 3};
  for (auto& l : a.layers) {
    l.channel_index.clear();
    for (int ch = 0; ch < l.mlp_channels; ++ch) l.channel_index.push_back(ch);
  }
  const std::string dir = testing::test_path("rt_qwen3_nonuniform");
  fs::remove_all(dir);
  export_pruned(src, *base, a, select_units(base->config(), a, nullptr), dir, 1ull << 30);
  const std::string out = dir + ".gguf";
  int code = 0;
  const std::string err =
      testing::error_of([&] { export_dir(dir, "gguf", at::kFloat, out); }, &code);
  EXPECT_EQ(code, 2);
  EXPECT_THAT(err, ::testing::HasSubstr("layer 1 differs from layer 0"));
  EXPECT_THAT(err, ::testing::HasSubstr("deci has no place for per-head q/k norms"));
  EXPECT_FALSE(fs::exists(out));
}

// --- Nemotron-NAS ----------------------------------------------------------

// DeciLM's width rule, as its Python code computes it.
int deci_width(double ffn_mult, int hidden) {
  const auto n = static_cast<long long>(2 * ffn_mult * hidden / 3);
  return static_cast<int>((n + 255) / 256 * 256);
}

TEST(NemotronNasExport, ConfigFollowsDeciLMAndReadsBackToTheSameLogits) {
  // Every kept attention keeps 4 query heads (in 4 or 2 KV groups).
  const std::string dir = pruned_stories("nemotron", {{true, 4, 4, true, 172},
                                                      {true, 4, 2, true, 96},
                                                      {false, 0, 0, true, 64},
                                                      {true, 4, 2, false, 0},
                                                      {true, 4, 4, true, 172}});
  const std::string out = testing::test_path("rt_nemotron_out");
  fs::remove_all(out);
  const FormatExport e = export_dir(dir, "nemotron-nas", at::kFloat, out);
  EXPECT_EQ(e.arch, "nemotron-nas");
  std::ifstream in(out + "/config.json");
  const json cfg = json::parse(in);
  EXPECT_EQ(cfg["model_type"], "nemotron-nas");
  EXPECT_EQ(cfg["architectures"], json::array({"DeciLMForCausalLM"}));
  EXPECT_EQ(cfg["num_attention_heads"], 4);
  EXPECT_EQ(cfg["head_dim"], 8);
  EXPECT_EQ(cfg["num_hidden_layers"], 5);
  const json& b = cfg["block_configs"];
  ASSERT_EQ(b.size(), 5u);
  const std::vector<json> groups = {1, 2, nullptr, 2, 1};   // 4 / kv heads
  const std::vector<int> widths = {256, 256, 256, 0, 256};  // 172, 96, 64 zero-padded
  for (int i = 0; i < 5; ++i) {
    const json& a = b[i]["attention"];
    const json& f = b[i]["ffn"];
    EXPECT_EQ(a["no_op"], groups[i].is_null()) << i;
    EXPECT_EQ(a["replace_with_linear"], false) << i;
    EXPECT_EQ(a["n_heads_in_group"], groups[i]) << i;
    EXPECT_EQ(f["no_op"], widths[i] == 0) << i;
    if (widths[i] > 0) EXPECT_EQ(deci_width(f["ffn_mult"].get<double>(), 64), widths[i]) << i;
  }
  // Tensor names DeciLM reads; no tensor of a no-op block.
  const auto ck = Checkpoint::open_dir(out);
  EXPECT_TRUE(ck.has("model.layers.3.self_attn.q_proj.weight"));
  EXPECT_FALSE(ck.has("model.layers.2.self_attn.q_proj.weight"));
  EXPECT_FALSE(ck.has("model.layers.2.input_layernorm.weight"));
  EXPECT_FALSE(ck.has("model.layers.3.mlp.up_proj.weight"));
  EXPECT_EQ(ck.info("model.layers.1.mlp.up_proj.weight").shape,
            (std::vector<std::int64_t>{256, 64}));
  // Read back by TraceNAS: the same function (padding channels are zero),
  // computed in float64 so that the padded sums' different rounding in
  // float32 (2e-5 here) does not hide a real difference.
  const auto tokens = stories_tokens();
  const double d = max_abs(our_logits(out, tokens, "float64"), our_logits(dir, tokens, "float64"));
  std::cout << "[nemotron-nas] read back: max |diff| " << d << "\n";
  EXPECT_LT(d, 1e-5);
}

TEST(NemotronNasExport, DifferentQueryHeadsAreRefusedNamingTheLayer) {
  const std::string dir = pruned_stories("nemotron_misfit", {{true, 8, 4, true, 172},
                                                             {true, 8, 4, true, 172},
                                                             {true, 4, 2, true, 172},
                                                             {true, 8, 4, true, 172},
                                                             {true, 8, 4, true, 172}});
  const std::string out = testing::test_path("rt_nemotron_misfit_out");
  fs::remove_all(out);
  int code = 0;
  const std::string err =
      testing::error_of([&] { export_dir(dir, "nemotron-nas", at::kFloat, out); }, &code);
  EXPECT_EQ(code, 2);
  EXPECT_THAT(err, ::testing::HasSubstr("layer 2 keeps 4 query heads and layer 0 keeps 8"));
  EXPECT_FALSE(fs::exists(out));
  // Nothing half-written beside it either.
  for (const auto& entry : fs::directory_iterator(fs::path(out).parent_path())) {
    EXPECT_EQ(entry.path().filename().string().find(".rt_nemotron_misfit_out.partial"),
              std::string::npos);
  }
}

// --- tokenizer files that cannot go into GGUF -------------------------------

std::string vocab_error(const std::string& file, const std::string& bytes, int vocab) {
  const std::string dir = testing::test_path("rt_vocab_" + std::to_string(vocab));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir + "/" + file, std::ios::binary) << bytes;
  int code = 0;
  const std::string err = testing::error_of(
      [&] {
        GgufWriter g;
        add_gguf_vocab(g, dir, vocab);
      },
      &code);
  EXPECT_EQ(code, 2) << err;
  EXPECT_THAT(err, ::testing::HasSubstr(dir + "/" + file));
  return err;
}

TEST(GgufVocab, BadTokenizerFilesAreNamedWithTheReason) {
  // A piece (field 1) whose length runs past the end.
  EXPECT_THAT(vocab_error("tokenizer.model", std::string("\x0a\x40\x0a\x02", 4), 10),
              ::testing::HasSubstr("not a SentencePiece model (field longer than its message"));
  EXPECT_THAT(vocab_error("tokenizer.model", "", 10),
              ::testing::HasSubstr("the SentencePiece model holds no pieces"));
  const std::string llama2_json =
      R"({"model": {"type": "BPE", "byte_fallback": true, "vocab": {"a": 0}, "merges": []}})";
  EXPECT_THAT(vocab_error("tokenizer.json", llama2_json, 10),
              ::testing::HasSubstr("model.byte_fallback: a SentencePiece-style BPE (Llama 2) "
                                   "needs its scores: put its tokenizer.model in the folder"));
  EXPECT_THAT(
      vocab_error("tokenizer.json", R"({"model": {"type": "BPE", "vocab": {"a": 12}}})", 10),
      ::testing::HasSubstr("model.vocab: id of \"a\" must be an integer in 0..9, the "
                           "model's vocab_size (got 12)"));
  EXPECT_THAT(vocab_error("tokenizer.json", R"({"model": {"type": "WordPiece"}})", 10),
              ::testing::HasSubstr("model.type: only BPE tokenizers can be written to GGUF"));
}

// --- the command ------------------------------------------------------------

TEST(ExportCommand, WritesGgufAndReportsIt) {
  const std::string out = testing::test_path("cli_stories.gguf");
  const auto r = testing::run_tracenas(
      "export --model " + stories_dir() + " --format gguf --dtype bfloat16 --out " + out,
      "rt_export_ok");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.last["arch"], "llama");
  EXPECT_EQ(r.last["dtype"], "bfloat16");
  EXPECT_EQ(r.last["bytes"].get<std::uint64_t>(), fs::file_size(out));
  EXPECT_THAT(r.err, ::testing::HasSubstr("placeholder tokens"));
}

// One line, exit 2, nothing at the output path.
void expect_refused(const std::string& args, const std::string& out, const std::string& message,
                    const std::string& tag) {
  const auto r = testing::run_tracenas("export " + args, tag);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_THAT(r.err, ::testing::HasSubstr(message));
  std::string last;
  std::istringstream lines(r.err);
  int error_lines = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("error") != std::string::npos) ++error_lines;
  }
  EXPECT_EQ(error_lines, 1) << r.err;
  EXPECT_FALSE(fs::exists(out)) << out;
}

TEST(ExportCommand, RefusesBadInputWithOneLine) {
  const std::string out = testing::test_path("cli_refused.gguf");
  expect_refused("--model " + stories_dir() + " --format onnx --out " + out, out,
                 "--format: expected one of hf, gguf, nemotron-nas (got 'onnx')", "rt_ex_format");
  expect_refused("--model " + testing::test_path("no_such_model") + " --format gguf --out " + out,
                 out, "no_such_model", "rt_ex_model");
  const std::string missing = testing::test_path("no_such_folder/model.gguf");
  expect_refused("--model " + stories_dir() + " --format gguf --out " + missing, missing,
                 "the folder", "rt_ex_folder");
  const std::string nem = testing::test_path("no_such_folder/nemotron");
  expect_refused("--model " + stories_dir() + " --format nemotron-nas --out " + nem, nem,
                 "does not exist", "rt_ex_folder2");
  expect_refused("--model " + stories_dir() + " --format gguf --dtype float64 --out " + out, out,
                 "--dtype", "rt_ex_dtype");
}

// --- the pipeline option -------------------------------------------------------

TEST(ExportPipeline, NemotronPresetRunWritesBothFormatsThatLoad) {
  const std::string runs = testing::test_path("rt_runs");
  const auto r = testing::run_tracenas(
      "run " TN_SOURCE_DIR "/configs/nemotron-nas.yaml --set run.output_dir=" + runs +
          " --set model.params.path=" + stories_dir() +
          " --set search.max_evaluations=12 --set run.name=nas",
      "rt_pipeline");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string run = runs + "/nas";
  std::ifstream in(run + "/best.json");
  const json best = json::parse(in);
  ASSERT_TRUE(best.contains("exports")) << best.dump();
  EXPECT_EQ(best["exports"]["nemotron-nas"]["out"], run + "/model-nemotron-nas");
  EXPECT_EQ(best["exports"]["gguf"]["out"], run + "/model.gguf");
  // Every kept attention of the best architecture has half the query heads.
  std::ifstream ain(run + "/best_arch.json");
  for (const json& l : json::parse(ain)["layers"]) {
    if (l["attn"].get<bool>()) EXPECT_EQ(l["heads"], 4) << l.dump();
  }
  const auto tokens = stories_tokens();
  const at::Tensor model = our_logits(run + "/model", tokens);
  const LlamaCppRun g = run_llamacpp(run + "/model.gguf", tokens);
  ASSERT_TRUE(g.error.empty()) << g.error;
  EXPECT_LT(max_abs(g.logits, model), 1e-3);
  EXPECT_LT(max_abs(our_logits(run + "/model-nemotron-nas", tokens, "float64"),
                    our_logits(run + "/model", tokens, "float64")),
            1e-5);
}

}  // namespace
}  // namespace tracenas
