#include "train/train.hpp"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <sstream>

#include "base/json_text.hpp"
#include "base/torch_compat.hpp"
#include "data/calibration.hpp"
#include "io/safetensors.hpp"
#include "model/subnet.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"
#include "tracenas/random.hpp"
#include "train/data_parallel.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

constexpr const char* kStateFormat = "tracenas.train_state/1";

// Calls fn(name, tensor, decay) for every trainable tensor of `w` (the tied LM
// head is skipped: it is the embedding).
template <typename Fn>
void for_each_weight(ModelWeights& w, Fn fn) {
  const bool tied = w.lm_head.defined() && w.embed.defined() &&
                    w.lm_head.data_ptr() == w.embed.data_ptr() &&
                    w.lm_head.sizes() == w.embed.sizes();
  fn(std::string("embed"), w.embed, true);
  for (std::size_t i = 0; i < w.layers.size(); ++i) {
    const std::string p = "layers." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[i];
    if (l.attn) {
      AttentionWeights& a = l.attention;
      fn(p + "input_norm", a.input_norm, false);
      fn(p + "q", a.q, true);
      fn(p + "k", a.k, true);
      fn(p + "v", a.v, true);
      fn(p + "o", a.o, true);
      fn(p + "q_bias", a.q_bias, false);
      fn(p + "k_bias", a.k_bias, false);
      fn(p + "v_bias", a.v_bias, false);
      fn(p + "o_bias", a.o_bias, false);
      fn(p + "q_norm", a.q_norm, false);
      fn(p + "k_norm", a.k_norm, false);
    }
    if (l.mlp) {
      MlpWeights& m = l.ffn;
      fn(p + "post_norm", m.post_norm, false);
      fn(p + "gate", m.gate, true);
      fn(p + "up", m.up, true);
      fn(p + "down", m.down, true);
      fn(p + "gate_bias", m.gate_bias, false);
      fn(p + "up_bias", m.up_bias, false);
      fn(p + "down_bias", m.down_bias, false);
    }
  }
  fn(std::string("final_norm"), w.final_norm, false);
  if (tied) {
    w.lm_head = w.embed;
  } else {
    fn(std::string("lm_head"), w.lm_head, true);
  }
}

void check_ids(const std::vector<std::int32_t>& stream, int vocab, const std::string& source) {
  for (std::size_t i = 0; i < stream.size(); ++i) {
    if (stream[i] < 0 || stream[i] >= vocab) {
      throw DataError(source + ": token " + std::to_string(i) + " has id " +
                      std::to_string(stream[i]) + ", outside the model's vocabulary 0.." +
                      std::to_string(vocab - 1));
    }
  }
}

void write_text_atomic(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << text;
    if (!out) throw Error("cannot write " + tmp.string());
  }
  fs::rename(tmp, path);
}

std::string step_name(std::int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "step-%08lld", static_cast<long long>(step));
  return buf;
}

json run_identity(const TrainOptions& o) {
  return {{"seq_len", o.seq_len},
          {"batch", o.batch},
          {"accumulate", o.accumulate},
          {"shuffle", o.shuffle},
          {"seed", o.seed}};
}

// Writes checkpoint_dir/step-N atomically (a hidden temporary folder renamed
// into place), then points checkpoint_dir/latest at it. `state`: every
// parameter's AdamW state (AdamW::state(), or gathered from the ranks).
std::string write_checkpoint(const TrainOptions& o, const AdamW& opt, NamedTensors optimizer_state,
                             std::int64_t step, double loss) {
  const fs::path root(o.checkpoint_dir);
  fs::create_directories(root);
  const std::string name = step_name(step);
  const fs::path tmp = root / ("." + name + ".tmp");
  const fs::path final_dir = root / name;
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  NamedTensors tensors;
  for (const TrainParam& p : opt.params())
    tensors.emplace_back("param/" + p.name, p.value.detach());
  for (auto& st : optimizer_state) tensors.push_back(std::move(st));
  save_safetensors((tmp / "state.safetensors").string(), tensors, {{"format", kStateFormat}});
  json state = {{"format", kStateFormat},
                {"step", step},
                {"loss", loss},
                {"micro_batches", step * o.accumulate},
                {"run", run_identity(o)}};
  write_text_atomic(tmp / "trainer_state.json", state.dump(2) + "\n");
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  write_text_atomic(root / "latest", name + "\n");
  return final_dir.string();
}

// Restores parameters and optimizer state; returns the step the checkpoint is at.
std::int64_t load_checkpoint(const std::string& dir, const TrainOptions& o, AdamW& opt) {
  const fs::path state_path = fs::path(dir) / "trainer_state.json";
  std::ifstream in(state_path);
  json state = json::parse(in, nullptr, false);
  if (state.is_discarded() || !state.is_object() || state.value("format", "") != kStateFormat ||
      !state.contains("step") || !state["step"].is_number_integer()) {
    throw DataError(state_path.string() + ": not a TraceNAS training state");
  }
  const json want = run_identity(o);
  const json have = state.value("run", json::object());
  static const std::map<std::string, std::string> kOption = {{"seq_len", "--seq-len"},
                                                             {"batch", "--batch"},
                                                             {"accumulate", "--accumulate"},
                                                             {"shuffle", "--shuffle"},
                                                             {"seed", "--seed"}};
  for (const auto& [key, option] : kOption) {
    if (!have.contains(key) || have[key] != want[key]) {
      throw UsageError("train: --resume " + dir + " was trained with " + option + " " +
                       (have.contains(key) ? json_preview(have[key]) : std::string("?")) +
                       ", this run asks for " + json_preview(want[key]) +
                       " (exact resume needs the same value)");
    }
  }
  const std::int64_t step = state["step"].get<std::int64_t>();
  const std::string file = (fs::path(dir) / "state.safetensors").string();
  auto st = SafeTensorsFile::open(file);
  auto get = [&](const std::string& name) -> at::Tensor {
    if (!st->has(name)) throw ModelError(file + ": tensor " + name + " missing");
    return st->get(name);
  };
  at::NoGradGuard no_grad;
  for (const TrainParam& p : opt.params()) {
    at::Tensor t = get("param/" + p.name);
    if (t.sizes() != p.value.sizes()) {
      throw ModelError(file + ": tensor param/" + p.name + " has the wrong shape for this model");
    }
    p.value.copy_(t);
  }
  opt.load_state(get, step, file);
  return step;
}

}  // namespace

// ---- clipping ----

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  double sq = 0;
  for (const at::Tensor& p : params) {
    const at::Tensor& g = p.grad();
    if (g.defined()) sq += g.to(at::kDouble).pow(2).sum().item<double>();
  }
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / norm;
    for (const at::Tensor& p : params) {
      if (p.grad().defined()) p.mutable_grad().mul_(scale);
    }
  }
  return norm;
}

// ---- AdamW ----

AdamW::AdamW(std::vector<TrainParam> params, AdamWOptions options, const std::vector<bool>& keep)
    : params_(std::move(params)), options_(options) {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const at::Tensor& p = params_[i].value;
    const bool kept = keep.empty() || (i < keep.size() && keep[i]);
    exp_avg_.push_back(kept ? at::zeros_like(p, p.options().requires_grad(false)) : at::Tensor());
    exp_avg_sq_.push_back(kept ? at::zeros_like(p, p.options().requires_grad(false))
                               : at::Tensor());
  }
}

void AdamW::step(double lr) {
  at::NoGradGuard no_grad;
  ++steps_;
  const double t = static_cast<double>(steps_);
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bc1 = 1.0 - std::pow(b1, t);
  const double bc2 = 1.0 - std::pow(b2, t);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].value;
    const at::Tensor& g = p.grad();
    if (!g.defined() || !exp_avg_[i].defined()) continue;  // no gradient, or another rank's
    if (params_[i].decay && options_.weight_decay != 0) p.mul_(1.0 - lr * options_.weight_decay);
    exp_avg_[i].mul_(b1).add_(g, 1.0 - b1);
    exp_avg_sq_[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
    // Every state tensor has the parameter's shape.
    at::Tensor denom = (exp_avg_sq_[i].sqrt() / std::sqrt(bc2)).add_(options_.eps);
    p.addcdiv_(exp_avg_[i], denom, -lr / bc1);
  }
}

void AdamW::zero_grad() {
  for (TrainParam& p : params_) {
    if (p.value.grad().defined()) p.value.mutable_grad().reset();
  }
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!exp_avg_[i].defined()) continue;
    out.emplace_back("exp_avg/" + params_[i].name, exp_avg_[i]);
    out.emplace_back("exp_avg_sq/" + params_[i].name, exp_avg_sq_[i]);
  }
  return out;
}

void AdamW::load_state(const std::function<at::Tensor(const std::string&)>& get, std::int64_t steps,
                       const std::string& origin) {
  at::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!exp_avg_[i].defined()) continue;
    for (auto [prefix, dst] : {std::pair<const char*, at::Tensor*>{"exp_avg/", &exp_avg_[i]},
                               {"exp_avg_sq/", &exp_avg_sq_[i]}}) {
      at::Tensor t = get(prefix + params_[i].name);
      if (t.sizes() != dst->sizes()) {
        throw ModelError(origin + ": tensor " + prefix + params_[i].name + " has the wrong shape");
      }
      dst->copy_(t);
    }
  }
  steps_ = steps;
}

std::int64_t AdamW::state_bytes() const {
  std::int64_t n = 0;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    for (const at::Tensor* t : {&exp_avg_[i], &exp_avg_sq_[i]}) {
      if (t->defined()) n += t->numel() * static_cast<std::int64_t>(t->element_size());
    }
  }
  return n;
}

std::vector<TrainParam> trainable_params(ModelWeights& w) {
  std::vector<TrainParam> out;
  for_each_weight(w, [&](const std::string& name, at::Tensor& t, bool decay) {
    if (!t.defined()) return;
    t = t.detach().to(at::kFloat).contiguous().clone();
    t.requires_grad_(true);
    out.push_back({name, t, decay});
  });
  return out;
}

// ---- data ----

TrainBatches::TrainBatches(const std::vector<std::int32_t>& stream, int seq_len, int batch,
                           bool shuffle, std::uint64_t seed, const std::string& source)
    : stream_(stream), seq_len_(seq_len), batch_(batch), shuffle_(shuffle), seed_(seed) {
  windows_ = static_cast<std::int64_t>(stream.size()) / seq_len;
  per_epoch_ = windows_ / batch;
  if (per_epoch_ == 0) {
    throw DataError(source + ": " + std::to_string(stream.size()) + " tokens hold " +
                    std::to_string(windows_) + " windows of " + std::to_string(seq_len) +
                    " tokens, fewer than one batch of " + std::to_string(batch));
  }
}

std::vector<std::int64_t> TrainBatches::epoch_order(std::int64_t epoch) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(windows_));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle_) {
    std::mt19937_64 rng(seed_ + static_cast<std::uint64_t>(epoch));
    for (std::int64_t i = windows_ - 1; i > 0; --i) {
      std::swap(order[static_cast<std::size_t>(i)],
                order[static_cast<std::size_t>(uniform_int(rng, 0, i))]);
    }
  }
  return order;
}

at::Tensor TrainBatches::get(std::int64_t index) const {
  const std::int64_t epoch = index / per_epoch_, k = index % per_epoch_;
  if (epoch != cached_epoch_) {
    cached_order_ = epoch_order(epoch);
    cached_epoch_ = epoch;
  }
  at::Tensor out = at::empty({batch_, seq_len_}, at::kLong);  // [batch, seq_len] token ids
  std::int64_t* dst = out.data_ptr<std::int64_t>();
  for (int b = 0; b < batch_; ++b) {
    const std::int64_t win = cached_order_[static_cast<std::size_t>(k * batch_ + b)];
    const std::int32_t* src = stream_.data() + win * seq_len_;
    for (int t = 0; t < seq_len_; ++t) *dst++ = src[t];
  }
  return out;
}

// ---- the loop ----

namespace {

// Autocast to bfloat16 on `device` for one scope (off: does nothing).
class Autocast {
 public:
  Autocast(bool on, const at::Device& device) : on_(on), cuda_(device.is_cuda()) {
    if (!on_) return;
    was_enabled_ = compat::autocast_enabled(cuda_);
    was_dtype_ = compat::autocast_dtype(cuda_);
    compat::set_autocast(cuda_, true, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~Autocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    compat::set_autocast(cuda_, was_enabled_, was_dtype_);
  }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool on_;
  bool cuda_;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

}  // namespace

at::Tensor distillation_loss(const at::Tensor& student_logits, const at::Tensor& teacher_logits,
                             double temperature) {
  const int64_t S = student_logits.size(1), V = student_logits.size(2);
  // [batch, seq, vocab] -> [batch * (seq - 1), vocab]: the predicting positions, scaled.
  auto positions = [&](const at::Tensor& l) {
    return l.narrow(1, 0, S - 1).reshape({-1, V}).to(at::kFloat) / temperature;
  };
  at::Tensor log_p = at::log_softmax(positions(student_logits), -1);           // log p
  at::Tensor log_q = at::log_softmax(positions(teacher_logits.detach()), -1);  // log q
  return (log_q.exp() * (log_q - log_p)).sum(-1).mean();
}

std::string resolve_checkpoint(const std::string& path) {
  const fs::path p(path);
  if (fs::exists(p / "trainer_state.json")) return p.string();
  for (const fs::path& root : {p / "checkpoints", p}) {
    std::ifstream in(root / "latest");
    std::string name;
    if (in >> name && fs::exists(root / name / "trainer_state.json")) return (root / name).string();
  }
  throw UsageError("train: --resume " + path +
                   ": no checkpoint there (expected trainer_state.json or checkpoints/latest)");
}

TrainOptions train_options_from_params(const ParamValues& v, int default_seq_len) {
  TrainOptions t;
  t.seq_len = static_cast<int>(v.get_int("seq_len"));
  if (t.seq_len == 0) t.seq_len = default_seq_len;
  t.batch = static_cast<int>(v.get_int("batch_size"));
  t.accumulate = static_cast<int>(v.get_int("accumulate"));
  t.steps = v.get_int("steps");
  t.schedule.kind = v.get_string("schedule");
  t.schedule.lr = v.get_float("lr");
  t.schedule.min_lr = v.get_float("min_lr");
  t.schedule.warmup_steps = v.get_int("warmup_steps");
  t.schedule.plateau_steps = v.get_int("plateau_steps");
  t.schedule.plateau_lr = v.get_float("plateau_lr");
  t.schedule.stable_steps = v.get_int("stable_steps");
  t.schedule.total_steps = std::max<std::int64_t>(1, t.steps);
  t.adamw.beta1 = v.get_float("beta1");
  t.adamw.beta2 = v.get_float("beta2");
  t.adamw.weight_decay = v.get_float("weight_decay");
  t.clip = v.get_float("clip");
  t.shard_optimizer = v.get_bool("shard_optimizer");
  return t;
}

ModelWeights float32_weights(const ModelWeights& w, const at::Device& device) {
  auto cv = [&](const at::Tensor& t) {
    return t.defined() ? t.detach().to(device, at::kFloat).clone() : t;
  };
  ModelWeights out = w;
  out.embed = cv(w.embed);
  out.final_norm = cv(w.final_norm);
  out.lm_head = w.lm_head.is_same(w.embed) ? out.embed : cv(w.lm_head);
  for (LayerWeights& l : out.layers) {
    AttentionWeights& a = l.attention;
    for (at::Tensor* t : {&a.input_norm, &a.q, &a.k, &a.v, &a.o, &a.q_bias, &a.k_bias, &a.v_bias,
                          &a.o_bias, &a.q_norm, &a.k_norm}) {
      *t = cv(*t);
    }
    MlpWeights& m = l.ffn;
    for (at::Tensor* t :
         {&m.post_norm, &m.gate, &m.up, &m.down, &m.gate_bias, &m.up_bias, &m.down_bias}) {
      *t = cv(*t);
    }
  }
  return out;
}

namespace {

// The options train_model refuses (UsageError naming the option).
void check_train_options(const DecoderModel& model, const TrainOptions& o) {
  if (model.dtype() != at::kFloat) {
    throw UsageError(std::string("train: master weights must be float32 (got ") +
                     dtype_name(model.dtype()) +
                     "); load the model in float32 and train in "
                     "bfloat16 with the compute dtype");
  }
  if (o.compute_dtype != "float32" && o.compute_dtype != "bfloat16") {
    throw UsageError("train: --dtype must be float32 or bfloat16 (got " + o.compute_dtype + ")");
  }
  if (o.steps < 1) throw UsageError("train: --steps must be at least 1");
  if (o.seq_len < 2) throw UsageError("train: --seq-len must be at least 2");
  if (o.batch < 1) throw UsageError("train: --batch must be at least 1");
  if (o.accumulate < 1) throw UsageError("train: --accumulate must be at least 1");
  if (o.clip < 0) throw UsageError("train: --clip must not be negative");
  if (o.teacher != nullptr) {
    if (o.teacher->config().vocab_size != model.config().vocab_size) {
      throw UsageError("train: --teacher has a vocabulary of " +
                       std::to_string(o.teacher->config().vocab_size) + " tokens, the model " +
                       std::to_string(model.config().vocab_size));
    }
    if (!(o.kd_alpha >= 0 && o.kd_alpha <= 1)) {
      throw UsageError("train: --kd-alpha must be in 0..1 (got " + std::to_string(o.kd_alpha) +
                       ")");
    }
    if (!(o.kd_temperature > 0)) {
      throw UsageError("train: --kd-temperature must be positive (got " +
                       std::to_string(o.kd_temperature) + ")");
    }
  }
  if (o.checkpoint_every > 0 && o.checkpoint_dir.empty()) {
    throw UsageError("train: checkpoints need a folder");
  }
}

struct MicroBatchLoss {
  double loss = 0;  // the causal-LM loss (what is reported)
  double kd = 0;    // the distillation term (0 without a teacher)
};

// Forward and backward of one micro-batch `b` [batch, seq] (token ids on the
// model's device): adds the gradient of objective / accumulate to the weights.
MicroBatchLoss micro_batch_backward(const ModelConfig& c, const ModelWeights& w,
                                    const at::Tensor& b, const TrainOptions& o, bool bf16) {
  MicroBatchLoss out;
  at::Tensor objective;  // 0-dim float32
  {
    // The forward in bfloat16 where autocast allows (matmuls), the loss
    // in float32; the backward runs outside autocast, as recommended.
    Autocast autocast(bf16, b.device());
    at::Tensor logits = decoder_logits(c, w, b);  // [batch, seq, vocab]
    at::Tensor loss = causal_lm_loss(logits, b);
    out.loss = loss.item<double>();
    objective = loss;
    if (o.teacher != nullptr) {
      at::Tensor teacher_logits;  // [batch, seq, vocab], no gradient
      {
        at::NoGradGuard no_grad;
        teacher_logits = o.teacher->logits(b.to(o.teacher->device()));
      }
      at::Tensor kd =
          distillation_loss(logits, teacher_logits.to(logits.device()), o.kd_temperature);
      out.kd = kd.item<double>();
      objective =
          loss * (1.0 - o.kd_alpha) + kd * (o.kd_alpha * o.kd_temperature * o.kd_temperature);
    }
  }
  (objective / static_cast<double>(o.accumulate)).backward();
  return out;
}

}  // namespace

TrainResult train_model(DecoderModel& model, const std::vector<std::int32_t>& train_tokens,
                        const std::vector<std::int32_t>* eval_tokens, const TrainOptions& o,
                        const std::function<void(const StepLog&)>& on_step) {
  check_train_options(model, o);
  ScheduleOptions schedule = o.schedule;
  schedule.total_steps = o.steps;
  // Callers validate in their own key names (schedule.hpp); this guards the library call.
  if (const std::string problem = schedule_problem(schedule, ScheduleKeys::pipeline());
      !problem.empty()) {
    throw ConfigError("train: schedule: " + problem);
  }

  const ModelConfig& c = model.config();
  check_ids(train_tokens, c.vocab_size, o.data_name);
  TrainBatches batches(train_tokens, o.seq_len, o.batch, o.shuffle, o.seed, o.data_name);
  std::vector<at::Tensor> eval_set;
  if (eval_tokens != nullptr) {
    check_ids(*eval_tokens, c.vocab_size, o.eval_name);
    eval_set = eval_batches(*eval_tokens, o.seq_len, o.batch, o.eval_name);
  }
  const at::Device device = model.device();
  for (at::Tensor& b : eval_set) b = b.to(device);
  const bool bf16 = o.compute_dtype == "bfloat16";

  Communicator* comm = o.comm != nullptr && o.comm->size() > 1 ? o.comm : nullptr;
  const int rank = comm != nullptr ? comm->rank() : 0;
  const int ranks = comm != nullptr ? comm->size() : 1;
  ModelWeights& w = model.mutable_weights();
  std::vector<TrainParam> params = trainable_params(w);
  std::vector<at::Tensor> values;
  for (const TrainParam& p : params) values.push_back(p.value);
  // ZeRO stage 1: the owner of each parameter's state (empty: every rank keeps all).
  std::vector<int> owners;
  std::vector<bool> keep;
  if (comm != nullptr && o.shard_optimizer) {
    std::vector<std::int64_t> numels;
    for (const at::Tensor& v : values) numels.push_back(v.numel());
    owners = shard_owners(numels, ranks);
    for (int owner : owners) keep.push_back(owner == rank);
  }
  AdamW opt(std::move(params), o.adamw, keep);
  if (comm != nullptr) {
    log().info(
        "train: this rank keeps {:.1f} MB of optimizer state ({})",
        static_cast<double>(opt.state_bytes()) / 1e6,
        owners.empty() ? "every parameter's" : "sharded over " + std::to_string(ranks) + " ranks");
  }

  std::int64_t start = 0;
  if (!o.resume.empty()) {
    const std::string dir = resolve_checkpoint(o.resume);
    start = load_checkpoint(dir, o, opt);
    if (start >= o.steps) {
      throw UsageError("train: --resume " + dir + " is at step " + std::to_string(start) +
                       "; --steps must be larger (got " + std::to_string(o.steps) + ")");
    }
    log().info("resumed from {} at step {}", dir, start);
  }
  if (rank != 0) eval_set.clear();  // rank 0 evaluates
  if (comm != nullptr && o.accumulate % ranks != 0) {
    log().warn(
        "train: accumulate {} is not a multiple of the {} ranks: some ranks idle in "
        "every step",
        o.accumulate, ranks);
  }
  // The gradients (overlapping the last local backward) and the step's loss
  // sums, summed over the ranks.
  std::optional<GradientSync> sync;
  if (comm != nullptr) sync.emplace(*comm, values, o.bucket_elements);
  int last_mine = -1;  // this rank's last micro-batch of a step
  for (int a = 0; a < o.accumulate; ++a) {
    if (a % ranks == rank) last_mine = a;
  }
  auto sum_over_ranks = [&](double& loss_sum, double& kd_sum, const std::string& what) {
    sync->finish(what);
    std::vector<at::Tensor> sums = {at::tensor({loss_sum, kd_sum}, at::kDouble)};
    comm->allreduce_sum(sums, what);
    loss_sum = sums[0][0].item<double>();
    kd_sum = sums[0][1].item<double>();
  };
  // ZeRO: every parameter from the rank that updated it.
  auto share_updates = [&](std::int64_t step) {
    at::NoGradGuard no_grad;
    for (int owner = 0; owner < ranks; ++owner) {
      std::vector<at::Tensor> updated;
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (owners[i] == owner) updated.push_back(values[i]);
      }
      comm->broadcast(updated, owner,
                      "sharing the parameters updated at step " + std::to_string(step));
    }
  };
  // The checkpoint's optimizer state: this process's, or (ZeRO) gathered on
  // rank 0 in host memory, one parameter at a time.
  auto checkpoint_state = [&](std::int64_t step) {
    if (owners.empty()) return rank == 0 ? opt.state() : NamedTensors();
    NamedTensors out;
    const std::string what = "gathering the optimizer state of step " + std::to_string(step);
    for (std::size_t i = 0; i < values.size(); ++i) {
      auto [m, v] = opt.moments(i);
      std::vector<at::Tensor> pair = {m, v};
      if (owners[i] != rank) pair = {at::empty_like(values[i]), at::empty_like(values[i])};
      comm->broadcast(pair, owners[i], what);
      if (rank == 0) {
        const std::string& name = opt.params()[i].name;
        out.emplace_back("exp_avg/" + name, pair[0].detach().to(at::kCPU));
        out.emplace_back("exp_avg_sq/" + name, pair[1].detach().to(at::kCPU));
      }
    }
    return out;
  };

  TrainResult r;
  r.first_step = start + 1;
  r.optimizer_state_bytes = opt.state_bytes();
  auto run_eval = [&]() {
    EvalResult e = evaluate(c, w, eval_set);
    r.eval_loss = e.loss;
    r.eval_ppl = e.ppl;
    return e;
  };
  bool evaluated_last = false;
  for (std::int64_t s = start; s < o.steps; ++s) {
    StepLog l;
    l.step = s + 1;
    l.lr = scheduled_lr(schedule, s);
    opt.zero_grad();
    double loss_sum = 0, kd_sum = 0;
    const std::string what = "summing the gradients of step " + std::to_string(l.step);
    for (int a = 0; a < o.accumulate; ++a) {
      if (a % ranks != rank) continue;
      if (sync && a == last_mine) sync->arm(what);
      const MicroBatchLoss m =
          micro_batch_backward(c, w, batches.get(s * o.accumulate + a).to(device), o, bf16);
      loss_sum += m.loss;
      kd_sum += m.kd;
    }
    if (comm != nullptr) {
      sum_over_ranks(loss_sum, kd_sum, what);
      r.gradient_buckets = static_cast<std::int64_t>(sync->buckets());
      r.overlapped_buckets += sync->started_in_backward();
    }
    l.loss = loss_sum / o.accumulate;
    l.kd_loss = kd_sum / o.accumulate;
    l.grad_norm = clip_grad_norm(values, o.clip);
    opt.step(l.lr);
    if (!owners.empty()) share_updates(l.step);
    evaluated_last = false;
    if (!eval_set.empty() && o.eval_every > 0 && l.step % o.eval_every == 0) {
      EvalResult e = run_eval();
      l.eval_loss = e.loss;
      evaluated_last = true;
      log().info("step {}: eval loss {:.6f} ppl {:.4f}", l.step, e.loss, e.ppl);
    }
    log().log(o.log_steps ? spdlog::level::info : spdlog::level::debug,
              "step {}/{}: loss {:.6f}{} lr {:.6g} grad norm {:.4f}", l.step, o.steps, l.loss,
              o.teacher != nullptr ? fmt::format(" kd {:.6f}", l.kd_loss) : std::string(), l.lr,
              l.grad_norm);
    if (o.checkpoint_every > 0 && l.step % o.checkpoint_every == 0) {
      NamedTensors state = checkpoint_state(l.step);
      if (rank == 0) {
        r.checkpoints.push_back(write_checkpoint(o, opt, std::move(state), l.step, l.loss));
        log().info("checkpoint {}", r.checkpoints.back());
      }
    }
    if (on_step) on_step(l);
    r.log.push_back(l);
  }
  if (sync && !r.log.empty()) {
    log().info("train: {} gradient bucket(s) per step; {} of {} started inside the backward",
               r.gradient_buckets, r.overlapped_buckets,
               r.gradient_buckets * static_cast<std::int64_t>(r.log.size()));
  }
  if (!eval_set.empty() && !evaluated_last) {
    EvalResult e = run_eval();
    log().info("final eval loss {:.6f} ppl {:.4f}", e.loss, e.ppl);
  }
  opt.zero_grad();
  for (const TrainParam& p : opt.params()) p.value.requires_grad_(false);
  return r;
}

ExportResult export_trained(const std::string& base_dir, const DecoderModel& model,
                            const std::string& out_dir, std::uint64_t max_shard_bytes) {
  at::NoGradGuard no_grad;
  Arch arch;
  std::vector<LayerSelection> sel;
  auto range = [](std::int64_t n) {
    std::vector<int> v(static_cast<std::size_t>(n));
    std::iota(v.begin(), v.end(), 0);
    return v;
  };
  for (const LayerWeights& l : model.weights().layers) {
    LayerArch la;
    LayerSelection s;
    la.attn = s.attn = l.attn;
    la.mlp = s.mlp = l.mlp;
    if (l.attn) {
      la.kv_heads = l.attention.kv_heads();
      la.heads = la.kv_heads * l.attention.heads_per_group();
      s.kv_heads = range(la.kv_heads);
      s.heads = range(la.heads);
    }
    if (l.mlp) {
      la.mlp_channels = l.ffn.channels();
      s.channels = range(la.mlp_channels);
    }
    arch.layers.push_back(la);
    sel.push_back(std::move(s));
  }
  return export_pruned(base_dir, model, arch, sel, out_dir, max_shard_bytes);
}

}  // namespace tracenas
