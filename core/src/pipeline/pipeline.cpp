#include "pipeline/pipeline.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "base/util.hpp"
#include "model/runtime_export.hpp"
#include "plugin/registry.hpp"
#include "tracenas/error.hpp"
#include "train/train.hpp"

namespace fs = std::filesystem;

namespace tracenas {

// ---------------------------------------------------------------------------
// Core section schemas

const ParamSchema& run_schema() {
  static const ParamSchema s = [] {
    ParamSchema v;
    v.push_back(ParamSpec::string("name", "",
                                  "run name; the run folder is <output_dir>/<name> "
                                  "(default: the pipeline file's name)"));
    v.push_back(ParamSpec::integer("seed", 0, "seed of every random choice of the run").min(0));
    v.push_back(ParamSpec::string("output_dir", "runs",
                                  "folder that holds run folders (relative: to the working "
                                  "directory)"));
    v.push_back(ParamSpec::string("cache_dir", "",
                                  "cache of base traces, importance and tokenized data "
                                  "(default: <output_dir>/.cache; relative: to the working "
                                  "directory)"));
    v.push_back(
        ParamSpec::integer("threads", 0, "CPU threads for LibTorch (0: every core of the machine)")
            .range(0, 4096));
    v.push_back(ParamSpec::choice("device", {"auto", "cpu", "cuda"}, "auto",
                                  "where the model runs (auto: cuda when LibTorch has it)"));
    v.push_back(ParamSpec::choice("dtype", {"float32", "bfloat16", "float16"}, "float32",
                                  "dtype the model runs in"));
    v.push_back(ParamSpec::choice(
        "attention", {"auto", "blockwise", "plain"}, "auto",
        "causal attention of the traced passes: blockwise (online softmax over blocks of "
        "attention_block positions, memory linear in seq_len), plain (one [seq, seq] score "
        "tensor per head kept for the backward), or auto (plain up to attention_block "
        "positions, blockwise beyond)"));
    v.push_back(ParamSpec::integer("attention_block", 256,
                                   "query and key positions per block of blockwise attention")
                    .range(1, 1 << 20));
    v.push_back(ParamSpec::boolean("allow_oversubscribe", false,
                                   "run even when the memory plan's estimated peak exceeds the "
                                   "memory the device has"));
    v.push_back(ParamSpec::boolean(
        "activation_checkpointing", false,
        "traced passes keep only each layer's input for the backward and run the layer again "
        "there (about one more forward of time for a fraction of the activation memory)"));
    v.push_back(ParamSpec::choice(
        "distributed", {"auto", "off"}, "auto",
        "auto: under torchrun or srun with several ranks, one process per rank (rank 0 runs "
        "the search and writes the run folder, every rank evaluates candidates); off: one "
        "process even under a launcher"));
    v.push_back(ParamSpec::choice(
        "distributed_split", {"candidates", "batches"}, "candidates",
        "what the ranks of a distributed search share out: candidates (each rank scores "
        "whole candidates of a round, one rank per candidate) or batches (every rank takes "
        "part in every candidate's pass, the calibration sequences split over the ranks and "
        "the gradients summed: for few, expensive candidates)"));
    v.push_back(ParamSpec::real("distributed_timeout_s", 1800,
                                "seconds a rank waits for the others in a collective (a round "
                                "of candidates, rank 0's base preparation) before the job ends "
                                "with one line naming the rank and its step")
                    .range(1, 1e7));
    v.push_back(ParamSpec::integer("loss_chunk_tokens", 0,
                                   "positions per chunk of the LM head and loss in the traced "
                                   "passes (0: about 2^24 logits per chunk)")
                    .range(0, 1 << 30));
    return v;
  }();
  return s;
}

const ParamSchema& plugins_schema() {
  static const ParamSchema s = {ParamSpec::string_list(
      "search_paths", {},
      "plugin folders or files searched before TRACENAS_PLUGIN_PATH and the installed folder")};
  return s;
}

const ParamSchema& data_batch_schema() {
  static const ParamSchema s = [] {
    ParamSchema v;
    v.push_back(ParamSpec::integer("seq_len", 256, "tokens per window").range(2, 1 << 20));
    v.push_back(ParamSpec::integer("batch_size", 8, "windows per batch").range(1, 1 << 20));
    v.push_back(ParamSpec::integer("num_batches", 4, "calibration batches K").range(1, 1 << 20));
    v.push_back(ParamSpec::integer("micro_batch_size", 0,
                                   "windows per forward/backward of the traced passes; each "
                                   "batch's gradients accumulate over its micro-batches, with "
                                   "the same result (0: the whole batch at once)")
                    .range(0, 1 << 20));
    v.push_back(ParamSpec::boolean("shuffle", false, "shuffle windows (seeded) before batching"));
    v.push_back(ParamSpec::integer("shuffle_seed", 0, "seed of the window shuffle").min(0));
    return v;
  }();
  return s;
}

const ParamSchema& search_budget_schema() {
  static const ParamSchema s = [] {
    ParamSchema v;
    v.push_back(ParamSpec::integer("max_evaluations", 100,
                                   "candidates to evaluate (0: no limit; needs time_limit_s)")
                    .min(0));
    v.push_back(
        ParamSpec::real("time_limit_s", 0, "wall-clock budget in seconds (0: no limit)").min(0));
    v.push_back(ParamSpec::integer("ask_size", 0,
                                   "genomes the strategy is asked for per round (0: 8, or one "
                                   "per rank when a distributed search has more than 8; the "
                                   "same value gives the same search on any number of ranks)")
                    .range(0, 1 << 20));
    return v;
  }();
  return s;
}

const ParamSchema& space_schema() {
  static const ParamSchema s = [] {
    ParamSchema v;
    v.push_back(ParamSpec::choice("depth", {"layer", "block", "none"}, "layer",
                                  "layer: attention and MLP of a layer are removed together; "
                                  "block: each block on its own; none: no depth search"));
    v.push_back(
        ParamSpec::integer("min_layers", 1, "fewest layers that keep at least one block").min(0));
    v.push_back(ParamSpec::int_list(
        "protected_layers", {},
        "layers never removed (negative counts from the end: -1 is the last layer)"));
    v.push_back(ParamSpec::real("depth_from", 0,
                                "depth edits only for layers at this index and above (a value "
                                "in (0, 1) is a fraction of the layer count)")
                    .min(0));
    v.push_back(ParamSpec::boolean("width", true, "search head counts and MLP widths"));
    v.push_back(
        ParamSpec::integer("heads_step", 1, "query heads per KV group change in steps of this size")
            .min(1));
    v.push_back(
        ParamSpec::integer("min_heads_per_group", 1, "fewest query heads kept per kept KV group")
            .min(1));
    v.push_back(ParamSpec::boolean("remove_kv_groups", false, "whole KV groups may be removed"));
    v.push_back(
        ParamSpec::integer("min_kv_heads", 1, "fewest KV groups kept when remove_kv_groups is on")
            .min(1));
    v.push_back(ParamSpec::integer("mlp_align", 1, "MLP widths are multiples of this").min(1));
    v.push_back(ParamSpec::real("query_heads", 0,
                                "every kept attention keeps this many query heads and the KV "
                                "heads vary (a value in (0, 1) is a fraction of the base's; 0: "
                                "heads per group are searched)")
                    .min(0));
    v.push_back(ParamSpec::choice("preset", {"none", "nemotron_nas"}, "none",
                                  "nemotron_nas: values for the keys left out that only propose "
                                  "what Nemotron-NAS (DeciLM) holds: depth block, "
                                  "remove_kv_groups true, query_heads 0.5, mlp_align 256"));
    v.push_back(ParamSpec::real("mlp_min_fraction", 0,
                                "fewest MLP channels kept, as a fraction of the base width")
                    .range(0, 1));
    return v;
  }();
  return s;
}

const ParamSchema& constraints_schema() {
  static const ParamSchema s = [] {
    ParamSchema v;
    v.push_back(ParamSpec::choice("params_scope", {"total", "non_embedding"}, "total",
                                  "what the parameter window counts: every parameter, or those "
                                  "outside the embeddings and LM head"));
    const std::string count_doc =
        " (a value <= 1 is a fraction of the base model's parameters, above 1 a count)";
    v.push_back(ParamSpec::real("min_params", 0, "lowest parameter count allowed" + count_doc)
                    .make_optional()
                    .min(0));
    v.push_back(ParamSpec::real("max_params", 0, "highest parameter count allowed" + count_doc)
                    .make_optional()
                    .min(0));
    v.push_back(
        ParamSpec::real("target_params", 0, "parameter count aimed at, +/- tolerance" + count_doc)
            .make_optional()
            .min(0));
    v.push_back(ParamSpec::real("tolerance", 0.01,
                                "half-width of the window around target_params" + count_doc)
                    .min(0));
    v.push_back(ParamSpec::real("max_flops_per_token", 0, "forward FLOPs per token")
                    .make_optional()
                    .min(0));
    v.push_back(ParamSpec::real("max_kv_cache_bytes_per_token", 0,
                                "KV-cache bytes per token in the run's dtype")
                    .make_optional()
                    .min(0));
    return v;
  }();
  return s;
}

const ParamSchema& output_schema() {
  static const ParamSchema s = [] {
    ParamSchema v;
    v.push_back(
        ParamSpec::integer("top_k", 10, "candidates listed in summary.json").range(1, 100000));
    v.push_back(ParamSpec::boolean("export_best", false,
                                   "prune and export the best candidate into <run>/best_model"));
    v.push_back(
        ParamSpec::integer("shard_size_mb", 4096, "largest safetensors shard of an exported model")
            .range(1, 1 << 20));
    v.push_back(ParamSpec::string_list(
        "export_formats", {},
        "also write the exported best model (and the recovered one) in these formats: gguf "
        "(<run>/model.gguf, for llama.cpp), nemotron-nas (<run>/model-nemotron-nas/, for vLLM); "
        "needs export_best"));
    v.push_back(ParamSpec::integer("report_every", 25,
                                   "rewrite <run>/report.html every N candidates (a study: "
                                   "architectures) while the run is in progress; 0: only at the "
                                   "end")
                    .range(0, 1000000));
    v.push_back(ParamSpec::choice("export_dtype", {"auto", "float32", "float16", "bfloat16"},
                                  "auto",
                                  "weights' dtype in export_formats files (auto: the exported "
                                  "model's own)"));
    return v;
  }();
  return s;
}

namespace {

// The recovery-training keys shared by `study` and `recovery` (train.hpp,
// train_options_from_params).
void add_training_params(ParamSchema& v, std::int64_t default_steps, double min_steps,
                         const std::string& steps_doc) {
  v.push_back(ParamSpec::path("train_data", "",
                              "recovery-training data (empty: the pipeline's data source)"));
  v.push_back(ParamSpec::choice("train_format", {"tokens", "text"}, "tokens",
                                "how train_data is read (tokens: .u16/.u32/.txt ids; text: "
                                "plain text or JSONL through the tokenizer)"));
  v.push_back(
      ParamSpec::choice("eval_format", {"tokens", "text"}, "tokens", "how eval_data is read"));
  v.push_back(
      ParamSpec::integer("seq_len", 0, "tokens per window (0: data.seq_len)").range(0, 1 << 20));
  v.push_back(ParamSpec::integer("batch_size", 8, "windows per micro-batch").range(1, 1 << 20));
  v.push_back(
      ParamSpec::integer("accumulate", 1, "micro-batches per optimizer step").range(1, 1 << 20));
  v.push_back(ParamSpec::integer("steps", default_steps, steps_doc).range(min_steps, 1 << 30));
  v.push_back(ParamSpec::choice("schedule", {"constant", "cosine", "wsd"}, "cosine",
                                "learning-rate schedule (core/src/train/train.hpp)"));
  v.push_back(ParamSpec::real("lr", 2e-3, "peak learning rate").range(0, 1e3));
  v.push_back(ParamSpec::real("min_lr", 2e-4, "floor of the cosine decay").range(0, 1e3));
  v.push_back(ParamSpec::integer("warmup_steps", 5, "linear warm-up steps").min(0));
  v.push_back(ParamSpec::integer("plateau_steps", 0, "wsd: steps at plateau_lr first").min(0));
  v.push_back(
      ParamSpec::real("plateau_lr", 0, "wsd: the low plateau's learning rate").range(0, 1e3));
  v.push_back(ParamSpec::integer("stable_steps", 0, "wsd: steps at lr before the decay").min(0));
  v.push_back(ParamSpec::real("beta1", 0.9, "AdamW beta1").range(0, 0.999999));
  v.push_back(ParamSpec::real("beta2", 0.95, "AdamW beta2").range(0, 0.999999999));
  v.push_back(ParamSpec::real("weight_decay", 0, "AdamW decoupled weight decay").range(0, 1e3));
  v.push_back(
      ParamSpec::real("clip", 1.0, "gradient clipping by global norm (0: none)").range(0, 1e30));
  v.push_back(ParamSpec::boolean(
      "shard_optimizer", false,
      "data-parallel training on several ranks: each rank keeps the AdamW state of about 1/N "
      "of the parameters and updates them (ZeRO stage 1), saving (N-1)/N of the state's 8 "
      "bytes per parameter on every rank"));
}

}  // namespace

const ParamSchema& study_schema() {
  static const ParamSchema s = [] {
    ParamSchema v;
    v.push_back(ParamSpec::integer("architectures", 24,
                                   "architectures N drawn inside the constraint window")
                    .range(3, 100000));
    v.push_back(ParamSpec::real("strategy_share", 0.5,
                                "share of N taken from the search strategy's best proposals; "
                                "the rest are uniform samples of the window")
                    .range(0, 1));
    v.push_back(ParamSpec::integer("proposal_evaluations", 0,
                                   "candidates the strategy evaluates to propose from (0: "
                                   "search.max_evaluations)")
                    .min(0));
    v.push_back(ParamSpec::integer("max_draws", 0,
                                   "uniform draws made to find N distinct architectures before "
                                   "the window is declared too small (0: 200 * N)")
                    .min(0));
    add_training_params(v, 60, 1, "optimizer steps per architecture");
    v.push_back(ParamSpec::path("eval_data", "",
                                "held-out evaluation data (empty: the last eval_fraction of the "
                                "training windows, which are then not trained on)"));
    v.push_back(ParamSpec::real("eval_fraction", 0.25,
                                "share of the training windows held out when eval_data is empty")
                    .range(0.01, 0.9));
    v.push_back(
        ParamSpec::integer("eval_batch_size", 8, "windows per evaluation batch").range(1, 1 << 20));
    v.push_back(ParamSpec::path(
        "tasks", "",
        "zero-shot multiple-choice task file (JSONL; `tracenas eval --tasks` reads the same): "
        "each architecture's accuracy after training is recorded and every proxy correlated "
        "with it too (empty: none; scripts/story_choices.py builds one from token samples)"));
    v.push_back(ParamSpec::integer("resamples", 1000, "bootstrap resamples of the 95% intervals")
                    .range(10, 1000000));
    v.push_back(ParamSpec::int_list(
        "seeds", {},
        "run the study once per seed, each in <run>/seed-<s>/ with its own architectures, "
        "calibration shuffle (data.shuffle_seed) and training order, and report every "
        "coefficient per seed and as mean and spread (empty: one study with run.seed)"));
    return v;
  }();
  return s;
}

const ParamSchema& recovery_schema() {
  static const ParamSchema s = [] {
    ParamSchema v;
    add_training_params(v, 0, 0,
                        "optimizer steps of recovery training of the exported best model "
                        "(0: no recovery stage; needs output.export_best)");
    v.push_back(ParamSpec::path("eval_data", "", "held-out evaluation data (empty: none)"));
    v.push_back(
        ParamSpec::integer("eval_every", 0, "evaluate every N steps (0: at the end)").min(0));
    v.push_back(ParamSpec::integer("checkpoint_every", 0,
                                   "atomic checkpoint every N steps, resumed by run --resume "
                                   "(0: none)")
                    .min(0));
    v.push_back(ParamSpec::boolean("distill", false,
                                   "distill from the unpruned parent (knowledge distillation)"));
    v.push_back(ParamSpec::real("kd_alpha", 0.5, "weight of the distillation term").range(0, 1));
    v.push_back(
        ParamSpec::real("kd_temperature", 1.0, "distillation temperature").range(1e-6, 1e6));
    return v;
  }();
  return s;
}

// ---------------------------------------------------------------------------
// Parsing

namespace {

std::string format_number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

const std::regex& int_re() {
  static const std::regex r("^[-+]?[0-9]+$");
  return r;
}
const std::regex& float_re() {
  static const std::regex r("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$");
  return r;
}
const std::set<std::string>& true_words() {
  static const std::set<std::string> s = {"true", "True", "TRUE"};
  return s;
}
const std::set<std::string>& false_words() {
  static const std::set<std::string> s = {"false", "False", "FALSE"};
  return s;
}
const std::set<std::string>& null_words() {
  static const std::set<std::string> s = {"~", "null", "Null", "NULL", ""};
  return s;
}

bool is_quoted(const YAML::Node& n) { return n.Tag() == "!"; }
bool is_null(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return true;
  return n.IsScalar() && !is_quoted(n) && null_words().count(n.Scalar()) > 0;
}

std::string describe_node(const YAML::Node& n) {
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  if (is_null(n)) return "nothing";
  if (is_quoted(n)) return quote(n.Scalar());
  return n.Scalar();
}

}  // namespace

struct PipelineSource::Impl {
  std::string file;
  fs::path base_dir;  // relative paths in the file resolve against this
  YAML::Node root;
  std::map<std::string, std::string> overrides;  // dotted path -> "--set path=value"

  // The origin of a node: "file:line:col" or "--set path=value".
  std::string where(const YAML::Node& node, const std::string& path) const {
    for (const auto& [p, text] : overrides) {
      if (path == p || path.rfind(p + ".", 0) == 0) return text;
    }
    if (node.IsDefined() && node.Mark().line >= 0) {
      return file + ":" + std::to_string(node.Mark().line + 1) + ":" +
             std::to_string(node.Mark().column + 1);
    }
    return file;
  }

  bool from_override(const std::string& path) const {
    for (const auto& [p, text] : overrides) {
      if (path == p || path.rfind(p + ".", 0) == 0) return true;
    }
    return false;
  }

  [[noreturn]] void fail(const YAML::Node& node, const std::string& path,
                         const std::string& what) const {
    throw ConfigError(where(node, path) + ": error: " + (path.empty() ? "" : path + ": ") + what);
  }

  // Keys of a map, checking duplicates.
  void check_map(const YAML::Node& node, const std::string& path, const std::string& what) const {
    if (!node.IsMap()) fail(node, path, "expected " + what + " (got " + describe_node(node) + ")");
    std::map<std::string, YAML::Mark> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node k = it->first;  // a handle: the iterator hands out a temporary
      if (!k.IsScalar()) fail(k, path, "keys must be plain names (got " + describe_node(k) + ")");
      std::string key = k.Scalar();
      std::string kp = path.empty() ? key : path + "." + key;
      auto found = seen.find(key);
      if (found != seen.end()) {
        fail(k, kp,
             "duplicate key (first given at line " + std::to_string(found->second.line + 1) + ")");
      }
      seen[key] = k.Mark();
    }
  }

  void check_known_keys(const YAML::Node& node, const std::string& path,
                        const std::vector<std::string>& known) const {
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key = it->first.Scalar();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string kp = path.empty() ? key : path + "." + key;
        fail(it->first, kp, "unknown key" + suggest(key, known));
      }
    }
  }

  std::string resolve_path(const std::string& value, const std::string& path) const {
    if (value.empty()) return value;
    fs::path p(value);
    if (p.is_absolute()) return p.lexically_normal().string();
    fs::path base = from_override(path) ? fs::current_path() : base_dir;
    std::string out = (base / p).lexically_normal().string();
    while (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
  }

  ParamValue convert_scalar(const YAML::Node& n, const ParamSpec& spec, ParamType type,
                            const std::string& path) const {
    if (!n.IsScalar()) {
      fail(n, path,
           std::string("expected ") + expected_text(type) + " (got " + describe_node(n) + ")");
    }
    const std::string& s = n.Scalar();
    const bool plain = !is_quoted(n);
    auto range_check = [&](double v) {
      if (spec.min_value && v < *spec.min_value) {
        fail(n, path, "must be >= " + format_number(*spec.min_value) + " (got " + s + ")");
      }
      if (spec.max_value && v > *spec.max_value) {
        fail(n, path, "must be <= " + format_number(*spec.max_value) + " (got " + s + ")");
      }
    };
    switch (type) {
      case ParamType::kBool:
        if (plain && true_words().count(s)) return true;
        if (plain && false_words().count(s)) return false;
        fail(n, path, "expected true or false (got " + describe_node(n) + ")");
      case ParamType::kInt: {
        if (plain && std::regex_match(s, int_re())) {
          errno = 0;
          long long v = std::strtoll(s.c_str(), nullptr, 10);
          if (errno == ERANGE) fail(n, path, "integer out of range (got " + s + ")");
          range_check(static_cast<double>(v));
          return static_cast<std::int64_t>(v);
        }
        if (plain && std::regex_match(s, float_re())) {
          double v = std::strtod(s.c_str(), nullptr);
          if (v == std::floor(v) && std::fabs(v) < 9.2e18) {
            range_check(v);
            return static_cast<std::int64_t>(v);
          }
        }
        fail(n, path, "expected an integer (got " + describe_node(n) + ")");
      }
      case ParamType::kFloat: {
        if (plain && (std::regex_match(s, int_re()) || std::regex_match(s, float_re()))) {
          double v = std::strtod(s.c_str(), nullptr);
          if (!std::isfinite(v)) fail(n, path, "must be finite (got " + s + ")");
          range_check(v);
          return v;
        }
        fail(n, path, "expected a number (got " + describe_node(n) + ")");
      }
      case ParamType::kString:
        return s;
      case ParamType::kPath:
        if (s.empty()) return s;
        return resolve_path(s, path);
      case ParamType::kChoice: {
        if (std::find(spec.choices.begin(), spec.choices.end(), s) == spec.choices.end()) {
          fail(
              n, path, "must be one of " + join(spec.choices, ", ") + " (got " + s + ")" + [&] {
                std::string b = closest_name(s, spec.choices);
                return b.empty() ? std::string() : "; did you mean '" + b + "'?";
              }());
        }
        return s;
      }
      default:
        break;
    }
    fail(n, path, "internal: list type given to convert_scalar");
  }

  static const char* expected_text(ParamType t) {
    switch (t) {
      case ParamType::kBool:
        return "true or false";
      case ParamType::kInt:
        return "an integer";
      case ParamType::kFloat:
        return "a number";
      case ParamType::kChoice:
        return "one of the choices";
      case ParamType::kPath:
        return "a path";
      case ParamType::kIntList:
        return "a list of integers";
      case ParamType::kFloatList:
        return "a list of numbers";
      case ParamType::kStringList:
        return "a list of strings";
      default:
        return "a string";
    }
  }

  ParamValue convert(const YAML::Node& n, const ParamSpec& spec, const std::string& path) const {
    auto list_of = [&](ParamType elem) -> std::vector<ParamValue> {
      if (!n.IsSequence()) {
        fail(n, path,
             std::string("expected ") + expected_text(spec.type) + " (got " + describe_node(n) +
                 ")");
      }
      std::vector<ParamValue> out;
      for (std::size_t i = 0; i < n.size(); ++i) {
        out.push_back(convert_scalar(n[i], spec, elem, path + "." + std::to_string(i)));
      }
      return out;
    };
    switch (spec.type) {
      case ParamType::kIntList: {
        std::vector<std::int64_t> v;
        for (auto& x : list_of(ParamType::kInt)) v.push_back(std::get<std::int64_t>(x));
        return v;
      }
      case ParamType::kFloatList: {
        std::vector<double> v;
        for (auto& x : list_of(ParamType::kFloat)) v.push_back(std::get<double>(x));
        return v;
      }
      case ParamType::kStringList: {
        std::vector<std::string> v;
        for (auto& x : list_of(ParamType::kString)) v.push_back(std::get<std::string>(x));
        return v;
      }
      default:
        return convert_scalar(n, spec, spec.type, path);
    }
  }

  // Validates the keys of `node` that `schema` declares; other keys must be in `extra`.
  // `holder` is the map that holds `node` (for a position when `node` is absent).
  ParamValues validate_params(const YAML::Node& node, const ParamSchema& schema,
                              const std::string& path, const std::vector<std::string>& extra,
                              const std::string& what,
                              const YAML::Node& holder = YAML::Node()) const {
    ParamValues out;
    const YAML::Node map = is_null(node) ? YAML::Node(YAML::NodeType::Map) : node;
    if (!is_null(node)) {
      check_map(node, path, what);
      std::vector<std::string> known = extra;
      for (const auto& s : schema) known.push_back(s.name);
      check_known_keys(node, path, known);
    }
    for (const ParamSpec& spec : schema) {
      std::string kp = path.empty() ? spec.name : path + "." + spec.name;
      const YAML::Node v = map[spec.name];
      if (!v.IsDefined() || is_null(v)) {
        if (spec.required) {
          fail(node.IsDefined() || !holder.IsDefined() ? node : holder, path,
               "missing required key '" + spec.name + "'");
        }
        ParamValue def = spec.default_value;
        if (spec.type == ParamType::kPath) {
          if (auto* s = std::get_if<std::string>(&def)) *s = resolve_path(*s, kp);
        }
        out.set(spec.name, def);
        continue;
      }
      out.set(spec.name, convert(v, spec, kp));
    }
    return out;
  }

  // A section of the shape {<role>: <name>, params: {...}, <core keys>...}.
  ComponentRef validate_component(const YAML::Node& node, const std::string& path,
                                  ComponentKind kind, const std::string& role,
                                  const Registry& registry, const ParamSchema& core_schema,
                                  ParamValues* core_values,
                                  const std::vector<std::string>& more_keys = {}) const {
    check_map(node, path, "a map with '" + role + ":' and 'params:'");
    std::vector<std::string> known = {role, "params"};
    for (const auto& k : more_keys) known.push_back(k);
    for (const auto& s : core_schema) known.push_back(s.name);
    check_known_keys(node, path, known);
    const YAML::Node name_node = node[role];
    if (!name_node.IsDefined() || is_null(name_node)) {
      fail(node, path,
           "missing required key '" + role + "' (the " + to_string(kind) + " to use" +
               suggest("", registry.names(kind)) + ")");
    }
    std::string rp = path + "." + role;
    if (!name_node.IsScalar()) {
      fail(name_node, rp, "expected a component name (got " + describe_node(name_node) + ")");
    }
    ComponentRef ref;
    ref.kind = kind;
    ref.name = name_node.Scalar();
    const ComponentEntry* entry = registry.find(kind, ref.name);
    if (entry == nullptr) {
      fail(name_node, rp,
           "unknown " + std::string(to_string(kind)) + " '" + ref.name + "'" +
               suggest(ref.name, registry.names(kind)));
    }
    ref.params = validate_params(node["params"], entry->info.params, path + ".params", {},
                                 "a map of parameters", node);
    if (core_values != nullptr) {
      std::vector<std::string> skip = {role, "params"};
      for (const auto& k : more_keys) skip.push_back(k);
      *core_values = validate_params(node, core_schema, path, skip, "a map");
    }
    return ref;
  }

  void apply_override(const std::string& text) {
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError("--set " + text + ": expected dotted.path=value");
    }
    std::string path = text.substr(0, eq);
    std::string value = text.substr(eq + 1);
    YAML::Node parsed;
    try {
      parsed = YAML::Load(value);
    } catch (const YAML::DeepRecursion& e) {
      throw UsageError("--set " + text + ": value nested " + std::to_string(e.depth()) +
                       " levels deep, deeper than the YAML reader allows");
    } catch (const YAML::Exception& e) {
      throw UsageError("--set " + text + ": value is not valid YAML: " + e.msg);
    }
    std::vector<std::string> parts;
    std::stringstream ss(path);
    std::string part;
    while (std::getline(ss, part, '.')) {
      if (part.empty()) throw UsageError("--set " + text + ": empty component in the path");
      parts.push_back(part);
    }
    if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    YAML::Node cur = root;
    std::string walked;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const std::string& p = parts[i];
      walked += (walked.empty() ? "" : ".") + p;
      bool last = i + 1 == parts.size();
      if (cur.IsSequence()) {
        if (p.find_first_not_of("0123456789") != std::string::npos) {
          throw UsageError("--set " + text + ": '" + walked +
                           "' indexes a list; use a number from 0");
        }
        // More digits than any list holds items: past its end (stoul would throw).
        const std::size_t idx = p.size() > 9 ? cur.size() : std::stoul(p);
        if (p.size() <= 9)
          walked = walked.substr(0, walked.size() - p.size()) + std::to_string(idx);
        if (idx >= cur.size()) {
          throw UsageError("--set " + text + ": '" + walked + "' is past the end of the list (" +
                           std::to_string(cur.size()) + " items)");
        }
        if (last) {
          cur[idx] = parsed;
        } else {
          YAML::Node next = cur[idx];
          cur.reset(next);
        }
      } else if (cur.IsMap() || cur.IsNull()) {
        if (last) {
          cur[p] = parsed;
        } else {
          YAML::Node next = cur[p];
          if (!next.IsDefined() || next.IsNull()) {
            cur[p] = YAML::Node(YAML::NodeType::Map);
            next.reset(cur[p]);
          }
          cur.reset(next);
        }
      } else {
        throw UsageError("--set " + text + ": '" + walked.substr(0, walked.rfind('.')) +
                         "' is a value, not a section");
      }
    }
    overrides[walked] = "--set " + text;
  }

  // The sections of PipelineSource::validate, in file order (each fails on
  // the first problem, naming the file, line and key).
  YAML::Node require_section(const char* key) const;
  void validate_header(Pipeline& p) const;
  void validate_components(Pipeline& p, const Registry& registry) const;
  void validate_proxies(Pipeline& p, const Registry& registry) const;
  void validate_search(Pipeline& p, const Registry& registry) const;
  void validate_training(Pipeline& p) const;
};

PipelineSource::PipelineSource(const std::string& file, const std::vector<std::string>& overrides)
    : impl_(std::make_unique<Impl>()) {
  impl_->file = file;
  impl_->base_dir = fs::absolute(fs::path(file)).parent_path();
  std::error_code ec;
  std::ifstream in(file);
  if (!in || !fs::is_regular_file(file, ec)) {
    throw ConfigError(file + ": error: cannot read the pipeline file");
  }
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    impl_->root = YAML::Load(buf.str());
  } catch (const YAML::DeepRecursion& e) {  // yaml-cpp's guard on its recursive parser
    throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": error: invalid YAML: nested " +
                      std::to_string(e.depth()) + " levels deep, deeper than the reader allows");
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": error: invalid YAML: " + e.msg);
  }
  for (const auto& o : overrides) impl_->apply_override(o);
  if (!impl_->root.IsDefined() || impl_->root.IsNull()) {
    throw ConfigError(file + ": error: the pipeline is empty");
  }
  impl_->check_map(impl_->root, "", "a map of sections at the top level");
}

PipelineSource::~PipelineSource() = default;
PipelineSource::PipelineSource(PipelineSource&&) noexcept = default;

std::vector<std::string> PipelineSource::plugin_search_paths() const {
  const YAML::Node& root = impl_->root;
  ParamValues v = impl_->validate_params(root["plugins"], plugins_schema(), "plugins", {}, "a map");
  std::vector<std::string> out;
  const auto& paths = v.get_string_list("search_paths");
  for (std::size_t i = 0; i < paths.size(); ++i) {
    out.push_back(impl_->resolve_path(paths[i], "plugins.search_paths." + std::to_string(i)));
  }
  return out;
}

YAML::Node PipelineSource::Impl::require_section(const char* key) const {
  const YAML::Node n = root[key];
  if (!n.IsDefined() || is_null(n)) {
    fail(root, "", std::string("missing required section '") + key + "'");
  }
  return n;
}

// The top-level keys, schema_version and run.
void PipelineSource::Impl::validate_header(Pipeline& p) const {
  static const std::vector<std::string> kSections = {
      "schema_version", "run",    "plugins", "model",       "data",   "tokenizer", "importance",
      "proxies",        "search", "space",   "constraints", "output", "study",     "recovery"};
  check_known_keys(root, "", kSections);

  // schema_version
  {
    const YAML::Node v = root["schema_version"];
    if (!v.IsDefined()) {
      fail(root, "",
           "missing required key 'schema_version' (this TraceNAS reads " +
               std::to_string(kPipelineSchemaVersion) + ")");
    }
    ParamSpec spec = ParamSpec::integer("schema_version", 0, "");
    auto val = std::get<std::int64_t>(convert(v, spec, "schema_version"));
    if (val != kPipelineSchemaVersion) {
      fail(v, "schema_version",
           "unsupported version; this TraceNAS reads " + std::to_string(kPipelineSchemaVersion) +
               " (got " + v.Scalar() + ")");
    }
    p.schema_version = static_cast<int>(val);
  }

  p.run = validate_params(root["run"], run_schema(), "run", {}, "a map");
  for (const char* key : {"output_dir", "cache_dir"}) {
    const std::string& d = p.run.get_string(key);
    if (!d.empty()) p.run.set(key, fs::absolute(d).lexically_normal().string());
  }
  if (p.run.get_string("name").empty()) {
    p.run.set("name", fs::path(file).stem().string());
  }
  {
    static const std::regex kRunName("^[A-Za-z0-9._-]+$");
    const std::string& name = p.run.get_string("name");
    if (!std::regex_match(name, kRunName) || name == "." || name == "..") {
      const YAML::Node rn = root["run"].IsMap() ? root["run"]["name"] : root;
      fail(rn, "run.name",
           "must be a folder name of letters, digits, '.', '_' or '-' (got " + quote(name) + ")");
    }
  }
}

// model, data, tokenizer and importance.
void PipelineSource::Impl::validate_components(Pipeline& p, const Registry& registry) const {
  p.model = validate_component(require_section("model"), "model", ComponentKind::kModel, "adapter",
                               registry, {}, nullptr);
  p.data = validate_component(require_section("data"), "data", ComponentKind::kData, "source",
                              registry, data_batch_schema(), &p.data_batches);
  {
    // Optional: text data sources fall back to the model folder's tokenizer.
    const YAML::Node tok = root["tokenizer"];
    if (tok.IsDefined() && !is_null(tok)) {
      p.tokenizer = validate_component(tok, "tokenizer", ComponentKind::kTokenizer, "type",
                                       registry, {}, nullptr);
    }
  }
  {
    const YAML::Node imp = root["importance"];
    if (!imp.IsDefined() || is_null(imp)) {
      YAML::Node def(YAML::NodeType::Map);
      def["criterion"] =
          registry.require_default(ComponentKind::kImportance, file + ": error: importance")
              ->info.name;
      p.importance = validate_component(def, "importance", ComponentKind::kImportance, "criterion",
                                        registry, {}, nullptr);
    } else {
      p.importance = validate_component(imp, "importance", ComponentKind::kImportance, "criterion",
                                        registry, {}, nullptr);
    }
  }
}

void PipelineSource::Impl::validate_proxies(Pipeline& p, const Registry& registry) const {
  // proxies: a non-empty list, exactly one objective (implicit when there is one proxy).
  {
    const YAML::Node list = require_section("proxies");
    if (!list.IsSequence() || list.size() == 0) {
      fail(list, "proxies",
           "expected a non-empty list of {proxy: <name>, params: {...}} (got " +
               (list.IsSequence() ? std::string("an empty list") : describe_node(list)) + ")");
    }
    std::map<std::string, std::size_t> labels;
    int objective = -1;
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string path = "proxies." + std::to_string(i);
      const YAML::Node item = list[i];
      ComponentRef ref = validate_component(item, path, ComponentKind::kProxy, "proxy", registry,
                                            {}, nullptr, {"label", "objective"});
      ParamSchema extra = {ParamSpec::string("label", "", ""),
                           ParamSpec::boolean("objective", false, "")};
      ParamValues ev = validate_params(item, extra, path, {"proxy", "params"}, "a map");
      ref.label = ev.get_string("label").empty() ? ref.name : ev.get_string("label");
      ref.objective = ev.get_bool("objective");
      auto dup = labels.find(ref.label);
      if (dup != labels.end()) {
        fail(item, path,
             "proxy label '" + ref.label + "' is already used by proxies." +
                 std::to_string(dup->second) + "; give one of them a distinct 'label:'");
      }
      labels[ref.label] = i;
      if (ref.objective) {
        if (objective >= 0) {
          fail(item["objective"], path + ".objective",
               "only one proxy can be the search objective (proxies." + std::to_string(objective) +
                   " already is)");
        }
        objective = static_cast<int>(i);
      }
      p.proxies.push_back(ref);
    }
    if (objective < 0) {
      if (p.proxies.size() == 1) {
        objective = 0;
        p.proxies[0].objective = true;
      } else {
        fail(list, "proxies",
             "mark exactly one proxy with 'objective: true' (the one the search optimizes)");
      }
    }
    p.objective = objective;
  }
}

// `space` with its preset's values given to the keys it leaves out (the
// resolved config shows them).
YAML::Node with_space_preset(const YAML::Node& space) {
  // (A missing section is an invalid node: only IsDefined() may be asked.)
  if (!space.IsDefined() || !space.IsMap() || !space["preset"].IsDefined() ||
      !space["preset"].IsScalar() || space["preset"].Scalar() != "nemotron_nas") {
    return space;
  }
  YAML::Node out = YAML::Clone(space);
  const std::vector<std::pair<const char*, const char*>> preset = {{"depth", "block"},
                                                                   {"remove_kv_groups", "true"},
                                                                   {"query_heads", "0.5"},
                                                                   {"mlp_align", "256"}};
  for (const auto& [key, value] : preset) {
    if (!space[key].IsDefined()) out[key] = YAML::Load(value);
  }
  return out;
}

// search (with its budget), space and constraints.
void PipelineSource::Impl::validate_search(Pipeline& p, const Registry& registry) const {
  p.search = validate_component(require_section("search"), "search", ComponentKind::kSearch,
                                "strategy", registry, search_budget_schema(), &p.search_budget);
  if (p.search_budget.get_int("max_evaluations") == 0 &&
      p.search_budget.get_float("time_limit_s") == 0) {
    const YAML::Node sn = root["search"];
    fail(sn.IsMap() && sn["max_evaluations"].IsDefined() ? sn["max_evaluations"] : sn,
         "search.max_evaluations",
         "the search needs a budget: max_evaluations or time_limit_s must be > 0 (got 0 and 0)");
  }

  p.space = validate_params(with_space_preset(root["space"]), space_schema(), "space", {}, "a map");
  p.constraints =
      validate_params(root["constraints"], constraints_schema(), "constraints", {}, "a map");
  {
    const YAML::Node c = root["constraints"];
    const ParamValues& v = p.constraints;
    auto mark = [&](const char* key) { return c.IsMap() && c[key].IsDefined() ? c[key] : root; };
    if (v.has("target_params") && (v.has("min_params") || v.has("max_params"))) {
      fail(mark("target_params"), "constraints.target_params",
           "give either target_params (with tolerance) or min_params/max_params, not both");
    }
    if (v.has("min_params") && v.has("max_params")) {
      double lo = v.get_float("min_params");
      double hi = v.get_float("max_params");
      bool same_kind = (lo <= 1.0) == (hi <= 1.0);
      if (same_kind && lo > hi) {
        fail(
            mark("min_params"), "constraints.min_params",
            "must not exceed max_params " + format_number(hi) + " (got " + format_number(lo) + ")");
      }
    }
  }
}

// output, study and recovery, with the schedules of the training sections.
void PipelineSource::Impl::validate_training(Pipeline& p) const {
  p.output = validate_params(root["output"], output_schema(), "output", {}, "a map");
  p.study = validate_params(root["study"], study_schema(), "study", {}, "a map");
  p.recovery = validate_params(root["recovery"], recovery_schema(), "recovery", {}, "a map");
  // The learning-rate schedules of the training sections, in their own key names.
  for (const auto& [section, values] :
       {std::pair<const char*, const ParamValues*>{"study", &p.study}, {"recovery", &p.recovery}}) {
    if (values->get_int("steps") == 0) continue;
    const std::string problem =
        schedule_problem(train_options_from_params(*values, 2).schedule, ScheduleKeys::pipeline());
    if (!problem.empty()) {
      const YAML::Node n = root[section];
      fail(n.IsDefined() ? n : root, section, problem);
    }
  }
  const auto& formats = p.output.get_string_list("export_formats");
  for (std::size_t i = 0; i < formats.size(); ++i) {
    const YAML::Node o = root["output"];
    const YAML::Node at =
        o.IsMap() && o["export_formats"].IsSequence() && o["export_formats"].size() > i
            ? o["export_formats"][i]
            : root;
    // Every format of `tracenas export` but hf (the exported model itself).
    const std::vector<std::string> other(export_formats().begin() + 1, export_formats().end());
    if (std::find(other.begin(), other.end(), formats[i]) == other.end()) {
      fail(at, "output.export_formats." + std::to_string(i),
           "expected " + join(other, " or ") + " (got " + quote(formats[i]) + ")");
    }
    if (!p.output.get_bool("export_best")) {
      fail(at, "output.export_formats",
           "writes the exported best model in other formats: set output.export_best: true");
    }
  }
  if (p.recovery.get_int("steps") > 0 && !p.output.get_bool("export_best")) {
    const YAML::Node r = root["recovery"];
    fail(r.IsMap() && r["steps"].IsDefined() ? r["steps"] : root, "recovery.steps",
         "the recovery stage trains the exported best model: set output.export_best: true "
         "(got steps " +
             std::to_string(p.recovery.get_int("steps")) + " without export)");
  }
}

Pipeline PipelineSource::validate(const Registry& registry) const {
  const Impl& im = *impl_;
  Pipeline p;
  p.file = im.file;
  im.validate_header(p);
  p.plugins = im.validate_params(im.root["plugins"], plugins_schema(), "plugins", {}, "a map");
  p.plugins.set("search_paths", plugin_search_paths());
  im.validate_components(p, registry);
  im.validate_proxies(p, registry);
  im.validate_search(p, registry);
  im.validate_training(p);
  return p;
}

// ---------------------------------------------------------------------------
// Pipeline

BatchSpec Pipeline::batch_spec() const {
  BatchSpec b;
  b.seq_len = static_cast<int>(data_batches.get_int("seq_len"));
  b.batch_size = static_cast<int>(data_batches.get_int("batch_size"));
  b.num_batches = static_cast<int>(data_batches.get_int("num_batches"));
  b.shuffle = data_batches.get_bool("shuffle");
  b.shuffle_seed = static_cast<std::uint64_t>(data_batches.get_int("shuffle_seed"));
  return b;
}

PassOptions Pipeline::pass_options() const {
  PassOptions o;
  o.micro_batch_size = data_batches.get_int("micro_batch_size");
  const std::string attention = run.get_string("attention");
  o.attention_block = attention == "plain" ? 0 : run.get_int("attention_block");
  o.plain_within_block = attention == "auto";
  o.loss_chunk_tokens = run.get_int("loss_chunk_tokens");
  o.checkpoint_layers = run.get_bool("activation_checkpointing");
  return o;
}

std::string Pipeline::run_dir() const {
  return (fs::path(run.get_string("output_dir")) / run.get_string("name")).string();
}

RunContext Pipeline::run_context() const {
  RunContext r;
  r.seed = static_cast<std::uint64_t>(run.get_int("seed"));
  r.device = run.get_string("device");
  r.dtype = run.get_string("dtype");
  int threads = static_cast<int>(run.get_int("threads"));
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  r.threads = threads;
  r.run_dir = run_dir();
  r.cache_dir = run.get_string("cache_dir").empty()
                    ? (fs::path(run.get_string("output_dir")) / ".cache").string()
                    : run.get_string("cache_dir");
  return r;
}

namespace {

void emit_value(YAML::Emitter& out, const ParamValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out << YAML::Null;
        } else if constexpr (std::is_same_v<T, bool>) {
          out << (x ? "true" : "false");
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          out << static_cast<long long>(x);
        } else if constexpr (std::is_same_v<T, double>) {
          out << format_number(x);
        } else if constexpr (std::is_same_v<T, std::string>) {
          out << YAML::DoubleQuoted << x;
        } else {
          out << YAML::Flow << YAML::BeginSeq;
          for (const auto& e : x) {
            if constexpr (std::is_same_v<std::decay_t<decltype(e)>, std::string>) {
              out << YAML::DoubleQuoted << e;
            } else if constexpr (std::is_same_v<std::decay_t<decltype(e)>, double>) {
              out << format_number(e);
            } else {
              out << static_cast<long long>(e);
            }
          }
          out << YAML::EndSeq;
        }
      },
      v);
}

void emit_values(YAML::Emitter& out, const ParamValues& v) {
  for (const auto& [k, val] : v.values()) {
    out << YAML::Key << k << YAML::Value;
    emit_value(out, val);
  }
}

void emit_component(YAML::Emitter& out, const char* role, const ComponentRef& c,
                    const ParamValues* core) {
  out << YAML::BeginMap << YAML::Key << role << YAML::Value << c.name;
  if (c.kind == ComponentKind::kProxy) {
    out << YAML::Key << "label" << YAML::Value << c.label;
    out << YAML::Key << "objective" << YAML::Value << (c.objective ? "true" : "false");
  }
  if (core != nullptr) emit_values(out, *core);
  out << YAML::Key << "params" << YAML::Value << YAML::BeginMap;
  emit_values(out, c.params);
  out << YAML::EndMap << YAML::EndMap;
}

}  // namespace

std::string Pipeline::resolved_yaml() const {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "schema_version" << YAML::Value << schema_version;
  out << YAML::Key << "run" << YAML::Value << YAML::BeginMap;
  emit_values(out, run);
  out << YAML::EndMap;
  out << YAML::Key << "plugins" << YAML::Value << YAML::BeginMap;
  emit_values(out, plugins);
  out << YAML::EndMap;
  out << YAML::Key << "model" << YAML::Value;
  emit_component(out, "adapter", model, nullptr);
  out << YAML::Key << "data" << YAML::Value;
  emit_component(out, "source", data, &data_batches);
  if (!tokenizer.name.empty()) {
    out << YAML::Key << "tokenizer" << YAML::Value;
    emit_component(out, "type", tokenizer, nullptr);
  }
  out << YAML::Key << "importance" << YAML::Value;
  emit_component(out, "criterion", importance, nullptr);
  out << YAML::Key << "proxies" << YAML::Value << YAML::BeginSeq;
  for (const auto& pr : proxies) emit_component(out, "proxy", pr, nullptr);
  out << YAML::EndSeq;
  out << YAML::Key << "search" << YAML::Value;
  emit_component(out, "strategy", search, &search_budget);
  out << YAML::Key << "space" << YAML::Value << YAML::BeginMap;
  emit_values(out, space);
  out << YAML::EndMap;
  out << YAML::Key << "constraints" << YAML::Value << YAML::BeginMap;
  emit_values(out, constraints);
  out << YAML::EndMap;
  out << YAML::Key << "output" << YAML::Value << YAML::BeginMap;
  emit_values(out, output);
  out << YAML::EndMap;
  out << YAML::Key << "study" << YAML::Value << YAML::BeginMap;
  emit_values(out, study);
  out << YAML::EndMap;
  out << YAML::Key << "recovery" << YAML::Value << YAML::BeginMap;
  emit_values(out, recovery);
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

Pipeline load_pipeline(const std::string& file, const std::vector<std::string>& sets,
                       Registry& registry) {
  PipelineSource source(file, sets);
  registry.discover(source.plugin_search_paths());
  return source.validate(registry);
}

}  // namespace tracenas
