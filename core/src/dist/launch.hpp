// Which rank of how many this process is, from the launcher's environment.
//
//   torchrun (and any env:// launcher): RANK, WORLD_SIZE, LOCAL_RANK
//     (default 0), MASTER_ADDR, MASTER_PORT. Under torchrun its agent already
//     hosts the TCPStore at MASTER_ADDR:MASTER_PORT
//     (TORCHELASTIC_USE_AGENT_STORE=True) and every rank is a client;
//     otherwise rank 0 hosts it.
//   Slurm's srun: SLURM_PROCID, SLURM_STEP_NUM_TASKS (the tasks of this
//     step; a batch script's own process has none, so it is one process),
//     SLURM_LOCALID; MASTER_ADDR must name the first node (MASTER_PORT
//     defaults to 29500) and rank 0 hosts the store.
//   Neither: one process, as before distribution existed.
// A variable that is set but malformed (not an integer, a rank outside the
// world, a missing MASTER_ADDR) is a ConfigError naming the variable.
#pragma once

#include <functional>
#include <string>

namespace tracenas {

struct Launch {
  std::string launcher;  // "", "torchrun" or "slurm"
  int rank = 0;
  int size = 1;
  int local_rank = 0;  // picks the GPU on a multi-GPU node
  std::string master_addr;
  int master_port = 0;
  bool agent_store = false;  // the store exists (torchrun's agent); every rank is a client
  bool distributed() const { return size > 1; }
};

using GetEnv = std::function<const char*(const char*)>;

// `getenv` reads a variable (nullptr: unset); the default reads the process's.
Launch launch_from_environment(const GetEnv& getenv = nullptr);

}  // namespace tracenas
