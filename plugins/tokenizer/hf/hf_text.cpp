// Text helpers of the `hf_tokenizer` plugin (see hf_text.hpp).
#include "hf_text.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>

namespace tracenas::hf {

std::ptrdiff_t first_invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    // Fast path: eight ASCII bytes at a time.
    while (i + 8 <= n) {
      std::uint64_t w;
      __builtin_memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ULL) != 0) break;
      i += 8;
    }
    if (i >= n) break;
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    char32_t cp = 0;
    char32_t min = 0;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return static_cast<std::ptrdiff_t>(i);
    }
    if (i + len > n) return static_cast<std::ptrdiff_t>(i);
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return static_cast<std::ptrdiff_t>(i);
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return static_cast<std::ptrdiff_t>(i);
    }
    i += len;
  }
  return -1;
}

char32_t utf8_at(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  const std::size_t len = utf8_len(c);
  if (len == 1) return c;
  char32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (std::size_t k = 1; k < len && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  return cp;
}

void append_utf8(std::string* out, char32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const std::ptrdiff_t bad = first_invalid_utf8(s);
    if (bad < 0) {
      out.append(s);
      break;
    }
    out.append(s.substr(0, static_cast<std::size_t>(bad)));
    out.append("\xEF\xBF\xBD");
    s.remove_prefix(static_cast<std::size_t>(bad) + 1);
  }
  return out;
}

bool is_white_space(char32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

namespace {

void append_nfc(std::string_view s, std::string* out) {
  utf8proc_uint8_t* dst = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
      &dst, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    throw std::runtime_error(std::string("NFC normalization failed: ") + utf8proc_errmsg(n));
  }
  out->append(reinterpret_cast<const char*>(dst), static_cast<std::size_t>(n));
  std::free(dst);
}

}  // namespace

std::string nfc(std::string_view s) {
  // A code point below U+0300 is NFC-stable, and one at or above it has a lead byte >= 0xCC.
  // Only the stretches around such code points go through utf8proc: each runs from the ASCII
  // character before it (a starter it may compose with) to an ASCII character that no
  // combining character follows (nothing after that can change what is before it).
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::string out;
  std::size_t i = 0;
  while (i < n) {
    std::size_t j = i;
    while (j < n && p[j] < 0xCC) ++j;
    if (j == n) {
      out.append(s.substr(i));
      break;
    }
    std::size_t b = j;
    while (b > i && p[b - 1] >= 0x80) --b;
    if (b > i) --b;
    out.append(s.substr(i, b - i));
    std::size_t e = j;
    while (e < n && !(p[e] < 0x80 && (e + 1 == n || p[e + 1] < 0xCC))) ++e;
    append_nfc(s.substr(b, e - b), &out);
    i = e;
  }
  return out;
}

const ByteLevelTable& ByteLevelTable::get() {
  static const ByteLevelTable table;
  return table;
}

ByteLevelTable::ByteLevelTable() {
  byte_of_.fill(-1);
  // Printable bytes map to themselves; the others, in order, to U+0100, U+0101, ...
  char32_t next = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
    append_utf8(&encoded_[static_cast<std::size_t>(b)], cp);
    byte_of_[cp] = b;
  }
}

void ByteLevelTable::encode(std::string_view s, std::string* out) const {
  for (const char ch : s) out->append(encoded_[static_cast<unsigned char>(ch)]);
}

bool ByteLevelTable::decode(std::string_view s, std::string* out) const {
  const std::size_t old = out->size();
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_len(static_cast<unsigned char>(s[i]));
    const char32_t cp = utf8_at(s, i);
    if (cp >= byte_of_.size() || byte_of_[cp] < 0) {
      out->resize(old);
      return false;
    }
    out->push_back(static_cast<char>(byte_of_[cp]));
    i += len;
  }
  return true;
}

namespace {

// Unicode White_Space as the items of a PCRE2 character class.
constexpr const char* kWhiteSpaceItems =
    "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";

// `pattern` with `\s` and `\S` spelled as explicit White_Space classes.
std::string rewrite_white_space(const std::string& pattern) {
  std::string out;
  bool in_class = false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char e = pattern[i + 1];
      if (e == 's') {
        out += in_class ? std::string(kWhiteSpaceItems) : std::string("[") + kWhiteSpaceItems + "]";
      } else if (e == 'S' && !in_class) {
        out += std::string("[^") + kWhiteSpaceItems + "]";
      } else {
        out += c;
        out += e;
      }
      ++i;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

struct MatchScratch {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  MatchScratch() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
    if (stack != nullptr) pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~MatchScratch() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
    if (stack != nullptr) pcre2_jit_stack_free(stack);
  }
};

}  // namespace

Regex::Regex(const std::string& pattern) {
  const std::string rewritten = rewrite_white_space(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                        PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &error, &offset, nullptr);
  if (code_ == nullptr) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(error, buf, sizeof(buf));
    throw std::runtime_error("invalid regex (" + std::string(reinterpret_cast<char*>(buf)) +
                             " at offset " + std::to_string(offset) + ")");
  }
  jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(code_); }

void Regex::find_all(std::string_view s,
                     std::vector<std::pair<std::size_t, std::size_t>>* out) const {
  thread_local MatchScratch scratch;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  std::size_t start = 0;
  while (start <= s.size()) {
    const int rc =
        jit_ ? pcre2_jit_match(code_, subject, s.size(), start, 0, scratch.data, scratch.context)
             : pcre2_match(code_, subject, s.size(), start, PCRE2_NO_UTF_CHECK, scratch.data,
                           scratch.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(rc, buf, sizeof(buf));
      throw std::runtime_error("regex match failed: " + std::string(reinterpret_cast<char*>(buf)));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.data);
    const std::size_t b = ov[0];
    const std::size_t e = ov[1];
    if (e > b) {
      out->emplace_back(b, e);
      start = e;
    } else {
      // An empty match: no piece; move on by one character.
      if (b >= s.size()) break;
      start = b + utf8_len(static_cast<unsigned char>(s[b]));
    }
  }
}

std::string regex_escape(const std::string& literal) {
  std::string out;
  for (const char c : literal) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
      if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (u < 0x20) {
        const char* hex = "0123456789ABCDEF";
        out += "\\x{";
        out += hex[u >> 4];
        out += hex[u & 0xF];
        out += '}';
      } else {
        out += '\\';
        out += c;
      }
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace tracenas::hf
