// Fuzzes the `text` data source (plain text and JSONL, documents split as the
// first input byte says) with the tokenizer of fuzz/seeds/tokenizer_json's
// byte-level seed: every id it returns must be below that vocabulary.
#include "harness.hpp"
#include "registry.hpp"
#include "tracenas/data.hpp"
#include "tracenas/tokenizer.hpp"

using namespace tracenas;

namespace {

// A byte-level BPE over the 256 byte symbols: any text encodes.
Tokenizer& byte_tokenizer() {
  static Instance<Tokenizer> t = [] {
    std::string vocab;
    for (int b = 0; b < 256; ++b) {
      vocab += (b ? ", " : "") + std::string("\"<0x") + "0123456789ABCDEF"[b / 16] +
               "0123456789ABCDEF"[b % 16] + ">\": " + std::to_string(b);
    }
    const std::string json =
        R"({"added_tokens": [], "normalizer": null, "pre_tokenizer": null,
            "post_processor": null, "decoder": {"type": "ByteFallback"},
            "model": {"type": "BPE", "byte_fallback": true, "vocab": {)" +
        vocab + R"(}, "merges": []}})";
    const auto bytes = reinterpret_cast<const std::uint8_t*>(json.data());
    const std::string path = fuzz::write_input("byte_tokenizer.json", bytes, json.size());
    ParamValues p;
    p.set("path", path);
    return fuzz::builtin_registry().create<Tokenizer>("hf_tokenizer", p, RunContext());
  }();
  return t.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static const char* const kFormat[] = {"auto", "plain", "jsonl"};
  static const char* const kSplit[] = {"none", "line", "blank_line"};
  static const char* const kName[] = {"corpus.txt", "corpus.jsonl"};
  const std::string path = fuzz::write_input(kName[data[0] % 2], data + 1, size - 1);
  Tokenizer& tokenizer = byte_tokenizer();
  fuzz::accept_or_refuse(path, [&] {
    ParamValues p;  // every parameter at its default, as `--data text:PATH` does
    for (const ParamSpec& spec :
         fuzz::builtin_registry().find(ComponentKind::kData, "text")->info.params) {
      p.set(spec.name, spec.default_value);
    }
    p.set("path", path);
    p.set("format", std::string(kFormat[(data[0] / 2) % 3]));
    p.set("split", std::string(kSplit[(data[0] / 6) % 3]));
    auto source = fuzz::builtin_registry().create<DataSource>("text", p, RunContext());
    source.get().set_tokenizer(&tokenizer);
    for (const std::int32_t id : source.get().token_stream()) {
      fuzz::check(id >= 0 && id < 256, "a token id outside the tokenizer's vocabulary");
    }
  });
  return 0;
}
