// `tracenas train`: recovery training of a (pruned) model (core/src/train/train.hpp).
//
//   tracenas train --model DIR --data SPEC --out DIR [--seq-len N] [--batch B]
//     [--accumulate A] [--steps N] [--lr X] [--min-lr X] [--beta1 X] [--beta2 X]
//     [--weight-decay X] [--schedule constant|cosine|wsd] [--warmup-steps N]
//     [--plateau-steps N] [--plateau-lr X] [--stable-steps N] [--clip X]
//     [--eval-data SPEC] [--eval-every N] [--checkpoint-every N] [--seed N]
//     [--shuffle] [--resume PATH] [--threads N] [--device auto|cpu|cuda]
//     [--dtype float32|bfloat16]
//     [--teacher DIR [--kd-alpha X] [--kd-temperature X]]
//     [--distributed auto|off] [--distributed-timeout-s S] [--shard-optimizer]
//
// Under torchrun or srun (run/distributed.hpp): data-parallel, each rank
// running its share of every step's micro-batches (train/train.hpp); rank 0
// alone evaluates, checkpoints, writes --out and prints the result line.
//
// Writes the trained model to --out in Hugging Face layout (through the export
// code of `tracenas prune`, so per-layer widths stay in tracenas_layers) and
// checkpoints to --out/checkpoints. Last stdout line:
// {"out": DIR, "steps": n, "loss": last train loss, "eval_loss": x or null}.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/folder_lock.hpp"
#include "base/runtime.hpp"
#include "commands.hpp"
#include "model_session.hpp"
#include "options.hpp"
#include "pipeline/data_loading.hpp"
#include "plugin/registry.hpp"
#include "run/distributed.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/cache.hpp"
#include "tracenas/support/decoder.hpp"
#include "train/train.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas::cli {
namespace {

double get_double(const Options& o, const std::string& name, double def) {
  auto v = o.get(name);
  if (!v) return def;
  errno = 0;
  char* end = nullptr;
  const double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || errno == ERANGE || !std::isfinite(x)) {
    throw UsageError("train: " + name + " expects a number (got " + *v + ")");
  }
  return x;
}

double get_double_in(const Options& o, const std::string& name, double def, double lo, double hi) {
  const double x = get_double(o, name, def);
  if (x < lo || x > hi) {
    throw UsageError("train: " + name + " must be in " + json(lo).dump() + ".." + json(hi).dump() +
                     " (got " + *o.get(name) + ")");
  }
  return x;
}

}  // namespace

int cmd_train(const std::vector<std::string>& argv) {
  Options o("train", argv,
            {{"--model"},
             {"--data"},
             {"--out"},
             {"--seq-len"},
             {"--batch"},
             {"--accumulate"},
             {"--steps"},
             {"--lr"},
             {"--min-lr"},
             {"--beta1"},
             {"--beta2"},
             {"--eps"},
             {"--weight-decay"},
             {"--schedule"},
             {"--warmup-steps"},
             {"--plateau-steps"},
             {"--plateau-lr"},
             {"--stable-steps"},
             {"--clip"},
             {"--eval-data"},
             {"--eval-every"},
             {"--checkpoint-every"},
             {"--seed"},
             {"--shuffle", false},
             {"--resume"},
             {"--threads"},
             {"--dtype"},
             {"--device"},
             {"--adapter"},
             {"--tokenizer"},
             {"--shard-size-mb"},
             {"--teacher"},
             {"--kd-alpha"},
             {"--kd-temperature"},
             {"--distributed"},
             {"--distributed-timeout-s"},
             {"--shard-optimizer", false}});
  if (!o.positional().empty()) {
    throw UsageError("train: unexpected argument '" + o.positional()[0] + "'");
  }
  const std::string model_dir = o.require("--model");
  const std::string data = o.require("--data");
  const std::string out = o.require("--out");

  constexpr int kBig = 1 << 30;
  TrainOptions t;
  t.seq_len = o.get_int("--seq-len", 256, 2, 1 << 20);
  t.batch = o.get_int("--batch", 8, 1, 1 << 20);
  t.accumulate = o.get_int("--accumulate", 1, 1, 1 << 20);
  t.steps = o.get_int("--steps", 1000, 1, kBig);
  t.schedule.kind = o.get_or("--schedule", "constant");
  t.schedule.lr = get_double_in(o, "--lr", 1e-4, 0, 1e3);
  t.schedule.min_lr = get_double_in(o, "--min-lr", 0.0, 0, 1e3);
  t.schedule.warmup_steps = o.get_int("--warmup-steps", 0, 0, kBig);
  t.schedule.plateau_steps = o.get_int("--plateau-steps", 0, 0, kBig);
  t.schedule.plateau_lr = get_double_in(o, "--plateau-lr", 0.0, 0, 1e3);
  t.schedule.stable_steps = o.get_int("--stable-steps", 0, 0, kBig);
  t.schedule.total_steps = t.steps;
  // Before the model is loaded: bad options fail fast.
  if (const std::string problem = schedule_problem(t.schedule, ScheduleKeys::options());
      !problem.empty()) {
    throw UsageError("train: " + problem);
  }
  t.adamw.beta1 = get_double_in(o, "--beta1", 0.9, 0, 0.999999);
  t.adamw.beta2 = get_double_in(o, "--beta2", 0.95, 0, 0.999999999);
  t.adamw.eps = get_double_in(o, "--eps", 1e-8, 0, 1);
  t.adamw.weight_decay = get_double_in(o, "--weight-decay", 0.0, 0, 1e3);
  t.clip = get_double_in(o, "--clip", 1.0, 0, 1e30);
  t.shuffle = o.flag("--shuffle");
  t.shard_optimizer = o.flag("--shard-optimizer");
  t.seed = static_cast<std::uint64_t>(o.get_int("--seed", 0, 0, kBig));
  t.eval_every = o.get_int("--eval-every", 0, 0, kBig);
  t.checkpoint_every = o.get_int("--checkpoint-every", 0, 0, kBig);
  t.checkpoint_dir = (fs::path(out) / "checkpoints").string();
  t.resume = o.get_or("--resume", "");
  t.data_name = data;
  t.compute_dtype = dtype_option(o, "float32");
  if (t.compute_dtype != "float32" && t.compute_dtype != "bfloat16") {
    throw UsageError("train: --dtype " + t.compute_dtype +
                     ": training keeps float32 master weights and computes in float32 or "
                     "bfloat16 (autocast)");
  }
  const int shard_mb = o.get_int("--shard-size-mb", 4096, 1, 1 << 20);
  if (fs::exists(out) && fs::exists(model_dir) && fs::equivalent(out, model_dir)) {
    throw UsageError("train: --out must differ from --model (got " + out + ")");
  }
  if (!t.resume.empty()) resolve_checkpoint(t.resume);  // fail before loading anything
  const std::string distributed = o.get_choice("--distributed", "auto", {"auto", "off"});
  const double timeout_s = get_double_in(o, "--distributed-timeout-s", 1800, 1, 1e7);
  // Every rank: the same options (but --resume, --threads) and model files.
  Hasher identity;
  for (const std::string& a : argv) identity.add(a);
  identity.add(model_folder_identity(model_dir));
  Ranks ranks = join_ranks("train", distributed, timeout_s, o.get_or("--device", "auto"),
                           identity.hex(), "training options or model files");
  t.comm = ranks.get();
  root_first(ranks.get(), "locking --out", [&] {
    if (ranks.root()) lock_folder(out, "--out");  // one writer per output folder
  });

  ModelSession session;
  session.run.seed = t.seed;
  open_model(session, o, "float32");  // master weights; --dtype is the compute dtype
  const Registry& registry = *session.registry;
  const RunContext& run = session.run;
  std::shared_ptr<DecoderModel> model = session.model;

  const std::string tokenizer = o.get_or("--tokenizer", "");
  TokenStream train_stream = load_spec_tokens(registry, data, "--data", tokenizer, model_dir, run);
  std::unique_ptr<TokenStream> eval_stream;
  if (auto eval = o.get("--eval-data")) {
    eval_stream = std::make_unique<TokenStream>(
        load_spec_tokens(registry, *eval, "--eval-data", tokenizer, model_dir, run));
    t.eval_name = *eval;
  }

  std::shared_ptr<DecoderModel> teacher;
  if (auto teacher_dir = o.get("--teacher")) {
    teacher = load_other_model(session, *teacher_dir);
    t.teacher = teacher.get();
    t.kd_alpha = get_double_in(o, "--kd-alpha", 0.5, 0, 1);
    t.kd_temperature = get_double_in(o, "--kd-temperature", 1.0, 1e-6, 1e6);
    log().info("teacher {}: {} parameters", *teacher_dir, teacher->num_parameters());
  }

  log().info("training on {} ({} compute, float32 master weights)", run.device, t.compute_dtype);
  TrainResult r =
      train_model(*model, train_stream.ids, eval_stream ? &eval_stream->ids : nullptr, t);
  if (!ranks.root()) return 0;  // rank 0 writes the model and the result
  ExportResult e =
      export_trained(model_dir, *model, out, static_cast<std::uint64_t>(shard_mb) << 20);
  log().info("trained model written to {} ({} parameters)", e.out_dir, e.params);
  json result = {{"out", e.out_dir},
                 {"steps", t.steps},
                 {"loss", r.log.empty() ? json(nullptr) : json(r.log.back().loss)},
                 {"eval_loss", r.eval_loss ? json(*r.eval_loss) : json(nullptr)}};
  print_result(result);
  return 0;
}

}  // namespace tracenas::cli
