// Recovery training (core/src/train/train.hpp): schedules, clipping and
// AdamW against hand-computed values; on the real stories260K model, that the
// training loss falls, that a resumed run continues exactly, that the trained
// model (also a pruned one with per-layer widths) is exported and reloads; and
// the CLI's messages for bad input.
#include "train/train.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>

#include "cli_runner.hpp"
#include "data/calibration.hpp"
#include "dist/communicator.hpp"
#include "io/llama2c.hpp"
#include "model/export.hpp"
#include "model/subnet.hpp"
#include "models/checkpoints.hpp"
#include "test_dir.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/hf_checkpoint.hpp"
#include "tracenas/support/hf_config.hpp"
#include "tracenas/support/tokens.hpp"
#include "train/stories_training.hpp"

namespace tracenas {
namespace {

using namespace stories_training;  // NOLINT(google-build-using-namespace): the fixture

namespace fs = std::filesystem;
using nlohmann::json;

// ---- schedules ----

TEST(TrainSchedule, ConstantWithWarmup) {
  ScheduleOptions s;
  s.kind = "constant";
  s.lr = 1e-3;
  s.warmup_steps = 4;
  s.total_steps = 10;
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 0), 2.5e-4);  // 1e-3 * 1/4
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 1), 5e-4);    // 1e-3 * 2/4
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 3), 1e-3);
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 9), 1e-3);
  s.warmup_steps = 0;
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 0), 1e-3);
}

TEST(TrainSchedule, CosineWarmupThenDecayToFloor) {
  ScheduleOptions s;
  s.kind = "cosine";
  s.lr = 1e-3;
  s.min_lr = 1e-4;
  s.warmup_steps = 2;
  s.total_steps = 12;  // 10 decay steps: p = (step - 2) / 9
  EXPECT_NEAR(scheduled_lr(s, 0), 5e-4, 1e-15);
  EXPECT_NEAR(scheduled_lr(s, 1), 1e-3, 1e-15);
  EXPECT_NEAR(scheduled_lr(s, 2), 1e-3, 1e-15);  // p = 0
  // p = 3/9: cos(pi/3) = 1/2 -> 1e-4 + 9e-4 * 0.75
  EXPECT_NEAR(scheduled_lr(s, 5), 7.75e-4, 1e-15);
  // p = 6/9: cos(2pi/3) = -1/2 -> 1e-4 + 9e-4 * 0.25
  EXPECT_NEAR(scheduled_lr(s, 8), 3.25e-4, 1e-15);
  EXPECT_NEAR(scheduled_lr(s, 11), 1e-4, 1e-15);  // p = 1: the floor
}

TEST(TrainSchedule, WsdPlateauWarmupStableDecay) {
  ScheduleOptions s;
  s.kind = "wsd";
  s.lr = 1e-3;
  s.min_lr = 1e-4;
  s.plateau_lr = 1e-5;
  s.plateau_steps = 3;
  s.warmup_steps = 4;
  s.stable_steps = 2;
  s.total_steps = 14;  // 5 decay steps: p = (step - 9) / 4
  for (int step : {0, 1, 2}) EXPECT_DOUBLE_EQ(scheduled_lr(s, step), 1e-5);
  EXPECT_NEAR(scheduled_lr(s, 3), 1e-5 + 9.9e-4 * 0.25, 1e-15);  // 2.575e-4
  EXPECT_NEAR(scheduled_lr(s, 4), 1e-5 + 9.9e-4 * 0.5, 1e-15);
  EXPECT_NEAR(scheduled_lr(s, 6), 1e-3, 1e-15);  // end of warm-up: the peak
  EXPECT_NEAR(scheduled_lr(s, 7), 1e-3, 1e-15);  // stable
  EXPECT_NEAR(scheduled_lr(s, 8), 1e-3, 1e-15);
  EXPECT_NEAR(scheduled_lr(s, 9), 1e-3, 1e-15);     // p = 0
  EXPECT_NEAR(scheduled_lr(s, 11), 5.5e-4, 1e-15);  // p = 1/2: 1e-4 + 9e-4 * 0.5
  EXPECT_NEAR(scheduled_lr(s, 13), 1e-4, 1e-15);    // p = 1
}

TEST(TrainSchedule, BadSchedulesNameTheFieldInTheCallersWords) {
  ScheduleOptions s;
  EXPECT_EQ(schedule_problem(s, ScheduleKeys::options()), "");
  s.kind = "linear";
  EXPECT_EQ(schedule_problem(s, ScheduleKeys::options()),
            "--schedule: unknown schedule 'linear' (expected constant, cosine or wsd)");
  EXPECT_EQ(schedule_problem(s, ScheduleKeys::pipeline()),
            "schedule: unknown schedule 'linear' (expected constant, cosine or wsd)");
  s.kind = "wsd";
  s.total_steps = 5;
  s.plateau_steps = 3;
  s.warmup_steps = 3;
  EXPECT_EQ(schedule_problem(s, ScheduleKeys::options()),
            "--plateau-steps + --warmup-steps + --stable-steps (6) exceed --steps (5)");
  EXPECT_EQ(schedule_problem(s, ScheduleKeys::pipeline()),
            "plateau_steps + warmup_steps + stable_steps (6) exceed steps (5)");
  s.kind = "cosine";
  s.warmup_steps = 1;
  s.min_lr = 1.0;
  EXPECT_EQ(schedule_problem(s, ScheduleKeys::pipeline()),
            "min_lr must be in 0..lr (got 1.000000)");
}

// ---- clipping ----

TEST(TrainClip, ScalesGradientsExactlyToMaxNorm) {
  at::Tensor a = at::zeros({2}, at::kDouble).requires_grad_(true);
  at::Tensor b = at::zeros({1}, at::kDouble).requires_grad_(true);
  at::Tensor none = at::zeros({3}, at::kDouble).requires_grad_(true);  // no gradient: skipped
  a.mutable_grad() = at::tensor({3.0, 4.0}, at::kDouble);
  b.mutable_grad() = at::tensor({12.0}, at::kDouble);
  // Global norm sqrt(9 + 16 + 144) = 13; clip to 6.5 scales by 1/2.
  EXPECT_DOUBLE_EQ(clip_grad_norm({a, b, none}, 6.5), 13.0);
  EXPECT_DOUBLE_EQ(a.grad()[0].item<double>(), 1.5);
  EXPECT_DOUBLE_EQ(a.grad()[1].item<double>(), 2.0);
  EXPECT_DOUBLE_EQ(b.grad()[0].item<double>(), 6.0);
  // Now at norm 6.5: a larger limit or none leaves them alone.
  EXPECT_DOUBLE_EQ(clip_grad_norm({a, b}, 100.0), 6.5);
  EXPECT_DOUBLE_EQ(clip_grad_norm({a, b}, 0.0), 6.5);
  EXPECT_DOUBLE_EQ(b.grad()[0].item<double>(), 6.0);
}

// ---- AdamW ----

TEST(TrainAdamW, TwoStepsEqualHandComputedUpdates) {
  const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
  at::Tensor w = at::tensor({1.0, -2.0}, at::kDouble).requires_grad_(true);  // decays
  at::Tensor n = at::tensor({2.0}, at::kDouble).requires_grad_(true);        // a norm: no decay
  AdamWOptions o;
  o.beta1 = b1;
  o.beta2 = b2;
  o.eps = eps;
  o.weight_decay = wd;
  AdamW opt({{"w", w, true}, {"n", n, false}}, o);

  const double g1[3] = {0.5, 0.1, -0.4};  // step 1 gradients of w[0], w[1], n[0]
  const double g2[3] = {-0.2, 0.3, 0.1};  // step 2
  double p[3] = {1.0, -2.0, 2.0};
  double m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
  const bool decay[3] = {true, true, false};
  for (int t = 1; t <= 2; ++t) {
    const double* g = t == 1 ? g1 : g2;
    w.mutable_grad() = at::tensor({g[0], g[1]}, at::kDouble);
    n.mutable_grad() = at::tensor({g[2]}, at::kDouble);
    opt.step(lr);
    for (int i = 0; i < 3; ++i) {
      if (decay[i]) p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const double mhat = m[i] / (1 - std::pow(b1, t));
      const double vhat = v[i] / (1 - std::pow(b2, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
    EXPECT_NEAR(w[0].item<double>(), p[0], 1e-14) << "step " << t;
    EXPECT_NEAR(w[1].item<double>(), p[1], 1e-14) << "step " << t;
    EXPECT_NEAR(n[0].item<double>(), p[2], 1e-14) << "step " << t;
  }
  // Step 1 by hand: w[0] = 1 * 0.99 - 0.1 * 0.5 / (0.5 + 1e-8).
  EXPECT_EQ(opt.steps(), 2);
}

// ---- on stories260K ----

std::vector<double> losses(const TrainResult& r) {
  std::vector<double> out;
  for (const StepLog& l : r.log) out.push_back(l.loss);
  return out;
}

TEST(TrainStories, LossFallsOverTwentySteps) {
  auto model = load_model(stories().dir);
  // 16 windows of 64 tokens: 4 batches of 4 per epoch, 5 epochs in 20 steps.
  const auto train = slice(stories().tokens, 0, 16 * 64);
  const auto held_out = slice(stories().tokens, 100000, 8 * 64);
  TrainOptions o = small_options(20);
  o.shuffle = true;
  o.seed = 7;
  o.eval_every = 10;
  TrainResult r = train_model(*model, train, &held_out, o);
  ASSERT_EQ(r.log.size(), 20u);
  const auto l = losses(r);
  std::ostringstream curve;
  for (double x : l) curve << x << " ";
  std::cerr << "loss curve: " << curve.str() << "\n";
  std::cerr << "eval loss at 10: " << *r.log[9].eval_loss << ", at 20: " << *r.eval_loss << "\n";
  const double first = (l[0] + l[1] + l[2] + l[3]) / 4, last = (l[16] + l[17] + l[18] + l[19]) / 4;
  EXPECT_LT(last, first - 0.1) << curve.str();
  for (double x : l) EXPECT_TRUE(std::isfinite(x));
  ASSERT_TRUE(r.log[9].eval_loss.has_value());
  EXPECT_FALSE(r.log[10].eval_loss.has_value());
  EXPECT_TRUE(r.eval_loss.has_value());

  // The trained model reloads from its export with the same loss.
  tracenas::testing::ScratchDir out;
  ExportResult e = export_trained(stories().dir, *model, out.str(), 0);
  EXPECT_TRUE(e.uniform);
  EXPECT_EQ(e.params, model->num_parameters());
  auto back = load_model(out.str());
  auto batches = eval_batches(held_out, 64, 4, "held-out");
  EXPECT_DOUBLE_EQ(evaluate(back->config(), back->weights(), batches).loss, *r.eval_loss);
}

// bfloat16 compute (autocast; on the CPU here, on CUDA on a GPU machine):
// the forward really runs in lower precision (the first loss differs from the
// float32 one by more than float32 rounding, by less than bfloat16's
// precision allows), the master weights stay float32, and the loss falls.
TEST(TrainStories, Bfloat16AutocastTrainsFloat32MasterWeights) {
  const auto train = slice(stories().tokens, 0, 16 * 64);
  TrainOptions o = small_options(12);
  auto fp32 = load_model(stories().dir);
  TrainResult a = train_model(*fp32, train, nullptr, o);
  auto bf16 = load_model(stories().dir);
  o.compute_dtype = "bfloat16";
  TrainResult b = train_model(*bf16, train, nullptr, o);
  ASSERT_EQ(b.log.size(), 12u);
  const double d0 = std::fabs(a.log[0].loss - b.log[0].loss);
  EXPECT_GT(d0, 1e-5) << "the bfloat16 forward matched float32 exactly: autocast did nothing";
  EXPECT_LT(d0, 0.05 * a.log[0].loss);
  EXPECT_EQ(bf16->dtype(), at::kFloat);
  EXPECT_EQ(bf16->weights().layers[0].attention.q.scalar_type(), at::kFloat);
  const auto l = losses(b);
  EXPECT_LT((l[8] + l[9] + l[10] + l[11]) / 4, (l[0] + l[1] + l[2] + l[3]) / 4 - 0.1);
  for (double x : l) EXPECT_TRUE(std::isfinite(x));

  o.compute_dtype = "float16";
  auto other = load_model(stories().dir);
  EXPECT_THROW(train_model(*other, train, nullptr, o), UsageError);
}

TEST(TrainStories, ResumeContinuesExactly) {
  const auto train = slice(stories().tokens, 0, 40 * 64);
  tracenas::testing::ScratchDir scratch;
  TrainOptions o = small_options(6);
  o.accumulate = 2;
  o.shuffle = true;
  o.seed = 3;
  o.checkpoint_every = 3;
  o.checkpoint_dir = scratch.str() + "/checkpoints";
  auto full = load_model(stories().dir);
  TrainResult a = train_model(*full, train, nullptr, o);
  ASSERT_EQ(a.log.size(), 6u);
  ASSERT_EQ(a.checkpoints.size(), 2u);
  EXPECT_TRUE(fs::exists(scratch.path() / "checkpoints" / "step-00000003" / "state.safetensors"));
  EXPECT_TRUE(resolve_checkpoint(scratch.str()).find("step-00000006") != std::string::npos);

  TrainOptions ro = o;
  ro.checkpoint_every = 0;
  ro.resume = a.checkpoints[0];  // step 3
  auto resumed = load_model(stories().dir);
  TrainResult b = train_model(*resumed, train, nullptr, ro);
  EXPECT_EQ(b.first_step, 4);
  ASSERT_EQ(b.log.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(b.log[i].step, a.log[i + 3].step);
    EXPECT_EQ(b.log[i].loss, a.log[i + 3].loss) << "step " << b.log[i].step;
    EXPECT_EQ(b.log[i].lr, a.log[i + 3].lr);
  }
  EXPECT_TRUE(at::equal(resumed->weights().embed, full->weights().embed));
  EXPECT_TRUE(at::equal(resumed->weights().layers[2].ffn.down, full->weights().layers[2].ffn.down));

  // A resume with other batching is refused: it could not continue exactly.
  TrainOptions bad = ro;
  bad.seq_len = 32;
  auto other = load_model(stories().dir);
  EXPECT_THROW(train_model(*other, train, nullptr, bad), UsageError);
}

// stories260K pruned to per-layer widths (layer 0: 2 of 4 KV groups, 96 of 172
// MLP channels; layer 1: no attention), exported to `dir`.
void write_pruned(const std::string& dir) {
  const ModelConfig& c = stories().config;
  Arch arch = full_arch(c);
  auto iota = [](int n) {
    std::vector<int> v(static_cast<std::size_t>(n));
    std::iota(v.begin(), v.end(), 0);
    return v;
  };
  for (LayerArch& l : arch.layers) {
    l.head_index = iota(l.heads);
    l.channel_index = iota(l.mlp_channels);
  }
  arch.layers[0].heads = 4;  // KV groups 0 and 1, both of their query heads
  arch.layers[0].kv_heads = 2;
  arch.layers[0].head_index = iota(4);
  arch.layers[0].mlp_channels = 96;
  arch.layers[0].channel_index = iota(96);
  arch.layers[1].attn = false;
  arch.layers[1].head_index.clear();
  auto base = load_model(stories().dir);
  export_pruned(stories().dir, *base, arch, select_units(c, arch, nullptr), dir, 0);
}

TEST(TrainStories, PrunedModelKeepsPerLayerWidths) {
  tracenas::testing::ScratchDir scratch;
  const std::string pruned = scratch.str() + "/pruned";
  write_pruned(pruned);

  auto model = load_model(pruned);
  ASSERT_FALSE(model->config().layer_widths.empty());
  const auto train = slice(stories().tokens, 0, 8 * 64);
  TrainResult r = train_model(*model, train, &train, small_options(2));
  const std::string out = scratch.str() + "/trained";
  ExportResult e = export_trained(pruned, *model, out, 0);
  EXPECT_FALSE(e.uniform);
  std::ifstream in(out + "/config.json");
  json cfg = json::parse(in);
  ASSERT_TRUE(cfg.contains("tracenas_layers"));
  EXPECT_EQ(cfg["tracenas_layers"][0]["heads"], 4);
  EXPECT_EQ(cfg["tracenas_layers"][0]["mlp_channels"], 96);
  EXPECT_EQ(cfg["tracenas_layers"][1]["attn"], false);
  auto back = load_model(out);
  EXPECT_EQ(back->num_parameters(), model->num_parameters());
  auto batches = eval_batches(train, 64, 4, "train");
  EXPECT_DOUBLE_EQ(evaluate(back->config(), back->weights(), batches).loss, *r.eval_loss);
}

TEST(TrainDistill, KlDivergenceByHand) {
  // One sequence of 2 positions, vocabulary 2: only position 0 predicts.
  at::Tensor student = at::tensor({0.0f, 0.0f, 5.0f, -5.0f}).view({1, 2, 2});
  at::Tensor teacher =
      at::tensor({0.0f, static_cast<float>(std::log(3.0)), -1.0f, 9.0f}).view({1, 2, 2});
  // p = (1/2, 1/2), q = (1/4, 3/4): KL(q || p) = 1/4 ln(1/2) + 3/4 ln(3/2).
  const double kl = 0.25 * std::log(0.5) + 0.75 * std::log(1.5);
  EXPECT_NEAR(distillation_loss(student, teacher, 1.0).item<double>(), kl, 1e-6);
  // Temperature 2 on logits doubled gives the same distributions.
  EXPECT_NEAR(distillation_loss(student * 2, teacher * 2, 2.0).item<double>(), kl, 1e-6);
}

TEST(TrainDistill, PrunedStudentApproachesTheTeacher) {
  tracenas::testing::ScratchDir scratch;
  const std::string pruned = scratch.str() + "/pruned";
  write_pruned(pruned);
  auto teacher = load_model(stories().dir);
  const auto train = slice(stories().tokens, 0, 8 * 64);

  // A teacher distilling into itself: KD is zero at the first step.
  auto same = load_model(stories().dir);
  TrainOptions o = small_options(2);
  o.teacher = teacher.get();
  o.kd_alpha = 1.0;
  TrainResult r0 = train_model(*same, train, nullptr, o);
  EXPECT_NEAR(r0.log[0].kd_loss, 0.0, 1e-6);

  auto student = load_model(pruned);
  o.steps = 8;
  o.schedule.lr = 2e-3;
  TrainResult r = train_model(*student, train, nullptr, o);
  ASSERT_EQ(r.log.size(), 8u);
  std::cerr << "kd curve:";
  for (const StepLog& l : r.log) std::cerr << " " << l.kd_loss;
  std::cerr << "\n";
  EXPECT_GT(r.log[0].kd_loss, 0.0);
  EXPECT_LT(r.log[7].kd_loss, r.log[0].kd_loss);

  auto other = load_model(stories().dir);
  o.kd_alpha = 1.5;
  EXPECT_THROW(train_model(*other, train, nullptr, o), UsageError);
}

// ---- the command line ----

using tracenas::testing::CliResult;

CliResult run_train(const std::string& args) {
  return tracenas::testing::run_tracenas("train " + args, "tn_train_cli");
}

TEST(TrainCli, BadInputIsAUsageErrorNamingTheOption) {
  const std::string data = " --data tokens:" TN_SHARED_DIR "/data/stories260K-samples.u16";
  const std::string model = " --model " + stories().dir;
  tracenas::testing::ScratchDir out;
  CliResult r = run_train(model + data);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--out is required"), std::string::npos) << r.err;

  r = run_train(model + data + " --out " + out.str() + " --schedule linear");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--schedule: unknown schedule 'linear'"), std::string::npos) << r.err;

  r = run_train(model + data + " --out " + out.str() + " --steps 0");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--steps must be in 1.."), std::string::npos) << r.err;

  r = run_train(model + data + " --out " + out.str() + " --dtype float16");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("train: --dtype float16: training keeps float32 master weights and "
                       "computes in float32 or bfloat16 (autocast)"),
            std::string::npos)
      << r.err;
}

TEST(TrainCli, TrainsCheckpointsAndPrintsTheResult) {
  const std::string tokens = tracenas::testing::test_path("tn_train_cli_tokens.txt");
  {
    std::ofstream f(tokens);
    for (std::int32_t id : slice(stories().tokens, 0, 8 * 32)) f << id << " ";
  }
  tracenas::testing::ScratchDir out;
  CliResult r = run_train("--model " + stories().dir + " --data tokens:" + tokens + " --out " +
                          out.str() + " --seq-len 32 --batch 2 --steps 3 --lr 1e-3 --schedule wsd" +
                          " --plateau-steps 1 --plateau-lr 1e-4 --warmup-steps 1 --eval-data" +
                          " tokens:" + tokens + " --checkpoint-every 2 --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(r.last.is_object()) << r.err;
  EXPECT_EQ(r.last["out"], out.str());
  EXPECT_EQ(r.last["steps"], 3);
  EXPECT_TRUE(r.last["loss"].is_number());
  EXPECT_TRUE(r.last["eval_loss"].is_number());
  EXPECT_TRUE(fs::exists(out.path() / "config.json"));
  EXPECT_TRUE(fs::exists(out.path() / "model.safetensors"));
  EXPECT_TRUE(fs::exists(out.path() / "checkpoints" / "step-00000002" / "trainer_state.json"));

  // --resume from the output folder (its latest checkpoint, step 2) runs step 3 again: its
  // loss is that of the weights after step 2, so a teacher (which changes only the update
  // of step 3) leaves it the same.
  tracenas::testing::ScratchDir out2;
  CliResult r2 = run_train("--model " + stories().dir + " --data tokens:" + tokens + " --out " +
                           out2.str() + " --seq-len 32 --batch 2 --steps 3 --lr 1e-3" +
                           " --schedule wsd --plateau-steps 1 --plateau-lr 1e-4 --warmup-steps 1" +
                           " --threads 1 --resume " + out.str() + " --teacher " + stories().dir +
                           " --kd-alpha 0.5");
  ASSERT_EQ(r2.code, 0) << r2.err;
  EXPECT_EQ(r2.last["loss"], r.last["loss"]);
}

}  // namespace
}  // namespace tracenas
