#include "added_tokens.hpp"

#include "hf_text.hpp"

namespace tracenas::hf {
namespace {

bool is_word(char32_t c) {
  return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= 0x80 && !tracenas::hf::is_white_space(c));
}
bool word_char_before(std::string_view s, std::size_t b) {
  if (b == 0) return false;
  std::size_t p = b - 1;
  while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
  return is_word(tracenas::hf::utf8_at(s, p));
}
bool word_char_after(std::string_view s, std::size_t e) {
  return e < s.size() && is_word(tracenas::hf::utf8_at(s, e));
}

}  // namespace

std::vector<AddedMatcher::Hit> AddedMatcher::find(std::string_view s) const {
  std::vector<Hit> hits;
  std::size_t floor = 0;  // end of the previous hit
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto& list = by_first_[static_cast<unsigned char>(s[i])];
    if (list.empty()) continue;
    for (const AddedToken* t : list) {
      if (s.compare(i, t->content.size(), t->content) != 0) continue;
      std::size_t b = i;
      std::size_t e = i + t->content.size();
      if (t->single_word && (word_char_before(s, b) || word_char_after(s, e))) continue;
      if (t->lstrip) {
        while (b > floor) {
          std::size_t p = b - 1;
          while (p > floor && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
          if (!tracenas::hf::is_white_space(tracenas::hf::utf8_at(s, p))) break;
          b = p;
        }
      }
      if (t->rstrip) {
        while (e < s.size() && tracenas::hf::is_white_space(tracenas::hf::utf8_at(s, e))) {
          e += tracenas::hf::utf8_len(static_cast<unsigned char>(s[e]));
        }
      }
      hits.push_back({b, e, t->id});
      floor = e;
      i = e - 1;
      break;
    }
  }
  return hits;
}

}  // namespace tracenas::hf
