#include "tracenas/support/cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "tracenas/error.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

constexpr std::uint64_t kFnvPrime = 0x100000001b3ULL;

std::uint64_t avalanche(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

void Hasher::mix(std::string_view bytes) {
  for (unsigned char c : bytes) {
    a_ = (a_ ^ c) * kFnvPrime;
    b_ = (b_ ^ static_cast<unsigned char>(c ^ 0x5a)) * kFnvPrime;
    b_ ^= b_ >> 29;
  }
}

Hasher& Hasher::add(std::string_view bytes) {
  // Length-prefixed, so that ("ab","c") and ("a","bc") differ.
  add(static_cast<std::int64_t>(bytes.size()));
  mix(bytes);
  return *this;
}

Hasher& Hasher::add(std::int64_t v) {
  char buf[sizeof v];
  std::memcpy(buf, &v, sizeof v);
  mix(std::string_view(buf, sizeof buf));
  return *this;
}

Hasher& Hasher::add(double v) {
  char buf[sizeof v];
  std::memcpy(buf, &v, sizeof v);
  mix(std::string_view(buf, sizeof buf));
  return *this;
}

Hasher& Hasher::add_file_identity(const std::string& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  add(abs.lexically_normal().string());
  auto size = fs::file_size(path, ec);
  add(static_cast<std::int64_t>(ec ? -1 : static_cast<std::int64_t>(size)));
  auto mtime = fs::last_write_time(path, ec);
  add(static_cast<std::int64_t>(ec ? 0 : mtime.time_since_epoch().count()));
  return *this;
}

Hasher& Hasher::add_file_content(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot read: " + errno_text());
  std::vector<char> buf(1 << 16);  // mix() streams bytes: the chunk size does not matter
  std::int64_t total = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize n = in.gcount();
    if (n <= 0) break;
    mix(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    total += n;
  }
  if (in.bad()) throw DataError(path + ": read failed: " + errno_text());
  add(total);
  return *this;
}

std::string Hasher::hex() const {
  char out[33];
  std::snprintf(out, sizeof out, "%016llx%016llx", static_cast<unsigned long long>(avalanche(a_)),
                static_cast<unsigned long long>(avalanche(b_ ^ (a_ >> 7))));
  return out;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  fs::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    if (ec) throw Error(p.parent_path().string() + ": cannot create folder: " + ec.message());
  }
  std::string pattern = path + ".tmp-XXXXXX";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  int fd = ::mkstemp(name.data());
  if (fd < 0) throw Error(path + ": cannot create a temporary file: " + errno_text());
  const std::string tmp = name.data();
  auto fail = [&](const std::string& what) {
    std::string msg = path + ": " + what + ": " + errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(msg);
  };
  (void)::fchmod(fd, 0644);
  const char* data = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write failed");
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("fsync failed");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw Error(path + ": close failed: " + errno_text());
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string msg = path + ": cannot rename " + tmp + " into place: " + errno_text();
    ::unlink(tmp.c_str());
    throw Error(msg);
  }
}

std::optional<std::string> read_file_if_exists(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

std::string DiskCache::path(const std::string& kind, const std::string& key,
                            const std::string& ext) const {
  return (fs::path(dir_) / kind / (key + ext)).string();
}

}  // namespace tracenas
