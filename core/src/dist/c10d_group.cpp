// The c10d process groups behind Communicator (communicator.hpp). The only
// file that includes c10d, so the differences between LibTorch versions stay
// here: in 1.13 ProcessGroupGloo derives from c10d::ProcessGroup, in 2.x from
// c10d::Backend; both have the collectives used below with the same
// signatures, so Group is a template over the concrete group class.
#include <ATen/ATen.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <utility>

#include "dist/communicator.hpp"
#include "tracenas/error.hpp"

// Gloo's own headers come with Debian's libgloo-dev, and with LibTorch builds
// that ship them; core/CMakeLists.txt defines TN_WITHOUT_GLOO when they are
// not found, and this file then makes no Gloo group.
#if defined(USE_C10D_GLOO) && !defined(TN_WITHOUT_GLOO)
#define TN_GLOO 1
#else
#define TN_GLOO 0
#endif
// The same for NCCL's nccl.h (TN_WITHOUT_NCCL), which LibTorch wheels leave to
// the NCCL package beside them.
#if defined(USE_C10D_NCCL) && !defined(TN_WITHOUT_NCCL)
#define TN_NCCL 1
#else
#define TN_NCCL 0
#endif

#ifdef USE_DISTRIBUTED
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>
#if TN_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if TN_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace tracenas {

std::string Communicator::broadcast_bytes(const std::string& bytes, int root,
                                          const std::string& what) {
  if (size() == 1) return bytes;
  std::vector<std::string> all = allgather(rank() == root ? bytes : std::string(), what);
  return all.at(static_cast<std::size_t>(root));
}

namespace {

// A collective that was done when it was started.
class Done final : public Communicator::Pending {
 public:
  void wait() override {}
};

}  // namespace

std::unique_ptr<Communicator::Pending> Communicator::start_allreduce_sum(
    std::vector<at::Tensor> tensors, const std::string& what) {
  allreduce_sum(tensors, what);
  return std::make_unique<Done>();
}

void Communicator::allreduce_sum_buckets(std::vector<at::Tensor>& tensors, const std::string& what,
                                         std::int64_t bucket_elements) {
  if (size() == 1) return;
  std::vector<at::Tensor> bucket;
  std::int64_t elements = 0;
  for (const at::Tensor& t : tensors) {
    if (!bucket.empty() && elements + t.numel() > bucket_elements) {
      allreduce_sum(bucket, what);
      bucket.clear();
      elements = 0;
    }
    bucket.push_back(t);
    elements += t.numel();
  }
  if (!bucket.empty()) allreduce_sum(bucket, what);
}

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allreduce_sum(std::vector<at::Tensor>&, const std::string&) override {}
  void broadcast(std::vector<at::Tensor>&, int, const std::string&) override {}
  std::vector<std::string> allgather(const std::string& mine, const std::string&) override {
    return {mine};
  }
  void barrier(const std::string&) override {}
};

}  // namespace

std::unique_ptr<Communicator> single_process() { return std::make_unique<SingleProcess>(); }

#ifdef USE_DISTRIBUTED

struct SharedStore {
  c10::intrusive_ptr<c10d::Store> store;
};

std::shared_ptr<SharedStore> make_shared_store() {
  auto s = std::make_shared<SharedStore>();
  s->store = c10::make_intrusive<c10d::HashStore>();
  return s;
}

namespace {

bool low_precision(const at::Tensor& t) {
  return t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kHalf;
}

template <class PG>
class Group final : public Communicator {
 public:
  Group(c10::intrusive_ptr<PG> pg, int rank, int size, at::Device device, bool sums_low_precision)
      : pg_(std::move(pg)),
        rank_(rank),
        size_(size),
        device_(device),
        sums_low_precision_(sums_low_precision) {}

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void allreduce_sum(std::vector<at::Tensor>& tensors, const std::string& what) override {
    start_allreduce_sum(tensors, what)->wait();
  }

  std::unique_ptr<Pending> start_allreduce_sum(std::vector<at::Tensor> tensors,
                                               const std::string& what) override {
    auto pending = std::make_unique<Sums>(*this, std::move(tensors), what);
    guard(what, [&] {
      // One flat buffer per summed dtype: one collective each, whatever the count.
      std::map<at::ScalarType, std::vector<std::size_t>> by_dtype;
      for (std::size_t i = 0; i < pending->tensors.size(); ++i) {
        const at::Tensor& t = pending->tensors[i];
        by_dtype[low_precision(t) && !sums_low_precision_ ? at::kFloat : t.scalar_type()].push_back(
            i);
      }
      for (auto& [dtype, index] : by_dtype) {
        std::vector<at::Tensor> flat;
        for (std::size_t i : index)
          flat.push_back(pending->tensors[i].reshape({-1}).to(device_, dtype));
        std::vector<at::Tensor> buffer = {at::cat(flat)};
        auto work = pg_->allreduce(buffer);
        pending->parts.push_back({std::move(index), std::move(buffer), std::move(work)});
      }
    });
    return pending;
  }

  void broadcast(std::vector<at::Tensor>& tensors, int root, const std::string& what) override {
    guard(what, [&] {
      c10d::BroadcastOptions o;
      o.rootRank = root;
      for (at::Tensor& t : tensors) {
        // Bit-exact: 16-bit floats travel as bytes (Gloo in 1.13 has no 16-bit integers).
        at::Tensor x = t.contiguous().reshape({-1}).to(device_);
        if (low_precision(x)) x = x.view(at::kByte);
        std::vector<at::Tensor> one = {x};
        pg_->broadcast(one, o)->wait();
        at::Tensor got = low_precision(t) ? one[0].view(t.scalar_type()) : one[0];
        t.copy_(got.view(t.sizes()));
      }
    });
  }

  std::vector<std::string> allgather(const std::string& mine, const std::string& what) override {
    std::vector<std::string> out(static_cast<std::size_t>(size_));
    guard(what, [&] {
      auto gather = [&](const at::Tensor& t) {
        std::vector<std::vector<at::Tensor>> outputs(1);
        for (int r = 0; r < size_; ++r) outputs[0].push_back(at::empty_like(t));
        std::vector<at::Tensor> input = {t};
        pg_->allgather(outputs, input)->wait();
        return outputs[0];
      };
      const auto lengths =
          gather(at::tensor({static_cast<std::int64_t>(mine.size())}, at::kLong).to(device_));
      std::int64_t longest = 0;
      for (const at::Tensor& n : lengths)
        longest = std::max(longest, n.template item<std::int64_t>());
      if (longest == 0) return;
      at::Tensor buf = at::zeros({longest}, at::kByte);
      std::memcpy(buf.data_ptr(), mine.data(), mine.size());
      const auto parts = gather(buf.to(device_));
      for (int r = 0; r < size_; ++r) {
        const at::Tensor p = parts[static_cast<std::size_t>(r)].to(at::kCPU).contiguous();
        const auto n = static_cast<std::size_t>(
            lengths[static_cast<std::size_t>(r)].template item<std::int64_t>());
        out[static_cast<std::size_t>(r)].assign(static_cast<const char*>(p.data_ptr()), n);
      }
    });
    return out;
  }

  void barrier(const std::string& what) override {
    guard(what, [&] { pg_->barrier()->wait(); });
  }

 private:
  // What PG::allreduce returns (c10d's Work moved out of ProcessGroup in 2.x).
  using WorkPtr = decltype(std::declval<PG&>().allreduce(std::declval<std::vector<at::Tensor>&>(),
                                                         c10d::AllreduceOptions()));
  // The allreduces of one start_allreduce_sum: per dtype, the flat buffer and its work.
  struct Sums final : Pending {
    struct Part {
      std::vector<std::size_t> index;
      std::vector<at::Tensor> buffer;
      WorkPtr work;
    };
    Sums(Group& g, std::vector<at::Tensor> t, std::string w)
        : group(g), tensors(std::move(t)), what(std::move(w)) {}
    void wait() override {
      group.guard(what, [&] {
        for (Part& p : parts) {
          p.work->wait();
          std::int64_t at = 0;
          for (std::size_t i : p.index) {
            const std::int64_t n = tensors[i].numel();
            tensors[i].copy_(p.buffer[0].narrow(0, at, n).view(tensors[i].sizes()));
            at += n;
          }
        }
        parts.clear();
      });
    }
    Group& group;
    std::vector<at::Tensor> tensors;
    std::string what;
    std::vector<Part> parts;
  };

  template <class F>
  void guard(const std::string& what, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      std::string cause = e.what();
      if (const auto nl = cause.find('\n'); nl != std::string::npos) cause.resize(nl);
      throw Error("rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " + what +
                  ": " + cause);
    }
  }

  c10::intrusive_ptr<PG> pg_;
  int rank_;
  int size_;
  at::Device device_;
  bool sums_low_precision_;
};

c10::intrusive_ptr<c10d::Store> open_store(const GroupOptions& o) {
  c10::intrusive_ptr<c10d::Store> store;
  if (o.shared) {
    store = o.shared->store;
  } else if (!o.store_file.empty()) {
    store = c10::make_intrusive<c10d::FileStore>(o.store_file, o.size);
  } else {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.master_port);
    so.isServer = !o.store_exists && o.rank == 0;
    so.waitWorkers = false;
    so.timeout = o.timeout;
    store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
  }
  store = c10::make_intrusive<c10d::PrefixStore>(o.key_prefix, store);
  store->setTimeout(o.timeout);
  return store;
}

}  // namespace

bool process_groups_available(const std::string& device) {
#if TN_NCCL
  if (device.rfind("cuda", 0) == 0) return true;
#endif
#if TN_GLOO
  return device.rfind("cuda", 0) != 0;
#else
  (void)device;
  return false;
#endif
}

std::unique_ptr<Communicator> make_process_group(const GroupOptions& o) {
  if (o.size == 1) return single_process();
  if (!process_groups_available(o.device)) {
    throw ConfigError("distributed runs on " + o.device + " need a LibTorch built with c10d " +
                      (o.device.rfind("cuda", 0) == 0 ? "NCCL" : "Gloo") +
                      " (this one has none); run one process");
  }
  const std::string where = "rank " + std::to_string(o.rank) + " of " + std::to_string(o.size);
  try {
    c10::intrusive_ptr<c10d::Store> store = open_store(o);
#if TN_NCCL
    if (o.device.rfind("cuda", 0) == 0) {
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = o.timeout;
      auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, o.rank, o.size, opts);
      return std::make_unique<Group<c10d::ProcessGroupNCCL>>(pg, o.rank, o.size,
                                                             at::Device(o.device), true);
    }
#endif
#if TN_GLOO
    auto opts = c10d::ProcessGroupGloo::Options::create(o.timeout);
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname != nullptr && *ifname != '\0') {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (!o.hostname.empty()) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(o.hostname));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    opts->threads = 2;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, o.rank, o.size, opts);
    return std::make_unique<Group<c10d::ProcessGroupGloo>>(pg, o.rank, o.size, at::Device(at::kCPU),
                                                           false);
#endif
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    std::string cause = e.what();
    if (const auto nl = cause.find('\n'); nl != std::string::npos) cause.resize(nl);
    throw Error(where + ": joining the process group: " + cause);
  }
  throw ConfigError("no process group for " + o.device);
}

#else  // no c10d in this LibTorch

struct SharedStore {};
std::shared_ptr<SharedStore> make_shared_store() { return std::make_shared<SharedStore>(); }
bool process_groups_available(const std::string&) { return false; }
std::unique_ptr<Communicator> make_process_group(const GroupOptions& o) {
  if (o.size == 1) return single_process();
  throw ConfigError("distributed runs need a LibTorch built with c10d (this one has none)");
}

#endif

}  // namespace tracenas
