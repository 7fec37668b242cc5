// Placeholder (being written).
#include "tracenas/plugin.hpp"
namespace {
void register_components(tracenas::Registrar&) {}
}  // namespace
TN_PLUGIN_WITH_SUMMARY("org.tracenas.data.text", "0.1.0", "Apache-2.0", "placeholder", register_components)
