// Text helpers of the `hf_tokenizer` plugin: UTF-8 validation and iteration, NFC
// (libutf8proc), the GPT-2 byte-to-unicode table, and a compiled PCRE2 regex
// (UTF + UCP, JIT when available) that follows Hugging Face's `\s` (Unicode White_Space).
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracenas::hf {

// The byte offset of the first invalid UTF-8 sequence in `s`, or -1 when it is valid.
std::ptrdiff_t first_invalid_utf8(std::string_view s);

// Length in bytes of the UTF-8 character whose lead byte is `lead` (1 for a stray byte).
inline std::size_t utf8_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Decodes the character at s[i] (s must be valid UTF-8).
char32_t utf8_at(std::string_view s, std::size_t i);
void append_utf8(std::string* out, char32_t cp);
// `s` with every invalid UTF-8 byte replaced by U+FFFD (Rust's from_utf8_lossy, per byte).
std::string utf8_lossy(std::string_view s);
// Unicode White_Space (what Hugging Face's regexes and strip options use).
bool is_white_space(char32_t cp);

// NFC of valid UTF-8 text (text with no code point at or above U+0300 is returned as is).
std::string nfc(std::string_view s);

// GPT-2's byte-level alphabet: every byte to a printable character and back.
class ByteLevelTable {
 public:
  static const ByteLevelTable& get();
  // The UTF-8 form of the character byte `b` maps to.
  const std::string& encoded(unsigned char b) const { return encoded_[b]; }
  // Appends the mapped form of every byte of `s` to `out`.
  void encode(std::string_view s, std::string* out) const;
  // The bytes `s` stands for; false (out untouched past its old size) when a character of `s`
  // is not in the alphabet.
  bool decode(std::string_view s, std::string* out) const;

 private:
  ByteLevelTable();
  std::array<std::string, 256> encoded_;
  std::array<int, 324> byte_of_;  // code point (< 324) -> byte, -1 when none
};

// A compiled PCRE2 pattern (UTF, UCP, NO_UTF_CHECK: subjects are validated beforehand).
class Regex {
 public:
  // `pattern` follows Hugging Face's (Oniguruma) syntax; `\s`/`\S` are rewritten to Unicode
  // White_Space. Throws std::runtime_error with PCRE2's message and offset.
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Every non-overlapping match of `s` as [begin, end) byte ranges, leftmost first.
  void find_all(std::string_view s, std::vector<std::pair<std::size_t, std::size_t>>* out) const;
  bool jit() const { return jit_; }

 private:
  pcre2_code* code_ = nullptr;
  bool jit_ = false;
};

// A PCRE2 pattern that matches `literal` exactly.
std::string regex_escape(const std::string& literal);

}  // namespace tracenas::hf
