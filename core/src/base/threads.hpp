// Work shared out over a few threads of our own, each running LibTorch's
// operators on that thread alone.
#pragma once

#include <functional>

namespace tracenas {

// Runs fn(0), ..., fn(n - 1) at once: fn(0) on the calling thread, the others
// on worker threads kept for the process's life, all finished before it
// returns. Each runs
// with one OpenMP thread (LibTorch's intra-op threads are OpenMP threads, so
// its operators inside fn run on fn's thread) and with the caller's
// LibTorch thread-local state (grad mode, autocast). The caller's OpenMP
// thread count is restored afterwards. The first exception thrown by any fn
// is rethrown once all have finished.
//
// Returns false, and runs nothing, when n < 2, when another call is running
// (from another thread, or from inside a share), or the process has no OpenMP
// runtime whose thread count can be set (the functions are looked up at run
// time, like the BLAS ones in blas.hpp); the caller then runs the work itself.
bool run_on_threads(int n, const std::function<void(int)>& fn);

}  // namespace tracenas
