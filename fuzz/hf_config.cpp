// Fuzzes a checkpoint's config.json through the llama and qwen model
// adapters' read_config (the file every command reads before any weight); an
// accepted config must give a full architecture whose parameters count.
#include "harness.hpp"
#include "registry.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/model.hpp"

using namespace tracenas;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_input("model/config.json", data, size);
  const std::string dir = (fuzz::scratch_dir() / "model").string();
  for (const char* adapter : {"llama", "qwen"}) {
    fuzz::accept_or_refuse(path, [&] {
      ParamValues p;
      p.set("path", dir);
      const auto a = fuzz::builtin_registry().create<ModelAdapter>(adapter, p, RunContext());
      const ModelConfig c = a.get().read_config();
      const std::int64_t params = count_params(c, full_arch(c));
      fuzz::check(params > 0, "a config with no parameters was accepted");
    });
  }
  return 0;
}
