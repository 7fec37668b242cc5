// Fuzzes tokenizer.json through the hf_tokenizer plugin (model, normalizers,
// pre-tokenizers, post-processor, decoders, added tokens), then encodes and
// decodes a fixed text with every tokenizer it accepted.
#include "harness.hpp"
#include "registry.hpp"
#include "tracenas/tokenizer.hpp"

using namespace tracenas;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_input("tokenizer.json", data, size);
  Instance<Tokenizer> t;
  fuzz::accept_or_refuse(path, [&] {
    ParamValues p;
    p.set("path", path);
    t = fuzz::builtin_registry().create<Tokenizer>("hf_tokenizer", p, RunContext());
  });
  if (!t) return 0;
  // A text the tokenizer cannot encode (no unk token, say) is a clean error
  // about the text; anything else still ends the process.
  try {
    const std::string text = "Hello, world!\n  Grüße 123 \xE2\x96\x81<s> tabs\tend.";
    const std::vector<std::int32_t> ids = t.get().encode(text, /*add_special_tokens=*/true);
    for (const std::int32_t id : ids) fuzz::check(id >= 0, "a negative token id");
    (void)t.get().decode(ids);
  } catch (const Error&) {
  }
  return 0;
}
