// The `text` data source: a plain-text or JSONL file, tokenized by the
// pipeline's tokenizer (or the model folder's), as one token stream.
//
// Documents:
// - format plain (or auto with any extension but .jsonl/.json):
//     split none: the whole file, byte for byte, is one document;
//     split line: every line (without its "\n" or "\r\n") that is not empty;
//     split blank_line: paragraphs: runs of lines separated by one or more
//       blank lines (empty or only spaces/tabs/CR), a paragraph's lines joined
//       with "\n" (line ends normalized, no trailing newline).
// - format jsonl (auto with .jsonl/.json): one JSON object per non-blank line,
//   the document is its string field `field` (default "text"); an empty string
//   is a document too.
// Each document is encoded on its own (add_special_tokens per document: BOS
// first for Llama 2) and the encodings are joined with the tokenizer's EOS
// between them (none after the last; plain concatenation when the tokenizer
// has no EOS).
//
// Cache: when the run has a cache_dir, the stream is stored as
// `<cache_dir>/tokens/<key>.u32` (uint32 little-endian), key = Hasher over the
// file's content, every setting (resolved format, field, split,
// add_special_tokens, even those the format ignores) and the tokenizer's
// fingerprint. The path and mtime are
// not part of the key: the same text under another name is a hit. An entry of
// the wrong size is treated as missing and rewritten. fingerprint() is
// "text:<abs path>#key=<key>", so downstream caches follow the same key.
//
// Errors (DataError, one line): missing file, invalid UTF-8 (byte offset in
// the file), a JSONL line that is not JSON or not an object (file:line), a
// JSONL object without the string field (file:line and field), no documents.
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tracenas/data.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/support/cache.hpp"
#include "tracenas/tokenizer.hpp"

namespace {

namespace fs = std::filesystem;
using tracenas::DataError;
using tracenas::ParamSpec;

// Bump when document splitting or joining changes (invalidates cache entries).
constexpr const char* kFormatVersion = "tracenas.text/1";

// The byte offset of the first invalid UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF are invalid), or nullopt.
std::optional<std::size_t> first_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // no overlongs
      if (c == 0xED) hi = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // no overlongs
      if (c == 0xF4) hi = 0x8F;  // <= U+10FFFF
    } else {
      return i;
    }
    if (i + static_cast<std::size_t>(len) > n) return i;
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return i;
    for (int k = 2; k < len; ++k) {
      const auto ck = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if (ck < 0x80 || ck > 0xBF) return i;
    }
    i += static_cast<std::size_t>(len);
  }
  return std::nullopt;
}

// The lines of `text`: without "\n" and a "\r" before it; a last line without
// "\n" counts, an empty tail after the last "\n" does not.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    std::size_t next = end == std::string_view::npos ? text.size() : end + 1;
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    start = next;
  }
  return out;
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

class TextSource final : public tracenas::DataSource {
 public:
  TextSource(const tracenas::ParamValues& p, const tracenas::RunContext& run)
      : path_(p.get_string("path")),
        field_(p.get_string("field")),
        split_(p.get_string("split")),
        add_special_tokens_(p.get_bool("add_special_tokens")),
        cache_dir_(run.cache_dir) {
    std::error_code ec;
    if (!fs::is_regular_file(path_, ec)) {
      throw DataError("data.params.path: no such text file (got " + path_ + ")");
    }
    const std::string& format = p.get_string("format");
    if (format == "auto") {
      const std::string ext = fs::path(path_).extension().string();
      format_ = ext == ".jsonl" || ext == ".json" ? "jsonl" : "plain";
    } else {
      format_ = format;
    }
  }

  bool needs_tokenizer() const override { return true; }
  void set_tokenizer(tracenas::Tokenizer* tokenizer) override {
    tokenizer_ = tokenizer;
    key_.clear();
  }

  std::string fingerprint() const override {
    return "text:" + fs::absolute(path_).lexically_normal().string() + "#key=" + key();
  }

  std::vector<std::int32_t> token_stream() override {
    const std::string k = key();
    const tracenas::DiskCache cache(cache_dir_);
    const std::string entry = cache.enabled() ? cache.path("tokens", k, ".u32") : std::string();
    if (cache.enabled()) {
      if (auto bytes = tracenas::read_file_if_exists(entry)) {
        if (!bytes->empty() && bytes->size() % 4 == 0) {
          std::vector<std::int32_t> ids(bytes->size() / 4);
          for (std::size_t i = 0; i < ids.size(); ++i) {
            const auto* b = reinterpret_cast<const unsigned char*>(bytes->data() + 4 * i);
            ids[i] = static_cast<std::int32_t>(static_cast<std::uint32_t>(b[0]) |
                                               (static_cast<std::uint32_t>(b[1]) << 8) |
                                               (static_cast<std::uint32_t>(b[2]) << 16) |
                                               (static_cast<std::uint32_t>(b[3]) << 24));
          }
          tracenas::log().info("text {}: {} tokens from the cache ({})", path_, ids.size(), entry);
          return ids;
        }
        tracenas::log().warn("text {}: ignoring the malformed cache entry {}", path_, entry);
      }
    }
    std::vector<std::int32_t> ids = tokenize();
    if (cache.enabled()) {
      std::string bytes(ids.size() * 4, '\0');
      for (std::size_t i = 0; i < ids.size(); ++i) {
        const auto v = static_cast<std::uint32_t>(ids[i]);
        for (int b = 0; b < 4; ++b) {
          bytes[4 * i + static_cast<std::size_t>(b)] = static_cast<char>((v >> (8 * b)) & 0xFF);
        }
      }
      tracenas::write_file_atomic(entry, bytes);
      tracenas::log().info("text {}: {} tokens, cached in {}", path_, ids.size(), entry);
    } else {
      tracenas::log().info("text {}: {} tokens", path_, ids.size());
    }
    return ids;
  }

 private:
  tracenas::Tokenizer& tokenizer() const {
    if (tokenizer_ == nullptr) {
      throw tracenas::Error("text data source: needs a tokenizer (" + path_ +
                            "): give the pipeline a 'tokenizer:' section or use a model folder "
                            "with tokenizer.model or tokenizer.json");
    }
    return *tokenizer_;
  }

  // The cache key (memoized: the file content is hashed once per tokenizer).
  const std::string& key() const {
    if (key_.empty()) {
      tracenas::Hasher h;
      h.add(std::string_view(kFormatVersion));
      h.add_file_content(path_);
      h.add(std::string_view(format_));
      h.add(std::string_view(field_));
      h.add(std::string_view(split_));
      h.add(static_cast<std::int64_t>(add_special_tokens_ ? 1 : 0));
      h.add(std::string_view(tokenizer().fingerprint()));
      key_ = h.hex();
    }
    return key_;
  }

  std::string read_text() const {
    auto bytes = tracenas::read_file_if_exists(path_);
    if (!bytes) throw DataError(path_ + ": cannot read the text file");
    if (auto bad = first_invalid_utf8(*bytes)) {
      throw DataError(path_ + ": invalid UTF-8 at byte offset " + std::to_string(*bad) +
                      " (byte 0x" + hex_byte(static_cast<unsigned char>((*bytes)[*bad])) + ")");
    }
    return *bytes;
  }

  static std::string hex_byte(unsigned char c) {
    static const char* kDigits = "0123456789abcdef";
    return {kDigits[c >> 4], kDigits[c & 15]};
  }

  std::vector<std::string> documents(const std::string& text) const {
    std::vector<std::string> docs;
    if (format_ == "jsonl") {
      const auto lines = split_lines(text);
      for (std::size_t i = 0; i < lines.size(); ++i) {
        if (is_blank(lines[i])) continue;
        const std::string where = path_ + ":" + std::to_string(i + 1);
        nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) throw DataError(where + ": not valid JSON");
        if (!j.is_object()) throw DataError(where + ": expected a JSON object");
        auto it = j.find(field_);
        if (it == j.end() || !it->is_string()) {
          throw DataError(where + ": the object has no string field '" + field_ + "'" +
                          (it == j.end() ? "" : " (got " + std::string(it->type_name()) + ")"));
        }
        docs.push_back(it->get<std::string>());
      }
    } else if (split_ == "line") {
      for (std::string_view line : split_lines(text)) {
        if (!line.empty()) docs.emplace_back(line);
      }
    } else if (split_ == "blank_line") {
      std::string cur;
      bool open = false;
      for (std::string_view line : split_lines(text)) {
        if (is_blank(line)) {
          if (open) docs.push_back(std::move(cur));
          cur.clear();
          open = false;
          continue;
        }
        if (open) cur += '\n';
        cur.append(line);
        open = true;
      }
      if (open) docs.push_back(std::move(cur));
    } else if (!text.empty()) {
      docs.push_back(text);
    }
    if (docs.empty()) {
      throw DataError(path_ + ": no text: the file holds no documents (format " + format_ +
                      (format_ == "plain" ? ", split " + split_ : ", field " + field_) + ")");
    }
    return docs;
  }

  std::vector<std::int32_t> tokenize() {
    tracenas::Tokenizer& tok = tokenizer();
    const std::vector<std::string> docs = documents(read_text());
    const std::int32_t eos = tok.eos_id();
    std::vector<std::int32_t> ids;
    for (std::size_t d = 0; d < docs.size(); ++d) {
      if (d > 0 && eos >= 0) ids.push_back(eos);
      std::vector<std::int32_t> part = tok.encode(docs[d], add_special_tokens_);
      ids.insert(ids.end(), part.begin(), part.end());
    }
    if (ids.empty()) {
      throw DataError(path_ + ": no text: the documents encode to no tokens");
    }
    tracenas::log().info("text {}: {} document(s) tokenized", path_, docs.size());
    return ids;
  }

  std::string path_;
  std::string format_;  // plain or jsonl (auto resolved)
  std::string field_;
  std::string split_;
  bool add_special_tokens_ = true;
  std::string cache_dir_;
  tracenas::Tokenizer* tokenizer_ = nullptr;
  mutable std::string key_;
};

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::DataSource>(
      "text", "plain text or JSONL documents, tokenized (EOS between documents) and cached",
      {ParamSpec::path("path", "", "the text file").make_required(),
       ParamSpec::choice("format", {"auto", "plain", "jsonl"}, "auto",
                         "auto: .jsonl/.json -> jsonl, anything else -> plain"),
       ParamSpec::string("field", "text", "JSONL: the string field holding a document"),
       ParamSpec::choice("split", {"none", "line", "blank_line"}, "none",
                         "plain text: none (the file is one document), line (every non-empty "
                         "line), blank_line (paragraphs)"),
       ParamSpec::boolean("add_special_tokens", true,
                          "encode each document with the tokenizer's special tokens (BOS)")},
      [](const tracenas::ParamValues& p, const tracenas::RunContext& run) {
        return std::make_unique<TextSource>(p, run);
      });
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.data.text", "0.1.0", "Apache-2.0",
                       "text data source (plain text and JSONL)", register_components)
