// Fuzzes the tokenizer files `tracenas export --format gguf` puts into a
// GGUF file: an input starting with '{' is a model folder's tokenizer.json
// (byte-level BPE), any other a tokenizer.model (SentencePiece protobuf).
// The metadata is built in memory for a model of 160000 rows; an accepted
// vocabulary must fill exactly those rows.
#include "model/gguf_vocab.hpp"

#include "harness.hpp"
#include "io/gguf.hpp"

using namespace tracenas;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bool json = size > 0 && data[0] == '{';
  // A fresh folder per input: exactly one tokenizer file in it.
  static int n = 0;
  const std::string dir = "model" + std::to_string(n++ % 2);
  std::error_code ec;
  fuzz::fs::remove_all(fuzz::scratch_dir() / dir, ec);
  const std::string path =
      fuzz::write_input(dir + (json ? "/tokenizer.json" : "/tokenizer.model"), data, size);
  fuzz::accept_or_refuse(path, [&] {
    GgufWriter g;
    const std::string note = add_gguf_vocab(g, (fuzz::scratch_dir() / dir).string(), 160000);
    fuzz::check(note.empty(), "a tokenizer file was read as no tokenizer");
    fuzz::check(g.has_key("tokenizer.ggml.tokens"), "no tokens written");
  });
  return 0;
}
