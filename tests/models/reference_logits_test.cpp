// The decoder and the llama / qwen adapters against independent reference
// logits (shared/reference/*: a float64 numpy implementation of the Hugging
// Face modeling code run on the same checkpoints).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "base/runtime.hpp"
#include "checkpoints.hpp"
#include "io/llama2c.hpp"
#include "model/adapters.hpp"
#include "plugin/registry.hpp"
#include "test_dir.hpp"
#include "tracenas/error.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/decoder.hpp"
#include "tracenas/support/hf_checkpoint.hpp"
#include "tracenas/support/tokens.hpp"

namespace tracenas {
namespace {

const Registry& adapters() { return testing::model_adapters(); }

Instance<ModelAdapter> adapter(const std::string& name, const std::string& path) {
  return testing::named_adapter(name, path);
}

at::Tensor read_f32(const std::string& path, std::int64_t rows, std::int64_t cols) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.size(), static_cast<std::size_t>(rows * cols * 4)) << path;
  at::Tensor t = at::empty({rows, cols}, at::kFloat);
  std::memcpy(t.data_ptr<float>(), bytes.data(), bytes.size());
  return t;
}

struct Case {
  const char* adapter;
  const char* folder;
  // Max |logit error| accepted for a float32 run (the README of each folder
  // gives the float32-vs-float64 error of the reference itself).
  double f32_tol;
  // bfloat16 (8-bit mantissa, every activation rounded): the accuracy reached.
  double bf16_tol;
};

class ReferenceLogits : public ::testing::TestWithParam<Case> {};

TEST_P(ReferenceLogits, MatchInFloat64AndFloat32) {
  const Case& c = GetParam();
  const std::string dir = std::string(TN_SHARED_DIR "/reference/") + c.folder;
  auto tokens_vec = read_token_file(dir + "/tokens.txt");
  at::Tensor tokens = at::tensor(std::vector<std::int64_t>(tokens_vec.begin(), tokens_vec.end()))
                          .unsqueeze(0);  // [1, S]
  auto a = adapter(c.adapter, dir);
  ModelConfig cfg = a.get().read_config();
  at::Tensor expected = read_f32(dir + "/logits.f32", tokens.size(1), cfg.vocab_size);

  LoadOptions f64;
  f64.dtype = "float64";
  auto m64 = a.call("load", [&](ModelAdapter& ad) { return ad.load(f64); });
  // The base count equals the checkpoint's element count (SPEC.md section 4).
  EXPECT_EQ(m64->num_parameters(), checkpoint_numel(dir));
  at::Tensor l64 = m64->logits(tokens)[0].to(at::kFloat);
  double err64 = (l64 - expected).abs().max().item<double>();
  EXPECT_LT(err64, 2e-5) << c.folder << " float64";

  LoadOptions f32;
  auto m32 = a.get().load(f32);
  at::Tensor l32 = m32->logits(tokens)[0];
  double err32 = (l32 - expected).abs().max().item<double>();
  EXPECT_LT(err32, c.f32_tol) << c.folder << " float32";

  // bfloat16 runs and stays close (a sanity bound, not a precision claim).
  LoadOptions bf16;
  bf16.dtype = "bfloat16";
  at::Tensor lbf = a.get().load(bf16)->logits(tokens)[0].to(at::kFloat);
  double errbf = (lbf - expected).abs().max().item<double>();
  EXPECT_LT(errbf, c.bf16_tol) << c.folder << " bf16";
  std::printf("%s: max |dlogit| float64 %.3g, float32 %.3g, bfloat16 %.3g\n", c.folder, err64,
              err32, errbf);
}

INSTANTIATE_TEST_SUITE_P(Tiny, ReferenceLogits,
                         ::testing::Values(Case{"llama", "llama3-tiny", 2e-5, 0.1},
                                           Case{"qwen", "qwen2-tiny", 2e-5, 0.1},
                                           Case{"qwen", "qwen3-tiny", 2e-5, 0.1}),
                         [](const auto& info) {
                           std::string n = info.param.folder;
                           for (auto& ch : n) {
                             if (ch == '-') ch = '_';
                           }
                           return n;
                         });

TEST(ReferenceLoss, LossIsTheMeanNextTokenCrossEntropy) {
  // Hand-computed: vocab 2, logits give p(next) exactly; loss = mean(-log p).
  at::Tensor logits = at::zeros({1, 3, 2}, at::kDouble);
  logits[0][0][1] = std::log(3.0);  // p(token 1) = 3/4
  at::Tensor tokens = at::tensor({0, 1, 0}, at::kLong).unsqueeze(0);
  // Predict tokens[1]=1 from position 0 (p=3/4) and tokens[2]=0 from position 1 (p=1/2);
  // position 2 predicts nothing.
  double expected = (-std::log(0.75) - std::log(0.5)) / 2;
  EXPECT_NEAR(causal_lm_loss(logits, tokens).item<double>(), expected, 1e-12);
  auto [sum, count] = causal_lm_loss_sum(logits, tokens);
  EXPECT_EQ(count, 2);
  EXPECT_NEAR(sum, 2 * expected, 1e-12);
}

TEST(ReferenceAdapters, WrongFamilyAndBadCheckpointsAreClearErrors) {
  // The host checks a named adapter against the folder's model_type and
  // names the adapter that claims it.
  ParamValues qwen2;
  qwen2.set("path", std::string(TN_SHARED_DIR "/reference/qwen2-tiny"));
  try {
    create_model_adapter(adapters(), "llama", qwen2, RunContext{});
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_STREQ(e.what(), TN_SHARED_DIR
                 "/reference/qwen2-tiny/config.json: model_type: the llama adapter reads "
                 "\"llama\" and \"nemotron-nas\" checkpoints (got \"qwen2\"; use adapter 'qwen')");
  }
  EXPECT_EQ(adapter_for_model_type(adapters(), TN_SHARED_DIR "/reference/qwen2-tiny"), "qwen");
  EXPECT_EQ(adapter_for_model_type(adapters(), TN_SHARED_DIR "/reference/llama3-tiny"), "llama");
  // An adapter created directly refuses the folder itself.
  try {
    adapter("llama", TN_SHARED_DIR "/reference/qwen2-tiny");
    FAIL();
  } catch (const PluginError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("model_type: unsupported model type \"qwen2\" "
                                         "(supported: llama, nemotron-nas)"),
              std::string::npos);
  }
  try {
    adapter("qwen", "/nonexistent");
    FAIL();
  } catch (const PluginError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent: no such checkpoint folder"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace tracenas

namespace tracenas {
namespace {

// stories260K.bin (llama2.c, interleaved RoPE) converted to Hugging Face layout
// must compute the reference logits of shared/reference/stories260K-llama2c.
TEST(ReferenceLlama2c, ConvertedStories260KMatchesReferenceLogits) {
  const std::string out = tracenas::testing::test_path("tn_stories260K_hf");
  Llama2cResult r = convert_llama2c(TN_SHARED_DIR "/models/stories260K.bin", out);
  EXPECT_EQ(r.params, 260032);  // shared/reference/stories260K-phi/README.md
  EXPECT_EQ(checkpoint_numel(out), 260032);
  auto a = adapter("llama", out);
  ModelConfig cfg = a.get().read_config();
  EXPECT_EQ(cfg.num_layers, 5);
  EXPECT_EQ(cfg.num_kv_heads, 4);
  EXPECT_TRUE(cfg.tie_word_embeddings);

  const std::string ref = TN_SHARED_DIR "/reference/stories260K-llama2c";
  auto ids = read_token_file(ref + "/tokens.txt");
  at::Tensor tokens = at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end())).unsqueeze(0);
  at::Tensor expected = read_f32(ref + "/logits.f32", tokens.size(1), 512);
  LoadOptions f64;
  f64.dtype = "float64";
  double err64 =
      (a.get().load(f64)->logits(tokens)[0].to(at::kFloat) - expected).abs().max().item<double>();
  EXPECT_LT(err64, 1e-5);
  double err32 = (a.get().load({})->logits(tokens)[0] - expected).abs().max().item<double>();
  EXPECT_LT(err32, 2e-4);  // the reference's own float32 run differs by 7.3e-05
  LoadOptions bf16;
  bf16.dtype = "bfloat16";
  // bfloat16 rounds the float32 weights and every activation to 8 mantissa bits:
  // the error grows through the 5 layers (measured: max 1.98, mean 0.20 of logits
  // that reach 17.5); the predicted next token must still agree almost always.
  at::Tensor lbf = a.get().load(bf16)->logits(tokens)[0].to(at::kFloat);
  double errbf = (lbf - expected).abs().max().item<double>();
  double meanbf = (lbf - expected).abs().mean().item<double>();
  double top1 = lbf.argmax(-1).eq(expected.argmax(-1)).to(at::kDouble).mean().item<double>();
  EXPECT_LT(errbf, 2.5);
  EXPECT_LT(meanbf, 0.4);
  EXPECT_GE(top1, 0.85);  // measured 0.906 (58 of 64)
  std::printf(
      "stories260K: max |dlogit| float64 %.3g, float32 %.3g, bfloat16 %.3g (mean %.3g, "
      "top-1 agreement %.3f)\n",
      err64, err32, errbf, meanbf, top1);
}

TEST(ReferenceLlama2c, MalformedFilesAreNamedErrors) {
  const std::string dir = tracenas::testing::test_dir() + "/";
  auto write = [&](const std::string& name, const std::vector<std::int32_t>& words) {
    std::string p = dir + name;
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(words.data()),
               static_cast<std::streamsize>(words.size() * 4));
    return p;
  };
  auto message = [&](const std::string& path) {
    try {
      convert_llama2c(path, dir + "tn_l2c_out");
    } catch (const ModelError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  std::string shortf = write("tn_short.bin", {64, 172});
  EXPECT_EQ(message(shortf), shortf + ": 8 bytes is too short for a llama2.c header (28 bytes)");
  std::string zero = write("tn_zero.bin", {64, 172, 0, 8, 4, 512, 512});
  EXPECT_EQ(message(zero), zero + ": header field n_layers is 0 (expected a positive value)");
  std::string div = write("tn_div.bin", {64, 172, 5, 8, 3, 512, 512});
  EXPECT_EQ(message(div), div + ": header field n_kv_heads 3 does not divide n_heads 8");
  std::string trunc = write("tn_trunc.bin", {64, 172, 5, 8, 4, 512, 512, 0, 0});
  // Same header as stories260K.bin, so the expected size is that real file's size.
  const auto real_size = std::filesystem::file_size(TN_SHARED_DIR "/models/stories260K.bin");
  EXPECT_NE(message(trunc).find(trunc +
                                ": size 36 bytes does not match the header's shapes "
                                "(expected " +
                                std::to_string(real_size) + " bytes"),
            std::string::npos);
  EXPECT_EQ(message(dir + "tn_none.bin"), dir + "tn_none.bin: cannot read the llama2.c checkpoint");
}

}  // namespace
}  // namespace tracenas

namespace tracenas {
namespace {

// The same references on CUDA, when this LibTorch has a CUDA device.
TEST(ReferenceCuda, TinyModelsMatchOnTheGpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device in this LibTorch";
  for (const auto& [name, folder] : std::vector<std::pair<std::string, std::string>>{
           {"llama", "llama3-tiny"}, {"qwen", "qwen2-tiny"}, {"qwen", "qwen3-tiny"}}) {
    const std::string dir = std::string(TN_SHARED_DIR "/reference/") + folder;
    auto ids = read_token_file(dir + "/tokens.txt");
    at::Tensor tokens = at::tensor(std::vector<std::int64_t>(ids.begin(), ids.end())).unsqueeze(0);
    auto a = adapter(name, dir);
    at::Tensor expected =
        read_f32(dir + "/logits.f32", tokens.size(1), a.get().read_config().vocab_size);
    for (const char* dtype : {"float32", "bfloat16", "float16"}) {
      LoadOptions o;
      o.device = "cuda";
      o.dtype = dtype;
      at::Tensor got = a.get().load(o)->logits(tokens)[0].to(at::kCPU, at::kFloat);
      double err = (got - expected).abs().max().item<double>();
      EXPECT_LT(err, std::string(dtype) == "float32" ? 1e-4 : 0.1) << folder << " " << dtype;
    }
  }
}

}  // namespace
}  // namespace tracenas
