// The built-in plugins of this build tree, loaded once per fuzz process.
#pragma once

#include "plugin/registry.hpp"

namespace tracenas::fuzz {

inline const Registry& builtin_registry() {
  static const Registry* r = [] {
    auto* reg = new Registry();  // plugins are never unloaded
    reg->discover({});
    return reg;
  }();
  return *r;
}

}  // namespace tracenas::fuzz
