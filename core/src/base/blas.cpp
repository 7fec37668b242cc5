#include "base/blas.hpp"

#include <dlfcn.h>

#include <algorithm>

#include "tracenas/log.hpp"

namespace tracenas {
namespace {

using GetThreads = int (*)();
using SetThreads = void (*)(int);

template <typename Fn>
Fn blas_function(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

}  // namespace

int blas_threads() {
  static const auto get = blas_function<GetThreads>("openblas_get_num_threads");
  return get != nullptr ? get() : 0;
}

bool set_blas_threads(int n) {
  static const auto set = blas_function<SetThreads>("openblas_set_num_threads");
  if (set == nullptr || n < 1) return false;
  set(n);
  return true;
}

int choose_blas_threads(double tokens, double in, double out, int threads) {
  constexpr double kSmallMatmul = 67108864.0;  // 2^26 multiply-adds
  const int want = tokens * in * out < kSmallMatmul ? 1 : std::max(1, threads);
  if (blas_threads() != want && set_blas_threads(want)) {
    log().debug("BLAS threads: {} (largest projection {:.3g} multiply-adds per forward)", want,
                tokens * in * out);
  }
  return blas_threads();
}

}  // namespace tracenas
