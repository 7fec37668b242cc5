// Fuzzes the token-file readers (.u16, .u32, .txt; the first input byte picks
// the format, the rest is the file) and the calibration windows cut from what
// they read (the next four bytes pick seq_len, batch size, batch count and
// the shuffle).
#include "harness.hpp"
#include "tracenas/support/tokens.hpp"

using namespace tracenas;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  static const char* const kExt[] = {".u16", ".u32", ".txt", ".bin"};
  const std::string path =
      fuzz::write_input(std::string("tokens") + kExt[data[0] % 4], data + 5, size - 5);
  fuzz::accept_or_refuse(path, [&] {
    const std::vector<std::int32_t> ids = read_token_file(path);
    for (const std::int32_t id : ids) fuzz::check(id >= 0, "a negative token id was accepted");
    BatchSpec spec;
    spec.seq_len = 1 + data[1] % 64;
    spec.batch_size = 1 + data[2] % 8;
    spec.num_batches = 1 + data[3] % 8;
    spec.shuffle = data[4] % 2 == 1;
    spec.shuffle_seed = data[4];
    const auto windows = calibration_windows(ids.size(), spec, path);
    fuzz::check(windows.size() == static_cast<std::size_t>(spec.num_batches), "batch count");
    for (const auto& b : windows) {
      for (const std::int64_t start : b) {
        fuzz::check(start >= 0 && static_cast<std::size_t>(start) + spec.seq_len <= ids.size(),
                    "a window outside the token stream");
      }
    }
  });
  return 0;
}
