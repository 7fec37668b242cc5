// Part of the SDK's support folder, for authors of model adapters and data
// sources: the helpers behind ModelAdapter::load (config.json, checkpoint
// loading, the decoder) and behind data sources (token files, content
// hashes and cache entries). Proxies and search strategies need none of it.
//
// Content hashes and the on-disk cache of work done once per (model, data,
// settings): tokenized calibration text, importance, base-model traces.
//
// A cache entry is one file `<cache_dir>/<kind>/<key>.<ext>`, where the key is
// a hash of everything the entry depends on (Hasher). Entries are written
// atomically (temporary file, fsync, rename), so a killed run never leaves a
// half-written entry behind, and a reader either finds a whole entry or none.
// An entry that fails to parse is treated as missing and rewritten.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tracenas/api.hpp"

namespace tracenas {

// A 128-bit non-cryptographic hash (two independent 64-bit FNV-1a lanes with
// a final avalanche), for cache keys. Feed every input that changes the result.
class TN_API Hasher {
 public:
  Hasher& add(std::string_view bytes);
  Hasher& add(std::int64_t v);
  Hasher& add(double v);
  // The file's absolute path, size and modification time (not its content).
  Hasher& add_file_identity(const std::string& path);
  // The file's content (DataError naming the file when it cannot be read).
  Hasher& add_file_content(const std::string& path);
  std::string hex() const;  // 32 lowercase hex digits

 private:
  void mix(std::string_view bytes);
  std::uint64_t a_ = 0xcbf29ce484222325ULL;
  std::uint64_t b_ = 0x84222325cbf29ce4ULL;
};

// Writes `bytes` to `path` atomically (creating parent folders).
TN_API void write_file_atomic(const std::string& path, std::string_view bytes);
// The whole file, or nullopt when it does not exist or cannot be read.
TN_API std::optional<std::string> read_file_if_exists(const std::string& path);

class TN_API DiskCache {
 public:
  // An empty `dir` disables the cache (every lookup misses, nothing is written).
  explicit DiskCache(std::string dir) : dir_(std::move(dir)) {}
  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  // <dir>/<kind>/<key><ext>
  std::string path(const std::string& kind, const std::string& key, const std::string& ext) const;

 private:
  std::string dir_;
};

}  // namespace tracenas
