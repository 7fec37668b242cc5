// Decoders of the `hf_tokenizer` plugin: tokenizer.json `decoder` (ByteLevel,
// Replace, ByteFallback, Fuse, Strip, Sequence), each turning the list of
// token strings into another.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hf_reader.hpp"

namespace tracenas::hf {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode(std::vector<std::string>* tokens) const = 0;
};

// The decoder `j` describes (`field` names it in messages); a DataError for a
// type this plugin does not support.
std::unique_ptr<Decoder> make_decoder(const Reader& r, const json& j, const std::string& field);

}  // namespace tracenas::hf
