// Architectures, parameter counts, wanda importance and candidate losses on
// the real stories260K model against shared/reference/stories260K-phi (an
// independent float64 PyTorch implementation of SPEC.md sections 1-5).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "checkpoints.hpp"
#include "data/calibration.hpp"
#include "io/llama2c.hpp"
#include "model/subnet.hpp"
#include "plugin/registry.hpp"
#include "test_dir.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/hf_checkpoint.hpp"
#include "tracenas/support/hf_config.hpp"
#include "tracenas/support/tokens.hpp"

namespace tracenas {
namespace {

const std::string kRef = TN_SHARED_DIR "/reference/stories260K-phi/";

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

struct Fixture {
  std::string dir;
  ModelConfig config;
  std::vector<at::Tensor> batches;
};

const Fixture& stories() {
  static Fixture* f = [] {
    auto* fx = new Fixture();
    fx->dir = tracenas::testing::test_path("tn_phi_stories260K");
    convert_llama2c(TN_SHARED_DIR "/models/stories260K.bin", fx->dir);
    fx->config = tracenas::testing::read_checkpoint_config(fx->dir);
    BatchSpec spec;  // the reference's settings.json
    spec.seq_len = 256;
    spec.batch_size = 4;
    spec.num_batches = 2;
    fx->batches =
        calibration_batches(read_token_file(TN_SHARED_DIR "/data/stories260K-samples.u16"), spec,
                            "stories260K-samples");
    return fx;
  }();
  return *f;
}

std::shared_ptr<DecoderModel> load(const std::string& dtype) {
  LoadOptions o;
  o.dtype = dtype;
  return tracenas::testing::load_checkpoint(stories().dir, o);
}

// wanda, computed in-process with the same formula as the `wanda` plugin is
// tested elsewhere; here the criterion is the plugin itself.
ImportanceResult wanda_importance(const DecoderModel& m) {
  static Registry* reg = [] {
    auto* r = new Registry();
    r->load_file(TN_PLUGIN_DIR "/libtracenas_importance_criteria.so");
    return r;
  }();
  auto wanda = reg->create<ImportanceCriterion>("wanda", {}, RunContext{});
  return compute_importance(m, stories().batches, true, [&](const LayerImportanceInput& in) {
    return wanda.call("score", [&](ImportanceCriterion& c) { return c.score(in); });
  });
}

const char* kArchs[] = {"depth-width.json", "uniform-half.json", "extreme.json"};

TEST(StoriesPhi, ParameterCountsAreExact) {
  const ModelConfig& c = stories().config;
  nlohmann::json expected = read_json(kRef + "expected.json");
  EXPECT_EQ(count_params(c, full_arch(c)), 260032);
  for (const char* name : kArchs) {
    Arch a = read_arch(kRef + name, c);
    EXPECT_EQ(count_params(c, a), expected[name]["params"].get<std::int64_t>()) << name;
  }
}

TEST(StoriesPhi, WandaOrdersEqualTheReferenceInFloat64) {
  auto m = load("float64");
  ImportanceResult r = wanda_importance(*m);
  nlohmann::json ref = read_json(kRef + "importance.json");
  nlohmann::json scores = read_json(kRef + "importance-scores.json");
  ASSERT_EQ(ref["layers"].size(), r.order.size());
  for (std::size_t l = 0; l < r.order.size(); ++l) {
    EXPECT_EQ(r.order[l].kv_order, ref["layers"][l]["kv_order"].get<std::vector<int>>()) << l;
    EXPECT_EQ(r.order[l].head_order, ref["layers"][l]["head_order"].get<std::vector<int>>()) << l;
    EXPECT_EQ(r.order[l].channel_order, ref["layers"][l]["channel_order"].get<std::vector<int>>())
        << l;
    auto hs = scores["layers"][l]["head_score"].get<std::vector<double>>();
    for (std::size_t k = 0; k < hs.size(); ++k) {
      EXPECT_NEAR(r.scores[l].head_score[static_cast<int64_t>(k)].item<double>(), hs[k],
                  1e-9 * std::abs(hs[k]))
          << "layer " << l << " head " << k;
    }
  }
}

TEST(StoriesPhi, WandaOrdersInFloat32AllowOnlyTheDocumentedNearTies) {
  auto m = load("float32");
  ImportanceResult r = wanda_importance(*m);
  nlohmann::json ref = read_json(kRef + "importance.json");
  for (std::size_t l = 0; l < r.order.size(); ++l) {
    EXPECT_EQ(r.order[l].kv_order, ref["layers"][l]["kv_order"].get<std::vector<int>>());
    EXPECT_EQ(r.order[l].head_order, ref["layers"][l]["head_order"].get<std::vector<int>>());
    auto want = ref["layers"][l]["channel_order"].get<std::vector<int>>();
    auto got = r.order[l].channel_order;
    // README: layer 3 positions 79/80 and layer 4 positions 92/93 may swap.
    if (l == 3 && got != want) std::swap(got[79], got[80]);
    if (l == 4 && got != want) std::swap(got[92], got[93]);
    EXPECT_EQ(got, want) << "layer " << l;
  }
}

TEST(StoriesPhi, CandidateLossesMatchTheReference) {
  nlohmann::json expected = read_json(kRef + "expected.json");
  nlohmann::json blocks = read_json(kRef + "expected-blocks.json");
  for (const char* dtype : {"float64", "float32"}) {
    auto m = load(dtype);
    ImportanceResult imp = wanda_importance(*m);
    PrefixWeights prefix(m->config(), m->mutable_weights(), imp.order);
    const double tol = std::string(dtype) == "float64" ? 1e-9 : 1e-5;
    for (const char* name : kArchs) {
      Arch a = read_arch(kRef + name, m->config());
      auto sel = select_units(m->config(), a, &imp.order);
      // Kept units equal the reference's (expected-blocks.json "kept").
      for (std::size_t l = 0; l < sel.size(); ++l) {
        const auto& k = blocks[name]["kept"][l];
        if (sel[l].attn) EXPECT_EQ(sel[l].heads, k["heads"].get<std::vector<int>>()) << name;
        if (sel[l].mlp) EXPECT_EQ(sel[l].channels, k["channels"].get<std::vector<int>>()) << name;
      }
      // The weights are reordered in place: realize() reads them by original index.
      ModelWeights cut = prefix.realize(sel);
      EXPECT_EQ(count_parameters(m->config(), cut), count_params(m->config(), a)) << name;
      ModelWeights views = prefix.view(a);
      double loss_cut = 0, loss_view = 0;
      at::NoGradGuard ng;
      for (const auto& b : stories().batches) {
        loss_cut += causal_lm_loss(decoder_logits(m->config(), cut, b), b).item<double>();
        loss_view += causal_lm_loss(decoder_logits(m->config(), views, b), b).item<double>();
      }
      loss_cut /= static_cast<double>(stories().batches.size());
      loss_view /= static_cast<double>(stories().batches.size());
      const double want = expected[name]["loss"].get<double>();
      EXPECT_NEAR(loss_cut, want, tol * want) << name << " " << dtype;
      EXPECT_NEAR(loss_view, want, tol * want) << name << " " << dtype << " (prefix views)";
    }
  }
}

TEST(StoriesPhi, BaseLossMatchesTheReference) {
  auto m = load("float64");
  double loss = evaluate(m->config(), m->weights(), stories().batches).loss;
  // Every batch has the same number of predicted tokens, so the mean over
  // tokens equals the mean over batches reported by the reference.
  EXPECT_NEAR(loss, 2.721470643755003, 1e-9);
}

TEST(StoriesPhi, PrefixViewsShareStorageWithTheReorderedWeights) {
  auto m = load("float32");
  ImportanceResult imp = wanda_importance(*m);
  PrefixWeights prefix(m->config(), m->mutable_weights(), imp.order);
  Arch a = read_arch(kRef + std::string("depth-width.json"), m->config());
  ModelWeights v = prefix.view(a);
  const auto& r = prefix.reordered();
  EXPECT_EQ(v.layers[0].attention.q.data_ptr(), r.layers[0].attention.q.data_ptr());
  EXPECT_EQ(v.layers[0].ffn.down.data_ptr(), r.layers[0].ffn.down.data_ptr());
  EXPECT_FALSE(v.layers[1].attn);
  EXPECT_FALSE(v.layers[1].mlp);
}

}  // namespace
}  // namespace tracenas
