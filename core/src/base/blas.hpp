// The BLAS thread count, set at run time (shared by the SDK library and the
// engine; stateless apart from the looked-up function pointers).
#pragma once

namespace tracenas {

// OpenBLAS (the BLAS of Debian's LibTorch) runs each matmul on its own
// threads, beside LibTorch's OpenMP threads. On matmuls of a few million
// multiply-adds the hand-off costs more than the second thread saves
// (stories260K, 2 cores: a candidate took 0.15 s with one BLAS thread and
// 0.18 s with two). blas_threads() is OpenBLAS's thread count, or 0 when the
// process has no OpenBLAS; set_blas_threads() returns false when it cannot
// set it. Both look the functions up at run time, so other BLAS builds work.
int blas_threads();
bool set_blas_threads(int n);

// How a traced pass on the CPU uses the process's `threads` LibTorch threads,
// from its largest projection (`tokens` per forward, `in` x `out`) and the
// number of pieces its batches can be cut into (`pieces`: their rows in all):
//   below 2^30 multiply-adds, with threads >= 2 and pieces >= 2: the pieces
//     run on min(threads, pieces) threads at once, one BLAS thread each
//     (PassOptions::parallel_batches); operators this small gain less from
//     two threads each than from two at once (31M benchmark model: 69-71%
//     of the dense rate one piece at a time, 79-87% two at once);
//   else below 2^26: one BLAS thread, one piece at a time (a second BLAS
//     thread's hand-off costs more than it saves: stories260K, 0.15 against
//     0.18 s per candidate);
//   else: `threads` BLAS threads, one piece at a time.
struct PassThreads {
  int blas = 1;    // BLAS threads during the pass
  int shares = 1;  // pieces at once
};
PassThreads choose_pass_threads(double tokens, double in, double out, int threads,
                                long long pieces);

// Sets the BLAS thread count for its lifetime (n < 1, or no OpenBLAS: nothing).
class BlasThreadsScope {
 public:
  explicit BlasThreadsScope(int n);
  ~BlasThreadsScope();
  BlasThreadsScope(const BlasThreadsScope&) = delete;
  BlasThreadsScope& operator=(const BlasThreadsScope&) = delete;

 private:
  int before_ = 0;
};

}  // namespace tracenas
