// Fuzzes arch.json (a sub-network: layers, heads, channels, kept indices)
// against a fixed base model, through read_arch; an accepted architecture
// must count its parameters and survive a write/read round trip.
#include "harness.hpp"
#include "tracenas/arch.hpp"
#include "tracenas/support/hf_config.hpp"

using namespace tracenas;

namespace {

// stories260K's shape: 5 layers, 8 query / 4 KV heads of 8, MLP 172.
const ModelConfig& base() {
  static const ModelConfig c = [] {
    HfFamily llama;
    llama.model_type = "llama";
    return parse_hf_config(
        R"({"model_type": "llama", "num_hidden_layers": 5, "hidden_size": 64,
            "num_attention_heads": 8, "num_key_value_heads": 4, "intermediate_size": 172,
            "vocab_size": 512})",
        "base config.json", {llama});
  }();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_input("arch.json", data, size);
  fuzz::accept_or_refuse(path, [&] {
    const Arch arch = read_arch(path, base());
    const std::int64_t params = count_params(base(), arch);
    fuzz::check(params > 0 && params <= count_params(base(), full_arch(base())),
                "parameter count outside (0, full model]");
    const Arch again = parse_arch(arch_to_json(arch, base()), "round trip", base());
    fuzz::check(count_params(base(), again) == params, "the round trip changed the count");
    fuzz::check(arch_to_json(again, base()) == arch_to_json(arch, base()),
                "the round trip changed the architecture");
  });
  return 0;
}
