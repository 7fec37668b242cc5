#include "base/runtime.hpp"

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <malloc.h>
#include <torch/version.h>

#include <algorithm>

#include "tracenas/error.hpp"
#include "tracenas/log.hpp"

namespace tracenas {

bool cuda_available() { return at::hasCUDA(); }

std::string torch_version() { return TORCH_VERSION; }

void tune_allocator() {
#ifdef __GLIBC__
  // Blocks below 64 MiB come from the heap, and the heap keeps up to 256 MiB
  // free; larger blocks (a weight-sized temporary of a large model) are
  // mapped and given back at once, so they never pile up in the heap.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

RunContext apply_runtime(RunContext run) {
  tune_allocator();
  if (run.threads > 0) {
    at::set_num_threads(run.threads);
    set_blas_threads(run.threads);  // OpenBLAS would otherwise use every core
    log().debug("LibTorch intra-op threads: {}, BLAS threads: {}", at::get_num_threads(),
                blas_threads());
  }
  if (run.device == "auto") {
    run.device = cuda_available() ? "cuda" : "cpu";
  } else if (run.device.rfind("cuda", 0) == 0 && !cuda_available()) {
    throw ConfigError("run.device: cuda was asked for, but this LibTorch (" + torch_version() +
                      ") has no CUDA device (got cuda)");
  }
  if (run.device == "cpu" && run.dtype == "float16") {
    // Some LibTorch builds (1.13 among them) have no float16 matmul on CPU.
    try {
      at::mm(at::ones({2, 2}, at::kHalf), at::ones({2, 2}, at::kHalf));
    } catch (const std::exception&) {
      throw ConfigError("dtype float16: this LibTorch (" + torch_version() +
                        ") has no float16 matrix multiply on CPU; use bfloat16 or float32 on CPU, "
                        "or float16 on CUDA (got float16)");
    }
  }
  return run;
}

}  // namespace tracenas
