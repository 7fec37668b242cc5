// Fuzzes pipeline YAML: parsing, `--set` overrides and full validation
// against the built-in plugins. Leading lines "#set path=value" of the input
// are passed as overrides. plugins.search_paths is validated but not searched
// (loading the shared libraries a fuzzed path names is what the option is
// for, and no place for a fuzzer).
#include "pipeline/pipeline.hpp"

#include <sstream>

#include "harness.hpp"
#include "registry.hpp"

using namespace tracenas;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_input("pipeline.yaml", data, size);
  std::vector<std::string> sets;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  for (std::string line; std::getline(in, line) && line.rfind("#set ", 0) == 0;) {
    sets.push_back(line.substr(5));
  }
  // An override's error names the --set it comes from.
  fuzz::accept_or_refuse({path, "--set "}, [&] {
    PipelineSource source(path, sets);
    (void)source.plugin_search_paths();
    const Pipeline p = source.validate(fuzz::builtin_registry());
    fuzz::check(!p.resolved_yaml().empty(), "an empty resolved pipeline");
    (void)p.pass_options();
    (void)p.run_dir();
  });
  return 0;
}
