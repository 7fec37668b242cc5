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

// One BLAS thread for passes whose largest projection is below 2^26
// multiply-adds per forward (`tokens` per forward, `in` x `out` the
// projection), the configured threads otherwise. Returns the count in effect.
int choose_blas_threads(double tokens, double in, double out, int threads);

}  // namespace tracenas
