// Process-wide runtime settings taken from a run: LibTorch threads, device.
#pragma once

#include <string>

#include "base/blas.hpp"
#include "tracenas/component.hpp"

namespace tracenas {

// Sets LibTorch's intra-op thread count explicitly and resolves the device:
// "auto" becomes "cuda" when LibTorch has a CUDA device, else "cpu"; "cuda"
// without one is a ConfigError. Returns the context with the device resolved.
RunContext apply_runtime(RunContext run);

// Keeps large freed blocks in the process instead of returning them to the
// kernel after every step (glibc only): re-faulting fresh pages for each
// forward/backward's activations costs more than the step on small machines.
// apply_runtime() calls it; benchmarks call it directly.
void tune_allocator();

bool cuda_available();
std::string torch_version();

}  // namespace tracenas
