// The host side of plugins: discovery, loading, the component registry, and
// the guard every host-to-plugin call goes through.
//
// Plugins are loaded once with immediate binding and local scope and never
// unloaded (dlclose with LibTorch objects alive crashes). Before anything
// C++ crosses, the entry struct is checked: struct size, ABI version and build
// fingerprint; a mismatch is refused with one line naming both values.
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tracenas/component.hpp"
#include "tracenas/error.hpp"

namespace tracenas {

struct PluginRecord {
  std::string id;
  std::string version;
  std::string license;
  std::string summary;
  std::string file;                     // absolute path of the shared library
  std::vector<std::string> components;  // "kind/name"
};

// Who a component came from, for messages.
struct Origin {
  std::string plugin_id;
  std::string file;
  ComponentKind kind = ComponentKind::kProxy;
  std::string component;
  std::string describe() const;  // plugin 'org.x' (file), proxy 'foo'
};

struct ComponentEntry {
  ComponentInfo info;
  Origin origin;
};

// Runs `fn`, turning any exception it throws into a PluginError naming the
// plugin and component. A tracenas::Error keeps its exit status.
[[noreturn]] void rethrow_as_plugin_error(const Origin& origin, const char* action);

template <class Fn>
decltype(auto) guarded(const Origin& origin, const char* action, Fn&& fn) {
  try {
    return std::forward<Fn>(fn)();
  } catch (...) {
    rethrow_as_plugin_error(origin, action);
  }
}

// A component instance created by the host. Call its methods through call():
//   double v = proxy.call("score", [&](Proxy& p) { return p.score(c, t); });
template <class Iface>
class Instance {
 public:
  Instance() = default;
  Instance(std::shared_ptr<Iface> obj, Origin origin)
      : obj_(std::move(obj)), origin_(std::move(origin)) {}

  template <class Fn>
  decltype(auto) call(const char* method, Fn&& fn) const {
    return guarded(origin_, method, [&]() -> decltype(auto) { return fn(*obj_); });
  }
  const Origin& origin() const { return origin_; }
  explicit operator bool() const { return static_cast<bool>(obj_); }
  // Direct access, for code that guards on its own.
  Iface& get() const { return *obj_; }

 private:
  std::shared_ptr<Iface> obj_;
  Origin origin_;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The plugin folders searched, in order: `search_paths` (the pipeline's
  // plugins.search_paths), then TRACENAS_PLUGIN_PATH (':'-separated), then
  // the installed plugin folder. Each entry is a folder (every *.so in it)
  // or one shared library.
  static std::vector<std::string> discovery_paths(const std::vector<std::string>& search_paths);
  // The plugin folder beside libtracenas_core.so (build tree or install prefix).
  static std::string installed_plugin_dir();

  // Loads every plugin found on the discovery paths. The same file reached
  // twice is loaded once; two files with the same plugin id are an error.
  // `source` names where search_paths came from, for messages.
  void discover(const std::vector<std::string>& search_paths,
                const std::string& source = "plugins.search_paths");
  // Loads one plugin file (checks identity, ABI and fingerprint, registers).
  void load_file(const std::string& file);

  const std::vector<PluginRecord>& plugins() const { return plugins_; }
  const ComponentEntry* find(ComponentKind kind, const std::string& name) const;
  std::vector<std::string> names(ComponentKind kind) const;
  std::vector<const ComponentEntry*> components() const;

  // Creates a component; the factory runs under the guard.
  std::unique_ptr<Component> create_raw(ComponentKind kind, const std::string& name,
                                        const ParamValues& params, const RunContext& run) const;

  template <class Iface>
  Instance<Iface> create(const std::string& name, const ParamValues& params,
                         const RunContext& run) const {
    const ComponentEntry* entry = require(Iface::kKind, name);
    std::unique_ptr<Component> raw = create_raw(Iface::kKind, name, params, run);
    auto* typed = dynamic_cast<Iface*>(raw.get());
    if (typed == nullptr) throw_wrong_type(entry->origin);
    raw.release();
    return Instance<Iface>(std::shared_ptr<Iface>(typed), entry->origin);
  }

  // The entry, or a ConfigError listing the known names with a suggestion.
  const ComponentEntry* require(ComponentKind kind, const std::string& name) const;

  // Claims (component.hpp): the component of `kind` that handles `handle`
  // (a model_type, a file extension), or nullptr.
  const ComponentEntry* claimant(ComponentKind kind, const std::string& handle) const;
  // Every handle claimed by components of `kind`, sorted (for messages).
  std::vector<std::string> handles(ComponentKind kind) const;
  // The components of `kind` marked default, in registration order.
  std::vector<const ComponentEntry*> defaults(ComponentKind kind) const;
  // The one default of `kind`; a ConfigError naming `what` when no loaded
  // plugin marks one, or several do.
  const ComponentEntry* require_default(ComponentKind kind, const std::string& what) const;

 private:
  class Adder;
  [[noreturn]] static void throw_wrong_type(const Origin& origin);

  std::vector<PluginRecord> plugins_;
  std::vector<std::unique_ptr<ComponentEntry>> entries_;
  std::vector<std::string> loaded_files_;  // canonical paths
};

}  // namespace tracenas
