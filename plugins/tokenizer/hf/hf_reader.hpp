// Reading tokenizer.json for the `hf_tokenizer` plugin: the file, its JSON, and
// the Reader every stage's factory uses (each error names the file and the
// field); the Replacer the Replace normalizer and decoder share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "hf_text.hpp"
#include "tracenas/error.hpp"

namespace tracenas::hf {

using json = nlohmann::json;
using Ids = std::vector<std::int32_t>;
using Ranges = std::vector<std::pair<std::size_t, std::size_t>>;

// The bytes of `path` (a DataError naming it when it cannot be read).
std::string read_file(const std::string& path);
// `text` as JSON (a DataError naming `file` when it is not valid JSON).
json parse_json(const std::string& file, const std::string& text);

// Reading one JSON file: every error names the file and the field.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}
  const std::string& file() const { return file_; }

  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw DataError(file_ + ": " + field + ": " + why);
  }
  [[noreturn]] void unsupported(const std::string& field, const std::string& type,
                                const char* supported) const {
    fail(field + ".type",
         "'" + type + "' is not supported by hf_tokenizer (supported: " + supported + ")");
  }
  const json& member(const json& j, const std::string& field, const char* key) const {
    if (!j.is_object() || !j.contains(key)) fail(field + "." + key, "missing");
    return j.at(key);
  }
  std::string string(const json& j, const std::string& field, const char* key) const {
    const json& v = member(j, field, key);
    if (!v.is_string()) fail(field + "." + key, "expected a string");
    return v.get<std::string>();
  }
  bool flag(const json& j, const std::string& field, const char* key, bool def) const {
    if (!j.is_object() || !j.contains(key) || j.at(key).is_null()) return def;
    if (!j.at(key).is_boolean()) fail(field + "." + key, "expected true or false");
    return j.at(key).get<bool>();
  }
  std::string type(const json& j, const std::string& field) const {
    if (!j.is_object()) fail(field, "expected an object");
    return string(j, field, "type");
  }
  // A Split/Replace `pattern`: {"Regex": ...} or {"String": ...}, as a PCRE2 pattern.
  std::string pattern(const json& j, const std::string& field) const {
    const json& p = member(j, field, "pattern");
    if (p.is_object() && p.contains("Regex") && p.at("Regex").is_string()) {
      return p.at("Regex").get<std::string>();
    }
    if (p.is_object() && p.contains("String") && p.at("String").is_string()) {
      return tracenas::hf::regex_escape(p.at("String").get<std::string>());
    }
    fail(field + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
  }
  std::unique_ptr<Regex> regex(const std::string& pattern, const std::string& field) const {
    try {
      return std::make_unique<Regex>(pattern);
    } catch (const std::runtime_error& e) {
      fail(field + ".pattern", e.what());
    }
  }

 private:
  std::string file_;
};

// Replaces every match of a pattern (Replace normalizer and decoder).
class Replacer {
 public:
  Replacer(std::unique_ptr<Regex> regex, std::string content)
      : regex_(std::move(regex)), content_(std::move(content)) {}
  void apply(std::string* s) const {
    Ranges matches;
    regex_->find_all(*s, &matches);
    if (matches.empty()) return;
    std::string out;
    std::size_t at = 0;
    for (const auto& [b, e] : matches) {
      out.append(*s, at, b - at);
      out += content_;
      at = e;
    }
    out.append(*s, at, std::string::npos);
    *s = std::move(out);
  }

 private:
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

// The Replacer of a Replace normalizer or decoder (`pattern`, `content`).
inline Replacer make_replacer(const Reader& r, const json& j, const std::string& field) {
  return Replacer(r.regex(r.pattern(j, field), field), r.string(j, field, "content"));
}

}  // namespace tracenas::hf
