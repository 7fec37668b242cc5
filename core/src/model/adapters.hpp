// Choosing the model adapter for a checkpoint folder.
//
// Adapters claim the config.json `model_type` values they read
// (component.hpp, Claims). The host asks the registry which adapter reads a
// folder instead of naming families, and checks a named adapter against the
// folder before creating it, so a wrong pairing is one line that names the
// adapter to use.
#pragma once

#include <string>

#include "plugin/registry.hpp"
#include "tracenas/model.hpp"

namespace tracenas {

// The adapter that claims `dir`'s model_type; a ModelError naming
// DIR/config.json when no loaded adapter does.
std::string adapter_for_model_type(const Registry& registry, const std::string& dir);

// Creates adapter `name` (empty: by model_type) on `params` (its "path" is
// the folder). A named adapter that claims model types but not the folder's
// is a ModelError pointing to the one that does.
Instance<ModelAdapter> create_model_adapter(const Registry& registry, const std::string& name,
                                            const ParamValues& params, const RunContext& run);

}  // namespace tracenas
