#include "base/folder_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>

#include "tracenas/error.hpp"

namespace fs = std::filesystem;

namespace tracenas {

void lock_folder(const std::string& dir, const std::string& what) {
  static std::mutex mutex;
  static std::set<std::string> held;  // canonical paths; their descriptors stay open
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw UsageError(what + " '" + dir + "': cannot create the folder: " + ec.message());
  const std::string key = fs::weakly_canonical(fs::path(dir) / kFolderLockName).string();
  const std::lock_guard<std::mutex> lock(mutex);
  if (held.count(key) != 0) return;
  const int fd = ::open(key.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw UsageError(what + " '" + dir + "': cannot open " + key + ": " + std::strerror(errno));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {0};
    const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    if (err == EWOULDBLOCK) {
      throw UsageError(what + " '" + dir + "' is in use by another tracenas process" +
                       (pid.empty() ? std::string() : " (pid " + pid + ")") +
                       "; wait for it to finish, or use another folder");
    }
    throw UsageError(what + " '" + dir + "': cannot lock " + key + ": " + std::strerror(err));
  }
  const std::string text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) < 0) {
    // The lock holds without the id; the message of a refused process then names no pid.
  }
  held.insert(key);  // fd stays open until the process ends
}

}  // namespace tracenas
