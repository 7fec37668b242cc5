#include "base/atomic_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  std::string pattern = path + ".tmp-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  fd_ = ::mkstemp(buf.data());
  if (fd_ < 0) throw Error(path + ": cannot create a temporary file: " + errno_text());
  tmp_ = buf.data();
  (void)::fchmod(fd_, 0644);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  written_ += size;
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(path_ + ": write failed: " + errno_text());
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void AtomicFile::pad_to(std::size_t alignment) {
  static const char zeros[256] = {};
  std::size_t pad = (alignment - written_ % alignment) % alignment;
  while (pad > 0) {
    const std::size_t n = pad < sizeof(zeros) ? pad : sizeof(zeros);
    write(zeros, n);
    pad -= n;
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) throw Error(path_ + ": fsync failed: " + errno_text());
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw Error(path_ + ": close failed: " + errno_text());
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    throw Error(path_ + ": cannot rename " + tmp_ + " into place: " + errno_text());
  }
  committed_ = true;
}

}  // namespace tracenas
