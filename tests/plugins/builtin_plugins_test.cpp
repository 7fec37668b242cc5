// The built-in plugins, exercised through the registry exactly as the host uses them.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "plugin/registry.hpp"
#include "tracenas/data.hpp"
#include "tracenas/importance.hpp"
#include "tracenas/proxy.hpp"
#include "tracenas/search.hpp"

namespace tracenas {
namespace {

const Registry& builtins() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_importance_criteria.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_proxy_baselines.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_data_tokens.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_search_random.so");
    return reg;
  }();
  return *r;
}

ParamValues defaults(ComponentKind kind, const std::string& name) {
  ParamValues v;
  for (const auto& s : builtins().require(kind, name)->info.params) v.set(s.name, s.default_value);
  return v;
}

// Hand-computed: W_o = [[1,-2],[3,4]] (d=2 rows, 2 input channels), a = [2, 0.5]
// -> column |W| sums [4, 6] -> wanda [8, 3], magnitude [4, 6].
TEST(BuiltinImportance, WandaAndMagnitudeMatchHandComputedScores) {
  LayerImportanceInput in;
  in.o_proj_weight = at::tensor({1.f, -2.f, 3.f, 4.f}).view({2, 2});
  in.down_proj_weight = at::tensor({0.5f, -1.f, 2.f, 0.f, 0.f, -3.f}).view({2, 3});
  in.o_input_norm = at::tensor({2.f, 0.5f});
  in.down_input_norm = at::tensor({1.f, 2.f, 3.f});
  RunContext run;
  auto wanda = builtins().create<ImportanceCriterion>(
      "wanda", defaults(ComponentKind::kImportance, "wanda"), run);
  EXPECT_TRUE(wanda.get().needs_activation_norms());
  auto s = wanda.call("score", [&](ImportanceCriterion& c) { return c.score(in); });
  EXPECT_EQ(s.o_channel_scores.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::allclose(s.o_channel_scores, at::tensor({8.0, 3.0}, at::kDouble)));
  // down: |W| column sums [0.5, 1, 5] * [1, 2, 3] = [0.5, 2, 15]
  EXPECT_TRUE(at::allclose(s.down_channel_scores, at::tensor({0.5, 2.0, 15.0}, at::kDouble)));

  auto mag = builtins().create<ImportanceCriterion>(
      "magnitude", defaults(ComponentKind::kImportance, "magnitude"), run);
  EXPECT_FALSE(mag.get().needs_activation_norms());
  auto m = mag.call("score", [&](ImportanceCriterion& c) { return c.score(in); });
  EXPECT_TRUE(at::allclose(m.o_channel_scores, at::tensor({4.0, 6.0}, at::kDouble)));
  EXPECT_TRUE(at::allclose(m.down_channel_scores, at::tensor({0.5, 1.0, 5.0}, at::kDouble)));
}

TEST(BuiltinImportance, WandaWithoutNormsIsAPluginErrorNamingTheLayer) {
  LayerImportanceInput in;
  in.layer = 3;
  in.o_proj_weight = at::ones({2, 2});
  in.down_proj_weight = at::ones({2, 3});
  RunContext run;
  auto wanda = builtins().create<ImportanceCriterion>(
      "wanda", defaults(ComponentKind::kImportance, "wanda"), run);
  try {
    wanda.call("score", [&](ImportanceCriterion& c) { return c.score(in); });
    FAIL();
  } catch (const PluginError& e) {
    EXPECT_NE(std::string(e.what()).find("importance criterion 'wanda' of plugin "
                                         "'org.tracenas.importance.criteria'"),
              std::string::npos);
    EXPECT_NE(std::string(e.what()).find("layer 3: no o_proj activation norms"), std::string::npos);
  }
}

TEST(BuiltinImportance, RandomIsSeededPerLayer) {
  LayerImportanceInput in;
  in.o_proj_weight = at::ones({2, 8});
  in.down_proj_weight = at::ones({2, 16});
  RunContext run;
  run.seed = 5;
  auto r1 = builtins().create<ImportanceCriterion>(
      "random", defaults(ComponentKind::kImportance, "random"), run);
  auto a = r1.get().score(in);
  auto b = r1.get().score(in);
  EXPECT_TRUE(at::equal(a.o_channel_scores, b.o_channel_scores));
  in.layer = 1;
  auto c = r1.get().score(in);
  EXPECT_FALSE(at::equal(a.o_channel_scores, c.o_channel_scores));
  EXPECT_TRUE((a.down_channel_scores >= 0).all().item<bool>());
  EXPECT_TRUE((a.down_channel_scores < 1).all().item<bool>());
}

TEST(BuiltinProxies, ParamCountAndSeededRandom) {
  Arch arch;
  arch.layers.resize(2);
  arch.layers[0] = {true, 8, 4, true, 172, {}, {}};
  arch.layers[1] = {false, 0, 0, true, 64, {}, {}};
  ModelConfig base;
  Candidate c{&arch, &base, 12345, 260032};
  Trace t;
  RunContext run;
  auto pc = builtins().create<Proxy>("param_count", {}, run);
  EXPECT_EQ(pc.get().direction(), Direction::kHigherIsBetter);
  EXPECT_DOUBLE_EQ(pc.get().score(c, t), 12345.0);

  auto r = builtins().create<Proxy>("random", defaults(ComponentKind::kProxy, "random"), run);
  double v1 = r.get().score(c, t);
  EXPECT_EQ(v1, r.get().score(c, t));
  EXPECT_GE(v1, 0.0);
  EXPECT_LT(v1, 1.0);
  Arch other = arch;
  other.layers[1].mlp_channels = 65;
  EXPECT_NE(v1, r.get().score(Candidate{&other, &base, 12345, 260032}, t));
}

TEST(BuiltinData, TokensSourceReadsTheFileAndRejectsAMissingOne) {
  RunContext run;
  ParamValues p;
  p.set("path", std::string(TN_SHARED_DIR "/data/stories260K-samples.u16"));
  auto src = builtins().create<DataSource>("tokens", p, run);
  auto stream = src.call("token_stream", [](DataSource& d) { return d.token_stream(); });
  EXPECT_EQ(stream.size(), 512u * 256u);
  EXPECT_NE(src.get().fingerprint().find("stories260K-samples.u16#size=262144"), std::string::npos);
  p.set("path", std::string("/nonexistent/x.u16"));
  try {
    builtins().create<DataSource>("tokens", p, run);
    FAIL();
  } catch (const PluginError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("data.params.path: no such token file (got "
                                         "/nonexistent/x.u16)"),
              std::string::npos);
  }
}

// A tiny search space over one gene in [0, 9] to drive the random strategy.
class OneGeneSpace : public SearchSpace {
 public:
  int dims() const override { return 1; }
  const Genome& lower() const override { return lo_; }
  const Genome& upper() const override { return hi_; }
  const std::vector<GeneInfo>& genes() const override { return genes_; }
  Genome sample(std::mt19937_64& rng) const override {
    return {static_cast<std::int64_t>(rng() % 10)};
  }
  Genome repair(const Genome& g) const override { return g; }
  bool feasible(const Genome&) const override { return true; }
  Arch decode(const Genome&) const override { return {}; }
  std::int64_t params(const Genome& g) const override { return g[0]; }

 private:
  Genome lo_{0}, hi_{9};
  std::vector<GeneInfo> genes_{GeneInfo{GeneKind::kMlp, 0}};
};

TEST(BuiltinSearch, RandomIsDeterministicForASeed) {
  OneGeneSpace space;
  RunContext run;
  auto a = builtins().create<SearchStrategy>("random", {}, run);
  auto b = builtins().create<SearchStrategy>("random", {}, run);
  a.get().start(space, 11);
  b.get().start(space, 11);
  auto ga = a.get().ask(20);
  EXPECT_EQ(ga.size(), 20u);
  EXPECT_EQ(ga, b.get().ask(20));
  std::set<std::int64_t> distinct;
  for (auto& g : ga) distinct.insert(g[0]);
  EXPECT_GT(distinct.size(), 3u);
}

}  // namespace
}  // namespace tracenas
