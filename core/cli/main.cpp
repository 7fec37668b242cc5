// The `tracenas` command line: subcommands over the core library.
//
// Every command prints its machine-readable result as ONE JSON object on the
// last line of stdout; logs go to stderr. Exit status 0 on success, 2 for a
// usage or input error (one line naming the file, field or value), 1 for any
// other failure (SPEC.md section 6).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/runtime.hpp"
#include "base/util.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "pipeline/pipeline.hpp"
#include "pipeline/session.hpp"
#include "plugin/registry.hpp"
#include "tracenas/data.hpp"
#include "tracenas/error.hpp"
#include "tracenas/importance.hpp"
#include "tracenas/log.hpp"
#include "tracenas/model.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/proxy.hpp"
#include "tracenas/search.hpp"
#include "tracenas/support/cache.hpp"
#include "tracenas/version.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

constexpr const char* kUsage = R"(usage: tracenas [-v] <command> [args]

commands:
  run PIPELINE [--set path=value]... [--resume]   run a pipeline
  study PIPELINE [--set path=value]... [--resume] proxy validation: N architectures, every
                                                   proxy, recovery training, rank correlations
  report RUN_DIR... [--out FILE.html] [--refresh S]
                                                   one self-contained HTML page of run, study
                                                   or ablation folders (default: RUN_DIR/report.html)
  validate PIPELINE [--set path=value]...         check a pipeline, print the resolved config
  plugins [--json] [--plugin-path P]...           list plugins and their components
  eval --model DIR --data SPEC [--arch ARCH] [--seq-len N] [--batch B]
                                                   loss and perplexity over every window
  importance (PIPELINE | --model DIR --data SPEC) [--seq-len N] [--batch B] [--batches K]
                                                   unit orders per layer, most important first
  score (PIPELINE | --model DIR --data SPEC) --arch ARCH [--seq-len N] [--batch B] [--batches K]
                                                   every proxy of one architecture
  prune --model DIR --arch ARCH --out DIR [--calib SPEC]
                                                   cut out and export a sub-network
  convert llama2c FILE.bin --out DIR               llama2.c checkpoint -> Hugging Face layout
  export --model DIR --format gguf|nemotron-nas|hf --out PATH [--dtype float32|float16|bfloat16]
                                                   a model folder in a format other runtimes load
  train --model DIR --data SPEC --out DIR [--steps N] [--lr X] [--schedule constant|cosine|wsd]
        [--eval-data SPEC] [--checkpoint-every N] [--resume PATH] ...
                                                   recovery training (AdamW), export in HF layout
  tokenize --tokenizer PATH (--text T | --text-file F) [--add-special-tokens] [--decode]
                                                   text -> token ids, or ids -> text (--decode)
  --version                                        print the version

model options: --adapter NAME (default: from config.json), --dtype float32|bfloat16|float16,
  --device auto|cpu|cuda, --threads N (0: every core), --calib SPEC, --criterion NAME (wanda)
data SPEC: tokens:PATH with PATH ending in .u16, .u32 or .txt, or text:PATH (plain text or
  JSONL) tokenized by --tokenizer PATH (default: the model folder's tokenizer)

options:
  -v, --verbose     debug logging
  -h, --help        this help

Environment: TRACENAS_PLUGIN_PATH (':'-separated plugin folders or files).
)";

const std::vector<std::string>& command_names() {
  static const std::vector<std::string> names = {
      "run",     "validate", "plugins", "eval",  "importance", "score", "prune",
      "convert", "tokenize", "train",   "study", "export",     "report"};
  return names;
}

using cli::print_result;

json components_json(const Pipeline& p) {
  json proxies = json::array();
  for (const auto& pr : p.proxies) {
    proxies.push_back({{"proxy", pr.name}, {"label", pr.label}, {"objective", pr.objective}});
  }
  json out = {{"model", p.model.name},
              {"data", p.data.name},
              {"importance", p.importance.name},
              {"proxies", proxies},
              {"search", p.search.name}};
  if (!p.tokenizer.name.empty()) out["tokenizer"] = p.tokenizer.name;
  return out;
}

// The memory plan of a valid pipeline; null when the model cannot be read.
json memory_plan_json(const Pipeline& p, const Registry& registry) {
  std::string why;
  const std::optional<MemoryPlan> plan = plan_from_config(registry, p, &why);
  if (!plan) {
    log().info("memory plan: not available ({})", why);
    return nullptr;
  }
  check_memory_plan(p, *plan, p.run_context(), /*refuse=*/false);
  json terms = json::object();
  for (const MemoryTerm& t : plan->terms) terms[t.name] = t.bytes;
  return {{"peak_bytes", plan->peak_bytes}, {"phase", plan->phase}, {"terms", terms}};
}

int cmd_validate(const std::vector<std::string>& argv) {
  cli::Options o("validate", argv, {{"--set", true, true}});
  const std::string file = cli::pipeline_file(o);
  Registry registry;
  Pipeline p = load_pipeline(file, o.all("--set"), registry);
  std::cerr << p.resolved_yaml();
  log().info("{}: valid", file);
  json result = {{"valid", true},
                 {"file", file},
                 {"run_dir", p.run_dir()},
                 {"components", components_json(p)}};
  result["memory_plan"] = memory_plan_json(p, registry);
  print_result(result);
  return 0;
}

json params_json(const ParamSchema& schema) {
  json out = json::array();
  for (const ParamSpec& s : schema) {
    json j = {{"name", s.name}, {"type", to_string(s.type)}, {"doc", s.doc}};
    if (s.required) {
      j["required"] = true;
    } else if (s.optional) {
      j["default"] = nullptr;
    } else {
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
              j["default"] = nullptr;
            } else {
              j["default"] = v;
            }
          },
          s.default_value);
    }
    if (s.min_value) j["min"] = *s.min_value;
    if (s.max_value) j["max"] = *s.max_value;
    if (!s.choices.empty()) j["choices"] = s.choices;
    out.push_back(j);
  }
  return out;
}

int cmd_plugins(const std::vector<std::string>& argv) {
  cli::Options o("plugins", argv, {{"--json", false}, {"--plugin-path", true, true}});
  if (!o.positional().empty()) {
    throw UsageError("plugins: unexpected argument '" + o.positional()[0] + "'");
  }
  const std::vector<std::string> plugin_paths = o.all("--plugin-path");
  Registry registry;
  registry.discover(plugin_paths, "--plugin-path");
  json plugins = json::array();
  for (const PluginRecord& r : registry.plugins()) {
    json comps = json::array();
    for (const ComponentEntry* e : registry.components()) {
      if (e->origin.plugin_id != r.id) continue;
      json c = {{"kind", kind_key(e->info.kind)},
                {"name", e->info.name},
                {"doc", e->info.doc},
                {"params", params_json(e->info.params)}};
      // Claims: only when the component makes them.
      if (!e->info.claims.handles.empty()) c["handles"] = e->info.claims.handles;
      if (e->info.claims.is_default) c["default"] = true;
      comps.push_back(std::move(c));
    }
    plugins.push_back({{"id", r.id},
                       {"version", r.version},
                       {"license", r.license},
                       {"summary", r.summary},
                       {"file", r.file},
                       {"components", comps}});
  }
  json result = {{"tracenas", TN_VERSION},
                 {"plugin_abi", TN_PLUGIN_ABI_VERSION},
                 {"search_paths", Registry::discovery_paths(plugin_paths)},
                 {"plugins", plugins}};
  if (o.flag("--json")) {
    print_result(result);
    return 0;
  }
  std::size_t n_components = 0;
  for (const auto& pl : plugins) {
    std::cout << pl["id"].get<std::string>() << " " << pl["version"].get<std::string>() << " ("
              << pl["license"].get<std::string>() << ")  " << pl["file"].get<std::string>() << "\n";
    for (const auto& c : pl["components"]) {
      ++n_components;
      std::cout << "  " << c["kind"].get<std::string>() << "/" << c["name"].get<std::string>()
                << ": " << c["doc"].get<std::string>();
      if (c.contains("handles")) {
        std::cout << " (reads " << join(c["handles"].get<std::vector<std::string>>(), ", ") << ")";
      }
      if (c.contains("default")) std::cout << " (default)";
      std::cout << "\n";
      for (const auto& prm : c["params"]) {
        std::cout << "      " << prm["name"].get<std::string>() << " ("
                  << prm["type"].get<std::string>() << ", default "
                  << (prm.contains("required") ? std::string("required") : prm["default"].dump())
                  << "): " << prm["doc"].get<std::string>() << "\n";
      }
    }
  }
  print_result({{"plugins", plugins.size()}, {"components", n_components}});
  return 0;
}

int dispatch(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bool verbose = false;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& s = args[i];
    if (s == "-v" || s == "--verbose") {
      verbose = true;
    } else if (s == "-h" || s == "--help") {
      std::cout << kUsage;
      print_result({{"commands", command_names()}});
      return 0;
    } else if (s == "--version") {
      std::cout << "tracenas " << TN_VERSION << " (plugin ABI " << TN_PLUGIN_ABI_VERSION
                << ", LibTorch " << torch_version() << ")\n";
      print_result({{"version", TN_VERSION},
                    {"plugin_abi", TN_PLUGIN_ABI_VERSION},
                    {"torch", torch_version()},
                    {"cuda", cuda_available()}});
      return 0;
    } else {
      break;
    }
  }
  set_verbose(verbose);
  if (i >= args.size()) throw UsageError("no command given\n" + std::string(kUsage));
  std::string command = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1, args.end());
  // Flags given after the command.
  std::vector<std::string> filtered;
  for (const auto& s : rest) {
    if (s == "-v" || s == "--verbose") {
      set_verbose(true);
    } else {
      filtered.push_back(s);
    }
  }
  if (command == "run") return cli::cmd_run(filtered);
  if (command == "study") return cli::cmd_study(filtered);
  if (command == "report") return cli::cmd_report(filtered);
  if (command == "validate") return cmd_validate(filtered);
  if (command == "plugins") return cmd_plugins(filtered);
  if (command == "eval") return cli::cmd_eval(filtered);
  if (command == "importance") return cli::cmd_importance(filtered);
  if (command == "prune") return cli::cmd_prune(filtered);
  if (command == "score") return cli::cmd_score(filtered);
  if (command == "convert") return cli::cmd_convert(filtered);
  if (command == "export") return cli::cmd_export(filtered);
  if (command == "tokenize") return cli::cmd_tokenize(filtered);
  if (command == "train") return cli::cmd_train(filtered);
  throw UsageError("unknown command '" + command + "'" + suggest(command, command_names()));
}

// libgomp reads OMP_WAIT_POLICY once, when it loads (before main). With
// LibTorch's OpenMP threads spinning while OpenBLAS runs the matmuls, PASSIVE
// is much faster on small machines, so the process re-executes itself once
// with it set unless the user chose a policy.
void ensure_passive_omp_wait(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  if (std::getenv("TRACENAS_NO_REEXEC") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);
  // exec failed: carry on with the policy of this process.
}

}  // namespace
}  // namespace tracenas

int main(int argc, char** argv) {
  tracenas::ensure_passive_omp_wait(argv);
  try {
    return tracenas::dispatch(argc, argv);
  } catch (const tracenas::Error& e) {
    // Messages quote file content and paths: made printable (and valid UTF-8
    // for the JSON result line) here, for every error.
    std::string msg = tracenas::printable_text(e.what());
    // Config errors already read "file:line:col: error: ..."; others get a prefix.
    std::cerr << (msg.find(": error: ") == std::string::npos ? "tracenas: error: " : "") << msg
              << std::endl;
    auto nl = msg.find('\n');
    tracenas::cli::print_result({{"error", nl == std::string::npos ? msg : msg.substr(0, nl)},
                                 {"exit_code", e.exit_code()}});
    return e.exit_code();
  } catch (const std::exception& e) {
    // LibTorch errors carry a backtrace after the first line.
    std::string msg = tracenas::printable_text(e.what());
    msg = msg.substr(0, msg.find('\n'));
    std::cerr << "tracenas: error: " << msg << std::endl;
    tracenas::cli::print_result({{"error", msg}, {"exit_code", 1}});
    return 1;
  }
}
