#include "tracenas/error.hpp"

namespace tracenas {

Error::Error(const std::string& what, int exit_code)
    : std::runtime_error(what), exit_code_(exit_code) {}
Error::~Error() = default;

ConfigError::ConfigError(const std::string& what) : Error(what, 2) {}
ConfigError::~ConfigError() = default;

UsageError::UsageError(const std::string& what) : Error(what, 2) {}
UsageError::~UsageError() = default;

DataError::DataError(const std::string& what) : Error(what, 2) {}
DataError::~DataError() = default;

ModelError::ModelError(const std::string& what) : Error(what, 2) {}
ModelError::~ModelError() = default;

ArchError::ArchError(const std::string& what) : Error(what, 2) {}
ArchError::~ArchError() = default;

PluginError::PluginError(const std::string& what, int exit_code) : Error(what, exit_code) {}
PluginError::~PluginError() = default;

}  // namespace tracenas
