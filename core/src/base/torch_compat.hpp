// The LibTorch API differences TraceNAS meets between LibTorch 1.13 (Debian
// 12, what CI builds with) and 2.x (the PyTorch wheels of GPU machines), in one
// place. Everything else compiles unchanged against both.
//
// - Autocast: 2.4 replaced the per-backend functions (is_enabled /
//   is_cpu_enabled, get_autocast_gpu_dtype / get_autocast_cpu_dtype, set_...)
//   by functions that take the device type; the old ones are deprecated.
// - at::Allocator (used by a test's allocation probe): from 2.3,
//   allocate() is no longer const and copy_data() must be defined.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/Allocator.h>
#include <torch/version.h>

#include <cstring>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define TN_TORCH_DEVICE_AUTOCAST 1
#else
#define TN_TORCH_DEVICE_AUTOCAST 0
#endif

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
// at::Allocator::allocate's qualifier, and copy_data(), from 2.3.
#define TN_ALLOCATE_CONST
#define TN_ALLOCATOR_COPY_DATA                                                    \
  void copy_data(void* dest, const void* src, std::size_t count) const override { \
    std::memcpy(dest, src, count);                                                \
  }
#else
#define TN_ALLOCATE_CONST const
#define TN_ALLOCATOR_COPY_DATA
#endif

namespace tracenas::compat {

inline bool autocast_enabled(bool cuda) {
#if TN_TORCH_DEVICE_AUTOCAST
  return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

inline at::ScalarType autocast_dtype(bool cuda) {
#if TN_TORCH_DEVICE_AUTOCAST
  return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU);
#else
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

inline void set_autocast(bool cuda, bool enabled, at::ScalarType dtype) {
#if TN_TORCH_DEVICE_AUTOCAST
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, dtype);
  at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, enabled);
#else
  if (cuda) {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
}

}  // namespace tracenas::compat
