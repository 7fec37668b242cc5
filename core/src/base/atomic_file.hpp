// A file written atomically and streamed: bytes go to a temporary file beside
// the target (`<path>.tmp-XXXXXX`), and commit() fsyncs it and renames it over
// the target. A file never committed (an exception, a refused export) is
// removed, so a reader never sees a half-written file at `path`.
#pragma once

#include <cstddef>
#include <string>

namespace tracenas {

class AtomicFile {
 public:
  // Error naming `path` when the temporary file cannot be created (e.g. a
  // missing folder).
  explicit AtomicFile(const std::string& path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  void write(const void* data, std::size_t size);
  // Zero bytes up to the next multiple of `alignment` of the bytes written.
  void pad_to(std::size_t alignment);
  std::size_t written() const { return written_; }
  void commit();

 private:
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  std::size_t written_ = 0;
  bool committed_ = false;
};

}  // namespace tracenas
