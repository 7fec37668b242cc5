#include "tracenas/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <memory>
#include <mutex>

namespace tracenas {
namespace {

std::shared_ptr<spdlog::logger>& logger_ptr() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto l = std::make_shared<spdlog::logger>("tracenas", sink);
    l->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
    l->set_level(spdlog::level::info);
    l->flush_on(spdlog::level::info);
    return l;
  }();
  return logger;
}

}  // namespace

spdlog::logger& log() { return *logger_ptr(); }

void set_verbose(bool verbose) {
  logger_ptr()->set_level(verbose ? spdlog::level::debug : spdlog::level::info);
}

void add_log_file(const std::string& file) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, /*truncate=*/false);
  sink->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%l] %v");
  sink->set_level(spdlog::level::debug);
  logger_ptr()->sinks().push_back(sink);
}

}  // namespace tracenas
