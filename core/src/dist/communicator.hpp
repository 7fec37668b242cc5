// The collectives a distributed TraceNAS run uses, behind one small
// interface, so that nothing else names c10d:
//
//   single_process()        world size 1: every collective returns its input.
//   make_process_group()    a c10d process group (c10d_group.cpp, the only
//                           file that includes c10d): ProcessGroupGloo on the
//                           CPU; ProcessGroupNCCL for CUDA tensors where
//                           LibTorch was built with it (USE_C10D_NCCL).
//
// Every call names what the rank is doing (`what`, e.g. "evaluating
// candidates 17-24"); a collective that fails or outlives the group's
// timeout throws tracenas::Error "rank R of N: <what>: <cause>", so the rank
// that notices a dead peer says which step it was in.
//
// Gloo in LibTorch 1.13 has no bfloat16 or float16 sum: allreduce_sum sums
// such tensors in float32 and writes the result back (the sum of bfloat16
// gradients is then rounded once, not once per rank).
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tracenas {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool is_root() const { return rank() == 0; }

  // In place: every rank's tensors become the elementwise sum over the ranks.
  // Same shapes and dtypes on every rank.
  virtual void allreduce_sum(std::vector<at::Tensor>& tensors, const std::string& what) = 0;

  // A collective under way: wait() blocks until it is done (and throws as
  // the blocking call would).
  class Pending {
   public:
    virtual ~Pending() = default;
    virtual void wait() = 0;
  };
  // allreduce_sum started in the background: returns at once, and the sums
  // are in `tensors` after wait(). The tensors must not be touched until then.
  // Every rank starts the same collectives in the same order.
  virtual std::unique_ptr<Pending> start_allreduce_sum(std::vector<at::Tensor> tensors,
                                                       const std::string& what);

  // allreduce_sum in buckets of at most `bucket_elements` elements (a tensor
  // larger than that is a bucket of its own), so that the flat buffer of a
  // collective stays bounded however many tensors there are.
  void allreduce_sum_buckets(std::vector<at::Tensor>& tensors, const std::string& what,
                             std::int64_t bucket_elements = kBucketElements);
  static constexpr std::int64_t kBucketElements = std::int64_t{1} << 25;
  // In place: every rank's tensors become `root`'s.
  virtual void broadcast(std::vector<at::Tensor>& tensors, int root, const std::string& what) = 0;
  // Every rank's bytes, in rank order (lengths may differ).
  virtual std::vector<std::string> allgather(const std::string& mine, const std::string& what) = 0;
  virtual void barrier(const std::string& what) = 0;

  // `root`'s bytes on every rank.
  std::string broadcast_bytes(const std::string& bytes, int root, const std::string& what);
};

std::unique_ptr<Communicator> single_process();

// A store in this process that several in-process ranks share (ranks as
// threads: the tests). Opaque outside c10d_group.cpp.
struct SharedStore;
std::shared_ptr<SharedStore> make_shared_store();

struct GroupOptions {
  int rank = 0;
  int size = 1;
  // How the ranks meet: a TCPStore at master_addr:master_port (hosted by
  // rank 0 unless `store_exists`), a FileStore at `store_file` when not
  // empty, or `shared` (in-process ranks) when set.
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool store_exists = false;
  std::string store_file;
  std::shared_ptr<SharedStore> shared;
  std::string key_prefix = "tracenas";  // keys of this group in the store
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  // The Gloo device: the network interface GLOO_SOCKET_IFNAME names when it
  // is set, else this host name or address ("": the machine's host name).
  std::string hostname;
  std::string device = "cpu";  // "cuda...": NCCL where available
};

std::unique_ptr<Communicator> make_process_group(const GroupOptions& options);

// Whether this build can make process groups for `device` ("cpu": Gloo).
bool process_groups_available(const std::string& device);

}  // namespace tracenas
