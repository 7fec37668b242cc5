#include "tracenas/arch.hpp"

#include <gtest/gtest.h>

#include "test_models.hpp"
#include "tracenas/error.hpp"
#include "tracenas/model.hpp"

namespace tracenas {
namespace {

// The stories260K shape of SPEC.md section 2's example.
ModelConfig base() { return testing::stories260K_shape(2, true); }

std::string with_layers(const std::string& layers) {
  return R"({"format": "tracenas.arch/1", "layers": [)" + layers + "]}";
}

const char* kFull =
    R"({"attn": true, "heads": 8, "kv_heads": 4, "mlp": true, "mlp_channels": 172})";

std::string error_of(const std::string& text) {
  try {
    parse_arch(text, "a.json", base());
  } catch (const ArchError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  return "(no error)";
}

TEST(ArchJson, ParsesTheSpecExampleShape) {
  Arch a = parse_arch(with_layers(std::string(kFull) + R"(,
      {"attn": false, "mlp": true, "mlp_channels": 64})"),
                      "a.json", base());
  ASSERT_EQ(a.layers.size(), 2u);
  EXPECT_EQ(a.layers[0].heads, 8);
  EXPECT_FALSE(a.layers[1].attn);
  EXPECT_EQ(a.layers[1].mlp_channels, 64);
  // kv_heads defaults to all G.
  Arch b =
      parse_arch(with_layers(R"({"attn": true, "heads": 4, "mlp": false}, )" + std::string(kFull)),
                 "a.json", base());
  EXPECT_EQ(b.layers[0].kv_heads, 4);
  // Round trip through arch_to_json.
  EXPECT_EQ(parse_arch(arch_to_json(a, base()), "b.json", base()), a);
}

TEST(ArchJson, ExplicitIndicesFlatAndPerGroup) {
  Arch flat = parse_arch(
      with_layers(R"({"attn": true, "heads": 4, "kv_heads": 2, "head_index": [7, 6, 0, 1],
                      "mlp": true, "mlp_channels": 2, "channel_index": [5, 3]}, )" +
                  std::string(kFull)),
      "a.json", base());
  EXPECT_EQ(flat.layers[0].head_index, (std::vector<int>{0, 1, 6, 7}));
  EXPECT_EQ(flat.layers[0].channel_index, (std::vector<int>{3, 5}));
  Arch grouped = parse_arch(
      with_layers(R"({"attn": true, "heads": 4, "kv_heads": 2, "head_index": [[0, 1], [6, 7]],
                      "mlp": true, "mlp_channels": 2, "channel_index": [3, 5]}, )" +
                  std::string(kFull)),
      "a.json", base());
  EXPECT_EQ(grouped, flat);
}

TEST(ArchJson, EveryRejectionNamesTheLayerAndField) {
  const std::string full = kFull;
  EXPECT_EQ(error_of("{"), error_of("{"));  // stable
  EXPECT_NE(error_of("{").find("a.json: not valid JSON"), std::string::npos);
  EXPECT_EQ(error_of(R"({"format": "x", "layers": []})"),
            "a.json: format: expected \"tracenas.arch/1\" (got \"x\")");
  EXPECT_EQ(error_of(R"({"format": "tracenas.arch/1", "layers": [], "extra": 1})"),
            "a.json: extra: unknown key (known: base, format, layers)");
  EXPECT_EQ(error_of(with_layers(full)),
            "a.json: layers: expected one entry per base layer, 2 (got 1)");
  EXPECT_EQ(error_of(R"({"format": "tracenas.arch/1", "base": {"num_layers": 2, "hidden_size": 32},
                         "layers": [)" +
                     full + "," + full + "]}"),
            "a.json: base.hidden_size: the model has 64 (got 32); this architecture is for "
            "another model");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": true, "heads": 8, "mlp": true,
                                              "mlp_channels": 172, "heds": 1})")),
            "a.json: layers[1].heds: unknown key (did you mean 'heads'?; known: attn, "
            "channel_index, head_index, heads, kv_heads, mlp, mlp_channels)");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": true, "heads": 6, "kv_heads": 4,
                                              "mlp": false})")),
            "a.json: layers[1].heads: must be a positive multiple of kv_heads 4 (got 6)");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": true, "heads": 0, "kv_heads": 4,
                                              "mlp": false})")),
            "a.json: layers[1].heads: must be a positive multiple of kv_heads 4 (got 0)");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": true, "heads": 5, "kv_heads": 5,
                                              "mlp": false})")),
            "a.json: layers[1].kv_heads: must be in 1..4 (got 5)");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": true, "heads": 6, "kv_heads": 2,
                                              "mlp": false})")),
            "a.json: layers[1].heads: keeps 3 query heads per KV group, but the base has 2 "
            "(got heads 6, kv_heads 2)");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": false, "mlp": true, "mlp_channels": 173})")),
            "a.json: layers[1].mlp_channels: must be in 1..172 (got 173)");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": false, "mlp": true, "mlp_channels": 0})")),
            "a.json: layers[1].mlp_channels: must be in 1..172 (got 0)");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": false, "mlp": true})")),
            "a.json: layers[1].mlp_channels: missing");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"mlp": false})")), "a.json: layers[1].attn: missing");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": "yes", "mlp": false})")),
            "a.json: layers[1].attn: expected true or false (got \"yes\")");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": false, "heads": 8, "mlp": false})")),
            "a.json: layers[1].heads: given for a removed attention block");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": true, "heads": 2.5, "mlp": false})")),
            "a.json: layers[1].heads: expected an integer (got 2.5)");
  {
    ModelConfig wide = base();  // 4 query heads per KV group
    wide.num_kv_heads = 2;
    try {
      parse_arch(with_layers(R"({"attn": true, "heads": 8, "kv_heads": 2, "mlp": false},
                                {"attn": true, "heads": 4, "kv_heads": 2,
                                 "head_index": [0, 1, 2, 4], "mlp": false})"),
                 "a.json", wide);
      ADD_FAILURE() << "uneven groups accepted";
    } catch (const ArchError& e) {
      EXPECT_STREQ(e.what(),
                   "a.json: layers[1].head_index: KV group 0 keeps 3 query heads; every kept "
                   "group must keep heads / kv_heads = 2");
    }
  }
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": true, "heads": 2, "kv_heads": 2,
                                              "head_index": [0, 1], "mlp": false})")),
            "a.json: layers[1].head_index: the listed heads span 1 KV groups, but kv_heads is 2");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": true, "heads": 2, "kv_heads": 1,
                                              "head_index": [0, 9], "mlp": false})")),
            "a.json: layers[1].head_index: query head index out of range 0..7 (got 9)");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": true, "heads": 2, "kv_heads": 1,
                                              "head_index": [0], "mlp": false})")),
            "a.json: layers[1].head_index: lists 1 heads, but heads is 2");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": false, "mlp": true, "mlp_channels": 2,
                                              "channel_index": [4, 4]})")),
            "a.json: layers[1].channel_index: channel 4 is listed twice");
  EXPECT_EQ(error_of(with_layers(full + R"(, {"attn": false, "mlp": true, "mlp_channels": 1,
                                              "channel_index": [172]})")),
            "a.json: layers[1].channel_index: channel index out of range 0..171 (got 172)");
  try {
    read_arch("/nonexistent/arch.json", base());
    FAIL();
  } catch (const ArchError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/arch.json: cannot read the architecture file");
  }
}

TEST(ArchParams, CountFollowsSpecSection4) {
  ModelConfig c = base();
  // Hand count: embed 512*64 + final norm 64, tied head.
  Arch none;
  none.layers.resize(2);
  for (auto& l : none.layers) {
    l.attn = false;
    l.mlp = false;
  }
  EXPECT_EQ(count_params(c, none), 512 * 64 + 64);
  Arch a = none;
  a.layers[0].attn = true;
  a.layers[0].heads = 2;
  a.layers[0].kv_heads = 1;
  // norm 64 + q 16*64 + k,v 8*64 each + o 64*16
  EXPECT_EQ(count_params(c, a), 512 * 64 + 64 + 64 + 16 * 64 + 2 * 8 * 64 + 64 * 16);
  c.tie_word_embeddings = false;
  c.attention_bias = true;  // q, k, v biases (Qwen2)
  c.qk_norm = true;         // Qwen3 q/k norms
  EXPECT_EQ(count_params(c, a),
            2 * 512 * 64 + 64 + 64 + 16 * 64 + 2 * 8 * 64 + 64 * 16 + (16 + 8 + 8) + 2 * 8);
  Arch m = none;
  m.layers[1].mlp = true;
  m.layers[1].mlp_channels = 10;
  c.mlp_bias = true;
  EXPECT_EQ(count_params(c, m), 2 * 512 * 64 + 64 + 64 + 3 * 10 * 64 + (10 + 10 + 64));
}

}  // namespace
}  // namespace tracenas
