// Pre-tokenizers of the `hf_tokenizer` plugin: tokenizer.json `pre_tokenizer`
// (Split, ByteLevel, Sequence), each turning the list of pieces of a segment
// into a finer one, and the buffers they share between encode calls.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hf_reader.hpp"

namespace tracenas::hf {

// Pieces of text as [begin, end) spans of one buffer (no string per piece).
struct Pieces {
  std::string buf;
  Ranges spans;
  std::string_view at(std::size_t i) const {
    return std::string_view(buf).substr(spans[i].first, spans[i].second - spans[i].first);
  }
};

// Buffers reused from one encode call to the next (fresh pages are costly).
struct Part {
  std::size_t b, e;
  bool delim;
};
struct Scratch {
  Pieces spare;
  Ranges matches;
  std::vector<Part> parts;
  std::string prefixed;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by finer ones (the old buffers go to scratch->spare).
  virtual void split(Pieces* pieces, Scratch* scratch) const = 0;
};

// The pre-tokenizer `j` describes (`field` names it in messages); a DataError
// for a type this plugin does not support.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Reader& r, const json& j,
                                                 const std::string& field);

}  // namespace tracenas::hf
