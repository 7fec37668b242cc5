#include "tracenas/support/hf_config.hpp"

#include <gtest/gtest.h>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

// The shared fields are family-independent; these tests read them as a
// family with every rule left to the config (the adapters' own families are
// tested beside the adapter plugins).
std::vector<HfFamily> families(std::vector<std::string> types) {
  std::vector<HfFamily> out;
  for (auto& t : types) {
    HfFamily f;
    f.model_type = std::move(t);
    out.push_back(std::move(f));
  }
  return out;
}

// Expected values from the tables in shared/reference/*/README.md.
TEST(HfConfig, Llama3TinyWithLlama3RopeAndTiedEmbeddings) {
  ModelConfig c = read_hf_config(TN_SHARED_DIR "/reference/llama3-tiny", families({"llama"}));
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

// A family with a rule of each kind, on the same config text.
TEST(HfConfig, FamilyRulesDecideBiasesAndNorms) {
  const std::string text =
      R"({"model_type": "fam", "num_hidden_layers": 2, "hidden_size": 64,
          "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
          "attention_bias": true, "mlp_bias": true})";
  HfFamily from_config;
  from_config.model_type = "fam";
  ModelConfig c = parse_hf_config(text, "cfg.json", {from_config});
  EXPECT_TRUE(c.attention_bias);
  EXPECT_TRUE(c.o_proj_bias);
  EXPECT_TRUE(c.mlp_bias);
  EXPECT_FALSE(c.qk_norm);

  HfFamily fixed = from_config;
  fixed.attention_bias = HfBias::kAlways;
  fixed.o_proj_bias = HfBias::kNever;
  fixed.mlp_bias = HfBias::kNever;
  fixed.qk_norm = true;
  c = parse_hf_config(text, "cfg.json", {fixed});
  EXPECT_TRUE(c.attention_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_TRUE(c.qk_norm);

  // Two families of one model_type: the first is used.
  c = parse_hf_config(R"({"model_type": "fam", "num_hidden_layers": 2, "hidden_size": 64,
          "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})",
                      "cfg.json", {fixed, from_config});
  EXPECT_TRUE(c.attention_bias);
  // kConfig with the flags absent: no biases (the Hugging Face default).
  HfFamily other;
  other.model_type = "other";
  c = parse_hf_config(R"({"model_type": "fam", "num_hidden_layers": 2, "hidden_size": 64,
          "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})",
                      "cfg.json", {other, from_config});
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.o_proj_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(read_hf_model_type(TN_SHARED_DIR "/reference/qwen3-tiny"), "qwen3");
}

std::string error_of(const std::string& text) {
  try {
    parse_hf_config(text, "cfg.json", families({"llama", "mistral"}));
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
            "cfg.json: model_type: unsupported model type \"gpt2\" (supported: llama, mistral)");
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
    read_hf_config("/nonexistent/model", families({"llama"}));
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/model: no such checkpoint folder or config file");
  }
  try {
    read_hf_config(TN_SHARED_DIR "/data", families({"llama"}));  // a folder without config.json
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_STREQ(e.what(), TN_SHARED_DIR "/data/config.json: cannot read the model config");
  }
}

// Sizes are bounded before anything is sized from them: a billion layers
// once made `run` build its search space and die of bad_alloc.
TEST(HfConfig, SizesAboveTheBoundsAreRefusedNamingTheField) {
  auto with = [](const std::string& field, const std::string& value) {
    std::string c = R"({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})";
    const std::size_t at = c.find("\"" + field + "\"");
    if (at == std::string::npos)
      return c.substr(0, c.size() - 1) + ", \"" + field + "\": " + value + "}";
    const std::size_t colon = c.find(':', at), end = c.find_first_of(",}", colon);
    return c.substr(0, colon + 2) + value + c.substr(end);
  };
  EXPECT_EQ(error_of(with("num_hidden_layers", "1000000000")),
            "cfg.json: num_hidden_layers: 1000000000 is larger than TraceNAS supports (at most "
            "1024)");
  EXPECT_EQ(error_of(with("num_attention_heads", "8192")),
            "cfg.json: num_attention_heads: 8192 is larger than TraceNAS supports (at most 4096)");
  // 2^31 once passed the check and overflowed the int it was read into.
  EXPECT_EQ(error_of(with("hidden_size", "2147483648")),
            "cfg.json: hidden_size: 2147483648 is larger than TraceNAS supports (at most "
            "1048576)");
  EXPECT_EQ(error_of(with("intermediate_size", "18446744073709551615")),
            "cfg.json: intermediate_size: 18446744073709551615 is larger than TraceNAS supports "
            "(at most 1048576)");
  EXPECT_EQ(error_of(with("vocab_size", "16777217")),
            "cfg.json: vocab_size: 16777217 is larger than TraceNAS supports (at most 16777216)");
  EXPECT_EQ(error_of(with("head_dim", "1048577")),
            "cfg.json: head_dim: 1048577 is larger than TraceNAS supports (at most 1048576)");
  // The bounds themselves are accepted.
  EXPECT_EQ(parse_hf_config(with("num_hidden_layers", "1024"), "cfg.json", families({"llama"}))
                .num_layers,
            1024);
}

TEST(HfConfig, LinearRopeAndLlama2Defaults) {
  ModelConfig c = parse_hf_config(
      R"({"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
          "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
          "rope_scaling": {"type": "linear", "factor": 2.0}})",
      "cfg.json", families({"llama"}));
  EXPECT_EQ(c.rope_type, "linear");
  EXPECT_DOUBLE_EQ(c.rope_factor, 2.0);
  EXPECT_EQ(c.num_kv_heads, 4);  // MHA when num_key_value_heads is absent
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.tie_word_embeddings);
}

}  // namespace
}  // namespace tracenas
