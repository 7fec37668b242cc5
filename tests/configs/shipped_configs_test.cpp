// The pipelines shipped in configs/: every one validates against the
// built-in plugins, and every ablation differs from the quickstart in
// exactly one component (proxy objective, strategy or importance criterion).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

#include "corpus.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

const Registry& builtins() {
  static Registry* r = [] {
    auto* reg = new Registry();
    corpus::load_test_plugins(*reg);
    return reg;
  }();
  return *r;
}

std::vector<std::string> shipped(const std::string& sub) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(fs::path(TN_SOURCE_DIR) / "configs" / sub)) {
    if (e.path().extension() == ".yaml") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Pipeline load(const std::string& file) { return PipelineSource(file, {}).validate(builtins()); }

TEST(ShippedConfigs, EveryPipelineValidates) {
  std::size_t n = 0;
  for (const char* sub : {"", "paper", "ablations", "study"}) {
    for (const std::string& f : shipped(sub)) {
      EXPECT_NO_THROW(load(f)) << f;
      ++n;
    }
  }
  EXPECT_GE(n, 1u + 3u + 6u + 1u);
}

TEST(ShippedConfigs, PaperSearchesTargetThePapersBudgets) {
  const std::vector<std::pair<std::string, double>> want = {{"llama2-7b-to-2.7b.yaml", 2.7e9},
                                                            {"llama31-8b-to-4.6b.yaml", 4.6e9},
                                                            {"qwen25-14b-to-8.5b.yaml", 8.5e9}};
  for (const auto& [file, target] : want) {
    Pipeline p = load((fs::path(TN_SOURCE_DIR) / "configs" / "paper" / file).string());
    EXPECT_EQ(p.constraints.get_float("target_params"), target) << file;
    EXPECT_EQ(p.proxies[static_cast<std::size_t>(p.objective)].name, "trace_correlation");
    EXPECT_EQ(p.search.name, "evolutionary") << file;
    EXPECT_EQ(p.space.get_float("mlp_min_fraction"), 0.28) << file;
  }
}

TEST(ShippedConfigs, PaperTableScoresEveryBuiltInProxyOverThreeSeeds) {
  const Pipeline p =
      load((fs::path(TN_SOURCE_DIR) / "configs" / "study" / "paper-table.yaml").string());
  std::set<std::string> in_table, gradients;
  for (const auto& pr : p.proxies) {
    in_table.insert(pr.name);
    if (pr.name == "trace_correlation") gradients.insert(pr.params.get_string("gradient"));
  }
  int builtin = 0;
  for (const ComponentEntry* c : builtins().components()) {
    // The built-in plugins (the test fixtures add proxies of their own).
    if (c->info.kind != ComponentKind::kProxy || c->origin.file.rfind(TN_PLUGIN_DIR, 0) != 0) {
      continue;
    }
    ++builtin;
    EXPECT_EQ(in_table.count(c->info.name), 1u) << c->info.name;
  }
  EXPECT_GE(builtin, 16);
  EXPECT_EQ(gradients, (std::set<std::string>{"full", "sketch", "lora"}));
  EXPECT_EQ(p.study.get_int_list("seeds").size(), 3u);
}

TEST(ShippedConfigs, EachAblationSwapsOneComponentOfTheQuickstart) {
  const Pipeline q = load((fs::path(TN_SOURCE_DIR) / "configs" / "quickstart.yaml").string());
  auto objective = [](const Pipeline& p) {
    const auto& o = p.proxies[static_cast<std::size_t>(p.objective)];
    std::string params;
    for (const auto& [k, v] : o.params.values()) {
      if (std::holds_alternative<std::string>(v)) params += k + "=" + std::get<std::string>(v);
      if (std::holds_alternative<std::int64_t>(v)) {
        params += k + "=" + std::to_string(std::get<std::int64_t>(v));
      }
    }
    return o.name + "(" + params + ")";
  };
  for (const std::string& f : shipped("ablations")) {
    const Pipeline a = load(f);
    const int changed = (objective(a) != objective(q)) + (a.search.name != q.search.name) +
                        (a.importance.name != q.importance.name);
    EXPECT_EQ(changed, 1) << f;
    EXPECT_EQ(a.constraints.get_float("target_params"), q.constraints.get_float("target_params"));
    EXPECT_EQ(a.search_budget.get_int("max_evaluations"),
              q.search_budget.get_int("max_evaluations"));
    EXPECT_EQ(a.batch_spec().num_batches, q.batch_spec().num_batches);
  }
}

}  // namespace
}  // namespace tracenas
