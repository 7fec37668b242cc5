#include "search/search_space.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "test_models.hpp"
#include "test_util.hpp"
#include "tracenas/error.hpp"
#include "tracenas/model.hpp"

namespace tracenas {
namespace {

// SPEC.md section 2's example shape, untied: 292800 parameters in all
// (embeddings 2 x 512 x 64 = 65536, final norm 64, per layer attention 12352
// and MLP 33088).
ModelConfig small() { return testing::stories260K_shape(5, false); }

// A Llama-2-7B-like shape with GQA.
ModelConfig gqa() {
  ModelConfig c;
  c.model_type = "llama";
  c.num_layers = 32;
  c.hidden_size = 4096;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.intermediate_size = 11008;
  c.vocab_size = 32000;
  return c;
}

constexpr std::int64_t kSmallTotal = 292800;
constexpr std::int64_t kSmallEmbeddings = 65536;

SpaceOptions depth(DepthMode mode) {
  SpaceOptions o;
  o.depth = mode;
  return o;
}

Constraints window(std::int64_t lo, std::int64_t hi) {
  Constraints c;
  c.min_params = lo;
  c.max_params = hi;
  return c;
}

std::string error_of(const ModelConfig& base, const SpaceOptions& o, const Constraints& c) {
  try {
    ArchSpace space(base, o, c);
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  return "(no error)";
}

LayerArch attn_mlp(int heads, int kv, int channels) {
  LayerArch l;
  l.heads = heads;
  l.kv_heads = kv;
  l.mlp_channels = channels;
  return l;
}

LayerArch attn_only(int heads, int kv) {
  LayerArch l = attn_mlp(heads, kv, 0);
  l.mlp = false;
  return l;
}

LayerArch mlp_only(int channels) {
  LayerArch l = attn_mlp(0, 0, channels);
  l.attn = false;
  return l;
}

LayerArch removed() {
  LayerArch l = attn_mlp(0, 0, 0);
  l.attn = false;
  l.mlp = false;
  return l;
}

std::vector<GeneKind> kinds(const ArchSpace& s) {
  std::vector<GeneKind> out;
  for (const GeneInfo& g : s.genes()) out.push_back(g.kind);
  return out;
}

std::vector<int> layers_of(const ArchSpace& s) {
  std::vector<int> out;
  for (const GeneInfo& g : s.genes()) out.push_back(g.layer);
  return out;
}

TEST(SearchSpaceRejection, Names) {
  EXPECT_STREQ(to_string(Rejection::kNone), "none");
  EXPECT_STREQ(to_string(Rejection::kOutOfSpace), "out_of_space");
  EXPECT_STREQ(to_string(Rejection::kMinLayers), "min_layers");
  EXPECT_STREQ(to_string(Rejection::kParamsLow), "params_low");
  EXPECT_STREQ(to_string(Rejection::kParamsHigh), "params_high");
  EXPECT_STREQ(to_string(Rejection::kFlops), "flops");
  EXPECT_STREQ(to_string(Rejection::kKvCache), "kv_cache");
}

TEST(ArchSpaceLayout, LayerModeGenes) {
  ArchSpace s(small(), depth(DepthMode::kLayer), Constraints{});
  // keep, heads per group {1, 2}, MLP 1..172; KV genes only with remove_kv_groups.
  ASSERT_EQ(s.dims(), 15);
  using K = GeneKind;
  std::vector<K> one = {K::kLayer, K::kHeads, K::kMlp};
  std::vector<K> want;
  std::vector<int> want_layers;
  for (int l = 0; l < 5; ++l) {
    want.insert(want.end(), one.begin(), one.end());
    want_layers.insert(want_layers.end(), {l, l, l});
  }
  EXPECT_EQ(kinds(s), want);
  EXPECT_EQ(layers_of(s), want_layers);
  EXPECT_EQ(s.lower(), Genome(15, 0));
  EXPECT_EQ(s.upper(), (Genome{1, 1, 171, 1, 1, 171, 1, 1, 171, 1, 1, 171, 1, 1, 171}));
  EXPECT_EQ(s.heads_values(), (std::vector<int>{1, 2}));
  EXPECT_EQ(s.kv_values(), (std::vector<int>{4}));
  EXPECT_EQ(s.mlp_values().size(), 172u);
  EXPECT_EQ(s.mlp_values().front(), 1);
  EXPECT_EQ(s.mlp_values().back(), 172);
  EXPECT_TRUE(s.genes()[0].is_depth());
  EXPECT_FALSE(s.genes()[1].is_depth());
}

TEST(ArchSpaceLayout, BlockAndNoneModes) {
  ArchSpace block(small(), depth(DepthMode::kBlock), Constraints{});
  ASSERT_EQ(block.dims(), 20);
  using K = GeneKind;
  const std::vector<K> block_kinds = kinds(block);
  EXPECT_EQ(std::vector<K>(block_kinds.begin(), block_kinds.begin() + 4),
            (std::vector<K>{K::kAttn, K::kMlpBlock, K::kHeads, K::kMlp}));
  ArchSpace none(small(), depth(DepthMode::kNone), Constraints{});
  ASSERT_EQ(none.dims(), 10);
  for (const GeneInfo& g : none.genes()) EXPECT_FALSE(g.is_depth());
  SpaceOptions o = depth(DepthMode::kLayer);
  o.width = false;
  ArchSpace depth_only(small(), o, Constraints{});
  EXPECT_EQ(kinds(depth_only), std::vector<K>(5, K::kLayer));
  EXPECT_EQ(depth_only.upper(), Genome(5, 1));
}

TEST(ArchSpaceLayout, ProtectedAndDepthFrom) {
  SpaceOptions o = depth(DepthMode::kBlock);
  o.protected_layers = {4};
  o.depth_from = 1;
  ArchSpace s(small(), o, Constraints{});
  using K = GeneKind;
  std::vector<K> want = {K::kHeads, K::kMlp};
  for (int l = 1; l <= 3; ++l)
    want.insert(want.end(), {K::kAttn, K::kMlpBlock, K::kHeads, K::kMlp});
  want.insert(want.end(), {K::kHeads, K::kMlp});
  EXPECT_EQ(kinds(s), want);
  EXPECT_EQ(layers_of(s), (std::vector<int>{0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4}));
  EXPECT_FALSE(s.editable(0));
  EXPECT_TRUE(s.editable(1));
  EXPECT_TRUE(s.editable(3));
  EXPECT_FALSE(s.editable(4));

  SpaceOptions p = depth(DepthMode::kLayer);
  p.protected_layers = {0, 4};
  ArchSpace t(small(), p, Constraints{});
  EXPECT_EQ(t.dims(), 13);
  EXPECT_EQ(kinds(t)[0], K::kHeads);
  EXPECT_EQ(kinds(t)[2], K::kLayer);
  EXPECT_EQ(t.genes()[2].layer, 1);
}

TEST(ArchSpaceLayout, AllowedWidthLists) {
  ModelConfig b = gqa();  // 4 query heads per KV group
  SpaceOptions o = depth(DepthMode::kNone);
  o.heads_step = 2;
  EXPECT_EQ(ArchSpace(b, o, Constraints{}).heads_values(), (std::vector<int>{2, 4}));
  o.heads_step = 3;
  EXPECT_EQ(ArchSpace(b, o, Constraints{}).heads_values(), (std::vector<int>{1, 4}));
  o.heads_step = 1;
  o.min_heads_per_group = 2;
  EXPECT_EQ(ArchSpace(b, o, Constraints{}).heads_values(), (std::vector<int>{2, 3, 4}));
  o.min_heads_per_group = 4;
  ArchSpace no_heads(b, o, Constraints{});
  EXPECT_EQ(no_heads.heads_values(), (std::vector<int>{4}));
  for (const GeneInfo& g : no_heads.genes()) EXPECT_NE(g.kind, GeneKind::kHeads);

  o = depth(DepthMode::kNone);
  o.remove_kv_groups = true;
  o.min_kv_heads = 2;
  EXPECT_EQ(ArchSpace(b, o, Constraints{}).kv_values(), (std::vector<int>{2, 3, 4, 5, 6, 7, 8}));

  ModelConfig s = small();
  o = depth(DepthMode::kNone);
  o.mlp_align = 32;
  o.mlp_min_fraction = 0.25;  // ceil(43) -> 64
  EXPECT_EQ(ArchSpace(s, o, Constraints{}).mlp_values(), (std::vector<int>{64, 96, 128, 160, 172}));
  o.mlp_min_fraction = 0;  // at least the alignment
  EXPECT_EQ(ArchSpace(s, o, Constraints{}).mlp_values(),
            (std::vector<int>{32, 64, 96, 128, 160, 172}));
  o.mlp_align = 64;
  o.mlp_min_fraction = 0.5;  // 86 -> 128
  EXPECT_EQ(ArchSpace(s, o, Constraints{}).mlp_values(), (std::vector<int>{128, 172}));
  o.mlp_align = 1;
  o.mlp_min_fraction = 0.3;  // 51.6 -> 52
  EXPECT_EQ(ArchSpace(s, o, Constraints{}).mlp_values().front(), 52);
  o.mlp_align = 256;  // above I: only I itself, no MLP gene
  o.mlp_min_fraction = 0;
  ArchSpace wide(s, o, Constraints{});
  EXPECT_EQ(wide.mlp_values(), (std::vector<int>{172}));
  EXPECT_EQ(kinds(wide), std::vector<GeneKind>(5, GeneKind::kHeads));

  o = depth(DepthMode::kLayer);
  o.remove_kv_groups = true;
  o.min_kv_heads = 2;
  o.heads_step = 2;
  o.mlp_align = 256;
  o.mlp_min_fraction = 0.5;  // 5504 -> 5632 .. 10752, then 11008
  ArchSpace big(b, o, Constraints{});
  ASSERT_EQ(big.mlp_values().size(), 22u);
  EXPECT_EQ(big.mlp_values()[0], 5632);
  EXPECT_EQ(big.mlp_values()[20], 10752);
  EXPECT_EQ(big.mlp_values()[21], 11008);
  EXPECT_EQ(big.dims(), 4 * 32);
  EXPECT_EQ(std::vector<std::int64_t>(big.upper().begin(), big.upper().begin() + 4),
            (Genome{1, 6, 1, 21}));
}

TEST(ArchSpaceDecode, FullGenomeIsTheBase) {
  for (DepthMode m : {DepthMode::kLayer, DepthMode::kBlock, DepthMode::kNone}) {
    ArchSpace s(small(), depth(m), Constraints{});
    EXPECT_EQ(s.decode(s.upper()), full_arch(small()));
    EXPECT_EQ(s.params(s.upper()), kSmallTotal);
    EXPECT_EQ(s.encode(full_arch(small())), s.upper());
  }
  SpaceOptions o;
  o.remove_kv_groups = true;
  ArchSpace b(gqa(), o, Constraints{});
  EXPECT_EQ(b.decode(b.upper()), full_arch(gqa()));
  EXPECT_EQ(b.params(b.upper()), count_params(gqa(), full_arch(gqa())));
}

TEST(ArchSpaceDecode, SmallArchMetrics) {
  Constraints c;
  c.seq_len = 256;
  c.dtype_bytes = 4;
  ArchSpace s(small(), depth(DepthMode::kBlock), c);
  // Genes per layer: attn kept, MLP kept, heads-per-group index, MLP index.
  const Genome g = {1, 1, 0, 95, 0, 0, 1, 171, 1, 0, 1, 171, 0, 1, 1, 171, 0, 0, 1, 171};
  Arch want;
  want.layers = {attn_mlp(4, 4, 96), removed(), attn_only(8, 4), mlp_only(172), removed()};
  const Arch a = s.decode(g);
  EXPECT_EQ(a, want);
  EXPECT_NO_THROW(validate_arch(a, small(), "test"));
  EXPECT_EQ(parse_arch(arch_to_json(a, small()), "t", small()), a);
  EXPECT_EQ(s.encode(want), g);

  // 65600 + layer 0 (8256 + 18496) + layer 2 attention 12352 + layer 3 MLP 33088.
  EXPECT_EQ(s.params(g), 137792);
  EXPECT_EQ(s.scoped_params(a), 137792);
  // Weights: LM head 32768, layer 0 8192 + 18432, layer 2 12288, layer 3 33024;
  // attention 4 x 4 x 8 x 256 + 4 x 8 x 8 x 256.
  EXPECT_DOUBLE_EQ(s.flops_per_token(a), 2.0 * 104704 + 98304);
  // Two attention blocks of 4 KV heads: 2 x 4 x 8 x 4 bytes each.
  EXPECT_DOUBLE_EQ(s.kv_cache_bytes_per_token(a), 512);
  c.dtype_bytes = 2;
  c.seq_len = 128;
  c.non_embedding = true;
  ArchSpace half(small(), depth(DepthMode::kBlock), c);
  EXPECT_DOUBLE_EQ(half.kv_cache_bytes_per_token(a), 256);
  EXPECT_DOUBLE_EQ(half.flops_per_token(a), 2.0 * 104704 + 98304 / 2);
  EXPECT_EQ(half.scoped_params(a), 137792 - kSmallEmbeddings);
  EXPECT_EQ(half.params(g), 137792);  // params() is always the total

  // The full model: 2 x (32768 + 5 x 45312) + 5 x 65536.
  EXPECT_DOUBLE_EQ(s.flops_per_token(full_arch(small())), 846336);
  EXPECT_DOUBLE_EQ(s.kv_cache_bytes_per_token(full_arch(small())), 1280);

  ModelConfig tied = small();
  tied.tie_word_embeddings = true;
  ArchSpace t(tied, depth(DepthMode::kBlock), c);
  EXPECT_EQ(t.scoped_params(full_arch(tied)), kSmallTotal - 2 * 32768);
  EXPECT_EQ(t.params(t.upper()), kSmallTotal - 32768);
  EXPECT_DOUBLE_EQ(t.flops_per_token(full_arch(tied)), 2.0 * (32768 + 5 * 45312) + 5 * 32768);
}

TEST(ArchSpaceDecode, RemovedBlockWidthsAreIgnored) {
  ArchSpace s(small(), depth(DepthMode::kLayer), Constraints{});
  Genome a = s.upper(), b = s.upper();
  a[3] = 0;  // layer 1 removed
  b[3] = 0;
  b[4] = 0;
  b[5] = 7;
  EXPECT_EQ(s.decode(a), s.decode(b));
  EXPECT_EQ(s.decode(a).layers[1], removed());
  EXPECT_EQ(s.params(a), kSmallTotal - 45440);
  // encode gives a removed layer its base widths.
  EXPECT_EQ(s.encode(s.decode(b)), a);
  EXPECT_THROW(s.decode(Genome(3, 0)), Error);
}

TEST(ArchSpaceDecode, EncodeRoundsToNearestAllowed) {
  SpaceOptions o = depth(DepthMode::kLayer);
  o.mlp_align = 32;
  ArchSpace s(small(), o, Constraints{});  // MLP 32, 64, ..., 160, 172
  Arch a = full_arch(small());
  a.layers[0].mlp_channels = 100;  // 96
  a.layers[1].mlp_channels = 166;  // 160 and 172 tie: the wider
  a.layers[2].mlp_channels = 1;    // 32
  a.layers[3].heads = 4;           // 1 query head per group
  const Arch d = s.decode(s.encode(a));
  EXPECT_EQ(d.layers[0].mlp_channels, 96);
  EXPECT_EQ(d.layers[1].mlp_channels, 172);
  EXPECT_EQ(d.layers[2].mlp_channels, 32);
  EXPECT_EQ(d.layers[3].heads, 4);
  EXPECT_EQ(d.layers[3].kv_heads, 4);

  // Layer mode keeps a layer with either block; explicit indices are dropped.
  a = full_arch(small());
  a.layers[1] = attn_only(8, 4);
  a.layers[2] = removed();
  a.layers[0].channel_index = {0, 1, 2};
  a.layers[0].mlp_channels = 3;
  const Arch e = s.decode(s.encode(a));
  EXPECT_TRUE(e.layers[1].attn && e.layers[1].mlp);
  EXPECT_EQ(e.layers[2], removed());
  EXPECT_TRUE(e.layers[0].channel_index.empty());
  EXPECT_EQ(e.layers[0].mlp_channels, 32);

  SpaceOptions k;
  k.remove_kv_groups = true;
  k.heads_step = 2;  // per group {2, 4}
  ArchSpace b(gqa(), k, Constraints{});
  Arch g = full_arch(gqa());
  g.layers[5] = attn_mlp(9, 3, 11008);  // 3 per group: tie, the wider (4)
  g.layers[6] = attn_mlp(4, 2, 11008);
  const Arch gd = b.decode(b.encode(g));
  EXPECT_EQ(gd.layers[5].heads, 12);
  EXPECT_EQ(gd.layers[5].kv_heads, 3);
  EXPECT_EQ(gd.layers[6].heads, 4);
  EXPECT_EQ(gd.layers[6].kv_heads, 2);
}

TEST(ArchSpaceDecode, RoundTripOfRandomGenomes) {
  for (DepthMode m : {DepthMode::kLayer, DepthMode::kBlock, DepthMode::kNone}) {
    SpaceOptions o = depth(m);
    o.remove_kv_groups = true;
    o.min_layers = 0;
    ArchSpace s(gqa(), o, Constraints{});
    std::mt19937_64 rng(7);
    for (int t = 0; t < 50; ++t) {
      const Genome g = s.sample(rng);
      const Arch a = s.decode(g);
      EXPECT_NO_THROW(validate_arch(a, gqa(), "test"));
      EXPECT_EQ(s.decode(s.encode(a)), a);
      EXPECT_EQ(s.params(g), count_params(gqa(), a));
    }
  }
}

TEST(SearchSpaceConstraints, FromParamsResolvesFractions) {
  ParamValues v;
  v.set("params_scope", std::string("total"));
  v.set("min_params", 0.25);
  v.set("max_params", 0.5);
  v.set("tolerance", 0.01);
  Constraints c = Constraints::from_params(v, small(), 2, 128);
  EXPECT_FALSE(c.non_embedding);
  EXPECT_FALSE(c.from_target);
  EXPECT_EQ(c.min_params, 73200);
  EXPECT_EQ(c.max_params, 146400);
  EXPECT_EQ(c.dtype_bytes, 2);
  EXPECT_EQ(c.seq_len, 128);
  EXPECT_EQ(c.max_flops_per_token, 0);
  EXPECT_EQ(c.max_kv_cache_bytes_per_token, 0);

  ParamValues mixed;
  mixed.set("min_params", std::int64_t{1000});
  mixed.set("max_params", 0.9);
  mixed.set("max_flops_per_token", 1.5e9);
  mixed.set("max_kv_cache_bytes_per_token", 4096.0);
  c = Constraints::from_params(mixed, small(), 4, 256);
  EXPECT_EQ(c.min_params, 1000);
  EXPECT_EQ(c.max_params, 263520);
  EXPECT_EQ(c.max_flops_per_token, 1.5e9);
  EXPECT_EQ(c.max_kv_cache_bytes_per_token, 4096);

  ParamValues none;
  c = Constraints::from_params(none, small(), 4, 256);
  EXPECT_EQ(c.min_params, 0);
  EXPECT_EQ(c.max_params, std::numeric_limits<std::int64_t>::max());
}

TEST(SearchSpaceConstraints, TargetAndTolerance) {
  ParamValues v;
  v.set("target_params", 0.5);
  v.set("tolerance", 0.01);  // of the base's count: 2928
  Constraints c = Constraints::from_params(v, small(), 4, 256);
  EXPECT_TRUE(c.from_target);
  EXPECT_EQ(c.min_params, 143472);
  EXPECT_EQ(c.max_params, 149328);

  ParamValues abs;
  abs.set("target_params", 150000.0);
  abs.set("tolerance", 5000.0);
  c = Constraints::from_params(abs, small(), 4, 256);
  EXPECT_EQ(c.min_params, 145000);
  EXPECT_EQ(c.max_params, 155000);

  ParamValues def;  // tolerance defaults to 0.01
  def.set("target_params", 0.5);
  c = Constraints::from_params(def, small(), 4, 256);
  EXPECT_EQ(c.min_params, 143472);
  EXPECT_EQ(c.max_params, 149328);
}

TEST(SearchSpaceConstraints, NonEmbeddingScope) {
  ParamValues v;
  v.set("params_scope", std::string("non_embedding"));
  v.set("max_params", 0.5);  // of 292800 - 65536 = 227264
  Constraints c = Constraints::from_params(v, small(), 4, 256);
  EXPECT_TRUE(c.non_embedding);
  EXPECT_EQ(c.max_params, 113632);
  ArchSpace s(small(), depth(DepthMode::kLayer), c);
  EXPECT_EQ(s.scoped_params(full_arch(small())), 227264);
  // Two of five layers full: 64 + 2 x 45440 = 90944 <= 113632; three: 136384.
  Genome g = s.upper();
  g[0] = g[3] = g[6] = 0;
  EXPECT_EQ(s.check(g), Rejection::kNone);
  g[6] = 1;
  EXPECT_EQ(s.check(g), Rejection::kParamsHigh);
}

TEST(SearchSpaceOptions, FromParams) {
  ParamValues v;
  v.set("depth", std::string("block"));
  v.set("min_layers", std::int64_t{2});
  v.set("protected_layers", std::vector<std::int64_t>{0, -1, 4});
  v.set("depth_from", 0.5);
  v.set("width", true);
  v.set("heads_step", std::int64_t{2});
  v.set("min_heads_per_group", std::int64_t{1});
  v.set("remove_kv_groups", true);
  v.set("min_kv_heads", std::int64_t{2});
  v.set("mlp_align", std::int64_t{32});
  v.set("mlp_min_fraction", 0.25);
  SpaceOptions o = SpaceOptions::from_params(v, small());
  EXPECT_EQ(o.depth, DepthMode::kBlock);
  EXPECT_EQ(o.min_layers, 2);
  EXPECT_EQ(o.protected_layers, (std::vector<int>{0, 4}));
  EXPECT_EQ(o.depth_from, 2);  // floor(0.5 x 5)
  EXPECT_TRUE(o.width);
  EXPECT_EQ(o.heads_step, 2);
  EXPECT_TRUE(o.remove_kv_groups);
  EXPECT_EQ(o.min_kv_heads, 2);
  EXPECT_EQ(o.mlp_align, 32);
  EXPECT_DOUBLE_EQ(o.mlp_min_fraction, 0.25);

  ParamValues w;
  w.set("depth", std::string("none"));
  w.set("depth_from", 3.0);
  o = SpaceOptions::from_params(w, small());
  EXPECT_EQ(o.depth, DepthMode::kNone);
  EXPECT_EQ(o.depth_from, 3);
  w.set("depth_from", 0.25);
  EXPECT_EQ(SpaceOptions::from_params(w, gqa()).depth_from, 8);

  ParamValues d;  // defaults
  o = SpaceOptions::from_params(d, small());
  EXPECT_EQ(o.depth, DepthMode::kLayer);
  EXPECT_EQ(o.min_layers, 1);
  EXPECT_TRUE(o.protected_layers.empty());
  EXPECT_EQ(o.depth_from, 0);
}

TEST(SearchSpaceOptions, FromParamsErrors) {
  auto error = [](const ParamValues& v) -> std::string {
    try {
      SpaceOptions::from_params(v, small());
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  };
  ParamValues v;
  v.set("protected_layers", std::vector<std::int64_t>{5});
  EXPECT_NE(error(v).find("space.protected_layers: layer 5 is out of range"), std::string::npos)
      << error(v);
  v.set("protected_layers", std::vector<std::int64_t>{-6});
  EXPECT_NE(error(v).find("space.protected_layers: layer -6"), std::string::npos) << error(v);
  ParamValues d;
  d.set("depth_from", 2.5);
  EXPECT_NE(error(d).find("space.depth_from:"), std::string::npos) << error(d);
  EXPECT_NE(error(d).find("2.5"), std::string::npos) << error(d);
}

TEST(SearchSpaceErrors, SpaceFieldsThatDoNotFitTheModel) {
  SpaceOptions o;
  o.min_layers = 6;
  EXPECT_NE(error_of(small(), o, Constraints{}).find("space.min_layers: 6"), std::string::npos)
      << error_of(small(), o, Constraints{});
  o = SpaceOptions{};
  o.protected_layers = {7};
  EXPECT_NE(error_of(small(), o, Constraints{}).find("space.protected_layers: layer 7"),
            std::string::npos);
  o = SpaceOptions{};
  o.min_heads_per_group = 3;  // the base has 2 per group
  EXPECT_NE(error_of(small(), o, Constraints{}).find("space.min_heads_per_group: 3"),
            std::string::npos);
  o = SpaceOptions{};
  o.remove_kv_groups = true;
  o.min_kv_heads = 5;
  EXPECT_NE(error_of(small(), o, Constraints{}).find("space.min_kv_heads: 5"), std::string::npos);
  o = SpaceOptions{};
  o.depth_from = 5;
  EXPECT_NE(error_of(small(), o, Constraints{}).find("space.depth_from: 5"), std::string::npos);
  o.depth = DepthMode::kNone;  // no depth edits: depth_from does not matter
  EXPECT_EQ(error_of(small(), o, Constraints{}), "(no error)");
}

TEST(SearchSpaceErrors, WindowNoArchitectureMeets) {
  const SpaceOptions layer = depth(DepthMode::kLayer);
  // Smallest (layer mode, one layer at 1 head per group, 1 MLP channel):
  // 65600 + 8256 + 256 = 74112.
  EXPECT_EQ(error_of(small(), layer, window(0, 1000)),
            "constraints.max_params: no architecture of the space has at most 1000 parameters "
            "(the smallest has 74112)");
  EXPECT_EQ(error_of(small(), layer, window(0, 74111)).find("(the smallest has 74112)") !=
                std::string::npos,
            true);
  EXPECT_EQ(error_of(small(), layer, window(0, 74112)), "(no error)");
  EXPECT_EQ(error_of(small(), layer, window(300000, 400000)),
            "constraints.min_params: no architecture of the space has at least 300000 "
            "parameters (the largest has 292800)");
  EXPECT_EQ(error_of(small(), layer, window(292800, 400000)), "(no error)");
  EXPECT_NE(error_of(small(), layer, window(2000, 1000))
                .find("constraints.min_params: 2000 is above max_params 1000"),
            std::string::npos);

  // Block mode may keep only the cheapest block: 65600 + 256.
  EXPECT_NE(
      error_of(small(), depth(DepthMode::kBlock), window(0, 1000)).find("(the smallest has 65856)"),
      std::string::npos);
  SpaceOptions zero = depth(DepthMode::kBlock);
  zero.min_layers = 0;
  EXPECT_NE(error_of(small(), zero, window(0, 1000)).find("(the smallest has 65600)"),
            std::string::npos);
  // A protected layer is kept whole (and counts toward min_layers).
  SpaceOptions prot = depth(DepthMode::kLayer);
  prot.protected_layers = {0};
  prot.min_layers = 2;
  EXPECT_NE(error_of(small(), prot, window(0, 1000)).find("(the smallest has 82624)"),
            std::string::npos);
  // Non-editable layers below depth_from are kept too: 65600 + 3 x 8512.
  SpaceOptions from = depth(DepthMode::kBlock);
  from.depth_from = 3;
  from.min_layers = 0;
  EXPECT_NE(error_of(small(), from, window(0, 1000)).find("(the smallest has 91136)"),
            std::string::npos);
  // Minimum widths: 2 heads per group, MLP from 86.
  SpaceOptions narrow = depth(DepthMode::kNone);
  narrow.min_heads_per_group = 2;
  narrow.mlp_min_fraction = 0.5;
  // 65600 + 5 x (12352 + 64 + 3 x 86 x 64)
  EXPECT_NE(error_of(small(), narrow, window(0, 1000)).find("(the smallest has 210240)"),
            std::string::npos);

  Constraints ne = window(0, 1000);
  ne.non_embedding = true;
  EXPECT_EQ(error_of(small(), layer, ne),
            "constraints.max_params: no architecture of the space has at most 1000 "
            "non-embedding parameters (the smallest has 8576)");

  Constraints empty = window(101, 100);
  empty.from_target = true;
  EXPECT_EQ(error_of(small(), layer, empty),
            "constraints.tolerance: target_params +/- tolerance holds no whole count of "
            "parameters (101 > 100)");
  Constraints target = window(990, 1010);
  target.from_target = true;
  EXPECT_NE(error_of(small(), layer, target)
                .find("constraints.target_params: no architecture of the space has at most 1010"),
            std::string::npos);
}

TEST(SearchSpaceErrors, FlopsAndKvLimitsNoArchitectureMeets) {
  Constraints c;
  c.max_flops_per_token = 1000;
  // One layer at the narrowest: 2 x (32768 + 8192 + 192) + 4 x 4 x 8 x 256.
  EXPECT_EQ(error_of(small(), depth(DepthMode::kLayer), c),
            "constraints.max_flops_per_token: no architecture of the space needs at most 1000 "
            "FLOPs per token (the smallest needs 115072)");
  // Block mode: the MLP block alone, 2 x (32768 + 192).
  EXPECT_NE(error_of(small(), depth(DepthMode::kBlock), c).find("(the smallest needs 65920)"),
            std::string::npos);
  c.max_flops_per_token = 115072;
  EXPECT_EQ(error_of(small(), depth(DepthMode::kLayer), c), "(no error)");

  Constraints k;
  k.max_kv_cache_bytes_per_token = 100;
  EXPECT_EQ(error_of(small(), depth(DepthMode::kLayer), k),
            "constraints.max_kv_cache_bytes_per_token: no architecture of the space caches at "
            "most 100 bytes per token (the smallest caches 256)");
  SpaceOptions kv = depth(DepthMode::kLayer);
  kv.remove_kv_groups = true;  // one KV head: 2 x 1 x 8 x 4
  EXPECT_EQ(error_of(small(), kv, k), "(no error)");
  k.max_kv_cache_bytes_per_token = 63;
  EXPECT_NE(error_of(small(), kv, k).find("(the smallest caches 64)"), std::string::npos);
  k.max_kv_cache_bytes_per_token = 100;
  EXPECT_EQ(error_of(small(), depth(DepthMode::kBlock), k), "(no error)");  // no attention
}

TEST(SearchSpaceErrors, DiscreteWidthsMissANarrowWindow) {
  SpaceOptions o = depth(DepthMode::kLayer);
  o.width = false;  // k full layers: 65600 + k x 45440 (111040, 156480, ...)
  const std::string e = error_of(small(), o, window(120000, 120100));
  EXPECT_EQ(e.rfind("constraints: no architecture of the space has between 120000 and 120100 "
                    "parameters",
                    0),
            0u)
      << e;
  EXPECT_EQ(error_of(small(), o, window(156000, 157000)), "(no error)");
}

// Block mode, min_layers 3, window [100000, 250000], FLOPs <= 500000, KV <= 600 bytes.
ArchSpace check_space() {
  SpaceOptions o = depth(DepthMode::kBlock);
  o.min_layers = 3;
  Constraints c = window(100000, 250000);
  c.max_flops_per_token = 500000;
  c.max_kv_cache_bytes_per_token = 600;
  return ArchSpace(small(), o, c);
}

TEST(SearchSpaceCheck, ReasonsInOrder) {
  const ArchSpace s = check_space();
  const LayerArch full = attn_mlp(8, 4, 172);
  auto genome = [&](std::vector<LayerArch> layers) { return s.encode(Arch{std::move(layers)}); };

  Genome out = s.upper();
  out[3] = 172;
  EXPECT_EQ(s.check(out), Rejection::kOutOfSpace);
  out[3] = -1;
  EXPECT_EQ(s.check(out), Rejection::kOutOfSpace);
  EXPECT_EQ(s.check(Genome(4, 0)), Rejection::kOutOfSpace);
  EXPECT_FALSE(s.feasible(out));

  EXPECT_EQ(s.check(genome({full, full, removed(), removed(), removed()})), Rejection::kMinLayers);
  // Three MLP blocks of one channel: 65600 + 3 x 256.
  EXPECT_EQ(s.check(genome({mlp_only(1), mlp_only(1), mlp_only(1), removed(), removed()})),
            Rejection::kParamsLow);
  EXPECT_EQ(s.check(s.upper()), Rejection::kParamsHigh);
  // Three full layers: 201920 parameters, 534016 FLOPs.
  EXPECT_EQ(s.check(genome({full, full, full, removed(), removed()})), Rejection::kFlops);
  // Three attention blocks: 102656 parameters, 335872 FLOPs, 768 KV bytes.
  const LayerArch attn = attn_only(8, 4);
  EXPECT_EQ(s.check(genome({attn, attn, attn, removed(), removed()})), Rejection::kKvCache);
  // 189568 parameters, 443904 FLOPs, 512 KV bytes.
  const Genome ok = genome({full, removed(), full, mlp_only(172), removed()});
  EXPECT_EQ(s.check(ok), Rejection::kNone);
  EXPECT_TRUE(s.feasible(ok));
  EXPECT_TRUE(s.feasible(s.feasible_example()));
}

TEST(SearchSpaceSample, FeasibleDeterministicAndVaried) {
  Constraints c;
  c.min_params = 143472;  // 0.5 +/- 0.01 of 292800
  c.max_params = 149328;
  ArchSpace s(small(), depth(DepthMode::kLayer), c);
  std::mt19937_64 a(42), b(42), other(43);
  std::set<Genome> distinct;
  bool differs = false;
  for (int t = 0; t < 60; ++t) {
    const Genome ga = s.sample(a);
    const Genome gb = s.sample(b);
    EXPECT_EQ(ga, gb);
    EXPECT_TRUE(s.feasible(ga)) << t;
    const std::int64_t p = s.params(ga);
    EXPECT_GE(p, 143472);
    EXPECT_LE(p, 149328);
    distinct.insert(ga);
    if (s.sample(other) != ga) differs = true;
  }
  EXPECT_GE(distinct.size(), 50u);
  EXPECT_TRUE(differs);

  // Under every constraint kind at once.
  const ArchSpace k = check_space();
  std::mt19937_64 r(1);
  for (int t = 0; t < 40; ++t) EXPECT_EQ(k.check(k.sample(r)), Rejection::kNone);
}

TEST(SearchSpaceSample, NarrowWindow) {
  // A 200-parameter window: few genomes of the box meet it.
  Constraints c = window(150000, 150200);
  ArchSpace s(small(), depth(DepthMode::kBlock), c);
  std::mt19937_64 rng(5), again(5);
  for (int t = 0; t < 5; ++t) {
    const Genome g = s.sample(rng);
    EXPECT_TRUE(s.feasible(g));
    EXPECT_EQ(g, s.sample(again));
  }
}

TEST(SearchSpaceSample, UniformOverFeasibleGenomes) {
  // Depth only, min_layers 3: the 16 genomes keeping 3, 4 or 5 of 5 layers.
  SpaceOptions o = depth(DepthMode::kLayer);
  o.width = false;
  o.min_layers = 3;
  ArchSpace s(small(), o, Constraints{});
  std::mt19937_64 rng(8);
  std::map<Genome, int> counts;
  for (int t = 0; t < 3200; ++t) {
    const Genome g = s.sample(rng);
    int kept = 0;
    for (std::int64_t v : g) kept += static_cast<int>(v);
    EXPECT_GE(kept, 3);
    counts[g]++;
  }
  EXPECT_EQ(counts.size(), 16u);
  for (const auto& [g, n] : counts) {  // 200 expected each
    EXPECT_GT(n, 140);
    EXPECT_LT(n, 260);
  }
}

TEST(SearchSpaceRepair, RandomGenomesBecomeFeasible) {
  for (DepthMode m : {DepthMode::kLayer, DepthMode::kBlock, DepthMode::kNone}) {
    SpaceOptions o = depth(m);
    o.min_layers = m == DepthMode::kNone ? 1 : 3;
    Constraints c = window(143472, 149328);
    ArchSpace s(small(), o, c);
    std::mt19937_64 rng(11);
    for (int t = 0; t < 200; ++t) {
      Genome g(s.dims());
      for (int i = 0; i < s.dims(); ++i) {
        // In the box for even t, up to 5 beyond either end for odd t.
        const std::int64_t slack = t % 2 ? 5 : 0;
        const std::int64_t span = s.upper()[i] - s.lower()[i] + 1 + 2 * slack;
        g[i] = s.lower()[i] - slack + static_cast<std::int64_t>(rng() % span);
      }
      const Genome r = s.repair(g);
      EXPECT_EQ(s.check(r), Rejection::kNone) << "mode " << static_cast<int>(m) << " t " << t;
    }
  }
}

TEST(SearchSpaceRepair, KeepsFeasibleAndRestoresMinLayers) {
  const ArchSpace s = check_space();
  std::mt19937_64 rng(3);
  for (int t = 0; t < 20; ++t) {
    const Genome g = s.sample(rng);
    EXPECT_EQ(s.repair(g), g);
  }
  // Everything removed: min_layers 3 must come back, under every limit.
  Genome g = s.upper();
  for (int i = 0; i < s.dims(); ++i) {
    if (s.genes()[i].is_depth()) g[i] = 0;
  }
  EXPECT_EQ(s.check(g), Rejection::kMinLayers);
  const Genome r = s.repair(g);
  EXPECT_EQ(s.check(r), Rejection::kNone);
  int kept = 0;
  for (const LayerArch& l : s.decode(r).layers) kept += l.attn || l.mlp ? 1 : 0;
  EXPECT_GE(kept, 3);
  std::mt19937_64 more(9);
  for (int t = 0; t < 100; ++t) {
    Genome x(s.dims());
    for (int i = 0; i < s.dims(); ++i) x[i] = static_cast<std::int64_t>(more() % 200) - 20;
    EXPECT_EQ(s.check(s.repair(x)), Rejection::kNone) << t;
  }
  EXPECT_THROW(s.repair(Genome(2, 0)), Error);
}

TEST(SearchSpaceRepair, ExactCountWindow) {
  // Parameters are multiples of 64 here; 150016 needs e.g. two full attention
  // blocks, one of 4 heads and MLP widths adding up to 267:
  // 65600 + 2 x 12352 + 8256 + 33088 + 18112 + 256.
  SpaceOptions o = depth(DepthMode::kLayer);
  o.min_layers = 2;
  ArchSpace s(small(), o, window(150016, 150016));
  const Arch a{{attn_mlp(8, 4, 172), attn_mlp(8, 4, 94), attn_mlp(4, 4, 1), removed(), removed()}};
  EXPECT_EQ(count_params(small(), a), 150016);
  EXPECT_EQ(s.check(s.encode(a)), Rejection::kNone);
  std::mt19937_64 rng(1);
  int reached = 0;
  for (int t = 0; t < 200; ++t) {
    Genome g(s.dims());
    for (int i = 0; i < s.dims(); ++i) g[i] = static_cast<std::int64_t>(rng() % (s.upper()[i] + 1));
    const Genome r = s.repair(g);
    const Rejection why = s.check(r);
    EXPECT_NE(why, Rejection::kOutOfSpace);
    EXPECT_NE(why, Rejection::kMinLayers);
    reached += why == Rejection::kNone ? 1 : 0;
  }
  EXPECT_GE(reached, 150);  // a greedy repair, not an exact solver
  for (int t = 0; t < 10; ++t) EXPECT_EQ(s.params(s.sample(rng)), 150016);
}

TEST(SearchSpaceRepair, LargeGqaModel) {
  SpaceOptions o = depth(DepthMode::kBlock);
  o.remove_kv_groups = true;
  o.protected_layers = {0, 31};
  o.min_layers = 8;
  ArchSpace full(gqa(), o, Constraints{});
  const std::int64_t total = full.params(full.upper());
  Constraints c;
  c.min_params = total / 2 - total / 100;
  c.max_params = total / 2 + total / 100;
  c.max_kv_cache_bytes_per_token = 0.5 * full.kv_cache_bytes_per_token(full_arch(gqa()));
  ArchSpace s(gqa(), o, c);
  std::mt19937_64 rng(17);
  for (int t = 0; t < 30; ++t) {
    Genome g(s.dims());
    for (int i = 0; i < s.dims(); ++i) g[i] = static_cast<std::int64_t>(rng() % (s.upper()[i] + 1));
    const Genome r = s.repair(g);
    EXPECT_EQ(s.check(r), Rejection::kNone) << t;
    const Arch a = s.decode(r);
    EXPECT_TRUE(a.layers[0].attn && a.layers[0].mlp);
    EXPECT_TRUE(a.layers[31].attn && a.layers[31].mlp);
  }
  EXPECT_EQ(s.check(s.repair(s.upper())), Rejection::kNone);
  EXPECT_EQ(s.check(s.repair(s.lower())), Rejection::kNone);
  std::mt19937_64 r2(2);
  for (int t = 0; t < 5; ++t) EXPECT_TRUE(s.feasible(s.sample(r2)));
}

}  // namespace
}  // namespace tracenas

namespace tracenas {
namespace {

TEST(ArchSpaceQueryHeads, EveryKeptAttentionKeepsTheSameQueryHeads) {
  // 32 query heads in 8 KV groups (4 per group); 16 query heads: g = 4 or 8.
  SpaceOptions o = depth(DepthMode::kBlock);
  o.remove_kv_groups = true;
  o.query_heads = 16;
  o.min_layers = 0;
  ArchSpace s(gqa(), o, Constraints{});
  EXPECT_EQ(s.kv_values(), (std::vector<int>{4, 8}));
  std::mt19937_64 rng(3);
  std::set<int> kv_seen;
  for (int t = 0; t < 50; ++t) {
    const Genome g = s.sample(rng);
    const Arch a = s.decode(g);
    EXPECT_NO_THROW(validate_arch(a, gqa(), "test"));
    for (const LayerArch& l : a.layers) {
      if (!l.attn) continue;
      EXPECT_EQ(l.heads, 16);
      kv_seen.insert(l.kv_heads);
    }
    EXPECT_EQ(s.decode(s.encode(a)), a);
    EXPECT_EQ(s.params(g), count_params(gqa(), a));
  }
  EXPECT_EQ(kv_seen, (std::set<int>{4, 8}));
}

TEST(ArchSpaceQueryHeads, FractionsAndErrors) {
  ParamValues p;
  p.set("query_heads", 0.5);
  p.set("remove_kv_groups", true);
  p.set("mlp_align", std::int64_t{256});
  const SpaceOptions o = SpaceOptions::from_params(p, gqa());
  EXPECT_EQ(o.query_heads, 16);
  ArchSpace s(gqa(), o, Constraints{});
  for (int w : s.mlp_values()) EXPECT_EQ(w % 256, 0) << w;  // 11008 = 43 x 256
  p.set("query_heads", 2.5);
  EXPECT_NE(std::string(testing::error_of([&] {
              SpaceOptions::from_params(p, gqa());
            })).find("space.query_heads: must be 0, a fraction"),
            std::string::npos);
  // 12 query heads: g must divide 12, be <= 8 and leave <= 4 per group: 3, 4, 6.
  SpaceOptions twelve = o;
  twelve.query_heads = 12;
  EXPECT_EQ(ArchSpace(gqa(), twelve, Constraints{}).kv_values(), (std::vector<int>{3, 4, 6}));
  SpaceOptions bad = o;
  bad.query_heads = 33;
  EXPECT_NE(error_of(gqa(), bad, Constraints{}).find("space.query_heads: no KV head count"),
            std::string::npos);
}

}  // namespace
}  // namespace tracenas
