// The qwen adapter's families (qwen2, qwen3) on the reference checkpoints'
// configs. Expected values from the tables in shared/reference/*/README.md.
#include <gtest/gtest.h>

#include "models/checkpoints.hpp"
#include "tracenas/error.hpp"
#include "tracenas/model.hpp"

namespace tracenas {
namespace {

ModelConfig qwen_config(const std::string& dir) { return testing::read_config_as("qwen", dir); }

TEST(QwenAdapter, Qwen2TinyHasQkvBiases) {
  ModelConfig c = qwen_config(TN_SHARED_DIR "/reference/qwen2-tiny");
  EXPECT_EQ(c.model_type, "qwen2");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.intermediate_size, 176);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.vocab_size, 520);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1000000.0);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope_type, "default");
}

TEST(QwenAdapter, Qwen3TinyHasExplicitHeadDimAndQkNorm) {
  ModelConfig c = qwen_config(TN_SHARED_DIR "/reference/qwen3-tiny");
  EXPECT_EQ(c.model_type, "qwen3");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.head_dim, 32);  // not hidden / heads = 16
  EXPECT_EQ(c.intermediate_size, 192);
  EXPECT_EQ(c.vocab_size, 448);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.mlp_bias);
}

TEST(QwenAdapter, ALlamaCheckpointIsRefusedNamingTheSupportedTypes) {
  try {
    qwen_config(TN_SHARED_DIR "/reference/llama3-tiny");
    FAIL();
  } catch (const PluginError& e) {
    EXPECT_NE(std::string(e.what()).find("model_type: unsupported model type \"llama\" "
                                         "(supported: qwen2, qwen3)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tracenas
