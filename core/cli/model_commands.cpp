// Model commands: convert, eval, importance, prune (SPEC.md section 6).
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/runtime.hpp"
#include "commands.hpp"
#include "data/calibration.hpp"
#include "io/llama2c.hpp"
#include "model/adapters.hpp"
#include "model/export.hpp"
#include "model/runtime_export.hpp"
#include "model/subnet.hpp"
#include "model_session.hpp"
#include "options.hpp"
#include "pipeline/data_loading.hpp"
#include "pipeline/pipeline.hpp"
#include "pipeline/session.hpp"
#include "plugin/registry.hpp"
#include "scoring/arch_score.hpp"
#include "scoring/trace.hpp"
#include "study/multiple_choice.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/data.hpp"
#include "tracenas/error.hpp"
#include "tracenas/importance.hpp"
#include "tracenas/log.hpp"
#include "tracenas/model.hpp"
#include "tracenas/proxy.hpp"
#include "tracenas/support/tokens.hpp"
#include "tracenas/tokenizer.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas::cli {
namespace {

const std::vector<OptionSpec> kModelOptions = {{"--model"},  {"--adapter"}, {"--dtype"},
                                               {"--device"}, {"--threads"}, {"--tokenizer"}};

std::vector<OptionSpec> with_model_options(std::vector<OptionSpec> more) {
  more.insert(more.end(), kModelOptions.begin(), kModelOptions.end());
  return more;
}

// --criterion's default: the importance criterion a plugin marks default.
std::string default_criterion(const Registry& registry) {
  return registry.require_default(ComponentKind::kImportance, "--criterion")->info.name;
}

// "tokens:PATH" or "text:PATH" -> the token stream (text through --tokenizer,
// default: the model folder's tokenizer).
std::vector<std::int32_t> read_data_spec(ModelSession& s, const Options& o, const std::string& spec,
                                         const std::string& option) {
  return load_spec_tokens(*s.registry, spec, option, o.get_or("--tokenizer", ""), s.dir, s.run).ids;
}

ImportanceOrder importance_on(ModelSession& s, const std::vector<at::Tensor>& batches,
                              const std::string& criterion, const ParamValues& params = {}) {
  return importance_of(*s.registry, s.run, *s.model, batches, criterion, params);
}

// The kept units of `arch`: explicit indices, or importance on --calib
// (default: the first K batches of `default_calib`).
std::vector<LayerSelection> resolve_arch(ModelSession& s, const Arch& arch, const Options& o,
                                         const std::string& default_calib) {
  if (names_all_units(arch)) return select_units(s.model->config(), arch, nullptr);
  std::string calib = o.get_or("--calib", default_calib);
  if (calib.empty()) {
    throw UsageError(o.command() +
                     ": --arch names no units explicitly, so importance needs "
                     "calibration data: give --calib tokens:PATH");
  }
  BatchSpec spec;
  spec.seq_len = o.get_int("--seq-len", 256, 2, 1 << 20);
  spec.batch_size = o.get_int("--batch", 8, 1, 1 << 20);
  spec.num_batches = o.get_int("--batches", 4, 1, 1 << 20);
  auto batches = calibration_batches(read_data_spec(s, o, calib, "--calib"), spec, calib);
  check_token_ids(batches, s.model->config().vocab_size, calib);
  ImportanceOrder order =
      importance_on(s, batches, o.get_or("--criterion", default_criterion(*s.registry)));
  return select_units(s.model->config(), arch, &order);
}

json score_json(const ArchScore& r) {
  json values = json::object();
  for (const auto& [label, v] : r.values)
    values[label] = std::isfinite(v) ? json(v) : json(nullptr);
  return {{"params", r.params}, {"proxies", values}};
}

}  // namespace

void print_result(const json& j) {
  // Strings that are not UTF-8 (a path, a token's text) are replaced, never thrown on.
  std::cout << j.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
}

int cmd_score(const std::vector<std::string>& argv) {
  Options o("score", argv,
            with_model_options({{"--data"},
                                {"--arch"},
                                {"--seq-len"},
                                {"--batch"},
                                {"--batches"},
                                {"--set", true, true}}));
  const std::string arch_path = o.require("--arch");
  ModelSession s;
  std::vector<NamedProxy> proxies;
  std::vector<at::Tensor> batches;
  std::string criterion;
  ParamValues criterion_params;
  PassOptions pass;
  if (o.positional().size() == 1) {
    const Pipeline p = open_pipeline_session(s, o);
    batches = s.batches;
    pass = p.pass_options();
    for (const auto& pr : p.proxies) {
      proxies.push_back({pr.label, s.registry->create<Proxy>(pr.name, pr.params, s.run)});
    }
    criterion = p.importance.name;
    criterion_params = p.importance.params;
  } else if (o.positional().empty()) {
    open_model(s, o);
    const std::string data = o.require("--data");
    BatchSpec spec;
    spec.seq_len = o.get_int("--seq-len", 256, 2, 1 << 20);
    spec.batch_size = o.get_int("--batch", 8, 1, 1 << 20);
    spec.num_batches = o.get_int("--batches", 4, 1, 1 << 20);
    batches = calibration_batches(read_data_spec(s, o, data, "--data"), spec, data);
    check_token_ids(batches, s.model->config().vocab_size, data);
    criterion = default_criterion(*s.registry);
    for (const ComponentEntry* e : s.registry->defaults(ComponentKind::kProxy)) {
      ParamValues defaults;
      for (const auto& spec_p : e->info.params) defaults.set(spec_p.name, spec_p.default_value);
      proxies.push_back({e->info.name, s.registry->create<Proxy>(e->info.name, defaults, s.run)});
    }
  } else {
    throw UsageError("score: expected one pipeline file or --model/--data");
  }
  Arch arch = read_arch(arch_path, s.model->config());
  print_result(score_json(score_arch(*s.registry, s.run, *s.model, arch, batches, criterion,
                                     criterion_params, proxies, pass)));
  return 0;
}

int cmd_convert(const std::vector<std::string>& argv) {
  Options o("convert", argv, {{"--out"}});
  const auto& pos = o.positional();
  if (pos.size() != 2 || pos[0] != "llama2c") {
    throw UsageError("convert: usage: tracenas convert llama2c FILE.bin --out DIR");
  }
  Llama2cResult r = convert_llama2c(pos[1], o.require("--out"));
  log().info("converted {} -> {} ({} parameters)", pos[1], r.out_dir, r.params);
  print_result({{"out", r.out_dir}, {"params", r.params}});
  return 0;
}

// `eval --tasks FILE`: zero-shot multiple-choice accuracy (multiple_choice.hpp).
static int eval_tasks(const Options& o, const std::string& tasks) {
  if (o.get("--data")) throw UsageError("eval: give --data (perplexity) or --tasks, not both");
  ModelSession s;
  open_model(s, o);
  // Text examples go through --tokenizer, else the model folder's tokenizer when it has one.
  const auto examples = load_choice_tasks(*s.registry, tasks, o.get_or("--tokenizer", ""), s.dir,
                                          s.model->config().vocab_size, s.run, "--tokenizer");
  ModelWeights weights = s.model->weights();
  if (auto arch_path = o.get("--arch")) {
    Arch arch = read_arch(*arch_path, s.model->config());
    weights = realize_weights(s.model->config(), s.model->weights(),
                              resolve_arch(s, arch, o, o.get_or("--calib", "")));
  }
  MultipleChoiceResult r = score_multiple_choice(s.model->config(), weights, examples);
  print_result({{"examples", r.examples}, {"acc", r.acc}, {"acc_norm", r.acc_norm}});
  return 0;
}

int cmd_eval(const std::vector<std::string>& argv) {
  Options o("eval", argv,
            with_model_options({{"--data"},
                                {"--arch"},
                                {"--seq-len"},
                                {"--batch"},
                                {"--calib"},
                                {"--batches"},
                                {"--criterion"},
                                {"--tasks"}}));
  if (!o.positional().empty()) {
    throw UsageError("eval: unexpected argument '" + o.positional()[0] + "'");
  }
  if (auto tasks = o.get("--tasks")) return eval_tasks(o, *tasks);
  const std::string data = o.require("--data");
  const int seq_len = o.get_int("--seq-len", 256, 2, 1 << 20);
  const int batch = o.get_int("--batch", 8, 1, 1 << 20);
  ModelSession s;
  open_model(s, o);
  auto stream = read_data_spec(s, o, data, "--data");
  ModelWeights weights = s.model->weights();
  if (auto arch_path = o.get("--arch")) {
    Arch arch = read_arch(*arch_path, s.model->config());
    auto sel = resolve_arch(s, arch, o, data);
    weights = realize_weights(s.model->config(), s.model->weights(), sel);
    log().info("architecture {}: {} parameters", *arch_path, count_params(s.model->config(), arch));
  }
  auto batches = eval_batches(stream, seq_len, batch, data);
  check_token_ids(batches, s.model->config().vocab_size, data);
  EvalResult r = evaluate(s.model->config(), weights, batches);
  print_result({{"tokens", r.tokens}, {"loss", r.loss}, {"ppl", r.ppl}});
  return 0;
}

int cmd_importance(const std::vector<std::string>& argv) {
  Options o("importance", argv,
            with_model_options({{"--data"},
                                {"--seq-len"},
                                {"--batch"},
                                {"--batches"},
                                {"--criterion"},
                                {"--set", true, true}}));
  ImportanceOrder order;
  if (o.positional().size() == 1) {
    // Pipeline form: model, data, batching and criterion from the pipeline.
    ModelSession s;
    const Pipeline p = open_pipeline_session(s, o);
    order = importance_on(s, s.batches, p.importance.name, p.importance.params);
  } else if (o.positional().empty()) {
    ModelSession s;
    open_model(s, o);
    const std::string data = o.require("--data");
    BatchSpec spec;
    spec.seq_len = o.get_int("--seq-len", 256, 2, 1 << 20);
    spec.batch_size = o.get_int("--batch", 8, 1, 1 << 20);
    spec.num_batches = o.get_int("--batches", 4, 1, 1 << 20);
    auto batches = calibration_batches(read_data_spec(s, o, data, "--data"), spec, data);
    check_token_ids(batches, s.model->config().vocab_size, data);
    order = importance_on(s, batches, o.get_or("--criterion", default_criterion(*s.registry)));
  } else {
    throw UsageError("importance: expected one pipeline file or --model/--data");
  }
  std::cout << importance_to_json(order) << std::endl;
  return 0;
}

int cmd_prune(const std::vector<std::string>& argv) {
  Options o("prune", argv,
            with_model_options({{"--arch"},
                                {"--out"},
                                {"--calib"},
                                {"--seq-len"},
                                {"--batch"},
                                {"--batches"},
                                {"--criterion"},
                                {"--shard-size-mb"}}));
  if (!o.positional().empty()) {
    throw UsageError("prune: unexpected argument '" + o.positional()[0] + "'");
  }
  const std::string out = o.require("--out");
  const std::string arch_path = o.require("--arch");
  const int shard_mb = o.get_int("--shard-size-mb", 4096, 1, 1 << 20);
  ModelSession s;
  open_model(s, o);
  Arch arch = read_arch(arch_path, s.model->config());
  auto sel = resolve_arch(s, arch, o, "");
  if (fs::exists(out) && !fs::is_empty(out) && fs::equivalent(out, s.dir)) {
    throw UsageError("prune: --out must differ from --model (got " + out + ")");
  }
  ExportResult r =
      export_pruned(s.dir, *s.model, arch, sel, out, static_cast<std::uint64_t>(shard_mb) << 20);
  log().info("pruned model written to {} ({} parameters, {} config)", r.out_dir, r.params,
             r.uniform ? "plain Hugging Face" : "per-layer (tracenas_layers)");
  print_result({{"params", r.params}, {"out", r.out_dir}});
  return 0;
}

int cmd_export(const std::vector<std::string>& argv) {
  Options o("export", argv,
            {{"--model"},
             {"--adapter"},
             {"--format"},
             {"--out"},
             {"--dtype"},
             {"--threads"},
             {"--shard-size-mb"}});
  if (!o.positional().empty()) {
    throw UsageError("export: unexpected argument '" + o.positional()[0] + "'");
  }
  const std::string format = o.get_choice("--format", "", export_formats());
  if (format.empty()) throw UsageError("export: --format is required (gguf, nemotron-nas, hf)");
  const std::string out = o.require("--out");
  const int shard_mb = o.get_int("--shard-size-mb", 4096, 1, 1 << 20);
  // The weights' dtype in the file: --dtype, else the checkpoint's torch_dtype.
  std::string stored = "float32";
  {
    const std::string model_dir = o.require("--model");
    std::error_code ec;
    if (fs::is_directory(model_dir, ec)) {
      const auto cfg = read_config_template(model_dir);
      const std::string t = cfg.value("torch_dtype", std::string());
      if (t == "bfloat16" || t == "float16" || t == "float32") stored = t;
    }
  }
  const std::string dtype = o.get_choice("--dtype", stored, {"float32", "float16", "bfloat16"});
  ModelSession s;
  open_model(s, o, "float32");  // exact for any stored dtype; converted once when written
  if (format != "gguf") {
    std::error_code ec;
    if (fs::exists(out, ec) && fs::equivalent(out, s.dir, ec)) {
      throw UsageError("export: --out must differ from --model (got " + out + ")");
    }
  }
  const FormatExport r = export_model(s.dir, *s.model, format, parse_dtype(dtype), out,
                                      static_cast<std::uint64_t>(shard_mb) << 20);
  for (const std::string& note : r.notes) log().info("{}", note);
  log().info("{} written to {} ({}, {} parameters, {} bytes)", r.format, r.out, r.arch, r.params,
             r.bytes);
  print_result({{"format", r.format},
                {"out", r.out},
                {"arch", r.arch},
                {"dtype", dtype},
                {"params", r.params},
                {"bytes", r.bytes}});
  return 0;
}

std::string dtype_option(const Options& o, const std::string& def) {
  const std::string name = o.get_or("--dtype", def);
  try {
    parse_dtype(name);
  } catch (const ConfigError& e) {
    throw UsageError(o.command() + ": --dtype: " + e.what());
  }
  return name;
}

void open_model(ModelSession& s, const Options& o, const std::string& dtype) {
  s.dir = o.require("--model");
  s.registry->discover({});
  s.run.threads = o.get_int("--threads", 0, 0, 4096);
  if (s.run.threads == 0) {
    s.run.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  // The devices a pipeline's run.device accepts.
  const auto device = std::find_if(run_schema().begin(), run_schema().end(),
                                   [](const ParamSpec& p) { return p.name == "device"; });
  s.run.device = o.get_choice("--device", "auto", device->choices);
  s.run.dtype = dtype.empty() ? dtype_option(o, "float32") : dtype;
  s.run = apply_runtime(s.run);
  ParamValues p;
  p.set("path", s.dir);
  s.adapter = create_model_adapter(*s.registry, o.get_or("--adapter", ""), p, s.run);
  LoadOptions lo;
  lo.device = s.run.device;
  lo.dtype = s.run.dtype;
  s.model = s.adapter.call("load", [&](ModelAdapter& a) { return a.load(lo); });
  log().info("model {}: {} layers, {} parameters, {} on {}", s.dir, s.model->config().num_layers,
             s.model->num_parameters(), s.run.dtype, s.run.device);
}

Pipeline open_pipeline_session(ModelSession& s, const Options& o) {
  Pipeline p = load_pipeline(pipeline_file(o), o.all("--set"), *s.registry);
  s.run = apply_runtime(p.run_context());
  PipelineSession session = open_session(*s.registry, p, s.run);
  s.dir = session.model_dir;
  s.adapter = session.adapter;
  s.model = session.model;
  s.batches = std::move(session.batches);
  check_token_ids(s.batches, s.model->config().vocab_size, session.data_name);
  return p;
}

std::shared_ptr<DecoderModel> load_other_model(const ModelSession& s, const std::string& dir) {
  ParamValues p;
  p.set("path", dir);
  auto adapter = create_model_adapter(*s.registry, "", p, s.run);
  LoadOptions lo;
  lo.device = s.run.device;
  lo.dtype = s.run.dtype;
  return adapter.call("load", [&](ModelAdapter& a) { return a.load(lo); });
}

}  // namespace tracenas::cli
