// Components: the named, parameterized pieces a pipeline composes.
//
// A plugin registers components (a model adapter, a proxy, ...) through the Registrar its entry
// point is handed. Each registration gives the component's kind, name, doc, declared parameters and
// a factory. The host validates the pipeline against the declared parameters and calls the factory
// with typed values; it calls every method of the returned object through a guard that turns any
// exception into a PluginError naming the plugin and the component.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tracenas/api.hpp"
#include "tracenas/params.hpp"

namespace tracenas {

enum class ComponentKind {
  kModel,       // model adapter: checkpoint folder -> DecoderModel
  kData,        // data source: token stream for calibration / training
  kTokenizer,   // text -> token ids
  kImportance,  // width importance criterion (which heads/channels survive)
  kProxy,       // zero-shot proxy scoring a candidate
  kSearch,      // search strategy (ask/tell)
};

// "model adapter", "proxy", ... (for messages).
TN_API const char* to_string(ComponentKind kind);
// "model", "data", ... (for JSON and YAML).
TN_API const char* kind_key(ComponentKind kind);
TN_API const std::vector<ComponentKind>& all_component_kinds();

// What the host tells a component about the run it is part of.
struct TN_API RunContext {
  std::uint64_t seed = 0;
  std::string device = "cpu";     // "cpu" or "cuda[:N]"
  std::string dtype = "float32";  // "float32", "bfloat16", "float16"
  int threads = 1;
  std::string run_dir;    // where this run writes (empty when there is none)
  std::string cache_dir;  // where base traces, importance and tokenized data are cached
};

// Base of every component interface. Components are created by the host
// through a factory and destroyed by the host; they never outlive the process.
class TN_API Component {
 public:
  virtual ~Component();
};

using Factory =
    std::function<std::unique_ptr<Component>(const ParamValues& params, const RunContext& run)>;

// How the host picks a component that nobody named.
struct TN_API Claims {
  // What the component opens, unique per kind: a model adapter's config.json
  // model_type values ("mistral"), a tokenizer's file extensions (".model").
  std::vector<std::string> handles;
  // Used when a pipeline or command names no component of this kind (the
  // importance criterion; the proxies `tracenas score` reports by default).
  bool is_default = false;
};

struct TN_API ComponentInfo {
  ComponentKind kind = ComponentKind::kProxy;
  std::string name;  // unique per kind, snake_case
  std::string doc;   // one line: what it does (formula and source go in the header)
  ParamSchema params;
  Factory factory;
  Claims claims;
};

// Handed to a plugin's register callback. Implemented by the core.
class TN_API Registrar {
 public:
  virtual ~Registrar();
  virtual void add(ComponentInfo info) = 0;

  // Typed convenience: the kind comes from the interface (Iface::kKind) and
  // the factory returns the concrete type.
  template <class Iface, class Fn>
  void add(std::string name, std::string doc, ParamSchema params, Fn make, Claims claims = {}) {
    static_assert(std::is_base_of_v<Component, Iface>, "Iface must derive from Component");
    ComponentInfo info;
    info.kind = Iface::kKind;
    info.name = std::move(name);
    info.doc = std::move(doc);
    info.params = std::move(params);
    info.claims = std::move(claims);
    info.factory = [make = std::move(make)](const ParamValues& p,
                                            const RunContext& r) -> std::unique_ptr<Component> {
      std::unique_ptr<Iface> obj = make(p, r);
      return obj;
    };
    add(std::move(info));
  }
};

}  // namespace tracenas
