// The llama adapter's family: biases as the config says, no q/k norms.
#include <gtest/gtest.h>

#include <fstream>

#include "models/checkpoints.hpp"
#include "test_dir.hpp"
#include "tracenas/error.hpp"
#include "tracenas/model.hpp"

namespace tracenas {
namespace {

ModelConfig llama_config(const std::string& dir) { return testing::read_config_as("llama", dir); }

TEST(LlamaAdapter, Llama3TinyHasNoBiasesAndNoQkNorm) {
  ModelConfig c = llama_config(TN_SHARED_DIR "/reference/llama3-tiny");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_FALSE(c.qk_norm);
}

TEST(LlamaAdapter, BiasFlagsComeFromTheConfig) {
  testing::ScratchDir dir;
  std::ofstream(dir.path() / "config.json")
      << R"({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
             "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
             "attention_bias": true, "mlp_bias": true})";
  ModelConfig c = llama_config(dir.str());
  EXPECT_TRUE(c.attention_bias);
  EXPECT_TRUE(c.o_proj_bias);  // Llama's attention_bias covers o_proj too
  EXPECT_TRUE(c.mlp_bias);
  EXPECT_FALSE(c.qk_norm);
}

}  // namespace
}  // namespace tracenas
