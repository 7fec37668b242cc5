// The one exception hierarchy of TraceNAS.
//
// Everything that can go wrong inside the process is thrown as a subclass of
// tracenas::Error. Each carries the exit status the CLI maps it to (SPEC.md
// section 6): 2 for a usage or input error (bad config, bad file, bad value),
// 1 for any other failure. Messages are one line and name the file, field or
// value at fault.
#pragma once

#include <stdexcept>
#include <string>

#include "tracenas/api.hpp"

namespace tracenas {

class TN_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, int exit_code = 1);
  ~Error() override;
  int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

// A malformed or invalid pipeline / config value.
class TN_API ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& what);
  ~ConfigError() override;
};

// Wrong command-line usage.
class TN_API UsageError : public Error {
 public:
  explicit UsageError(const std::string& what);
  ~UsageError() override;
};

// Unreadable or malformed data (token files, text, caches).
class TN_API DataError : public Error {
 public:
  explicit DataError(const std::string& what);
  ~DataError() override;
};

// A checkpoint or model config that cannot be used.
class TN_API ModelError : public Error {
 public:
  explicit ModelError(const std::string& what);
  ~ModelError() override;
};

// An invalid architecture (arch.json or a candidate).
class TN_API ArchError : public Error {
 public:
  explicit ArchError(const std::string& what);
  ~ArchError() override;
};

// A plugin that cannot be loaded, or an exception thrown by plugin code.
// The message names the plugin (and component, when one was involved).
class TN_API PluginError : public Error {
 public:
  PluginError(const std::string& what, int exit_code);
  ~PluginError() override;
};

}  // namespace tracenas
