#include "base/threads.hpp"

#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <dlfcn.h>
#include <pthread.h>

#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tracenas {
namespace {

using GetThreads = int (*)();
using SetThreads = void (*)(int);

struct OpenMp {
  GetThreads get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
  SetThreads set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  bool found() const { return get != nullptr && set != nullptr; }
};

const OpenMp& openmp() {
  static const OpenMp omp;
  return omp;
}

// Threads kept for the process's life (they set their OpenMP thread count
// once: LibTorch's first use on a thread sets it, and that is not cheap).
// One call at a time; a call made while another runs gets none.
class Workers {
 public:
  static Workers& instance() {
    // Never destroyed: its threads wait at exit. A forked child has none of
    // them, so it starts afresh.
    static const bool registered = [] {
      pthread_atfork(nullptr, nullptr, [] { current() = new Workers(); });
      return true;
    }();
    (void)registered;
    return *current();
  }

  std::unique_lock<std::mutex> try_acquire() {
    return std::unique_lock<std::mutex>(busy_, std::try_to_lock);
  }

  // Hands task(1), ..., task(n - 1) to workers (the caller runs task 0 in
  // the meantime); wait() returns once they are done. Call with the lock of
  // try_acquire().
  void start(int n, const std::function<void(int)>* task) {
    while (static_cast<int>(slots_.size()) < n - 1) add_worker();
    const std::lock_guard<std::mutex> lock(mutex_);
    task_ = task;
    pending_ = n - 1;
    for (int t = 1; t < n; ++t) slots_[static_cast<std::size_t>(t - 1)]->share = t;
    wake_.notify_all();
  }

  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
    task_ = nullptr;
  }

 private:
  static Workers*& current() {
    static Workers* workers = new Workers();
    return workers;
  }

  struct Slot {
    int share = 0;  // > 0: the share to run next
  };

  void add_worker() {
    slots_.push_back(std::make_unique<Slot>());
    Slot* slot = slots_.back().get();
    std::thread([this, slot] {
      (void)at::get_num_threads();  // LibTorch's per-thread set-up, then ours
      openmp().set(1);
      std::unique_lock<std::mutex> lock(mutex_);
      for (;;) {
        wake_.wait(lock, [&] { return slot->share > 0; });
        const int share = slot->share;
        const std::function<void(int)>* task = task_;
        lock.unlock();
        (*task)(share);
        lock.lock();
        slot->share = 0;
        if (--pending_ == 0) done_.notify_all();
      }
    }).detach();
  }

  std::mutex busy_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::unique_ptr<Slot>> slots_;
  const std::function<void(int)>* task_ = nullptr;
  int pending_ = 0;
};

}  // namespace

bool run_on_threads(int n, const std::function<void(int)>& fn) {
  const OpenMp& omp = openmp();
  if (n < 2 || !omp.found()) return false;
  Workers& workers = Workers::instance();
  std::unique_lock<std::mutex> busy = workers.try_acquire();
  if (!busy.owns_lock()) return false;  // a call inside a share, or from another thread
  const at::ThreadLocalState state;
  std::exception_ptr first;
  std::mutex first_mutex;
  auto share = [&](int t) {
    try {
      fn(t);
    } catch (...) {
      const std::lock_guard<std::mutex> lock(first_mutex);
      if (!first) first = std::current_exception();
    }
  };
  const std::function<void(int)> task = [&](int t) {
    const at::ThreadLocalStateGuard guard(state);
    share(t);
  };
  workers.start(n, &task);
  const int before = omp.get();
  omp.set(1);
  share(0);
  omp.set(before);
  workers.wait();
  if (first) std::rethrow_exception(first);
  return true;
}

}  // namespace tracenas
