// Fuzzes model.safetensors.index.json: a checkpoint folder holding two valid
// shards and the fuzzed index, opened with Checkpoint::open_dir, then every
// tensor the index maps is read.
#include <ATen/ATen.h>

#include "harness.hpp"
#include "io/safetensors.hpp"

using namespace tracenas;

namespace {

// Two small shards written once per process.
const std::string& checkpoint_dir() {
  static const std::string dir = [] {
    const auto d = fuzz::scratch_dir() / "ckpt";
    std::filesystem::create_directories(d);
    save_safetensors((d / "model-00001-of-00002.safetensors").string(),
                     {{"model.embed_tokens.weight", at::arange(12, at::kFloat).reshape({3, 4})},
                      {"model.norm.weight", at::ones({4}, at::kBFloat16)}});
    save_safetensors((d / "model-00002-of-00002.safetensors").string(),
                     {{"lm_head.weight", at::full({3, 4}, 0.5, at::kHalf)}});
    return d.string();
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string dir = checkpoint_dir();
  fuzz::write_input("ckpt/model.safetensors.index.json", data, size);
  fuzz::accept_or_refuse(dir, [&] {
    const Checkpoint ck = Checkpoint::open_dir(dir);
    for (const std::string& name : ck.names()) {
      const at::Tensor t = ck.get(name);
      fuzz::check(t.sizes().vec() == ck.shape(name), name + ": shape differs from the header");
      (void)t.to(at::kDouble).sum().item<double>();
    }
  });
  return 0;
}
