#include "model/adapters.hpp"

#include <algorithm>

#include "base/util.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/hf_config.hpp"

namespace tracenas {
namespace {

std::string config_file(const std::string& dir) { return dir + "/config.json"; }

[[noreturn]] void unsupported(const Registry& registry, const std::string& dir,
                              const std::string& type) {
  throw ModelError(config_file(dir) + ": model_type: unsupported model type \"" + type +
                   "\" (supported: " + join(registry.handles(ComponentKind::kModel), ", ") + ")");
}

}  // namespace

std::string adapter_for_model_type(const Registry& registry, const std::string& dir) {
  const std::string type = read_hf_model_type(dir);
  const ComponentEntry* e = registry.claimant(ComponentKind::kModel, type);
  if (e == nullptr) unsupported(registry, dir, type);
  return e->info.name;
}

Instance<ModelAdapter> create_model_adapter(const Registry& registry, const std::string& name,
                                            const ParamValues& params, const RunContext& run) {
  const std::string dir = params.has("path") ? params.get_string("path") : "";
  if (name.empty())
    return registry.create<ModelAdapter>(adapter_for_model_type(registry, dir), params, run);
  const ComponentEntry* named = registry.require(ComponentKind::kModel, name);
  const std::vector<std::string>& reads = named->info.claims.handles;
  if (!reads.empty() && !dir.empty()) {
    const std::string type = read_hf_model_type(dir);
    if (std::find(reads.begin(), reads.end(), type) == reads.end()) {
      const ComponentEntry* other = registry.claimant(ComponentKind::kModel, type);
      if (other == nullptr) unsupported(registry, dir, type);
      std::vector<std::string> quoted;
      for (const std::string& t : reads) quoted.push_back("\"" + t + "\"");
      throw ModelError(config_file(dir) + ": model_type: the " + name + " adapter reads " +
                       join(quoted, " and ") + " checkpoints (got \"" + type + "\"; use adapter '" +
                       other->info.name + "')");
    }
  }
  return registry.create<ModelAdapter>(name, params, run);
}

}  // namespace tracenas
