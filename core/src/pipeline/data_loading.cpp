// Token streams for commands: pipeline data sources and CLI data specs, with
// the tokenizer text sources need (see data_loading.hpp for the rules).
#include "pipeline/data_loading.hpp"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <utility>

#include "base/util.hpp"
#include "tracenas/data.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"
#include "tracenas/support/tokens.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

// What the data source sees: every method calls the real tokenizer through
// the guard, so its failures name the tokenizer's plugin.
class GuardedTokenizer final : public Tokenizer {
 public:
  explicit GuardedTokenizer(Instance<Tokenizer> inner) : inner_(std::move(inner)) {}

  std::string fingerprint() const override {
    return inner_.call("fingerprint", [](Tokenizer& t) { return t.fingerprint(); });
  }
  std::vector<std::int32_t> encode(const std::string& text, bool add_special_tokens) override {
    return inner_.call("encode", [&](Tokenizer& t) { return t.encode(text, add_special_tokens); });
  }
  std::string decode(const std::vector<std::int32_t>& ids) override {
    return inner_.call("decode", [&](Tokenizer& t) { return t.decode(ids); });
  }
  std::int32_t bos_id() const override {
    return inner_.call("bos_id", [](Tokenizer& t) { return t.bos_id(); });
  }
  std::int32_t eos_id() const override {
    return inner_.call("eos_id", [](Tokenizer& t) { return t.eos_id(); });
  }

 private:
  Instance<Tokenizer> inner_;
};

// The file a folder's tokenizer is read from: tokenizer.model, else
// tokenizer.json, else "".
std::string folder_tokenizer_file(const std::string& dir) {
  std::error_code ec;
  for (const char* name : {"tokenizer.model", "tokenizer.json"}) {
    fs::path f = fs::path(dir) / name;
    if (fs::is_regular_file(f, ec)) return f.string();
  }
  return "";
}

// The tokenizer component that claims `file`'s extension ("" when none does).
std::string component_for_file(const Registry& registry, const std::string& file) {
  const ComponentEntry* e =
      registry.claimant(ComponentKind::kTokenizer, fs::path(file).extension().string());
  return e == nullptr ? "" : e->info.name;
}

Instance<Tokenizer> create_for_file(const Registry& registry, const std::string& name,
                                    const std::string& file, const RunContext& run,
                                    const std::string& what) {
  const ComponentEntry* entry = registry.find(ComponentKind::kTokenizer, name);
  if (entry == nullptr) {
    const std::string ext = fs::path(file).extension().string();
    throw ConfigError(
        what + ": " + file + ": no loaded tokenizer plugin reads " +
        (ext.empty() ? std::string("files without an extension") : "'" + ext + "' files") +
        " (the loaded ones read: " + join(registry.handles(ComponentKind::kTokenizer), ", ") + ")");
  }
  ParamValues params;
  for (const ParamSpec& s : entry->info.params) params.set(s.name, s.default_value);
  params.set("path", file);
  log().info("tokenizer '{}' from {}", name, file);
  return registry.create<Tokenizer>(name, params, run);
}

// Creates the source, hands it a tokenizer when it needs one, reads the stream.
TokenStream read_source(const std::function<Instance<DataSource>()>& make_source,
                        const std::function<Instance<Tokenizer>()>& make_tokenizer) {
  // Declared before the source: destroyed after it (the tokenizer outlives the source).
  Instance<Tokenizer> tokenizer;
  std::unique_ptr<GuardedTokenizer> guarded;
  Instance<DataSource> source = make_source();
  const bool needs =
      source.call("needs_tokenizer", [](DataSource& d) { return d.needs_tokenizer(); });
  if (needs) {
    tokenizer = make_tokenizer();
    guarded = std::make_unique<GuardedTokenizer>(tokenizer);
    source.call("set_tokenizer", [&](DataSource& d) { d.set_tokenizer(guarded.get()); });
  }
  TokenStream out;
  out.ids = source.call("token_stream", [](DataSource& d) { return d.token_stream(); });
  out.fingerprint = source.call("fingerprint", [](DataSource& d) { return d.fingerprint(); });
  return out;
}

std::string tokens_fingerprint(const std::string& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  return "tokens:" + fs::absolute(path).lexically_normal().string() +
         "#size=" + std::to_string(size) + "#mtime=" + std::to_string(mtime);
}

}  // namespace

Instance<Tokenizer> create_tokenizer_for_path(const Registry& registry, const std::string& path,
                                              const RunContext& run, const std::string& what) {
  std::error_code ec;
  if (path.empty() || !fs::exists(path, ec)) {
    throw UsageError(what + ": no such tokenizer file or folder (got " + path + ")");
  }
  std::string file = path;
  if (fs::is_directory(path, ec)) {
    file = folder_tokenizer_file(path);
    if (file.empty()) {
      throw UsageError(what + ": the folder holds no tokenizer.model or tokenizer.json (got " +
                       path + ")");
    }
  }
  return create_for_file(registry, component_for_file(registry, file), file, run, what);
}

std::vector<ChoiceExample> load_choice_tasks(const Registry& registry, const std::string& tasks,
                                             const std::string& tokenizer_path,
                                             const std::string& model_dir, std::int64_t vocab_size,
                                             const RunContext& run, const std::string& what) {
  std::string tok = tokenizer_path;
  if (tok.empty() && !model_dir.empty() && !folder_tokenizer_file(model_dir).empty()) {
    tok = model_dir;
  }
  Instance<Tokenizer> tokenizer;
  EncodeFn encode;
  if (!tok.empty()) {
    tokenizer = create_tokenizer_for_path(registry, tok, run, what);
    encode = [&tokenizer](const std::string& text, bool special) {
      return tokenizer.call("encode", [&](Tokenizer& t) { return t.encode(text, special); });
    };
  }
  std::vector<ChoiceExample> examples = read_choice_tasks(tasks, encode);
  check_choice_ids(examples, vocab_size, tasks);
  return examples;
}

TokenStream load_pipeline_tokens(const Registry& registry, const Pipeline& pipeline,
                                 const RunContext& run) {
  auto make_source = [&] {
    return registry.create<DataSource>(pipeline.data.name, pipeline.data.params, run);
  };
  auto make_tokenizer = [&]() -> Instance<Tokenizer> {
    if (!pipeline.tokenizer.name.empty()) {
      return registry.create<Tokenizer>(pipeline.tokenizer.name, pipeline.tokenizer.params, run);
    }
    const std::string dir =
        pipeline.model.params.has("path") ? pipeline.model.params.get_string("path") : "";
    const std::string file = dir.empty() ? "" : folder_tokenizer_file(dir);
    if (file.empty()) {
      throw ConfigError(pipeline.file + ": error: data.source: '" + pipeline.data.name +
                        "' needs a tokenizer: add a 'tokenizer:' section, or use a model folder "
                        "holding tokenizer.model or tokenizer.json (model.params.path: " +
                        (dir.empty() ? std::string("not set") : dir + " has neither") + ")");
    }
    return create_for_file(registry, component_for_file(registry, file), file, run,
                           pipeline.file + ": error: model.params.path");
  };
  return read_source(make_source, make_tokenizer);
}

TokenStream load_spec_tokens(const Registry& registry, const std::string& spec,
                             const std::string& option, const std::string& tokenizer_path,
                             const std::string& model_dir, const RunContext& run) {
  const std::string kTokens = "tokens:";
  const std::string expected =
      option + ": expected tokens:PATH (PATH ending in .u16, .u32 or .txt) or text:PATH (got " +
      spec + ")";
  if (spec.rfind(kTokens, 0) == 0) {
    const std::string path = spec.substr(kTokens.size());
    if (path.empty()) throw UsageError(expected);
    TokenStream out;
    out.ids = read_token_file(path);
    out.fingerprint = tokens_fingerprint(path);
    return out;
  }
  // SOURCE:PATH: the data source SOURCE (a text source: "text:corpus.jsonl")
  // on PATH with its other parameters at their defaults.
  const auto colon = spec.find(':');
  const ComponentEntry* entry = colon == std::string::npos
                                    ? nullptr
                                    : registry.find(ComponentKind::kData, spec.substr(0, colon));
  const bool has_path =
      entry != nullptr && std::any_of(entry->info.params.begin(), entry->info.params.end(),
                                      [](const ParamSpec& p) { return p.name == "path"; });
  if (!has_path || colon + 1 == spec.size()) throw UsageError(expected);
  const std::string path = spec.substr(colon + 1);
  auto make_source = [&] {
    ParamValues params;
    for (const ParamSpec& s : entry->info.params) params.set(s.name, s.default_value);
    params.set("path", path);
    return registry.create<DataSource>(entry->info.name, params, run);
  };
  auto make_tokenizer = [&]() -> Instance<Tokenizer> {
    if (!tokenizer_path.empty()) {
      return create_tokenizer_for_path(registry, tokenizer_path, run, "--tokenizer");
    }
    const std::string file = model_dir.empty() ? "" : folder_tokenizer_file(model_dir);
    if (file.empty()) {
      throw UsageError(option + ": " + spec + " needs a tokenizer: give --tokenizer PATH" +
                       (model_dir.empty() ? std::string(" or --model DIR")
                                          : " (the model folder " + model_dir +
                                                " holds no tokenizer.model or tokenizer.json)"));
    }
    return create_for_file(registry, component_for_file(registry, file), file, run, "--model");
  };
  return read_source(make_source, make_tokenizer);
}

std::optional<TokenStream> section_tokens(const Pipeline& p, const ParamValues& section,
                                          const std::string& where, const std::string& key,
                                          bool fallback, const Registry& registry,
                                          const RunContext& run, const std::string& model_dir,
                                          std::string& name) {
  const std::string path = section.get_string(key + "_data");
  if (path.empty()) {
    if (!fallback) return std::nullopt;
    name = p.data.params.has("path") ? p.data.name + ":" + p.data.params.get_string("path")
                                     : "the pipeline's data source (" + p.data.name + ")";
    return load_pipeline_tokens(registry, p, run);
  }
  const std::string tokenizer = !p.tokenizer.name.empty() && p.tokenizer.params.has("path")
                                    ? p.tokenizer.params.get_string("path")
                                    : std::string();
  name = section.get_string(key + "_format") + ":" + path;
  return load_spec_tokens(registry, name, where + "." + key + "_data", tokenizer, model_dir, run);
}

}  // namespace tracenas
