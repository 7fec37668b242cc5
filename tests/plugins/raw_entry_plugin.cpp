// Loader fixture: an entry struct written by hand, so that one field can be
// wrong. Built as a plain MODULE (not tracenas_add_plugin), once per broken
// field; the compile definitions choose which:
//   TN_FIXTURE_ID                    the plugin id (a valid one)
//   TN_FIXTURE_ABI_DELTA             added to abi_version
//   TN_FIXTURE_STRUCT_SIZE_DELTA     subtracted from struct_size
//   TN_FIXTURE_COMPILER_MAJOR_DELTA  added to the fingerprint's compiler major
//   TN_FIXTURE_CXX11_ABI_FLIP        flips the fingerprint's C++11 ABI flag
//   TN_FIXTURE_TORCH_MINOR_DELTA     added to the fingerprint's LibTorch minor
// Its register callback registers nothing and must never be called.
#include <cstdlib>

#include "tracenas/plugin.hpp"

#ifndef TN_FIXTURE_ABI_DELTA
#define TN_FIXTURE_ABI_DELTA 0
#endif
#ifndef TN_FIXTURE_STRUCT_SIZE_DELTA
#define TN_FIXTURE_STRUCT_SIZE_DELTA 0
#endif
#ifndef TN_FIXTURE_COMPILER_MAJOR_DELTA
#define TN_FIXTURE_COMPILER_MAJOR_DELTA 0
#endif
#ifndef TN_FIXTURE_CXX11_ABI_FLIP
#define TN_FIXTURE_CXX11_ABI_FLIP 0
#endif
#ifndef TN_FIXTURE_TORCH_MINOR_DELTA
#define TN_FIXTURE_TORCH_MINOR_DELTA 0
#endif

namespace {

// Reaching it means the host let a mismatched plugin in: fail loudly.
void must_not_register(void*) { std::abort(); }

}  // namespace

extern "C" __attribute__((visibility("default"))) const tn_plugin_info* tracenas_plugin_entry_v1(
    void) {
  static const tn_plugin_info info = {
      static_cast<uint32_t>(sizeof(tn_plugin_info) - TN_FIXTURE_STRUCT_SIZE_DELTA),
      TN_PLUGIN_ABI_VERSION + TN_FIXTURE_ABI_DELTA,
      TN_FIXTURE_ID,
      "0.1.0",
      "MIT",
      "loader fixture: a hand-written entry struct",
      tn_build_fingerprint{TN_COMPILER_ID, TN_COMPILER_MAJOR + TN_FIXTURE_COMPILER_MAJOR_DELTA,
                           TN_FIXTURE_CXX11_ABI_FLIP ? (TN_CXX11_ABI == 1 ? 0 : 1) : TN_CXX11_ABI,
                           TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR + TN_FIXTURE_TORCH_MINOR_DELTA},
      must_not_register};
  return &info;
}
