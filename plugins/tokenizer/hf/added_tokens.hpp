// The `hf_tokenizer` plugin's added tokens (tokenizer.json `added_tokens`):
// what they are and how they are found in text (leftmost-longest, with the
// single_word, lstrip and rstrip options).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tracenas::hf {

struct AddedToken {
  std::string content;
  std::int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// Finds added tokens in text, leftmost-longest (as HF's Aho-Corasick matcher does).
class AddedMatcher {
 public:
  void add(const AddedToken* t) {
    if (t->content.empty()) return;
    auto& list = by_first_[static_cast<unsigned char>(t->content[0])];
    list.push_back(t);
    std::stable_sort(list.begin(), list.end(), [](const AddedToken* a, const AddedToken* b) {
      return a->content.size() > b->content.size();
    });
  }
  bool empty() const {
    return std::all_of(by_first_.begin(), by_first_.end(), [](const auto& l) { return l.empty(); });
  }

  struct Hit {
    std::size_t b, e;  // the span it takes (with lstrip/rstrip white space)
    std::int32_t id;
  };
  // Every match in `s`, in order, non-overlapping.
  std::vector<Hit> find(std::string_view s) const;

 private:
  std::array<std::vector<const AddedToken*>, 256> by_first_;
};

}  // namespace tracenas::hf
