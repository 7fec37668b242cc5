// Scale benchmark: the time and peak memory of scoring one candidate on
// models of real size, in bfloat16 on the CPU.
//
// What it is for: checking the "Memory is a feature" decisions of DESIGN.md
// at the shapes people prune (Llama 3.2 1B, Llama 2 7B), and that attention
// memory grows linearly with the sequence (the benchmark model at 1024 to
// 4096 tokens). For each shape a writer process (this program re-executed
// with --write-checkpoint) writes, on first use only, a random-weight
// bfloat16 checkpoint in Hugging Face layout; then each measurement runs in a
// child process (re-executed with --child): load through the plugin registry
// and the llama adapter, `wanda` importance and `trace_correlation` (full or
// sketched gradients), Evaluator::prepare() and ONE evaluate() of a half-size
// candidate with per-layer widths. The child's peak RSS comes from wait4(). A
// benchmark, not a test: it prints a table with the targets next to
// the figures, then ONE JSON object with every figure on the last line.
//
// Run: OMP_WAIT_POLICY=PASSIVE tracenas_bench_scale [--shapes LIST] [--modes LIST] [--seq N]
//                                                   [--long LIST] [--threads N] [--dir PATH]
//                                                   [--set key=value]...
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "base/runtime.hpp"
#include "bench_model.hpp"
#include "io/safetensors.hpp"
#include "model/adapters.hpp"
#include "plugin/registry.hpp"
#include "scoring/evaluator.hpp"
#include "scoring/memory_plan.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/cache.hpp"
#include "tracenas/support/decoder.hpp"
#include "tracenas/support/hf_family.hpp"

extern char** environ;

namespace tracenas {
namespace {

using namespace bench;  // NOLINT(build/namespaces)

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

constexpr const char* kUsage =
    "usage: tracenas_bench_scale [--shapes LIST] [--modes LIST] [--seq N] [--long LIST]\n"
    "                            [--threads N] [--dir PATH] [--set key=value]...\n"
    "  --shapes LIST  comma-separated: llama-3.2-1b, llama-2-7b, bench\n"
    "                 (default llama-3.2-1b,bench; llama-2-7b needs ~14 GB of disk and RAM)\n"
    "  --modes LIST   what scores the candidate on the llama shapes: trace_correlation\n"
    "                 with full, sketch or lora gradients, or the proxy synflow, meco or\n"
    "                 naswot (their own passes; paper_baselines plugin)\n"
    "                 (default full,sketch; llama-2-7b runs sketch only)\n"
    "  --seq N        tokens per sequence of the llama shapes' runs (default 256)\n"
    "  --long LIST    sequence lengths of the bench shape's sketch runs (default 1024,2048,4096)\n"
    "  --threads N    LibTorch intra-op threads of every process (default 2)\n"
    "  --dir PATH     checkpoint cache folder (default /tmp/tracenas_scale)\n"
    "  --set k=v      a knob passed to every child's Evaluator setup (repeatable)\n"
    "Run with OMP_WAIT_POLICY=PASSIVE in the environment (see bench/README.md).\n";

constexpr double kGB = 1e9;
constexpr double kKiB = 1024.0;
constexpr std::uint64_t kShardBytes = 2'000'000'000ULL;  // "2GB" shards, as the hub writes
constexpr int64_t kDenseMatmulN = 2048;
constexpr int kChannelStep = 16;  // candidate MLP widths are multiples of this
constexpr double kSketchTimeGoal = 0.7;
constexpr double kLinearExponentGoal = 1.5;  // memory ~ S^e; linear 1, quadratic 2

// ---------------------------------------------------------------------------
// Shapes

struct Shape {
  std::string name;
  ModelConfig config;
  int bos_token_id = 1;
  int eos_token_id = 2;
  bool long_sequences = false;  // runs at the --long lengths in sketch mode
  bool full_mode = true;        // false: full-gradient mode is never run (does not fit)
};

Shape llama_3_2_1b() {
  Shape s;
  s.name = "llama-3.2-1b";
  ModelConfig& c = s.config;
  c.model_type = "llama";
  c.num_layers = 16;
  c.hidden_size = 2048;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 64;
  c.intermediate_size = 8192;
  c.vocab_size = 128256;
  c.max_position_embeddings = 131072;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;  // plain RoPE (the real model adds llama3 scaling)
  c.tie_word_embeddings = true;
  s.bos_token_id = 128000;
  s.eos_token_id = 128001;
  return s;
}

Shape llama_2_7b() {
  Shape s;
  s.name = "llama-2-7b";
  ModelConfig& c = s.config;
  c.model_type = "llama";
  c.num_layers = 32;
  c.hidden_size = 4096;
  c.num_heads = 32;
  c.num_kv_heads = 32;
  c.head_dim = 128;
  c.intermediate_size = 11008;
  c.vocab_size = 32000;
  c.max_position_embeddings = 4096;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = false;
  s.full_mode = false;
  return s;
}

// The benchmark model of bench_model.hpp, stored in bfloat16 here.
Shape bench_shape() {
  Shape s;
  s.name = "bench";
  s.config = bench_config();
  s.config.max_position_embeddings = 4096;
  s.long_sequences = true;
  return s;
}

std::optional<Shape> find_shape(const std::string& name) {
  for (const Shape& s : {llama_3_2_1b(), llama_2_7b(), bench_shape()}) {
    if (s.name == name) return s;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Checkpoints: random bfloat16 weights in Hugging Face layout

struct PlannedTensor {
  std::string name;
  std::vector<int64_t> shape;
  bool ones = false;  // norms; every other tensor is seeded randn * kInitStd

  std::uint64_t nbytes() const {
    std::uint64_t n = 2;  // bfloat16
    for (int64_t d : shape) n *= static_cast<std::uint64_t>(d);
    return n;
  }
};

// Every tensor of a Llama checkpoint (no biases), in module order, under the
// Hugging Face decoder names of hf_family.hpp.
std::vector<PlannedTensor> checkpoint_plan(const ModelConfig& c) {
  const HfTensorNames n = hf_decoder_names();
  const int64_t d = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t q = static_cast<int64_t>(c.num_heads) * c.head_dim;
  const int64_t kv = static_cast<int64_t>(c.num_kv_heads) * c.head_dim;
  std::vector<PlannedTensor> plan;
  plan.push_back({n.embed, {V, d}, false});  // [vocab, hidden]
  for (int i = 0; i < c.num_layers; ++i) {
    auto name = [&](const std::string& pattern) { return hf_layer_name(pattern, i); };
    plan.push_back({name(n.input_norm), {d}, true});  // [hidden]
    plan.push_back({name(n.q), {q, d}, false});       // [heads * head_dim, hidden]
    plan.push_back({name(n.k), {kv, d}, false});      // [kv_heads * head_dim, hidden]
    plan.push_back({name(n.v), {kv, d}, false});
    plan.push_back({name(n.o), {d, q}, false});  // [hidden, heads * head_dim]
    plan.push_back({name(n.post_norm), {d}, true});
    plan.push_back({name(n.gate), {I, d}, false});  // [intermediate, hidden]
    plan.push_back({name(n.up), {I, d}, false});
    plan.push_back({name(n.down), {d, I}, false});  // [hidden, intermediate]
  }
  plan.push_back({n.final_norm, {d}, true});
  if (!c.tie_word_embeddings) plan.push_back({n.lm_head, {V, d}, false});  // [vocab, hidden]
  return plan;
}

std::string config_text(const Shape& s) {
  const ModelConfig& c = s.config;
  ordered_json j = {{"architectures", {"LlamaForCausalLM"}},
                    {"model_type", "llama"},
                    {"torch_dtype", "bfloat16"},
                    {"hidden_size", c.hidden_size},
                    {"intermediate_size", c.intermediate_size},
                    {"num_hidden_layers", c.num_layers},
                    {"num_attention_heads", c.num_heads},
                    {"num_key_value_heads", c.num_kv_heads},
                    {"head_dim", c.head_dim},
                    {"vocab_size", c.vocab_size},
                    {"max_position_embeddings", c.max_position_embeddings},
                    {"rms_norm_eps", c.rms_norm_eps},
                    {"rope_theta", c.rope_theta},
                    {"tie_word_embeddings", c.tie_word_embeddings},
                    {"hidden_act", "silu"},
                    {"attention_bias", false},
                    {"mlp_bias", false},
                    {"bos_token_id", s.bos_token_id},
                    {"eos_token_id", s.eos_token_id}};
  return j.dump(2) + "\n";
}

// Tensor indices of the plan per shard: in order, each shard at most
// kShardBytes (a larger tensor alone).
std::vector<std::vector<std::size_t>> shard_plan(const std::vector<PlannedTensor>& plan) {
  std::vector<std::vector<std::size_t>> shards(1);
  std::uint64_t current = 0;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if (!shards.back().empty() && current + plan[i].nbytes() > kShardBytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(i);
    current += plan[i].nbytes();
  }
  return shards;
}

std::string shard_file_name(std::size_t index, std::size_t count) {
  if (count == 1) return "model.safetensors";
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

// Whether `dir` holds this shape's complete checkpoint: the same config.json
// and every planned tensor, in bfloat16, at its shape, and nothing else.
bool checkpoint_complete(const fs::path& dir, const Shape& s,
                         const std::vector<PlannedTensor>& plan) {
  const std::optional<std::string> config = read_file_if_exists((dir / "config.json").string());
  if (!config || *config != config_text(s)) return false;
  try {
    const Checkpoint ck = Checkpoint::open_dir(dir.string());
    if (ck.names().size() != plan.size()) return false;
    for (const PlannedTensor& t : plan) {
      if (!ck.has(t.name) || ck.shape(t.name) != t.shape || ck.dtype(t.name) != at::kBFloat16) {
        return false;
      }
    }
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// Removes `<shape>.partial-<pid>` folders left by writers that are gone.
void remove_stale_partials(const fs::path& root, const std::string& shape) {
  const std::string prefix = shape + ".partial-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      fs::remove_all(entry.path(), ec);
    }
  }
}

struct CheckpointInfo {
  std::string dir;
  std::uint64_t weight_bytes = 0;
  std::int64_t params = 0;
  std::size_t shards = 0;
  bool reused = false;
  double write_seconds = 0;
};

// The shape's checkpoint under `root`, written unless a complete one is
// there. Tensors are generated shard by shard (memory: about one shard) into
// `<shape>.partial-<pid>`, which is renamed into place only when complete.
CheckpointInfo ensure_checkpoint(const fs::path& root, const Shape& s) {
  const std::vector<PlannedTensor> plan = checkpoint_plan(s.config);
  const std::vector<std::vector<std::size_t>> shards = shard_plan(plan);
  CheckpointInfo info;
  info.dir = (root / s.name).string();
  info.shards = shards.size();
  for (const PlannedTensor& t : plan) {
    info.weight_bytes += t.nbytes();
    info.params += static_cast<std::int64_t>(t.nbytes() / 2);
  }
  fs::create_directories(root);
  remove_stale_partials(root, s.name);
  if (checkpoint_complete(info.dir, s, plan)) {
    info.reused = true;
    return info;
  }
  std::fprintf(stderr, "writing %s (%.2f GB in %zu shard(s)) to %s\n", s.name.c_str(),
               static_cast<double>(info.weight_bytes) / kGB, shards.size(), info.dir.c_str());
  const auto start = std::chrono::steady_clock::now();
  const fs::path partial = root / (s.name + ".partial-" + std::to_string(::getpid()));
  fs::remove_all(partial);
  fs::create_directories(partial);
  json weight_map = json::object();
  for (std::size_t k = 0; k < shards.size(); ++k) {
    const std::string file = shard_file_name(k, shards.size());
    NamedTensors tensors;
    for (std::size_t i : shards[k]) {
      const PlannedTensor& t = plan[i];
      at::Tensor w;
      if (t.ones) {
        w = at::ones(t.shape, at::kBFloat16);
      } else {
        at::manual_seed(kSeed + i);  // one seed per tensor: the values do not depend on sharding
        w = at::randn(t.shape, at::kBFloat16).mul_(kInitStd);
      }
      tensors.emplace_back(t.name, std::move(w));
      weight_map[t.name] = file;
    }
    save_safetensors((partial / file).string(), tensors, {{"format", "pt"}});
  }
  if (shards.size() > 1) {
    const json index = {{"metadata", {{"total_size", info.weight_bytes}}},
                        {"weight_map", weight_map}};
    write_file_atomic((partial / "model.safetensors.index.json").string(), index.dump(2) + "\n");
  }
  write_file_atomic((partial / "config.json").string(), config_text(s));
  fs::remove_all(info.dir);  // an incomplete or outdated checkpoint
  fs::rename(partial, info.dir);
  info.write_seconds = seconds_since(start);
  return info;
}

json checkpoint_to_json(const CheckpointInfo& ck) {
  return {{"dir", ck.dir},       {"weight_bytes", ck.weight_bytes},
          {"params", ck.params}, {"shards", ck.shards},
          {"reused", ck.reused}, {"write_seconds", ck.write_seconds}};
}

CheckpointInfo checkpoint_from_json(const json& j) {
  CheckpointInfo ck;
  ck.dir = j.at("dir").get<std::string>();
  ck.weight_bytes = j.at("weight_bytes").get<std::uint64_t>();
  ck.params = j.at("params").get<std::int64_t>();
  ck.shards = j.at("shards").get<std::size_t>();
  ck.reused = j.at("reused").get<bool>();
  ck.write_seconds = j.at("write_seconds").get<double>();
  return ck;
}

// The writer process (--write-checkpoint): ensure_checkpoint, then its
// CheckpointInfo as one JSON line. It runs apart from the parent so that the
// memory it takes never counts in a measurement (see run_parent).
int run_writer(const std::string& shape, const std::string& dir, int threads) {
  at::set_num_threads(threads);
  const CheckpointInfo ck = ensure_checkpoint(dir, *find_shape(shape));
  std::printf("%s\n", checkpoint_to_json(ck).dump().c_str());
  return 0;
}

// ---------------------------------------------------------------------------
// The candidate and its FLOPs

// The half-size non-uniform candidate: every layer kept, except that the last
// layer loses its MLP and the middle layer its attention; per-layer widths
// cycle through four profiles (fractions of the base KV heads, of the query
// heads per KV group, and a multiplier of a common MLP width), and the common
// MLP width (a multiple of kChannelStep) is the one whose non-embedding
// parameter count is closest to half the base's.
Arch half_candidate_nonuniform(const ModelConfig& c) {
  static constexpr double kKvFraction[4] = {1.0, 0.5, 0.75, 0.25};
  static constexpr double kPerGroupFraction[4] = {0.5, 1.0, 0.5, 1.0};
  static constexpr double kMlpMultiplier[4] = {1.25, 0.75, 1.0, 0.5};
  const int per_group = c.num_heads / c.num_kv_heads;
  auto at_least_one = [](double x) { return std::max(1, static_cast<int>(std::lround(x))); };
  auto build = [&](int width) {
    Arch a = full_arch(c);
    for (std::size_t i = 0; i < a.layers.size(); ++i) {
      LayerArch& l = a.layers[i];
      const std::size_t p = i % 4;
      l.kv_heads = at_least_one(c.num_kv_heads * kKvFraction[p]);
      l.heads = l.kv_heads * at_least_one(per_group * kPerGroupFraction[p]);
      const int channels =
          kChannelStep * static_cast<int>(std::lround(width * kMlpMultiplier[p] / kChannelStep));
      l.mlp_channels = std::clamp(channels, kChannelStep, c.intermediate_size);
    }
    a.layers.back().mlp = false;
    a.layers[a.layers.size() / 2].attn = false;
    return a;
  };
  const double target = 0.5 * static_cast<double>(non_embedding_params(c, full_arch(c)));
  Arch best;
  double best_gap = -1;
  for (int width = kChannelStep; width <= c.intermediate_size; width += kChannelStep) {
    Arch a = build(width);
    const double gap = std::abs(static_cast<double>(non_embedding_params(c, a)) - target);
    if (best_gap < 0 || gap < best_gap) {
      best = a;
      best_gap = gap;
    }
  }
  validate_arch(best, c, "candidate");
  return best;
}

// "layer:kv_heads/heads/mlp_channels" per layer; "-" for a removed block.
std::string describe(const Arch& a) {
  std::string out;
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    const LayerArch& l = a.layers[i];
    out += (i == 0 ? "" : " ") + std::to_string(i) + ":" +
           (l.attn ? std::to_string(l.kv_heads) + "/" + std::to_string(l.heads) : "-") + "/" +
           (l.mlp ? std::to_string(l.mlp_channels) : "-");
  }
  return out;
}

double non_embedding_fraction(const ModelConfig& c, const Arch& a) {
  return static_cast<double>(non_embedding_params(c, a)) /
         static_cast<double>(non_embedding_params(c, full_arch(c)));
}

// Nominal matmul FLOPs of one forward + backward over K batches of B x S
// tokens (T = K * B * S): forward 2 * T * (elements of every kept projection
// weight), plus per kept attention block the score and value matmuls, 2 * 2 *
// K * B * S * S * heads * head_dim (the full S x S; the causal half is not
// subtracted), plus the LM head, 2 * T * vocab * hidden. Backward is counted
// as 2x forward (input and weight gradients), whatever the proxy's mode
// computes (sketch mode forms the weight gradients' sketches instead).
Flops nominal_flops(const ModelConfig& c, const Arch& arch, int64_t batches, int64_t batch,
                    int64_t seq) {
  const double T = static_cast<double>(batches * batch * seq), d = c.hidden_size;
  const double h = c.head_dim;
  double forward = 2 * T * d * c.vocab_size;
  for (const LayerArch& l : arch.layers) {
    if (l.attn) {
      const double q = l.heads * h, kv = l.kv_heads * h;
      forward += 2 * T * (d * q + 2 * d * kv + q * d);
      forward += 2 * 2 * static_cast<double>(batches * batch) * static_cast<double>(seq * seq) *
                 l.heads * h;
    }
    if (l.mlp) forward += 2 * T * 3 * d * l.mlp_channels;
  }
  return {forward, 2 * forward};
}

// ---------------------------------------------------------------------------
// The child: one measurement in its own process

struct ChildOptions {
  std::string model_dir;
  std::string shape;
  std::string mode = "sketch";  // trace_correlation's gradient: full | sketch
  int64_t seq = 256;
  int threads = 2;
  std::vector<std::pair<std::string, std::string>> set;  // --set key=value, in order
};

// What the child's Evaluator is built from; --set knobs change it.
// Modes that are trace_correlation's gradient; the rest name a proxy of paper_baselines.
bool trace_mode(const std::string& mode) {
  return mode == "full" || mode == "sketch" || mode == "lora";
}
bool known_mode(const std::string& mode) {
  return trace_mode(mode) || mode == "synflow" || mode == "meco" || mode == "naswot";
}

struct ChildSetup {
  std::string criterion = "wanda";
  std::string proxy = "trace_correlation";
  ParamValues proxy_params;  // trace_correlation's (gradient from --mode)
  int64_t batch_size = 1;
  int64_t batches = 1;
  PassOptions pass;  // the pipeline's defaults unless a knob changes them
  std::string device = "cpu";
};

int64_t knob_int(const std::string& key, const std::string& value, int64_t min) {
  char* end = nullptr;
  const long long v = std::strtoll(value.c_str(), &end, 10);
  if (end == value.c_str() || *end != '\0' || v < min) {
    throw UsageError("--set " + key + ": expected an integer >= " + std::to_string(min) +
                     " (got '" + value + "')");
  }
  return v;
}

// The --set keys the child understands. Add a knob here (one line per key).
const std::map<std::string, std::function<void(const std::string&, ChildSetup*)>>& knobs() {
  static const std::map<std::string, std::function<void(const std::string&, ChildSetup*)>> k = {
      {"criterion", [](const std::string& v, ChildSetup* s) { s->criterion = v; }},
      {"batch_size",
       [](const std::string& v, ChildSetup* s) { s->batch_size = knob_int("batch_size", v, 1); }},
      {"batches",
       [](const std::string& v, ChildSetup* s) { s->batches = knob_int("batches", v, 1); }},
      {"sketch_rank",
       [](const std::string& v, ChildSetup* s) {
         s->proxy_params.set("sketch_rank", knob_int("sketch_rank", v, 1));
       }},
      {"sketch_seed",
       [](const std::string& v, ChildSetup* s) {
         s->proxy_params.set("sketch_seed", knob_int("sketch_seed", v, 0));
       }},
      {"similarity",
       [](const std::string& v, ChildSetup* s) { s->proxy_params.set("similarity", v); }},
      {"aggregate",
       [](const std::string& v, ChildSetup* s) { s->proxy_params.set("aggregate", v); }},
      {"micro_batch_size",
       [](const std::string& v, ChildSetup* s) {
         s->pass.micro_batch_size = knob_int("micro_batch_size", v, 0);
       }},
      {"attention",
       [](const std::string& v, ChildSetup* s) {
         if (v != "auto" && v != "blockwise" && v != "plain") {
           throw UsageError("--set attention: expected auto, blockwise or plain (got '" + v + "')");
         }
         s->pass.plain_within_block = v == "auto";
         if (v == "plain") s->pass.attention_block = 0;
       }},
      {"attention_block",
       [](const std::string& v, ChildSetup* s) {
         if (s->pass.attention_block > 0) {
           s->pass.attention_block = knob_int("attention_block", v, 1);
         }
       }},
      {"loss_chunk_tokens",
       [](const std::string& v, ChildSetup* s) {
         s->pass.loss_chunk_tokens = knob_int("loss_chunk_tokens", v, 0);
       }},
      {"device",
       [](const std::string& v, ChildSetup* s) {
         if (v != "cpu" && v != "cuda") {
           throw UsageError("--set device: expected cpu or cuda (got '" + v + "')");
         }
         s->device = v;
       }},
      {"activation_checkpointing",
       [](const std::string& v, ChildSetup* s) {
         if (v != "true" && v != "false") {
           throw UsageError("--set activation_checkpointing: expected true or false (got '" + v +
                            "')");
         }
         s->pass.checkpoint_layers = v == "true";
       }},
  };
  return k;
}

// The setup of `o`: mode, sketch rank 64, then every --set knob; unknown keys
// are warned about and returned.
ChildSetup child_setup(const ChildOptions& o, std::vector<std::string>* unknown) {
  ChildSetup s;
  if (trace_mode(o.mode)) {
    s.proxy_params.set("gradient", o.mode);
    s.proxy_params.set("sketch_rank", int64_t{64});
  } else {
    s.proxy = o.mode;
  }
  for (const auto& [key, value] : o.set) {
    auto it = knobs().find(key);
    if (it == knobs().end()) {
      std::fprintf(stderr, "warning: --set %s: unknown knob, ignored\n", key.c_str());
      unknown->push_back(key);
      continue;
    }
    it->second(value, &s);
  }
  return s;
}

// The Evaluator's inputs: `criterion` importance and one trace_correlation
// proxy, on-disk cache off.
EvaluatorInputs evaluator_inputs(const Registry& reg, const RunContext& run,
                                 std::shared_ptr<DecoderModel> model, const std::string& model_dir,
                                 std::vector<at::Tensor> batches, const ChildSetup& s) {
  EvaluatorInputs in;
  in.model = std::move(model);
  in.model_dir = model_dir;
  in.dtype = run.dtype;
  in.device = run.device;
  in.batches = std::move(batches);
  in.data_fingerprint = "scale-bench-random-tokens";
  in.criterion = s.criterion;
  in.criterion_instance = reg.create<ImportanceCriterion>(s.criterion, {}, run);
  ParamValues p = s.proxy_params;
  for (const auto& spec : reg.require(ComponentKind::kProxy, s.proxy)->info.params) {
    if (!p.has(spec.name)) p.set(spec.name, spec.default_value);
  }
  in.proxies.push_back({s.proxy, s.proxy, reg.create<Proxy>(s.proxy, p, run)});
  in.cache_dir.clear();
  in.pass = s.pass;
  return in;
}

long peak_rss_kib() {
  rusage u{};
  return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_maxrss : 0;
}

// VmHWM of /proc/self/status: the peak RSS of this process's own address
// space, which (unlike ru_maxrss) starts afresh at exec (0 where unavailable).
long vm_hwm_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

int run_child(const ChildOptions& o) {
  std::vector<std::string> unknown;
  const ChildSetup setup = child_setup(o, &unknown);
  RunContext run;
  run.threads = o.threads;
  run.device = setup.device;
  run.dtype = "bfloat16";
  run = apply_runtime(run);
  Registry reg;
  for (const char* f :
       {"libtracenas_model_llama.so", "libtracenas_importance_criteria.so",
        "libtracenas_proxy_trace_correlation.so", "libtracenas_proxy_paper_baselines.so"}) {
    reg.load_file(std::string(TN_PLUGIN_DIR) + "/" + f);
  }

  const auto t_load = std::chrono::steady_clock::now();
  ParamValues adapter_params;
  adapter_params.set("path", o.model_dir);
  Instance<ModelAdapter> adapter = create_model_adapter(reg, "", adapter_params, run);
  LoadOptions lo;
  lo.device = run.device;
  lo.dtype = run.dtype;
  std::shared_ptr<DecoderModel> model =
      adapter.call("load", [&](ModelAdapter& a) { return a.load(lo); });
  const double load_s = seconds_since(t_load);
  const long peak_loaded = peak_rss_kib();
  const ModelConfig& c = model->config();

  at::manual_seed(kSeed + 1);
  std::vector<at::Tensor> batches;
  for (int64_t k = 0; k < setup.batches; ++k) {
    batches.push_back(at::randint(c.vocab_size, {setup.batch_size, o.seq}, at::kLong));  // [B, S]
  }
  Evaluator ev(evaluator_inputs(reg, run, model, o.model_dir, batches, setup));
  const auto t_prepare = std::chrono::steady_clock::now();
  ev.prepare();
  const double prepare_s = seconds_since(t_prepare);
  const long peak_prepared = peak_rss_kib();

  const Arch arch = half_candidate_nonuniform(c);
  // The memory plan of this run, from the config alone, to read against the measured peak.
  MemoryPlanInputs plan_in;
  plan_in.config = c;
  plan_in.dtype = run.dtype;
  plan_in.batch_size = setup.batch_size;
  plan_in.seq_len = o.seq;
  plan_in.pass = setup.pass;
  for (const ScoredProxy& sp : ev.proxies()) {
    plan_in.needs |= sp.proxy.call("needs", [](Proxy& px) { return px.needs(); });
  }
  plan_in.candidate_fraction = non_embedding_fraction(c, arch);
  const MemoryPlan plan = plan_memory(plan_in);
  const auto t_eval = std::chrono::steady_clock::now();
  const Evaluation e = ev.evaluate(arch);
  const double candidate_s = seconds_since(t_eval);
  const long peak_candidate = peak_rss_kib();

  const Flops f = nominal_flops(c, arch, setup.batches, setup.batch_size, o.seq);
  json set = json::object();
  for (const auto& [key, value] : o.set) set[key] = value;
  const json out = {
      {"shape", o.shape},
      {"mode", o.mode},
      {"batch_size", setup.batch_size},
      {"batches", setup.batches},
      {"seq", o.seq},
      {"tokens", setup.batches * setup.batch_size * o.seq},
      {"threads", at::get_num_threads()},
      {"device", run.device},
      {"set", set},
      {"unknown_set", unknown},
      {"load_seconds", load_s},
      {"prepare_seconds", prepare_s},
      {"importance_seconds", ev.importance_seconds()},
      {"traces_seconds", ev.traces_seconds()},
      {"candidate_seconds", candidate_s},
      {"pass_seconds", e.pass_seconds},
      {"proxy_seconds", e.proxy_seconds},
      {"proxy_value", e.values.empty() ? json(nullptr) : json(e.values[0])},
      {"candidate_params", e.params},
      {"base_params", ev.base_params()},
      {"non_embedding_fraction", non_embedding_fraction(c, arch)},
      {"weight_bytes",
       model->num_parameters() * static_cast<int64_t>(at::elementSize(model->dtype()))},
      {"flops_forward", f.forward},
      {"flops", f.total()},
      {"peak_rss_kib",
       {{"loaded", peak_loaded}, {"prepared", peak_prepared}, {"candidate", peak_candidate}}},
      {"vm_hwm_kib", vm_hwm_kib()},
      {"plan_peak_bytes", plan.peak_bytes},
      {"plan", plan.summary()}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// ---------------------------------------------------------------------------
// The parent: checkpoints, children, figures

struct RunSpec {
  Shape shape;
  std::string mode;
  int64_t seq = 0;
};

struct ChildRun {
  json result;          // the child's JSON line (null when it gave none)
  long peak_kib = 0;    // wait4 ru_maxrss
  std::string failure;  // empty on success
  double wall_seconds = 0;
};

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")" +
           (sig == SIGKILL ? ", likely out of memory" : "");
  }
  return "status " + std::to_string(status);
}

// Runs this program again (/proc/self/exe, posix_spawn: no fork of a process
// whose LibTorch threads run) with `args`; reads its stdout and its rusage.
ChildRun spawn_child(const std::vector<std::string>& args) {
  ChildRun r;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(std::string("pipe2: ") + std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const auto start = std::chrono::steady_clock::now();
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    r.failure = std::string("posix_spawn: ") + std::strerror(rc);
    return r;
  }
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  r.wall_seconds = seconds_since(start);
  r.peak_kib = usage.ru_maxrss;
  std::istringstream lines(out);
  std::string line, last;
  while (std::getline(lines, line)) {
    if (!line.empty()) last = line;
  }
  if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    r.failure = exit_text(status);
  } else {
    try {
      r.result = json::parse(last);
    } catch (const std::exception&) {
      r.failure = "no JSON line on stdout";
    }
  }
  return r;
}

struct ParentOptions {
  std::vector<std::string> shapes = {"llama-3.2-1b", "bench"};
  std::vector<std::string> modes = {"full", "sketch"};
  int64_t seq = 256;
  std::vector<int64_t> long_seqs = {1024, 2048, 4096};
  int threads = 2;
  std::string dir = "/tmp/tracenas_scale";
  std::vector<std::string> set;  // key=value
};

// Peak RSS limit of a run: times * weight bytes + plus_gb, as the issue states it.
struct MemoryTarget {
  double times = 0;
  double plus_gb = 0;
};

// The memory targets, stated for 1 x 256 tokens.
std::optional<MemoryTarget> memory_target(const RunSpec& r, int64_t tokens) {
  if (tokens != 256) return std::nullopt;
  if (r.shape.name == "llama-3.2-1b") {
    // The targets are for the trace's full and sketch modes only.
    if (r.mode == "full") return MemoryTarget{4.0, 1.0};
    if (r.mode == "sketch") return MemoryTarget{1.3, 1.0};
    return std::nullopt;
  }
  if (r.shape.name == "llama-2-7b" && r.mode == "sketch") return MemoryTarget{1.3, 1.5};
  return std::nullopt;
}

std::vector<RunSpec> plan_runs(const ParentOptions& o) {
  std::vector<RunSpec> runs;
  for (const std::string& name : o.shapes) {
    const Shape s = *find_shape(name);
    if (s.long_sequences) {
      for (int64_t seq : o.long_seqs) runs.push_back({s, "sketch", seq});
      continue;
    }
    for (const std::string& mode : o.modes) {
      if (mode == "full" && !s.full_mode) continue;
      runs.push_back({s, mode, o.seq});
    }
  }
  return runs;
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

constexpr double kPlanTolerance = 0.15;

// The paper's three searches on one 80 GB GPU: the memory plan of each at
// 4 x 3072 calibration tokens in bfloat16, sketch mode (rank 64), for the
// candidate pass of the largest candidate (the full width). Config only.
void print_paper_plans() {
  struct Paper {
    const char* name;
    int layers, hidden, heads, kv_heads, head_dim, mlp, vocab;
  };
  const Paper papers[] = {{"Llama-2-7B", 32, 4096, 32, 32, 128, 11008, 32000},
                          {"Llama-3.1-8B", 32, 4096, 32, 8, 128, 14336, 128256},
                          {"Qwen2.5-14B", 48, 5120, 40, 8, 128, 13824, 152064}};
  std::printf(
      "\nmemory plan of the paper's searches, 4 x 3072 tokens, bfloat16, sketch rank 64 "
      "(goal: <= 80 GB)\n");
  for (const Paper& pm : papers) {
    MemoryPlanInputs in;
    in.config.num_layers = pm.layers;
    in.config.hidden_size = pm.hidden;
    in.config.num_heads = pm.heads;
    in.config.num_kv_heads = pm.kv_heads;
    in.config.head_dim = pm.head_dim;
    in.config.intermediate_size = pm.mlp;
    in.config.vocab_size = pm.vocab;
    in.dtype = "bfloat16";
    in.batch_size = 4;
    in.seq_len = 3072;
    in.needs.sketch_rank = 64;
    // Whole batches, micro-batches of one sequence, whole batches with
    // per-layer activation checkpointing.
    const std::pair<int64_t, bool> settings[] = {{0, false}, {1, false}, {0, true}};
    for (const auto& [micro, checkpoint] : settings) {
      in.pass.micro_batch_size = micro;
      in.pass.checkpoint_layers = checkpoint;
      const MemoryPlan plan = plan_memory(in);
      std::printf("  %-13s micro-batch %s%s: %6.1f GB %s  (%s)\n", pm.name, micro == 0 ? "4" : "1",
                  checkpoint ? ", checkpointed" : "", plan.peak_bytes / kGB,
                  yes_no(plan.peak_bytes <= 80 * kGB).c_str(), plan.summary().c_str());
    }
  }
}

int run_parent(const ParentOptions& o, const char* argv0) {
  const std::string policy = omp_wait_policy_or_warn();
  at::set_num_threads(o.threads);
  std::printf("TraceNAS scale benchmark (LibTorch %s, %d threads, OMP_WAIT_POLICY=%s)\n",
              torch_version().c_str(), at::get_num_threads(),
              policy.empty() ? "(unset)" : policy.c_str());
  std::printf(
      "each run: a child process loads the checkpoint (bfloat16, CPU), wanda importance + "
      "trace_correlation, prepare() then ONE evaluate() of the candidate; peak RSS from wait4\n");

  // Checkpoints and candidates, per shape.
  std::map<std::string, CheckpointInfo> checkpoints;
  json checkpoints_json = json::object();
  for (const std::string& name : o.shapes) {
    const Shape s = *find_shape(name);
    const ChildRun w = spawn_child({argv0, "--write-checkpoint", "--shape", name, "--dir", o.dir,
                                    "--threads", std::to_string(o.threads)});
    if (!w.failure.empty()) throw Error("writing the " + name + " checkpoint: " + w.failure);
    const CheckpointInfo ck = checkpoint_from_json(w.result);
    checkpoints[name] = ck;
    const ModelConfig& c = s.config;
    const Arch cand = half_candidate_nonuniform(c);
    std::printf(
        "%s: d=%d L=%d H=%d G=%d h=%d I=%d V=%d tied=%s, %lld parameters, %.3f GB bf16 "
        "in %zu shard(s), %s %s\n",
        name.c_str(), c.hidden_size, c.num_layers, c.num_heads, c.num_kv_heads, c.head_dim,
        c.intermediate_size, c.vocab_size, c.tie_word_embeddings ? "yes" : "no",
        static_cast<long long>(ck.params), static_cast<double>(ck.weight_bytes) / kGB, ck.shards,
        ck.reused ? "reused from" : "written to", ck.dir.c_str());
    std::printf("  candidate (layer:kv_heads/heads/mlp_channels): %s\n", describe(cand).c_str());
    std::printf("  candidate: %lld parameters, non-embedding fraction %.4f\n",
                static_cast<long long>(count_params(c, cand)), non_embedding_fraction(c, cand));
    json& cj = checkpoints_json[name] = checkpoint_to_json(ck);
    cj["candidate"] = describe(cand);
    cj["candidate_params"] = count_params(c, cand);
    cj["candidate_non_embedding_fraction"] = non_embedding_fraction(c, cand);
  }

  // The dense rate of the device the children run on (--set device=cuda: the GPU's, at 8192).
  const bool on_cuda = std::find(o.set.begin(), o.set.end(), "device=cuda") != o.set.end();
  const at::Device dense_device = on_cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  const int64_t dense_n = on_cuda ? 8192 : kDenseMatmulN;
  const double bf16_before = dense_matmul_gflops(at::kBFloat16, dense_n, dense_device);
  const double fp32_before = dense_matmul_gflops(at::kFloat, dense_n, dense_device);

  // A child's ru_maxrss starts at the parent's peak: Linux carries the peak of
  // the address space a process leaves at exec (posix_spawn's child shares
  // the parent's until then) into the new one. So the parent stays small (it
  // writes no checkpoint itself), and its peak is printed: a floor under every
  // child's figure.
  const long parent_peak_kib = peak_rss_kib();
  std::printf("parent peak RSS before the runs: %.2f GB (a floor under each child's wait4 peak)\n",
              static_cast<double>(parent_peak_kib) * kKiB / kGB);
  const std::vector<RunSpec> runs = plan_runs(o);
  std::vector<ChildRun> results;
  std::fflush(stdout);  // the lines above before the children's stderr
  for (const RunSpec& r : runs) {
    std::fprintf(stderr, "run: %s %s, seq %lld\n", r.shape.name.c_str(), r.mode.c_str(),
                 static_cast<long long>(r.seq));
    std::vector<std::string> args = {argv0,       "--child",
                                     "--model",   checkpoints[r.shape.name].dir,
                                     "--shape",   r.shape.name,
                                     "--mode",    r.mode,
                                     "--seq",     std::to_string(r.seq),
                                     "--threads", std::to_string(o.threads)};
    for (const std::string& kv : o.set) {
      args.push_back("--set");
      args.push_back(kv);
    }
    results.push_back(spawn_child(args));
    if (!results.back().failure.empty()) {
      std::fprintf(stderr, "run %s %s: %s\n", r.shape.name.c_str(), r.mode.c_str(),
                   results.back().failure.c_str());
    }
  }

  const double bf16_after = dense_matmul_gflops(at::kBFloat16, dense_n, dense_device);
  const double fp32_after = dense_matmul_gflops(at::kFloat, dense_n, dense_device);
  const double bf16 = std::max(bf16_before, bf16_after);
  const double fp32 = std::max(fp32_before, fp32_after);
  std::printf(
      "dense matmul (%lldx%lld at::mm on %s, >= 1 s): bf16 %.1f GFLOP/s before the runs, %.1f "
      "after (reference %.1f); fp32 %.1f before, %.1f after (%.1f)\n",
      static_cast<long long>(dense_n), static_cast<long long>(dense_n), on_cuda ? "cuda" : "cpu",
      bf16_before, bf16_after, bf16, fp32_before, fp32_after, fp32);

  std::printf("\n%-14s %-7s %6s %9s %8s %7s %7s %8s %7s %8s %6s  %-26s %s\n", "shape", "mode",
              "tokens", "prepare s", "cand s", "pass s", "prox s", "GFLOP/s", "of bf16", "peak GB",
              "x W", "target", "met");
  json runs_json = json::array();
  std::map<std::string, double> candidate_seconds;      // "shape/mode" -> seconds
  std::optional<std::pair<int64_t, double>> long_prev;  // bench shape: (seq, memory above load)
  std::vector<double> long_exponents;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunSpec& r = runs[i];
    const ChildRun& cr = results[i];
    const double weights = static_cast<double>(checkpoints[r.shape.name].weight_bytes);
    const double peak = static_cast<double>(cr.peak_kib) * kKiB;
    json j = {{"shape", r.shape.name},
              {"mode", r.mode},
              {"seq", r.seq},
              {"peak_rss_bytes", peak},
              {"peak_rss_gb", peak / kGB},
              {"peak_over_weights", peak / weights},
              {"weight_bytes", weights},
              {"wall_seconds", cr.wall_seconds},
              {"failure", cr.failure.empty() ? json(nullptr) : json(cr.failure)},
              {"child", cr.result}};
    const int64_t tokens = cr.result.is_object() ? cr.result.value("tokens", int64_t{0}) : r.seq;
    std::string target_text = "-", met_text = "";
    const std::optional<MemoryTarget> target = memory_target(r, tokens);
    if (target) {
      const double limit = target->times * weights + target->plus_gb * kGB;
      const bool met = cr.peak_kib > 0 && peak <= limit;
      char buf[64];
      std::snprintf(buf, sizeof buf, "peak <= %.1fx W + %.1f = %.2f", target->times,
                    target->plus_gb, limit / kGB);
      target_text = buf;
      met_text = yes_no(met);
      j["target_peak_bytes"] = limit;
      j["target_met"] = met;
    }
    if (!cr.failure.empty()) {
      std::printf("%-14s %-7s %6lld %s; peak %.2f GB (%.2fx W)  %-26s %s\n", r.shape.name.c_str(),
                  r.mode.c_str(), static_cast<long long>(tokens), cr.failure.c_str(), peak / kGB,
                  peak / weights, target_text.c_str(), met_text.c_str());
      runs_json.push_back(j);
      continue;
    }
    const json& c = cr.result;
    const double cand_s = c.at("candidate_seconds").get<double>();
    const double gflops = c.at("flops").get<double>() / cand_s / 1e9;
    j["gflops"] = gflops;
    j["fraction_of_bf16_dense"] = gflops / bf16;
    candidate_seconds[r.shape.name + "/" + r.mode] = cand_s;
    if (r.shape.long_sequences) {
      // The memory a run adds above its loaded model grows like S^e from the
      // previous length: e = 1 when linear in S, 2 with an S x S term.
      const double above = peak - c.at("peak_rss_kib").at("loaded").get<double>() * kKiB;  // bytes
      j["peak_above_load_bytes"] = above;
      if (long_prev && long_prev->second > 0 && above > 0 && r.seq > long_prev->first) {
        const double e =
            std::log(above / long_prev->second) /
            std::log(static_cast<double>(r.seq) / static_cast<double>(long_prev->first));
        const bool met = e <= kLinearExponentGoal;
        char buf[64];
        std::snprintf(buf, sizeof buf, "~S^e from %lld: e=%.2f <= %.1f",
                      static_cast<long long>(long_prev->first), e, kLinearExponentGoal);
        target_text = buf;
        met_text = yes_no(met);
        j["seq_exponent"] = e;
        j["target_met"] = met;
        long_exponents.push_back(e);
      }
      long_prev = std::make_pair(r.seq, above);
    }
    std::printf("%-14s %-7s %6lld %9.2f %8.2f %7.2f %7.2f %8.1f %7.2f %8.2f %6.2f  %-26s %s\n",
                r.shape.name.c_str(), r.mode.c_str(), static_cast<long long>(tokens),
                c.at("prepare_seconds").get<double>(), cand_s, c.at("pass_seconds").get<double>(),
                c.at("proxy_seconds").get<double>(), gflops, gflops / bf16, peak / kGB,
                peak / weights, target_text.c_str(), met_text.c_str());
    runs_json.push_back(j);
  }

  // Per-stage peaks, from the children themselves.
  std::printf(
      "\npeak RSS GB inside each child: after load / after prepare / after the candidate "
      "(getrusage), VmHWM at the end\n");
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const json& c = results[i].result;
    if (!c.is_object()) continue;
    const json& p = c.at("peak_rss_kib");
    std::printf(
        "  %-14s %-7s %6lld: %6.2f / %6.2f / %6.2f, VmHWM %6.2f; load %.1f s, proxy %s\n",
        runs[i].shape.name.c_str(), runs[i].mode.c_str(), static_cast<long long>(runs[i].seq),
        p.at("loaded").get<double>() * kKiB / kGB, p.at("prepared").get<double>() * kKiB / kGB,
        p.at("candidate").get<double>() * kKiB / kGB, c.at("vm_hwm_kib").get<double>() * kKiB / kGB,
        c.at("load_seconds").get<double>(), c.at("proxy_value").dump().c_str());
  }

  // The memory plan (scoring/memory_plan.hpp) against the measured peaks.
  std::printf("\nmemory plan against the measured peak (goal: within %.0f%%)\n",
              100 * kPlanTolerance);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const json& c = results[i].result;
    if (!c.is_object()) continue;
    const double peak = static_cast<double>(results[i].peak_kib) * kKiB;
    const double planned = c.at("plan_peak_bytes").get<double>();
    const double off = planned / peak - 1;
    runs_json[i]["plan_peak_bytes"] = planned;
    runs_json[i]["plan_error"] = off;
    std::printf("  %-14s %-7s %6lld: plan %6.2f GB, measured %6.2f GB, %+5.1f%% %s\n    %s\n",
                runs[i].shape.name.c_str(), runs[i].mode.c_str(),
                static_cast<long long>(runs[i].seq), planned / kGB, peak / kGB, 100 * off,
                yes_no(std::abs(off) <= kPlanTolerance).c_str(),
                c.at("plan").get<std::string>().c_str());
  }
  print_paper_plans();

  json targets = json::object();
  std::printf("\ntargets\n");
  const auto full_it = candidate_seconds.find("llama-3.2-1b/full");
  const auto sketch_it = candidate_seconds.find("llama-3.2-1b/sketch");
  if (full_it != candidate_seconds.end() && sketch_it != candidate_seconds.end()) {
    const double ratio = sketch_it->second / full_it->second;
    const bool met = ratio <= kSketchTimeGoal;
    std::printf("  llama-3.2-1b candidate seconds sketch/full: %.3f (target <= %.1f): %s\n", ratio,
                kSketchTimeGoal, yes_no(met).c_str());
    targets["llama_3_2_1b_sketch_over_full"] = {
        {"ratio", ratio}, {"goal", kSketchTimeGoal}, {"met", met}};
  }
  for (const json& j : runs_json) {
    if (!j.contains("target_peak_bytes")) continue;
    std::printf("  %s %s peak %.2f GB <= %.2f GB: %s\n", j["shape"].get<std::string>().c_str(),
                j["mode"].get<std::string>().c_str(), j["peak_rss_gb"].get<double>(),
                j["target_peak_bytes"].get<double>() / kGB,
                yes_no(j["target_met"].get<bool>()).c_str());
  }
  if (!long_exponents.empty()) {
    const double worst = *std::max_element(long_exponents.begin(), long_exponents.end());
    const bool met = worst <= kLinearExponentGoal;
    std::printf(
        "  bench memory above the loaded model ~ S^e between consecutive lengths: largest e "
        "%.2f (linear 1, quadratic 2; target <= %.1f): %s\n",
        worst, kLinearExponentGoal, yes_no(met).c_str());
    targets["bench_memory_linear_in_seq"] = {{"exponents", long_exponents},
                                             {"largest", worst},
                                             {"goal", kLinearExponentGoal},
                                             {"met", met}};
  }

  const json out = {{"benchmark", "tracenas_bench_scale"},
                    {"torch_version", torch_version()},
                    {"threads", o.threads},
                    {"omp_wait_policy", policy.empty() ? json(nullptr) : json(policy)},
                    {"set", o.set},
                    {"parent_peak_rss_kib", parent_peak_kib},
                    {"dense_gflops",
                     {{"bf16_before", bf16_before},
                      {"bf16_after", bf16_after},
                      {"bf16", bf16},
                      {"fp32_before", fp32_before},
                      {"fp32_after", fp32_after},
                      {"fp32", fp32},
                      {"n", dense_n},
                      {"device", on_cuda ? "cuda" : "cpu"}}},
                    {"checkpoints", checkpoints_json},
                    {"runs", runs_json},
                    {"targets", targets}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

// ---------------------------------------------------------------------------
// Options

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool parse_int(const std::string& text, int64_t min, int64_t* out) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || v < min || v > (int64_t{1} << 24)) return false;
  *out = v;
  return true;
}

bool parse_parent(int argc, char** argv, ParentOptions* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    int64_t n = 0;
    if (a == "--shapes") {
      o->shapes = split_list(v);
      for (const std::string& s : o->shapes) {
        if (!find_shape(s)) return false;
      }
    } else if (a == "--modes") {
      o->modes = split_list(v);
      for (const std::string& m : o->modes) {
        if (!known_mode(m)) return false;
      }
    } else if (a == "--seq" && parse_int(v, 2, &n)) {
      o->seq = n;
    } else if (a == "--long") {
      o->long_seqs.clear();
      for (const std::string& s : split_list(v)) {
        if (!parse_int(s, 2, &n)) return false;
        o->long_seqs.push_back(n);
      }
      std::sort(o->long_seqs.begin(), o->long_seqs.end());
    } else if (a == "--threads" && parse_int(v, 1, &n)) {
      o->threads = static_cast<int>(n);
    } else if (a == "--dir" && !v.empty()) {
      o->dir = v;
    } else if (a == "--set" && v.find('=') != std::string::npos) {
      o->set.push_back(v);
    } else {
      return false;
    }
  }
  return !o->shapes.empty();
}

bool parse_child(int argc, char** argv, ChildOptions* o) {
  for (int i = 2; i < argc; ++i) {  // argv[1] is --child
    const std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    int64_t n = 0;
    if (a == "--model") {
      o->model_dir = v;
    } else if (a == "--shape") {
      o->shape = v;
    } else if (a == "--mode" && known_mode(v)) {
      o->mode = v;
    } else if (a == "--seq" && parse_int(v, 2, &n)) {
      o->seq = n;
    } else if (a == "--threads" && parse_int(v, 1, &n)) {
      o->threads = static_cast<int>(n);
    } else if (a == "--set" && v.find('=') != std::string::npos) {
      const std::size_t eq = v.find('=');
      o->set.emplace_back(v.substr(0, eq), v.substr(eq + 1));
    } else {
      return false;
    }
  }
  return !o->model_dir.empty();
}

}  // namespace
}  // namespace tracenas

int main(int argc, char** argv) {
  try {
    if (argc > 1 && std::string(argv[1]) == "--child") {
      tracenas::ChildOptions o;
      if (!tracenas::parse_child(argc, argv, &o)) {
        std::fprintf(stderr, "tracenas_bench_scale --child: bad arguments\n");
        return 2;
      }
      return tracenas::run_child(o);
    }
    if (argc == 8 && std::string(argv[1]) == "--write-checkpoint" &&
        std::string(argv[2]) == "--shape" && std::string(argv[4]) == "--dir" &&
        std::string(argv[6]) == "--threads" && tracenas::find_shape(argv[3])) {
      return tracenas::run_writer(argv[3], argv[5], std::max(1, std::atoi(argv[7])));
    }
    tracenas::ParentOptions o;
    if (!tracenas::parse_parent(argc, argv, &o)) {
      std::fprintf(stderr, "%s", tracenas::kUsage);
      return 2;
    }
    return tracenas::run_parent(o, argv[0]);
  } catch (const tracenas::Error& e) {
    std::fprintf(stderr, "tracenas_bench_scale: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tracenas_bench_scale: %s\n", e.what());
    return 1;
  }
}
