// Checkpoint folders that do not fit their config are refused with a message
// naming the tensor, the expected and the found shape.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "checkpoints.hpp"
#include "io/safetensors.hpp"
#include "test_dir.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/hf_checkpoint.hpp"
#include "tracenas/support/hf_config.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

const std::string kTiny = TN_SHARED_DIR "/reference/llama3-tiny";

// A copy of llama3-tiny with `edit` applied to its tensors.
std::string variant(const std::string& tag, const std::function<void(NamedTensors&)>& edit) {
  const std::string dir = tracenas::testing::test_path("tn_loader_" + tag);
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(kTiny + "/config.json", dir + "/config.json");
  Checkpoint ck = Checkpoint::open_dir(kTiny);
  NamedTensors t;
  for (const auto& n : ck.names()) t.emplace_back(n, ck.get(n).clone());
  edit(t);
  save_checkpoint(dir, t, {}, 0);
  return dir;
}

std::string load_error(const std::string& dir) {
  try {
    tracenas::testing::load_checkpoint(dir);
  } catch (const ModelError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  return "(no error)";
}

TEST(LoaderErrors, MissingTensor) {
  std::string dir = variant("missing", [](NamedTensors& t) {
    t.erase(std::remove_if(
                t.begin(), t.end(),
                [](const auto& p) { return p.first == "model.layers.1.mlp.up_proj.weight"; }),
            t.end());
  });
  EXPECT_EQ(load_error(dir), dir + ": tensor 'model.layers.1.mlp.up_proj.weight' is missing");
}

TEST(LoaderErrors, WrongShapeNamesExpectedAndFound) {
  std::string dir = variant("shape", [](NamedTensors& t) {
    for (auto& [n, v] : t) {
      if (n == "model.layers.0.self_attn.k_proj.weight") v = v.narrow(0, 0, 16).clone();
    }
  });
  EXPECT_EQ(load_error(dir), dir +
                                 ": tensor 'model.layers.0.self_attn.k_proj.weight': expected "
                                 "shape [32, 128], found [16, 128]");
}

TEST(LoaderErrors, UnusedTensorIsRefused) {
  std::string dir = variant("extra", [](NamedTensors& t) {
    t.emplace_back("model.layers.0.self_attn.q_proj.bias", at::zeros({128}, at::kBFloat16));
  });
  EXPECT_EQ(load_error(dir), dir +
                                 ": tensor 'model.layers.0.self_attn.q_proj.bias' is not used "
                                 "by this architecture (check config.json: attention_bias, "
                                 "mlp_bias, tie_word_embeddings, num_hidden_layers)");
}

TEST(LoaderErrors, TiedHeadThatDiffersFromTheEmbedding) {
  std::string dir = variant("tied", [](NamedTensors& t) {
    t.emplace_back("lm_head.weight", at::zeros({512, 128}, at::kBFloat16));
  });
  EXPECT_EQ(load_error(dir), dir +
                                 ": tie_word_embeddings is true but 'lm_head.weight' differs "
                                 "from 'model.embed_tokens.weight'");
}

TEST(LoaderErrors, UnsupportedDtypeInTheCheckpoint) {
  const std::string dir = tracenas::testing::test_path("tn_loader_dtype");
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(kTiny + "/config.json", dir + "/config.json");
  // A hand-written file with one I32 tensor.
  const std::string header =
      R"({"model.norm.weight":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})";
  std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  std::ofstream out(dir + "/model.safetensors", std::ios::binary);
  std::uint64_t n = padded.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << padded << std::string(8, '\0');
  out.close();
  std::string msg = load_error(dir);
  EXPECT_NE(msg.find("model.norm.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("I32"), std::string::npos) << msg;
}

}  // namespace
}  // namespace tracenas
