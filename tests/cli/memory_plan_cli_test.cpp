// The memory plan through the CLI: `validate` reports it from config.json
// alone, `run` refuses a pipeline whose plan exceeds the machine's memory
// before any weight loads (one line naming the biggest term and the setting
// that shrinks it), and run.allow_oversubscribe lets it go on.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "cli_runner.hpp"
#include "models/checkpoints.hpp"
#include "tracenas/arch.hpp"

namespace tracenas {
namespace {

using tracenas::testing::CliResult;
using tracenas::testing::run_tracenas;
using tracenas::testing::ScratchDir;
namespace fs = std::filesystem;

// A model folder holding only config.json: a Llama far larger than any test
// machine's memory (about 420 B parameters), so the plan cannot fit.
std::string huge_model(const fs::path& dir) {
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 16384, "intermediate_size": 53248, "num_hidden_layers": 126,
  "num_attention_heads": 128, "num_key_value_heads": 8, "vocab_size": 128256,
  "max_position_embeddings": 8192, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16"
})";
  return dir.string();
}

std::string pipeline(const fs::path& dir, const std::string& model, const std::string& gradient,
                     const std::string& dtype = "bfloat16") {
  const fs::path file = dir / ("huge-" + gradient + "-" + dtype + ".yaml");
  std::ofstream(file) << "schema_version: 1\n"
                      << "run: {name: huge, output_dir: " << (dir / "runs").string()
                      << ", dtype: " << dtype << ", threads: 1}\n"
                      << "model: {adapter: llama, params: {path: " << model << "}}\n"
                      << "data: {source: tokens, seq_len: 64, batch_size: 1, num_batches: 1,\n"
                      << "       params: {path: " TN_SHARED_DIR "/data/stories260K-samples.u16}}\n"
                      << "proxies:\n"
                      << "  - {proxy: trace_correlation, params: {gradient: " << gradient << "}}\n"
                      << "search: {strategy: random, max_evaluations: 2}\n"
                      << "constraints: {target_params: 0.5, tolerance: 0.05}\n";
  return file.string();
}

TEST(MemoryPlanCli, ValidateReportsThePlanFromTheConfigAlone) {
  ScratchDir tmp;
  const std::string model = huge_model(tmp.path() / "huge");
  const CliResult full =
      run_tracenas("validate " + pipeline(tmp.path(), model, "full"), "memory_plan_validate_full");
  ASSERT_EQ(full.code, 0) << full.err;
  const nlohmann::json& plan = full.last.at("memory_plan");
  // The weights term is the SPEC.md section 4 count of the base, 2 bytes each.
  const ModelConfig c = tracenas::testing::read_checkpoint_config(model);
  const double params = static_cast<double>(count_params(c, full_arch(c)));
  EXPECT_DOUBLE_EQ(plan.at("terms").at("weights").get<double>(), 2 * params);
  EXPECT_GT(plan.at("peak_bytes").get<double>(), 2 * params);
  EXPECT_NE(full.err.find("memory plan on cpu: peak"), std::string::npos) << full.err;

  // Sketch mode keeps r * (in + out) numbers per projection instead of in * out.
  const CliResult sketch = run_tracenas("validate " + pipeline(tmp.path(), model, "sketch"),
                                        "memory_plan_validate_sketch");
  ASSERT_EQ(sketch.code, 0) << sketch.err;
  const double full_traces = plan.at("terms").at("base traces").get<double>();
  const double sketch_traces =
      sketch.last.at("memory_plan").at("terms").at("base traces").get<double>();
  EXPECT_LT(sketch_traces, full_traces / 50);
  EXPECT_LT(sketch.last.at("memory_plan").at("peak_bytes").get<double>(),
            plan.at("peak_bytes").get<double>());

  // Passes split over ranks add the allreduce's bucket: 2^25 float32 values.
  EXPECT_FALSE(plan.at("terms").contains("allreduce bucket"));
  const CliResult split = run_tracenas(
      "validate " + pipeline(tmp.path(), model, "full") + " --set run.distributed_split=batches",
      "memory_plan_validate_split");
  ASSERT_EQ(split.code, 0) << split.err;
  EXPECT_DOUBLE_EQ(split.last.at("memory_plan").at("terms").at("allreduce bucket").get<double>(),
                   4.0 * (1 << 25));
}

TEST(MemoryPlanCli, RunRefusesAPlanAboveTheMachinesMemoryBeforeLoading) {
  ScratchDir tmp;
  const std::string model = huge_model(tmp.path() / "huge");
  const std::string file = pipeline(tmp.path(), model, "full", "float32");
  const CliResult r = run_tracenas("run " + file, "memory_plan_run");
  EXPECT_EQ(r.code, 2) << r.err;
  const std::string last = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
  EXPECT_NE(last.find(file + ": error: memory plan: the estimated peak of "), std::string::npos)
      << last;
  EXPECT_NE(last.find("GB available (MemAvailable); the biggest term is weights"),
            std::string::npos)
      << last;
  EXPECT_NE(last.find("run.dtype: bfloat16 would shrink it"), std::string::npos) << last;
  EXPECT_NE(last.find("--set run.allow_oversubscribe=true runs anyway"), std::string::npos) << last;
  EXPECT_FALSE(fs::exists(tmp.path() / "runs" / "huge" / "candidates.jsonl"));

  // Allowed to oversubscribe, it goes on to load the model, which has no weights.
  const CliResult on =
      run_tracenas("run " + file + " --set run.allow_oversubscribe=true", "memory_plan_run_on");
  EXPECT_EQ(on.code, 2) << on.err;
  EXPECT_EQ(on.err.find("error: memory plan"), std::string::npos) << on.err;
  EXPECT_NE(on.err.find("run.allow_oversubscribe is set, going on"), std::string::npos) << on.err;
}

}  // namespace
}  // namespace tracenas
