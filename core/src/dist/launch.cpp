#include "dist/launch.hpp"

#include <cerrno>
#include <cstdlib>
#include <optional>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

std::optional<std::string> var(const GetEnv& getenv, const char* name) {
  const char* v = getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

int int_var(const GetEnv& getenv, const char* name, int min, std::optional<int> fallback) {
  const auto v = var(getenv, name);
  if (!v) {
    if (fallback) return *fallback;
    throw ConfigError(std::string("environment: ") + name + " is not set");
  }
  char* end = nullptr;
  errno = 0;
  const long n = std::strtol(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno != 0 || n < min || n > (1L << 30)) {
    throw ConfigError(std::string("environment: ") + name + "='" + *v +
                      "' is not an integer >= " + std::to_string(min));
  }
  return static_cast<int>(n);
}

// The variables one launcher sets, and what it leaves to the user.
struct Names {
  const char* launcher;
  const char* rank;
  const char* size;
  const char* local_rank;
  std::optional<int> default_port;  // nullopt: MASTER_PORT is required
  const char* addr_hint;            // appended to "MASTER_ADDR is not set"
};

Launch read_launch(const GetEnv& getenv, const Names& n) {
  Launch l;
  l.launcher = n.launcher;
  l.size = int_var(getenv, n.size, 1, std::nullopt);
  l.rank = int_var(getenv, n.rank, 0, std::nullopt);
  l.local_rank = int_var(getenv, n.local_rank, 0, 0);
  if (l.rank >= l.size) {
    throw ConfigError(std::string("environment: ") + n.rank + "=" + std::to_string(l.rank) +
                      " is not below " + n.size + "=" + std::to_string(l.size));
  }
  if (l.size > 1) {
    const auto addr = var(getenv, "MASTER_ADDR");
    if (!addr || addr->empty()) {
      throw ConfigError(std::string("environment: MASTER_ADDR is not set") + n.addr_hint);
    }
    l.master_addr = *addr;
    l.master_port = int_var(getenv, "MASTER_PORT", 1, n.default_port);
  }
  return l;
}

}  // namespace

Launch launch_from_environment(const GetEnv& getenv_in) {
  const GetEnv getenv = getenv_in ? getenv_in : [](const char* n) { return std::getenv(n); };
  if (var(getenv, "RANK") && var(getenv, "WORLD_SIZE")) {
    Launch l =
        read_launch(getenv, {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK", std::nullopt, ""});
    l.agent_store = var(getenv, "TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
    return l;
  }
  if (var(getenv, "SLURM_PROCID") && var(getenv, "SLURM_STEP_NUM_TASKS")) {
    return read_launch(
        getenv, {"slurm", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_LOCALID", 29500,
                 " (under srun, set it to the first node, e.g. export MASTER_ADDR=$(scontrol "
                 "show hostnames \"$SLURM_JOB_NODELIST\" | head -n1))"});
  }
  return Launch{};
}

}  // namespace tracenas
