// The plugin entry point: what a shared library exports to be a TraceNAS plugin.
//
// A plugin exports exactly one symbol, the versioned C function
// `tracenas_plugin_entry_v1`, returning a plain struct: identity (reverse-DNS
// id, semver, SPDX license), the plugin ABI version, a build fingerprint and
// a register callback. The host reads the struct and refuses any mismatch with
// one line naming both values before any C++ object crosses the boundary;
// only then does it call `register_components` with its Registrar.
//
// A plugin source file defines its components and ends with
//
//   TN_PLUGIN("org.example.myproxy", "0.1.0", "MIT", register_my_components)
//
// where `void register_my_components(tracenas::Registrar&)` adds them. Build
// it with `tracenas_add_plugin()` from the CMake package, which compiles with
// hidden visibility and exports only the entry point.
#pragma once

#include <torch/version.h>

#include <cstdint>

#include "tracenas/component.hpp"

// Bump when the entry struct, Registrar or any core interface changes in a
// way that breaks binary compatibility.
#define TN_PLUGIN_ABI_VERSION 3
#define TN_PLUGIN_ENTRY_SYMBOL "tracenas_plugin_entry_v1"

#if defined(__clang__)
#define TN_COMPILER_ID 2
#define TN_COMPILER_MAJOR __clang_major__
#elif defined(__GNUC__)
#define TN_COMPILER_ID 1
#define TN_COMPILER_MAJOR __GNUC__
#else
#define TN_COMPILER_ID 0
#define TN_COMPILER_MAJOR 0
#endif

#ifdef _GLIBCXX_USE_CXX11_ABI
#define TN_CXX11_ABI _GLIBCXX_USE_CXX11_ABI
#else
#define TN_CXX11_ABI -1
#endif

extern "C" {

// What a binary was built with. Two binaries can share C++ objects only if
// these agree.
struct tn_build_fingerprint {
  int32_t compiler_id;     // 1 = GCC, 2 = Clang
  int32_t compiler_major;  // e.g. 12
  int32_t cxx11_abi;       // libstdc++ _GLIBCXX_USE_CXX11_ABI (0 or 1)
  int32_t torch_major;     // LibTorch major.minor
  int32_t torch_minor;
};

struct tn_plugin_info {
  uint32_t struct_size;  // sizeof(tn_plugin_info) as the plugin saw it
  uint32_t abi_version;  // TN_PLUGIN_ABI_VERSION as the plugin saw it
  const char* id;        // reverse-DNS, e.g. "org.tracenas.llama"
  const char* version;   // semver, e.g. "1.2.0"
  const char* license;   // SPDX identifier, e.g. "Apache-2.0"
  const char* summary;   // one line
  tn_build_fingerprint fingerprint;
  // Called once, after every check has passed. `registrar` is a
  // tracenas::Registrar*.
  void (*register_components)(void* registrar);
};

typedef const tn_plugin_info* (*tn_plugin_entry_fn)(void);

}  // extern "C"

#define TN_BUILD_FINGERPRINT                                                                  \
  tn_build_fingerprint {                                                                      \
    TN_COMPILER_ID, TN_COMPILER_MAJOR, TN_CXX11_ABI, TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR \
  }

// Defines the plugin's entry point. REGISTER_FN: void(tracenas::Registrar&).
#define TN_PLUGIN_WITH_SUMMARY(ID, VERSION, LICENSE, SUMMARY, REGISTER_FN)      \
  extern "C" __attribute__((visibility("default"))) const tn_plugin_info*       \
  tracenas_plugin_entry_v1(void) {                                              \
    static const tn_plugin_info info = {                                        \
        sizeof(tn_plugin_info),                                                 \
        TN_PLUGIN_ABI_VERSION,                                                  \
        ID,                                                                     \
        VERSION,                                                                \
        LICENSE,                                                                \
        SUMMARY,                                                                \
        TN_BUILD_FINGERPRINT,                                                   \
        [](void* r) { REGISTER_FN(*static_cast<::tracenas::Registrar*>(r)); }}; \
    return &info;                                                               \
  }

#define TN_PLUGIN(ID, VERSION, LICENSE, REGISTER_FN) \
  TN_PLUGIN_WITH_SUMMARY(ID, VERSION, LICENSE, "", REGISTER_FN)
