#include "tracenas/runtime.hpp"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include "tracenas/error.hpp"
#include "tracenas/log.hpp"

namespace tracenas {

bool cuda_available() { return at::hasCUDA(); }

std::string torch_version() { return TORCH_VERSION; }

RunContext apply_runtime(RunContext run) {
  if (run.threads > 0) {
    at::set_num_threads(run.threads);
    log().debug("LibTorch intra-op threads: {}", at::get_num_threads());
  }
  if (run.device == "auto") {
    run.device = cuda_available() ? "cuda" : "cpu";
  } else if (run.device.rfind("cuda", 0) == 0 && !cuda_available()) {
    throw ConfigError("run.device: cuda was asked for, but this LibTorch (" + torch_version() +
                      ") has no CUDA device (got cuda)");
  }
  return run;
}

}  // namespace tracenas
