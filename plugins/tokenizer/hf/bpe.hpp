// The `hf_tokenizer` plugin's model: byte-pair encoding of one pre-tokenized
// word (merges by rank, ignore_merges, byte_fallback, unk / fuse_unk).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hf_reader.hpp"

namespace tracenas::hf {

class Bpe {
 public:
  // Reads tokenizer.json `model` (type BPE); a DataError names the field.
  Bpe(const Reader& r, const json& model);

  const std::vector<std::string>& tokens() const { return tokens_; }
  const std::unordered_map<std::string, std::int32_t>& vocab() const { return vocab_; }

  // Appends the ids of one pre-tokenized word.
  void encode_word(std::string_view word, Ids* out) const;

 private:
  struct Symbol {
    std::int32_t id;  // -1 once merged into the symbol before it
    bool unk;
  };
  static std::uint64_t key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) |
           static_cast<std::uint32_t>(b);
  }

  // Applies merges lowest rank first (leftmost among equals) until none applies. The heap
  // holds rank << 32 | position; a rank names one pair, so an entry is current exactly when
  // the pair now at its position still has that rank.
  void merge(std::vector<Symbol>* syms) const;

  std::unordered_map<std::string, std::int32_t> vocab_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::int32_t>> merges_;
  std::array<std::int32_t, 256> byte_ids_{};
  std::int32_t unk_ = -1;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
};

}  // namespace tracenas::hf
