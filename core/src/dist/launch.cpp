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

}  // namespace

Launch launch_from_environment(const GetEnv& getenv_in) {
  const GetEnv getenv = getenv_in ? getenv_in : [](const char* n) { return std::getenv(n); };
  Launch l;
  if (var(getenv, "RANK") && var(getenv, "WORLD_SIZE")) {
    l.launcher = "torchrun";
    l.size = int_var(getenv, "WORLD_SIZE", 1, std::nullopt);
    l.rank = int_var(getenv, "RANK", 0, std::nullopt);
    l.local_rank = int_var(getenv, "LOCAL_RANK", 0, 0);
    l.agent_store = var(getenv, "TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
    if (l.rank >= l.size) {
      throw ConfigError("environment: RANK=" + std::to_string(l.rank) +
                        " is not below WORLD_SIZE=" + std::to_string(l.size));
    }
    if (l.size > 1) {
      const auto addr = var(getenv, "MASTER_ADDR");
      if (!addr || addr->empty()) throw ConfigError("environment: MASTER_ADDR is not set");
      l.master_addr = *addr;
      l.master_port = int_var(getenv, "MASTER_PORT", 1, std::nullopt);
    }
    return l;
  }
  if (var(getenv, "SLURM_PROCID") && var(getenv, "SLURM_STEP_NUM_TASKS")) {
    l.launcher = "slurm";
    l.size = int_var(getenv, "SLURM_STEP_NUM_TASKS", 1, std::nullopt);
    l.rank = int_var(getenv, "SLURM_PROCID", 0, std::nullopt);
    l.local_rank = int_var(getenv, "SLURM_LOCALID", 0, 0);
    if (l.rank >= l.size) {
      throw ConfigError("environment: SLURM_PROCID=" + std::to_string(l.rank) +
                        " is not below SLURM_STEP_NUM_TASKS=" + std::to_string(l.size));
    }
    if (l.size > 1) {
      const auto addr = var(getenv, "MASTER_ADDR");
      if (!addr || addr->empty()) {
        throw ConfigError(
            "environment: MASTER_ADDR is not set (under srun, set it to the first node, e.g. "
            "export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n1))");
      }
      l.master_addr = *addr;
      l.master_port = int_var(getenv, "MASTER_PORT", 1, 29500);
    }
    return l;
  }
  return l;
}

}  // namespace tracenas
