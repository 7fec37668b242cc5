// Tokenizers: text to token ids and back, for text data sources and commands.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tracenas/api.hpp"
#include "tracenas/component.hpp"

namespace tracenas {

class TN_API Tokenizer : public Component {
 public:
  static constexpr ComponentKind kKind = ComponentKind::kTokenizer;
  ~Tokenizer() override;

  // A stable hash or description of the vocabulary and settings (cache keys).
  virtual std::string fingerprint() const = 0;
  virtual std::vector<std::int32_t> encode(const std::string& text, bool add_special_tokens) = 0;
  virtual std::string decode(const std::vector<std::int32_t>& ids) = 0;
  virtual std::int32_t bos_id() const = 0;  // -1 when there is none
  virtual std::int32_t eos_id() const = 0;
};

}  // namespace tracenas
