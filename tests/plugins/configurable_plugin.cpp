// Loader fixture: a plugin built with tracenas_add_plugin whose identity and
// behaviour come from compile definitions, so that one source serves several
// fixtures (duplicate ids, duplicate components, bad identity, ...):
//   TN_FIXTURE_ID               plugin id (required)
//   TN_FIXTURE_VERSION          plugin version (default "0.1.0")
//   TN_FIXTURE_LICENSE          plugin license (default "MIT")
//   TN_FIXTURE_TOKENIZER        registers a tokenizer of this name (optional)
//   TN_FIXTURE_HANDLE           the tokenizer claims this file extension (optional)
//   TN_FIXTURE_DEFAULT          the tokenizer is marked default
//   TN_FIXTURE_REGISTER_THROWS  the register callback throws after registering
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tracenas/plugin.hpp"
#include "tracenas/tokenizer.hpp"

#ifndef TN_FIXTURE_VERSION
#define TN_FIXTURE_VERSION "0.1.0"
#endif
#ifndef TN_FIXTURE_LICENSE
#define TN_FIXTURE_LICENSE "MIT"
#endif

namespace {

// Encodes each byte as its value; enough to tell instances apart in tests.
class ByteTokenizer final : public tracenas::Tokenizer {
 public:
  std::string fingerprint() const override { return TN_FIXTURE_ID; }
  std::vector<std::int32_t> encode(const std::string& text, bool) override {
    return std::vector<std::int32_t>(text.begin(), text.end());
  }
  std::string decode(const std::vector<std::int32_t>& ids) override {
    return std::string(ids.begin(), ids.end());
  }
  std::int32_t bos_id() const override { return -1; }
  std::int32_t eos_id() const override { return -1; }
};

void register_fixture(tracenas::Registrar& r) {
#ifdef TN_FIXTURE_TOKENIZER
  tracenas::Claims claims;
#ifdef TN_FIXTURE_HANDLE
  claims.handles.push_back(TN_FIXTURE_HANDLE);
#endif
#ifdef TN_FIXTURE_DEFAULT
  claims.is_default = true;
#endif
  r.add<tracenas::Tokenizer>(
      TN_FIXTURE_TOKENIZER, "loader fixture: bytes as token ids", {},
      [](const tracenas::ParamValues&, const tracenas::RunContext&) {
        return std::make_unique<ByteTokenizer>();
      },
      claims);
#endif
#ifdef TN_FIXTURE_REGISTER_THROWS
  throw std::runtime_error("register failed on purpose\nthis second line is dropped");
#endif
  (void)r;
}

}  // namespace

TN_PLUGIN(TN_FIXTURE_ID, TN_FIXTURE_VERSION, TN_FIXTURE_LICENSE, register_fixture)
