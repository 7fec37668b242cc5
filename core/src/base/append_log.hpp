// Append-only line logs of a run folder (candidates.jsonl, study.jsonl).
#pragma once

#include <string>

namespace tracenas {

// A log of lines (candidates.jsonl, study.jsonl): each append is one write(2)
// on an O_APPEND descriptor, then fsync, so a killed process leaves at most a
// torn last line.
class AppendLog {
 public:
  explicit AppendLog(const std::string& path);
  AppendLog(const AppendLog&) = delete;
  AppendLog& operator=(const AppendLog&) = delete;
  ~AppendLog();
  // Appends `line` and a newline.
  void append(const std::string& line);

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace tracenas
