// The `hf_tokenizer` plugin's word cache: pre-tokenized word -> ids, open
// addressing over two arenas (header-only: it is on the path of every word).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace tracenas::hf {

// Words longer than this (bytes) are not cached; the cache is emptied past kCacheMax entries.
constexpr std::size_t kCacheWordMax = 96;
constexpr std::size_t kCacheMax = 1 << 20;

class WordCache {
 public:
  WordCache() { slots_.resize(1 << 10); }  // grows by doubling

  // The ids of `word` (nullptr when absent); valid until the next insert.
  const std::int32_t* find(std::string_view word, std::uint64_t h, std::size_t* n) const {
    for (std::size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& s = slots_[i];
      if (s.hash == 0) return nullptr;
      if (s.hash == h && s.key_len == word.size() &&
          std::memcmp(keys_.data() + s.key_off, word.data(), word.size()) == 0) {
        *n = s.ids_len;
        return ids_.data() + s.ids_off;
      }
    }
  }

  void insert(std::string_view word, std::uint64_t h, const std::int32_t* ids, std::size_t n) {
    if (count_ >= kCacheMax) clear();
    if ((count_ + 1) * 2 > slots_.size()) grow();
    place({h, static_cast<std::uint32_t>(keys_.size()), static_cast<std::uint32_t>(word.size()),
           static_cast<std::uint32_t>(ids_.size()), static_cast<std::uint32_t>(n)});
    keys_.append(word);
    ids_.insert(ids_.end(), ids, ids + n);
    ++count_;
  }

  static std::uint64_t hash(std::string_view s) {
    std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, then a final mix; never 0
    for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h == 0 ? 1 : h;
  }

 private:
  struct Slot {
    std::uint64_t hash;  // 0: empty
    std::uint32_t key_off, key_len, ids_off, ids_len;
  };
  void place(const Slot& slot) {
    std::size_t i = slot.hash & (slots_.size() - 1);
    while (slots_[i].hash != 0) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = slot;
  }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.hash != 0) place(s);
    }
  }
  void clear() {
    std::fill(slots_.begin(), slots_.end(), Slot{});
    keys_.clear();
    ids_.clear();
    count_ = 0;
  }

  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<std::int32_t> ids_;
  std::size_t count_ = 0;
};

}  // namespace tracenas::hf
