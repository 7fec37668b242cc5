#include "run/distributed.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tracenas/error.hpp"
#include "tracenas/log.hpp"
#include "tracenas/support/cache.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {

int local_gpu(int local_rank, int visible) {
  if (visible <= 0) {
    throw ConfigError("LOCAL_RANK=" + std::to_string(local_rank) +
                      ": this process sees no CUDA device (check CUDA_VISIBLE_DEVICES and the "
                      "launcher's GPU binding, or set run.device: cpu)");
  }
  return local_rank < visible ? local_rank : local_rank % visible;
}

std::string model_folder_identity(const std::string& dir) {
  Hasher h;
  std::error_code ec;
  if (!dir.empty() && fs::is_directory(dir, ec)) {
    std::vector<std::pair<std::string, std::int64_t>> files;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (!e.is_regular_file(ec)) continue;
      files.emplace_back(e.path().filename().string(), static_cast<std::int64_t>(e.file_size(ec)));
    }
    std::sort(files.begin(), files.end());
    for (const auto& [name, size] : files) h.add(name).add(size);
    if (fs::exists(fs::path(dir) / "config.json")) {
      h.add_file_content((fs::path(dir) / "config.json").string());
    }
  }
  return h.hex();
}

namespace {

void use_local_gpu(int local_rank) {
  using GetCount = int (*)(int*);
  using SetDevice = int (*)(int);
  void* count_fn = dlsym(RTLD_DEFAULT, "cudaGetDeviceCount");
  void* set_fn = dlsym(RTLD_DEFAULT, "cudaSetDevice");
  int visible = 0;
  if (count_fn == nullptr || reinterpret_cast<GetCount>(count_fn)(&visible) != 0) visible = 0;
  const int gpu = local_gpu(local_rank, visible);
  if (set_fn == nullptr || reinterpret_cast<SetDevice>(set_fn)(gpu) != 0) {
    throw ConfigError("LOCAL_RANK=" + std::to_string(local_rank) + ": cannot select CUDA device " +
                      std::to_string(gpu) + " of the " + std::to_string(visible) +
                      " this process sees (cudaSetDevice failed)");
  }
  log().info("CUDA device {} of the {} this process sees (LOCAL_RANK={})", gpu, visible,
             local_rank);
}

}  // namespace

Ranks join_ranks(const std::string& command, const std::string& distributed, double timeout_s,
                 const std::string& device, const std::string& identity, const std::string& what) {
  Ranks r;
  r.launch = launch_from_environment();
  if (!r.launch.distributed()) return r;
  if (distributed == "off") {
    log().warn(
        "{}: launched as rank {} of {}, but distribution is off: this process runs "
        "the whole {} alone",
        command, r.launch.rank, r.launch.size, command);
    return r;
  }
  const std::string tag =
      "[rank " + std::to_string(r.launch.rank) + "/" + std::to_string(r.launch.size) + "] ";
  log().set_pattern("[%H:%M:%S.%e] [%^%l%$] " + tag + "%v");
  GroupOptions o;
  o.rank = r.launch.rank;
  o.size = r.launch.size;
  o.master_addr = r.launch.master_addr;
  o.master_port = r.launch.master_port;
  o.store_exists = r.launch.agent_store;
  o.key_prefix = "tracenas/" + command;
  o.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(1000 * timeout_s));
  const bool cuda = device.rfind("cuda", 0) == 0 ||
                    (device == "auto" && dlsym(RTLD_DEFAULT, "cudaSetDevice") != nullptr);
  if (cuda) {
    use_local_gpu(r.launch.local_rank);
    o.device = "cuda";
  }
  log().info("{}: joining {} ranks ({}, store {}:{})", command, r.launch.size, r.launch.launcher,
             o.master_addr, o.master_port);
  r.comm = make_process_group(o);
  // The same work on every rank, or no rank starts.
  const std::vector<std::string> all = r.comm->allgather(identity, "comparing the ranks' " + what);
  std::string differ;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(i);
  }
  if (!differ.empty()) {
    throw ConfigError("rank(s) " + differ + " run another " + what +
                      " than rank 0 (start every rank with the same command, options and "
                      "model folder)");
  }
  return r;
}

Ranks join_ranks(const Pipeline& p, const std::string& command) {
  const std::string dir = p.model.params.has("path") ? p.model.params.get_string("path") : "";
  Hasher h;
  h.add(p.resolved_yaml()).add(model_folder_identity(dir));
  try {
    return join_ranks(command, p.run.get_string("distributed"),
                      p.run.get_float("distributed_timeout_s"), p.run.get_string("device"), h.hex(),
                      "resolved pipeline or model files");
  } catch (const ConfigError& e) {
    throw ConfigError(p.file + ": error: " + e.what());
  }
}

void root_first(Communicator* comm, const std::string& what, const std::function<void()>& f) {
  if (comm == nullptr || comm->size() == 1) {
    f();
    return;
  }
  json status = {{"ok", true}};
  if (comm->is_root()) {
    try {
      f();
    } catch (const Error& e) {
      status = {{"ok", false}, {"error", e.what()}, {"exit_code", e.exit_code()}};
      comm->broadcast_bytes(status.dump(), 0, what);
      throw;
    }
  }
  status = json::parse(comm->broadcast_bytes(status.dump(), 0, what));
  if (!status.value("ok", false)) {
    throw Error("rank 0 stopped while " + what + ": " + status.value("error", std::string()),
                status.value("exit_code", 1));
  }
}

}  // namespace tracenas
