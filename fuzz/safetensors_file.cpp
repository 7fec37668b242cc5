// Fuzzes the safetensors reader (header length, JSON header, dtypes, shapes,
// data offsets, metadata) through SafeTensorsFile::open, then reads every
// tensor it accepted.
#include <ATen/ATen.h>

#include "harness.hpp"
#include "io/safetensors.hpp"

using namespace tracenas;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_input("model.safetensors", data, size);
  fuzz::accept_or_refuse(path, [&] {
    const auto file = SafeTensorsFile::open(path);
    for (const auto& [name, info] : file->tensors()) {
      const at::Tensor t = file->get(name);
      fuzz::check(t.numel() == info.numel(), name + ": numel differs from the header's shape");
      fuzz::check(static_cast<std::uint64_t>(t.nbytes()) == info.nbytes(),
                  name + ": byte size differs from data_offsets");
      // Touch every byte of the tensor (a bad range would fault here).
      if (t.numel() > 0) (void)t.to(at::kDouble).sum().item<double>();
    }
  });
  return 0;
}
