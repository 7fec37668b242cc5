#include "base/blas.hpp"

#include <dlfcn.h>

#include <algorithm>

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

PassThreads choose_pass_threads(double tokens, double in, double out, int threads,
                                long long pieces) {
  constexpr double kSmallMatmul = 67108864.0;    // 2^26 multiply-adds
  constexpr double kShareMatmul = 1073741824.0;  // 2^30
  const double macs = tokens * in * out;
  PassThreads p;
  if (threads >= 2 && pieces >= 2 && macs < kShareMatmul) {
    p.shares = static_cast<int>(std::min<long long>(threads, pieces));
  } else if (macs >= kSmallMatmul) {
    p.blas = std::max(1, threads);
  }
  return p;
}

BlasThreadsScope::BlasThreadsScope(int n) {
  const int now = blas_threads();
  if (n < 1 || now == 0 || now == n) return;
  if (set_blas_threads(n)) before_ = now;
}

BlasThreadsScope::~BlasThreadsScope() {
  if (before_ > 0) set_blas_threads(before_);
}

}  // namespace tracenas
