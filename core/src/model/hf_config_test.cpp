#include "tracenas/support/hf_config.hpp"

#include <gtest/gtest.h>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

// Expected values from the tables in shared/reference/*/README.md.
TEST(HfConfig, Llama3TinyWithLlama3RopeAndTiedEmbeddings) {
  ModelConfig c = read_hf_config(TN_SHARED_DIR "/reference/llama3-tiny");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 128);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.intermediate_size, 344);
  EXPECT_EQ(c.num_heads, 8);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope_type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_original_max_position, 64);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.qk_norm);
}

TEST(HfConfig, Qwen2TinyHasQkvBiases) {
  ModelConfig c = read_hf_config(TN_SHARED_DIR "/reference/qwen2-tiny/config.json");
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
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.rope_type, "default");
}

TEST(HfConfig, Qwen3TinyHasExplicitHeadDimAndQkNorm) {
  ModelConfig c = read_hf_config(TN_SHARED_DIR "/reference/qwen3-tiny");
  EXPECT_EQ(c.model_type, "qwen3");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.head_dim, 32);  // not hidden / heads = 16
  EXPECT_EQ(c.intermediate_size, 192);
  EXPECT_EQ(c.vocab_size, 448);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.attention_bias);
}

std::string error_of(const std::string& text) {
  try {
    parse_hf_config(text, "cfg.json");
  } catch (const ModelError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(HfConfig, RejectionsNameTheField) {
  const std::string base =
      R"("num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
         "intermediate_size": 128, "vocab_size": 100)";
  EXPECT_EQ(error_of("{" + base + "}"), "cfg.json: model_type: missing");
  EXPECT_EQ(error_of(R"({"model_type": "gpt2", )" + base + "}"),
            "cfg.json: model_type: unsupported model type \"gpt2\" (supported: llama, qwen2, "
            "qwen3)");
  EXPECT_EQ(error_of(R"({"model_type": "llama", "hidden_size": 64})"),
            "cfg.json: num_hidden_layers: missing");
  EXPECT_EQ(error_of(R"({"model_type": "llama", "num_key_value_heads": 3, )" + base + "}"),
            "cfg.json: num_key_value_heads: must divide num_attention_heads 4 (got 3)");
  EXPECT_EQ(error_of(R"({"model_type": "llama", "rope_scaling": {"rope_type": "yarn",
              "factor": 2.0}, )" +
                     base + "}"),
            "cfg.json: rope_scaling.rope_type: unsupported rope type \"yarn\" (supported: "
            "default, linear, llama3)");
  EXPECT_EQ(error_of(R"({"model_type": "llama", "rope_scaling": {"rope_type": "llama3",
              "factor": 8.0}, )" +
                     base + "}"),
            "cfg.json: rope_scaling.low_freq_factor: missing");
  EXPECT_EQ(error_of(R"({"model_type": "llama", "hidden_act": "gelu", )" + base + "}"),
            "cfg.json: hidden_act: only silu (SwiGLU) is supported (got \"gelu\")");
  EXPECT_EQ(error_of(R"({"model_type": "llama", "vocab_size": -5, "num_hidden_layers": 2,
              "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128})"),
            "cfg.json: vocab_size: must be a positive integer (got -5)");
  EXPECT_NE(error_of("{not json").find("cfg.json: not valid JSON"), std::string::npos);
  try {
    read_hf_config("/nonexistent/model");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/model: no such checkpoint folder or config file");
  }
  try {
    read_hf_config(TN_SHARED_DIR "/data");  // a folder without config.json
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), TN_SHARED_DIR "/data/config.json: cannot read the model config");
  }
}

TEST(HfConfig, LinearRopeAndLlama2Defaults) {
  ModelConfig c = parse_hf_config(
      R"({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
          "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
          "rope_scaling": {"type": "linear", "factor": 2.0}})",
      "cfg.json");
  EXPECT_EQ(c.rope_type, "linear");
  EXPECT_DOUBLE_EQ(c.rope_factor, 2.0);
  EXPECT_EQ(c.num_kv_heads, 4);  // MHA when num_key_value_heads is absent
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.tie_word_embeddings);
}

}  // namespace
}  // namespace tracenas
