#include "plugin/registry.hpp"

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <sstream>

#include "base/util.hpp"
#include "tracenas/log.hpp"
#include "tracenas/plugin.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

// Loaded libraries are never unloaded: the vector is never destroyed.
std::vector<boost::dll::shared_library>& loaded_libraries() {
  static auto* libs = new std::vector<boost::dll::shared_library>();
  return *libs;
}

std::string first_line(const std::string& s) {
  auto pos = s.find('\n');
  return pos == std::string::npos ? s : s.substr(0, pos);
}

std::string compiler_name(int id) {
  switch (id) {
    case 1:
      return "GCC";
    case 2:
      return "Clang";
    default:
      return "compiler#" + std::to_string(id);
  }
}

const tn_build_fingerprint& host_fingerprint() {
  static const tn_build_fingerprint fp = TN_BUILD_FINGERPRINT;
  return fp;
}

void check_fingerprint(const std::string& who, const tn_build_fingerprint& p) {
  const tn_build_fingerprint& h = host_fingerprint();
  auto refuse = [&](const std::string& what, const std::string& plugin_value,
                    const std::string& host_value) {
    throw PluginError(who + ": built with " + what + " " + plugin_value +
                          ", but the host was built with " + what + " " + host_value +
                          "; rebuild the plugin against this TraceNAS",
                      2);
  };
  if (p.compiler_id != h.compiler_id || p.compiler_major != h.compiler_major) {
    refuse("compiler", compiler_name(p.compiler_id) + " " + std::to_string(p.compiler_major),
           compiler_name(h.compiler_id) + " " + std::to_string(h.compiler_major));
  }
  if (p.cxx11_abi != h.cxx11_abi) {
    refuse("_GLIBCXX_USE_CXX11_ABI", std::to_string(p.cxx11_abi), std::to_string(h.cxx11_abi));
  }
  if (p.torch_major != h.torch_major || p.torch_minor != h.torch_minor) {
    refuse("LibTorch", std::to_string(p.torch_major) + "." + std::to_string(p.torch_minor),
           std::to_string(h.torch_major) + "." + std::to_string(h.torch_minor));
  }
}

void check_schema(const std::string& who, const ComponentInfo& info) {
  std::vector<std::string> seen;
  for (const ParamSpec& s : info.params) {
    auto bad = [&](const std::string& what) {
      throw PluginError(who + ": parameter '" + s.name + "': " + what, 1);
    };
    static const std::regex kName("^[a-z][a-z0-9_]*$");
    if (!std::regex_match(s.name, kName)) bad("name must be snake_case");
    if (std::find(seen.begin(), seen.end(), s.name) != seen.end()) bad("declared twice");
    seen.push_back(s.name);
    if (s.type == ParamType::kChoice) {
      if (s.choices.empty()) bad("a choice parameter needs choices");
      if (const auto* d = std::get_if<std::string>(&s.default_value)) {
        if (std::find(s.choices.begin(), s.choices.end(), *d) == s.choices.end()) {
          bad("default '" + *d + "' is not one of its choices");
        }
      }
    }
    double v = 0;
    bool numeric = false;
    if (const auto* i = std::get_if<std::int64_t>(&s.default_value)) {
      v = static_cast<double>(*i);
      numeric = true;
    } else if (const auto* d = std::get_if<double>(&s.default_value)) {
      v = *d;
      numeric = true;
    }
    if (numeric && ((s.min_value && v < *s.min_value) || (s.max_value && v > *s.max_value))) {
      bad("default is outside its declared range");
    }
  }
}

}  // namespace

std::string Origin::describe() const {
  std::string out;
  if (!component.empty()) out += std::string(to_string(kind)) + " '" + component + "' of ";
  out += "plugin '" + plugin_id + "'";
  if (!file.empty()) out += " (" + file + ")";
  return out;
}

void rethrow_as_plugin_error(const Origin& origin, const char* action) {
  std::string where = origin.describe() + ": " + action + ": ";
  try {
    throw;
  } catch (const PluginError&) {
    throw;  // already names the plugin (host checks, nested guards)
  } catch (const Error& e) {
    throw PluginError(where + first_line(e.what()), e.exit_code());
  } catch (const std::exception& e) {
    throw PluginError(where + first_line(e.what()), 1);
  } catch (...) {
    throw PluginError(where + "unknown exception", 1);
  }
}

// The Registrar a plugin's register callback receives: collects its
// components, checked, before they are committed to the registry.
class Registry::Adder : public Registrar {
 public:
  Adder(const Registry& registry, Origin plugin)
      : registry_(registry), plugin_(std::move(plugin)) {}

  void add(ComponentInfo info) override {
    Origin origin = plugin_;
    origin.kind = info.kind;
    origin.component = info.name;
    static const std::regex kName("^[a-z][a-z0-9_]*$");
    if (!std::regex_match(info.name, kName)) {
      throw PluginError(
          plugin_.describe() + ": component name " + quote(info.name) + " must be snake_case", 1);
    }
    if (!info.factory) {
      throw PluginError(origin.describe() + ": registered without a factory", 1);
    }
    check_schema(origin.describe(), info);
    auto clash = [&](const Origin& other) {
      throw PluginError(std::string(to_string(info.kind)) + " '" + info.name +
                            "' is registered twice: by plugin '" + other.plugin_id + "' (" +
                            other.file + ") and by plugin '" + plugin_.plugin_id + "' (" +
                            plugin_.file + ")",
                        2);
    };
    if (const ComponentEntry* e = registry_.find(info.kind, info.name)) clash(e->origin);
    for (const auto& e : added_) {
      if (e->info.kind == info.kind && e->info.name == info.name) clash(e->origin);
    }
    for (const std::string& h : info.claims.handles) {
      auto claimed = [&](const Origin& other) {
        throw PluginError(origin.describe() + " claims " + quote(h) + ", which " +
                              other.describe() + " already claims",
                          2);
      };
      if (h.empty()) throw PluginError(origin.describe() + ": claims an empty handle", 1);
      if (const ComponentEntry* e = registry_.claimant(info.kind, h)) claimed(e->origin);
      for (const auto& e : added_) {
        const auto& hs = e->info.claims.handles;
        if (e->info.kind == info.kind && std::find(hs.begin(), hs.end(), h) != hs.end()) {
          claimed(e->origin);
        }
      }
    }
    auto entry = std::make_unique<ComponentEntry>();
    entry->info = std::move(info);
    entry->origin = origin;
    added_.push_back(std::move(entry));
  }

  std::vector<std::unique_ptr<ComponentEntry>> take() { return std::move(added_); }

 private:
  const Registry& registry_;
  Origin plugin_;
  std::vector<std::unique_ptr<ComponentEntry>> added_;
};

Registry::Registry() = default;
Registry::~Registry() = default;

std::string Registry::installed_plugin_dir() {
  // The registry is linked into the program; the plugin folder is found from
  // where libtracenas_core.so itself was loaded (any SDK function will do).
  fs::path core = boost::dll::symbol_location(all_component_kinds).string();
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(core.parent_path() / "tracenas" / "plugins", ec);
  if (ec) dir = (core.parent_path() / "tracenas" / "plugins").lexically_normal();
  return dir.string();
}

namespace {
std::vector<std::string> env_plugin_paths() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("TRACENAS_PLUGIN_PATH")) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ':')) {
      if (!item.empty()) out.push_back(item);
    }
  }
  return out;
}
}  // namespace

std::vector<std::string> Registry::discovery_paths(const std::vector<std::string>& search_paths) {
  std::vector<std::string> out = search_paths;
  for (const auto& p : env_plugin_paths()) out.push_back(p);
  out.push_back(installed_plugin_dir());
  return out;
}

void Registry::discover(const std::vector<std::string>& search_paths, const std::string& source) {
  const std::string installed = installed_plugin_dir();
  const std::size_t n_search = search_paths.size();
  const std::vector<std::string> paths = discovery_paths(search_paths);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const std::string& p = paths[i];
    const std::string from = i < n_search ? source : "TRACENAS_PLUGIN_PATH";
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> files;
      for (const auto& de : fs::directory_iterator(p, ec)) {
        if (de.is_regular_file() && de.path().extension() == ".so") {
          files.push_back(de.path().string());
        }
      }
      if (ec) {
        throw PluginError("plugin folder '" + p + "' cannot be listed: " + ec.message(), 2);
      }
      std::sort(files.begin(), files.end());
      log().debug("plugin folder {}: {} plugin file(s)", p, files.size());
      for (const auto& f : files) load_file(f);
    } else if (fs::is_regular_file(p, ec)) {
      load_file(p);
    } else if (p != installed) {
      throw PluginError("plugin search path '" + p + "' (from " + from + ") does not exist", 2);
    }
  }
}

void Registry::load_file(const std::string& file) {
  std::error_code ec;
  std::string canonical = fs::weakly_canonical(fs::absolute(file), ec).string();
  if (ec) canonical = fs::absolute(file).string();
  if (std::find(loaded_files_.begin(), loaded_files_.end(), canonical) != loaded_files_.end()) {
    return;
  }
  const std::string who = "plugin file '" + canonical + "'";
  boost::dll::shared_library lib;
  try {
    lib.load(canonical, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    throw PluginError(who + ": cannot be loaded: " + first_line(e.what()), 2);
  }
  loaded_libraries().push_back(lib);  // never unloaded, even when refused below
  if (!lib.has(TN_PLUGIN_ENTRY_SYMBOL)) {
    throw PluginError(who + ": no entry point '" TN_PLUGIN_ENTRY_SYMBOL
                            "' (not a TraceNAS plugin, or not built with TN_PLUGIN)",
                      2);
  }
  auto entry = lib.get<const tn_plugin_info*()>(TN_PLUGIN_ENTRY_SYMBOL);
  const tn_plugin_info* info = entry();
  if (info == nullptr) throw PluginError(who + ": entry point returned no plugin info", 2);
  if (info->struct_size < sizeof(tn_plugin_info)) {
    throw PluginError(who + ": entry struct size " + std::to_string(info->struct_size) +
                          " is smaller than the host's " + std::to_string(sizeof(tn_plugin_info)),
                      2);
  }
  if (info->abi_version != TN_PLUGIN_ABI_VERSION) {
    throw PluginError(who + ": plugin ABI version " + std::to_string(info->abi_version) +
                          " does not match the host's plugin ABI version " +
                          std::to_string(TN_PLUGIN_ABI_VERSION),
                      2);
  }
  check_fingerprint(who, info->fingerprint);
  PluginRecord rec;
  rec.id = info->id ? info->id : "";
  rec.version = info->version ? info->version : "";
  rec.license = info->license ? info->license : "";
  rec.summary = info->summary ? info->summary : "";
  rec.file = canonical;
  static const std::regex kId("^[a-z0-9][a-z0-9-]*(\\.[a-z0-9][a-z0-9_-]*)+$");
  static const std::regex kSemver(
      "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)"
      "(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?$");
  static const std::regex kSpdx("^[A-Za-z0-9.+() -]+$");
  if (!std::regex_match(rec.id, kId)) {
    throw PluginError(who + ": plugin id " + quote(rec.id) +
                          " is not a reverse-DNS name (e.g. org.example.my_proxy)",
                      2);
  }
  if (!std::regex_match(rec.version, kSemver)) {
    throw PluginError(who + ": version " + quote(rec.version) + " of plugin '" + rec.id +
                          "' is not semver (MAJOR.MINOR.PATCH)",
                      2);
  }
  if (!std::regex_match(rec.license, kSpdx)) {
    throw PluginError(who + ": license " + quote(rec.license) + " of plugin '" + rec.id +
                          "' is not an SPDX expression",
                      2);
  }
  for (const PluginRecord& other : plugins_) {
    if (other.id == rec.id) {
      throw PluginError(
          "plugin id '" + rec.id + "' is provided by two files: " + other.file + " and " + rec.file,
          2);
    }
  }
  if (info->register_components == nullptr) {
    throw PluginError(who + ": plugin '" + rec.id + "' has no register callback", 2);
  }
  Origin origin;
  origin.plugin_id = rec.id;
  origin.file = rec.file;
  Adder adder(*this, origin);
  guarded(origin, "register", [&] { info->register_components(static_cast<Registrar*>(&adder)); });
  auto added = adder.take();
  for (auto& e : added) {
    rec.components.push_back(std::string(kind_key(e->info.kind)) + "/" + e->info.name);
    entries_.push_back(std::move(e));
  }
  log().debug("loaded plugin {} {} ({} components) from {}", rec.id, rec.version,
              rec.components.size(), rec.file);
  plugins_.push_back(std::move(rec));
  loaded_files_.push_back(canonical);
}

const ComponentEntry* Registry::find(ComponentKind kind, const std::string& name) const {
  for (const auto& e : entries_) {
    if (e->info.kind == kind && e->info.name == name) return e.get();
  }
  return nullptr;
}

std::vector<std::string> Registry::names(ComponentKind kind) const {
  std::vector<std::string> out;
  for (const auto& e : entries_) {
    if (e->info.kind == kind) out.push_back(e->info.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<const ComponentEntry*> Registry::components() const {
  std::vector<const ComponentEntry*> out;
  for (const auto& e : entries_) out.push_back(e.get());
  return out;
}

const ComponentEntry* Registry::require(ComponentKind kind, const std::string& name) const {
  if (const ComponentEntry* e = find(kind, name)) return e;
  throw ConfigError("unknown " + std::string(to_string(kind)) + " '" + name + "'" +
                    suggest(name, names(kind)));
}

const ComponentEntry* Registry::claimant(ComponentKind kind, const std::string& handle) const {
  for (const auto& e : entries_) {
    const auto& hs = e->info.claims.handles;
    if (e->info.kind == kind && std::find(hs.begin(), hs.end(), handle) != hs.end()) {
      return e.get();
    }
  }
  return nullptr;
}

std::vector<std::string> Registry::handles(ComponentKind kind) const {
  std::vector<std::string> out;
  for (const auto& e : entries_) {
    if (e->info.kind != kind) continue;
    out.insert(out.end(), e->info.claims.handles.begin(), e->info.claims.handles.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<const ComponentEntry*> Registry::defaults(ComponentKind kind) const {
  std::vector<const ComponentEntry*> out;
  for (const auto& e : entries_) {
    if (e->info.kind == kind && e->info.claims.is_default) out.push_back(e.get());
  }
  return out;
}

const ComponentEntry* Registry::require_default(ComponentKind kind, const std::string& what) const {
  const std::vector<const ComponentEntry*> d = defaults(kind);
  if (d.size() == 1) return d.front();
  if (d.empty()) {
    throw ConfigError(what + ": no " + to_string(kind) +
                      " is named and no loaded plugin provides a default one (known: " +
                      join(names(kind), ", ") + ")");
  }
  std::vector<std::string> both;
  for (const ComponentEntry* e : d) both.push_back(e->origin.describe());
  throw ConfigError(what + ": no " + std::string(to_string(kind)) +
                    " is named and several plugins mark one default: " + join(both, "; "));
}

std::unique_ptr<Component> Registry::create_raw(ComponentKind kind, const std::string& name,
                                                const ParamValues& params,
                                                const RunContext& run) const {
  const ComponentEntry* entry = require(kind, name);
  std::unique_ptr<Component> obj =
      guarded(entry->origin, "create", [&] { return entry->info.factory(params, run); });
  if (!obj) throw PluginError(entry->origin.describe() + ": create: factory returned nothing", 1);
  return obj;
}

void Registry::throw_wrong_type(const Origin& origin) {
  throw PluginError(origin.describe() +
                        ": create: the factory returned an object that does not "
                        "implement the " +
                        std::string(to_string(origin.kind)) + " interface",
                    1);
}

}  // namespace tracenas
