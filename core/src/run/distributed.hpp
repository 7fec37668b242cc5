// A command's ranks: joining the process group when the command runs under a
// launcher (dist/launch.hpp), and what every rank checks before any work.
//
//   run.distributed: auto   one process per rank when launched by torchrun or
//                           srun with more than one rank, else one process;
//                    off    one process even under a launcher (each rank would
//                           then run the whole command: for debugging only).
//   run.distributed_timeout_s: how long a collective waits for the other
//   ranks (a round of candidates, the base preparation on rank 0, a training
//   step) before the job ends with one line naming the rank and its step.
//
// On CUDA each rank takes the GPU its LOCAL_RANK names among those it sees
// (local_gpu; cudaSetDevice, so "cuda" means that GPU) and the group is NCCL
// where LibTorch has it.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "dist/communicator.hpp"
#include "dist/launch.hpp"
#include "pipeline/pipeline.hpp"

namespace tracenas {

// The CUDA device a rank uses: LOCAL_RANK among the `visible` devices, or
// LOCAL_RANK mod visible when it sees fewer (a launcher that binds each task
// to its own GPUs, e.g. srun --gpus-per-task=1, leaves each rank device 0).
// ConfigError when it sees none.
int local_gpu(int local_rank, int visible);

struct Ranks {
  Launch launch;
  std::unique_ptr<Communicator> comm;  // null: one process
  bool root() const { return !comm || comm->is_root(); }
  int rank() const { return comm ? comm->rank() : 0; }
  int size() const { return comm ? comm->size() : 1; }
  Communicator* get() const { return comm.get(); }
};

// Joins the ranks of the launch (a no-op for one process, or when
// `distributed` is "off"): every log line then names the rank, the group is
// made (`timeout_s` per collective; on `device` cuda each rank selects its
// LOCAL_RANK's GPU), and every rank checks that all hold the same `identity`
// (ConfigError naming `what` and the ranks that differ).
Ranks join_ranks(const std::string& command, const std::string& distributed, double timeout_s,
                 const std::string& device, const std::string& identity, const std::string& what);

// The same for a pipeline command: run.distributed, run.distributed_timeout_s,
// run.device; the identity is the resolved pipeline and the model files.
Ranks join_ranks(const Pipeline& p, const std::string& command);

// The identity of a model folder for join_ranks: its config.json and the
// names and sizes of its files (not paths or times, which differ between nodes).
std::string model_folder_identity(const std::string& dir);

// Runs `f` on rank 0 (its set-up of the run folder, its base preparation)
// while the other ranks wait, and tells every rank how it went: an error there
// ends every rank with the same line and exit status. `what` names the step
// for a rank that times out waiting. Without ranks (null), just runs `f`.
void root_first(Communicator* comm, const std::string& what, const std::function<void()>& f);

}  // namespace tracenas
