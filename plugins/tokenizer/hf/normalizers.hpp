// Normalizers of the `hf_tokenizer` plugin: tokenizer.json `normalizer`
// (NFC, Prepend, Replace, Sequence), each rewriting a text segment in place.
#pragma once

#include <memory>
#include <string>

#include "hf_reader.hpp"

namespace tracenas::hf {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string* s) const = 0;
};

// The normalizer `j` describes (`field` names it in messages); a DataError for
// a type this plugin does not support.
std::unique_ptr<Normalizer> make_normalizer(const Reader& r, const json& j,
                                            const std::string& field);

}  // namespace tracenas::hf
