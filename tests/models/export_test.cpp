// tracenas prune's export: reload the pruned checkpoint and compare its logits
// with the in-memory sub-network; plain configs for uniform results.
#include "model/export.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "checkpoints.hpp"
#include "io/llama2c.hpp"
#include "io/safetensors.hpp"
#include "model/subnet.hpp"
#include "test_dir.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/hf_checkpoint.hpp"
#include "tracenas/support/hf_config.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

std::shared_ptr<DecoderModel> load_dir(const std::string& dir) {
  return tracenas::testing::load_checkpoint(dir);
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

const std::string& stories_dir() {
  static std::string dir = [] {
    std::string d = tracenas::testing::test_path("tn_export_stories260K");
    convert_llama2c(TN_SHARED_DIR "/models/stories260K.bin", d);
    return d;
  }();
  return dir;
}

at::Tensor some_tokens(int vocab) {
  return at::arange(0, 48, at::kLong).mul(37).remainder(vocab).view({2, 24});
}

// Exports `arch` of the model in `base_dir`, reloads it and compares logits.
json export_and_compare(const std::string& base_dir, const Arch& arch, const std::string& tag,
                        std::uint64_t shard_bytes) {
  auto base = load_dir(base_dir);
  auto sel = select_units(base->config(), arch, nullptr);
  ModelWeights cut = realize_weights(base->config(), base->weights(), sel);
  const std::string out = tracenas::testing::test_path("tn_export_" + tag);
  fs::remove_all(out);
  ExportResult r = export_pruned(base_dir, *base, arch, sel, out, shard_bytes);
  EXPECT_EQ(r.params, count_params(base->config(), arch)) << tag;
  auto reloaded = load_dir(out);
  EXPECT_EQ(reloaded->num_parameters(), r.params) << tag;
  EXPECT_EQ(checkpoint_numel(out), r.params) << tag;
  at::Tensor tokens = some_tokens(base->config().vocab_size);
  at::NoGradGuard ng;
  at::Tensor want = decoder_logits(base->config(), cut, tokens);
  at::Tensor got = reloaded->logits(tokens);
  EXPECT_LT((got - want).abs().max().item<double>(), 1e-5) << tag;
  return read_json(out + "/config.json");
}

Arch explicit_arch(const ModelConfig& c, int keep_kv, int heads_per_group, int channels) {
  Arch a = full_arch(c);
  const int per_group = c.num_heads / c.num_kv_heads;
  for (auto& l : a.layers) {
    l.kv_heads = keep_kv;
    l.heads = keep_kv * heads_per_group;
    l.mlp_channels = channels;
    l.head_index.clear();
    // Keep the last KV groups and, in each, its last heads: not a prefix.
    for (int g = c.num_kv_heads - keep_kv; g < c.num_kv_heads; ++g) {
      for (int j = per_group - heads_per_group; j < per_group; ++j) {
        l.head_index.push_back(g * per_group + j);
      }
    }
    l.channel_index.clear();
    for (int ch = 0; ch < channels; ++ch) l.channel_index.push_back(2 * ch + 1);
  }
  return a;
}

std::set<std::string> keys_of(const json& j) {
  std::set<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.insert(it.key());
  return out;
}

TEST(Export, NonUniformShardedExportReloadsToTheSameLogits) {
  ModelConfig c = tracenas::testing::read_checkpoint_config(stories_dir());
  Arch a = read_arch(TN_SHARED_DIR "/reference/stories260K-phi/depth-width.json", c);
  // Explicit units: the reference's kept units of this architecture.
  json blocks = read_json(TN_SHARED_DIR "/reference/stories260K-phi/expected-blocks.json");
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    const json& k = blocks["depth-width.json"]["kept"][l];
    if (a.layers[l].attn) a.layers[l].head_index = k["heads"].get<std::vector<int>>();
    if (a.layers[l].mlp) a.layers[l].channel_index = k["channels"].get<std::vector<int>>();
  }
  json cfg = export_and_compare(stories_dir(), a, "depth_width", 100000);
  const std::string out = tracenas::testing::test_path("tn_export_depth_width");
  EXPECT_TRUE(fs::exists(out + "/model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(out + "/model-00001-of-00006.safetensors"));
  EXPECT_EQ(cfg["num_hidden_layers"], 4);  // layer 1 had nothing left
  ASSERT_EQ(cfg["tracenas_layers"].size(), 4u);
  EXPECT_EQ(cfg["tracenas_layers"][1]["attn"], false);
  EXPECT_EQ(cfg["tracenas_layers"][1]["mlp_channels"], 120);
  // The architecture and kept units are in the metadata and in arch.json.
  Checkpoint ck = Checkpoint::open_dir(out);
  json meta = json::parse(ck.metadata().at("tracenas_arch"));
  EXPECT_EQ(meta, read_json(out + "/arch.json"));
  EXPECT_EQ(meta["layers"][0]["head_index"], blocks["depth-width.json"]["kept"][0]["heads"]);
}

TEST(Export, UniformLlamaExportIsAPlainConfig) {
  ModelConfig c = tracenas::testing::read_checkpoint_config(stories_dir());
  Arch a = explicit_arch(c, 2, 1, 86);
  json cfg = export_and_compare(stories_dir(), a, "uniform_llama", 0);
  json base = read_json(stories_dir() + "/config.json");
  for (const auto& k : keys_of(cfg)) EXPECT_TRUE(base.contains(k)) << "added field " << k;
  EXPECT_EQ(cfg["num_attention_heads"], 2);
  EXPECT_EQ(cfg["num_key_value_heads"], 2);
  EXPECT_EQ(cfg["intermediate_size"], 86);
  EXPECT_EQ(cfg["head_dim"], 8);
}

TEST(Export, Qwen2WithFewerHeadsNeedsPerLayerWidths) {
  const std::string dir = TN_SHARED_DIR "/reference/qwen2-tiny";
  ModelConfig c = tracenas::testing::read_checkpoint_config(dir);
  json base = read_json(dir + "/config.json");
  ASSERT_FALSE(base.contains("head_dim"));
  // Same heads, fewer channels: plain Qwen2 config, no added field.
  json same = export_and_compare(dir, explicit_arch(c, 2, 2, 64), "qwen2_channels", 0);
  for (const auto& k : keys_of(same)) EXPECT_TRUE(base.contains(k)) << "added field " << k;
  EXPECT_EQ(same["intermediate_size"], 64);
  // Fewer heads: hidden / heads would change head_dim, which a Qwen2 config
  // cannot state, so the per-layer form is used.
  json fewer = export_and_compare(dir, explicit_arch(c, 1, 2, 64), "qwen2_heads", 0);
  EXPECT_TRUE(fewer.contains("tracenas_layers"));
  EXPECT_FALSE(fewer.contains("head_dim"));
}

TEST(Export, Qwen3WithFewerHeadsKeepsAPlainConfig) {
  const std::string dir = TN_SHARED_DIR "/reference/qwen3-tiny";
  ModelConfig c = tracenas::testing::read_checkpoint_config(dir);
  json cfg = export_and_compare(dir, explicit_arch(c, 1, 1, 96), "qwen3_heads", 0);
  json base = read_json(dir + "/config.json");
  for (const auto& k : keys_of(cfg)) EXPECT_TRUE(base.contains(k)) << "added field " << k;
  EXPECT_EQ(cfg["num_attention_heads"], 1);
  EXPECT_EQ(cfg["head_dim"], 32);
}

TEST(Export, ArchitecturesOfAPrunedModelAreRejected) {
  ModelConfig c = tracenas::testing::read_checkpoint_config(stories_dir());
  Arch a = read_arch(TN_SHARED_DIR "/reference/stories260K-phi/extreme.json", c);
  auto base = load_dir(stories_dir());
  ImportanceOrder order(5);
  for (auto& o : order) {
    o.kv_order = {0, 1, 2, 3};
    o.head_order = {0, 1, 2, 3, 4, 5, 6, 7};
    for (int i = 0; i < 172; ++i) o.channel_order.push_back(i);
  }
  auto sel = select_units(c, a, &order);
  const std::string out = tracenas::testing::test_path("tn_export_extreme");
  fs::remove_all(out);
  export_pruned(stories_dir(), *base, a, sel, out, 0);
  ModelConfig pruned = tracenas::testing::read_checkpoint_config(out);
  ASSERT_FALSE(pruned.layer_widths.empty());
  try {
    validate_arch(full_arch(c), pruned, "arch.json");
    FAIL();
  } catch (const ArchError& e) {
    EXPECT_NE(std::string(e.what()).find("architectures apply to unpruned models"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace tracenas
