// Process-wide runtime settings taken from a run: LibTorch threads, device.
#pragma once

#include <string>

#include "tracenas/component.hpp"

namespace tracenas {

// Sets LibTorch's intra-op thread count explicitly and resolves the device:
// "auto" becomes "cuda" when LibTorch has a CUDA device, else "cpu"; "cuda"
// without one is a ConfigError. Returns the context with the device resolved.
RunContext apply_runtime(RunContext run);

bool cuda_available();
std::string torch_version();

}  // namespace tracenas
