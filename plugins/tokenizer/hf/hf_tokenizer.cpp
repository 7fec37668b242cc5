// The `hf_tokenizer` tokenizer: a Hugging Face `tokenizer.json` (Llama 3, Qwen2/2.5/3 byte-level
// BPE; also Llama 2's SentencePiece-style BPE) read and run by this plugin itself.
//
// - param `path`: a tokenizer.json file, or a folder holding one. A `tokenizer_config.json`
//   next to it, when present, gives bos_token / eos_token (bos_id()/eos_id(); -1 when absent)
//   and add_bos_token / add_eos_token (true: encode(.., true) makes sure BOS / EOS is there).
// - encode(text, add_special_tokens) follows the HF pipeline: added tokens (special or not)
//   found in the text are split out first (single_word, lstrip, rstrip, normalized honoured),
//   then each other segment is normalized, pre-tokenized and run through the model; with
//   add_special_tokens the post-processor's template is applied (ByteLevel adds nothing).
//   Text that is not valid UTF-8 is a DataError naming the byte offset.
// - decode(ids) runs the file's decoder chain on the tokens (special tokens kept, no
//   clean-up of spaces); an unknown id is a DataError naming it and its position.
// - Supported components (any other type in the file is a DataError naming its field):
//   normalizers NFC, Prepend, Replace, Sequence; pre-tokenizers Split, ByteLevel, Sequence;
//   model BPE (merges by rank, ignore_merges, byte_fallback, unk/fuse_unk); post-processors
//   ByteLevel, TemplateProcessing, Sequence; decoders ByteLevel, Replace, ByteFallback, Fuse,
//   Strip, Sequence.
// - fingerprint(): a hash of tokenizer.json (+ tokenizer_config.json) content and the
//   settings version below.
//
// Unicode: PCRE2 (UTF + UCP, JIT) for the Split regexes, libutf8proc for NFC (hf_text.hpp).
// Speed: pieces are spans of one buffer, buffers are reused between calls, and a word cache
// (pre-tokenized word -> ids, up to 1M words of at most 96 bytes) skips BPE for words seen
// before; encode() holds a mutex for all of that, so calls on one instance are serialized.
#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "hf_text.hpp"
#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/support/cache.hpp"
#include "tracenas/tokenizer.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using tracenas::DataError;
using tracenas::ParamSpec;
using tracenas::hf::ByteLevelTable;
using tracenas::hf::Regex;
using Ids = std::vector<std::int32_t>;
using Ranges = std::vector<std::pair<std::size_t, std::size_t>>;

// Bump when encode/decode behaviour changes (invalidates cached token streams).
constexpr const char* kSettings = "hf_tokenizer/1";
// Words longer than this (bytes) are not cached; the cache is emptied past kCacheMax entries.
constexpr std::size_t kCacheWordMax = 96;
constexpr std::size_t kCacheMax = 1 << 20;

// GPT-2's pre-tokenizer regex (ByteLevel with use_regex).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in || in.bad()) throw DataError(path + ": cannot read the file");
  return ss.str();
}

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

// ---- normalizers ----

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string* s) const = 0;
};

class NfcNormalizer final : public Normalizer {
 public:
  void normalize(std::string* s) const override { *s = tracenas::hf::nfc(*s); }
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string* s) const override {
    if (!s->empty()) s->insert(0, prefix_);
  }

 private:
  std::string prefix_;
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

class ReplaceNormalizer final : public Normalizer {
 public:
  explicit ReplaceNormalizer(Replacer r) : r_(std::move(r)) {}
  void normalize(std::string* s) const override { r_.apply(s); }

 private:
  Replacer r_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  void normalize(std::string* s) const override {
    for (const auto& p : parts_) p->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

Replacer make_replacer(const Reader& r, const json& j, const std::string& field) {
  return Replacer(r.regex(r.pattern(j, field), field), r.string(j, field, "content"));
}

std::unique_ptr<Normalizer> make_normalizer(const Reader& r, const json& j,
                                            const std::string& field) {
  const std::string type = r.type(j, field);
  if (type == "NFC") return std::make_unique<NfcNormalizer>();
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(r.string(j, field, "prepend"));
  if (type == "Replace") return std::make_unique<ReplaceNormalizer>(make_replacer(r, j, field));
  if (type == "Sequence") {
    const json& list = r.member(j, field, "normalizers");
    if (!list.is_array()) r.fail(field + ".normalizers", "expected a list");
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (std::size_t i = 0; i < list.size(); ++i) {
      parts.push_back(
          make_normalizer(r, list[i], field + ".normalizers[" + std::to_string(i) + "]"));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  r.unsupported(field, type, "NFC, Prepend, Replace, Sequence");
}

// ---- pre-tokenizers: each turns the list of pieces into a finer one ----

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

enum class Behavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<Regex> regex, Behavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}

  void split(Pieces* pieces, Scratch* scratch) const override {
    Ranges& out = scratch->spare.spans;
    out.clear();
    for (std::size_t i = 0; i < pieces->spans.size(); ++i) {
      scratch->matches.clear();
      regex_->find_all(pieces->at(i), &scratch->matches);
      split_one(pieces->spans[i].first, pieces->spans[i].second, scratch->matches, &scratch->parts,
                &out);
    }
    pieces->spans.swap(out);
  }

 private:
  // Splits [begin, end) of the buffer; `matches` are relative to begin.
  void split_one(std::size_t begin, std::size_t end, const Ranges& matches,
                 std::vector<Part>* parts_buf, Ranges* out) const {
    std::vector<Part>& parts = *parts_buf;
    parts.clear();
    std::size_t at = begin;
    for (const auto& [mb, me] : matches) {
      const std::size_t b = begin + mb;
      const std::size_t e = begin + me;
      if (b > at) parts.push_back({at, b, invert_});
      parts.push_back({b, e, !invert_});
      at = e;
    }
    if (at < end) parts.push_back({at, end, invert_});
    bool open = false;  // MergedWithPrevious: the last output piece takes a delimiter
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const Part& p = parts[i];
      switch (behavior_) {
        case Behavior::kIsolated:
          out->emplace_back(p.b, p.e);
          break;
        case Behavior::kRemoved:
          if (!p.delim) out->emplace_back(p.b, p.e);
          break;
        case Behavior::kMergedWithPrevious:
          if (p.delim && open) {
            out->back().second = p.e;
            open = false;
          } else {
            out->emplace_back(p.b, p.e);
            open = !p.delim;
          }
          break;
        case Behavior::kMergedWithNext:
          break;  // below
        case Behavior::kContiguous:
          if (p.delim && i > 0 && parts[i - 1].delim) {
            out->back().second = p.e;
          } else {
            out->emplace_back(p.b, p.e);
          }
          break;
      }
    }
    if (behavior_ == Behavior::kMergedWithNext) {
      // From the right: a delimiter joins the piece after it unless that one is a delimiter.
      const std::size_t first = out->size();
      bool next_delim = true;
      for (std::size_t i = parts.size(); i-- > 0;) {
        const Part& p = parts[i];
        if (p.delim && !next_delim && out->size() > first) {
          out->back().first = p.b;
        } else {
          out->emplace_back(p.b, p.e);
        }
        next_delim = p.delim;
      }
      std::reverse(out->begin() + static_cast<std::ptrdiff_t>(first), out->end());
    }
  }

  std::unique_ptr<Regex> regex_;
  Behavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        regex_(use_regex ? std::make_unique<Regex>(kGpt2Pattern) : nullptr) {}

  void split(Pieces* pieces, Scratch* scratch) const override {
    const ByteLevelTable& table = ByteLevelTable::get();
    Pieces& out = scratch->spare;
    out.buf.clear();
    out.spans.clear();
    Ranges& matches = scratch->matches;
    std::string& prefixed = scratch->prefixed;
    auto emit = [&](std::string_view piece) {
      const std::size_t b = out.buf.size();
      table.encode(piece, &out.buf);
      out.spans.emplace_back(b, out.buf.size());
    };
    for (std::size_t i = 0; i < pieces->spans.size(); ++i) {
      std::string_view s = pieces->at(i);
      if (add_prefix_space_ && (s.empty() || s[0] != ' ')) {
        prefixed.assign(" ");
        prefixed.append(s);
        s = prefixed;
      }
      if (regex_ == nullptr) {
        emit(s);
        continue;
      }
      matches.clear();
      regex_->find_all(s, &matches);
      std::size_t at = 0;
      for (const auto& [b, e] : matches) {
        if (b > at) emit(s.substr(at, b - at));
        emit(s.substr(b, e - b));
        at = e;
      }
      if (at < s.size()) emit(s.substr(at));
    }
    std::swap(*pieces, out);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void split(Pieces* pieces, Scratch* scratch) const override {
    for (const auto& p : parts_) p->split(pieces, scratch);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Reader& r, const json& j,
                                                 const std::string& field) {
  const std::string type = r.type(j, field);
  if (type == "Split") {
    const std::string behavior = r.string(j, field, "behavior");
    Behavior b;
    if (behavior == "Isolated") {
      b = Behavior::kIsolated;
    } else if (behavior == "Removed") {
      b = Behavior::kRemoved;
    } else if (behavior == "MergedWithPrevious") {
      b = Behavior::kMergedWithPrevious;
    } else if (behavior == "MergedWithNext") {
      b = Behavior::kMergedWithNext;
    } else if (behavior == "Contiguous") {
      b = Behavior::kContiguous;
    } else {
      r.fail(field + ".behavior", "unknown behavior '" + behavior + "'");
    }
    return std::make_unique<SplitPreTokenizer>(r.regex(r.pattern(j, field), field), b,
                                               r.flag(j, field, "invert", false));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(r.flag(j, field, "add_prefix_space", true),
                                                   r.flag(j, field, "use_regex", true));
  }
  if (type == "Sequence") {
    const json& list = r.member(j, field, "pretokenizers");
    if (!list.is_array()) r.fail(field + ".pretokenizers", "expected a list");
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (std::size_t i = 0; i < list.size(); ++i) {
      parts.push_back(
          make_pre_tokenizer(r, list[i], field + ".pretokenizers[" + std::to_string(i) + "]"));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  r.unsupported(field, type, "Split, ByteLevel, Sequence");
}

// ---- decoders: each turns the list of token strings into another ----

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode(std::vector<std::string>* tokens) const = 0;
};

class ByteLevelDecoder final : public Decoder {
 public:
  void decode(std::vector<std::string>* tokens) const override {
    const ByteLevelTable& table = ByteLevelTable::get();
    std::string bytes;
    for (const std::string& t : *tokens) {
      // A token outside the byte alphabet (an added token, say) stands for its own bytes.
      if (!table.decode(t, &bytes)) bytes += t;
    }
    tokens->assign(1, tracenas::hf::utf8_lossy(bytes));
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  explicit ReplaceDecoder(Replacer r) : r_(std::move(r)) {}
  void decode(std::vector<std::string>* tokens) const override {
    for (std::string& t : *tokens) r_.apply(&t);
  }

 private:
  Replacer r_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    std::size_t pending = 0;  // byte tokens in `bytes`
    auto flush = [&] {
      if (pending == 0) return;
      if (tracenas::hf::first_invalid_utf8(bytes) < 0) {
        out.push_back(bytes);
      } else {
        for (std::size_t i = 0; i < pending; ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
      pending = 0;
    };
    for (std::string& t : *tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        byte = hex_byte(t[3], t[4]);
      }
      if (byte >= 0) {
        bytes.push_back(static_cast<char>(byte));
        ++pending;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    *tokens = std::move(out);
  }

 private:
  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }
  static int hex_byte(char hi, char lo) {
    const int h = hex_digit(hi);
    const int l = hex_digit(lo);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode(std::vector<std::string>* tokens) const override {
    std::string all;
    for (const std::string& t : *tokens) all += t;
    tokens->assign(1, all);
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, std::size_t start, std::size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode(std::vector<std::string>* tokens) const override {
    for (std::string& t : *tokens) {
      std::size_t b = 0;
      for (std::size_t k = 0; k < start_ && t.compare(b, content_.size(), content_) == 0 &&
                              b + content_.size() <= t.size();
           ++k) {
        b += content_.size();
      }
      std::size_t e = t.size();
      for (std::size_t k = 0; k < stop_ && e >= b + content_.size() &&
                              t.compare(e - content_.size(), content_.size(), content_) == 0;
           ++k) {
        e -= content_.size();
      }
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  std::size_t start_, stop_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts)
      : parts_(std::move(parts)) {}
  void decode(std::vector<std::string>* tokens) const override {
    for (const auto& p : parts_) p->decode(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

std::unique_ptr<Decoder> make_decoder(const Reader& r, const json& j, const std::string& field) {
  const std::string type = r.type(j, field);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(make_replacer(r, j, field));
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const json& start = r.member(j, field, "start");
    const json& stop = r.member(j, field, "stop");
    if (!start.is_number_unsigned() || !stop.is_number_unsigned()) {
      r.fail(field, "start and stop must be counts");
    }
    const std::string content = r.string(j, field, "content");
    if (tracenas::hf::first_invalid_utf8(content) >= 0 || content.empty()) {
      r.fail(field + ".content", "expected one character");
    }
    return std::make_unique<StripDecoder>(content, start.get<std::size_t>(),
                                          stop.get<std::size_t>());
  }
  if (type == "Sequence") {
    const json& list = r.member(j, field, "decoders");
    if (!list.is_array()) r.fail(field + ".decoders", "expected a list");
    std::vector<std::unique_ptr<Decoder>> parts;
    for (std::size_t i = 0; i < list.size(); ++i) {
      parts.push_back(make_decoder(r, list[i], field + ".decoders[" + std::to_string(i) + "]"));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  r.unsupported(field, type, "ByteLevel, Replace, ByteFallback, Fuse, Strip, Sequence");
}

// ---- the BPE model ----

class Bpe {
 public:
  Bpe(const Reader& r, const json& model) {
    const std::string field = "model";
    const json& vocab = r.member(model, field, "vocab");
    if (!vocab.is_object()) r.fail("model.vocab", "expected an object of token: id");
    vocab_.reserve(vocab.size() * 2);
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      if (!it.value().is_number_integer() || it.value().get<std::int64_t>() < 0 ||
          it.value().get<std::int64_t>() > 0x7FFFFFFF) {
        r.fail("model.vocab", "the id of '" + it.key() + "' is not a valid id");
      }
      const auto id = it.value().get<std::int32_t>();
      vocab_[it.key()] = id;
      if (static_cast<std::size_t>(id) >= tokens_.size()) tokens_.resize(id + 1);
      tokens_[static_cast<std::size_t>(id)] = it.key();
    }
    if (model.contains("dropout") && !model.at("dropout").is_null() &&
        !(model.at("dropout").is_number() && model.at("dropout").get<double>() == 0.0)) {
      r.fail("model.dropout", "BPE dropout is not supported by hf_tokenizer");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(key) && !model.at(key).is_null() &&
          !(model.at(key).is_string() && model.at(key).get<std::string>().empty())) {
        r.fail(std::string("model.") + key, "is not supported by hf_tokenizer");
      }
    }
    fuse_unk_ = r.flag(model, field, "fuse_unk", false);
    byte_fallback_ = r.flag(model, field, "byte_fallback", false);
    ignore_merges_ = r.flag(model, field, "ignore_merges", false);
    if (model.contains("unk_token") && !model.at("unk_token").is_null()) {
      const std::string unk = r.string(model, field, "unk_token");
      auto it = vocab_.find(unk);
      if (it == vocab_.end()) r.fail("model.unk_token", "'" + unk + "' is not in model.vocab");
      unk_ = it->second;
    }
    byte_ids_.fill(-1);
    if (byte_fallback_) {
      const char* hex = "0123456789ABCDEF";
      for (int b = 0; b < 256; ++b) {
        const std::string t = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
        auto it = vocab_.find(t);
        if (it != vocab_.end()) byte_ids_[static_cast<std::size_t>(b)] = it->second;
      }
    }
    const json& merges = r.member(model, field, "merges");
    if (!merges.is_array()) r.fail("model.merges", "expected a list");
    merges_.reserve(merges.size() * 2);
    for (std::size_t i = 0; i < merges.size(); ++i) {
      const json& m = merges[i];
      std::string a, b;
      if (m.is_string()) {
        const std::string& s = m.get_ref<const std::string&>();
        const std::size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
          r.fail("model.merges[" + std::to_string(i) + "]", "expected 'a b' (got '" + s + "')");
        }
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        r.fail("model.merges[" + std::to_string(i) + "]", "expected 'a b' or [a, b]");
      }
      const auto ia = vocab_.find(a);
      const auto ib = vocab_.find(b);
      const auto ic = vocab_.find(a + b);
      if (ia == vocab_.end() || ib == vocab_.end() || ic == vocab_.end()) {
        r.fail("model.merges[" + std::to_string(i) + "]",
               "'" + a + "' + '" + b + "' uses a token that is not in model.vocab");
      }
      merges_[key(ia->second, ib->second)] = {static_cast<std::uint32_t>(i), ic->second};
    }
  }

  const std::vector<std::string>& tokens() const { return tokens_; }
  const std::unordered_map<std::string, std::int32_t>& vocab() const { return vocab_; }

  // Appends the ids of one pre-tokenized word.
  void encode_word(std::string_view word, Ids* out) const {
    if (word.empty()) return;
    if (ignore_merges_) {
      auto it = vocab_.find(std::string(word));
      if (it != vocab_.end()) {
        out->push_back(it->second);
        return;
      }
    }
    std::vector<Symbol> syms;
    syms.reserve(word.size());
    std::string ch;
    for (std::size_t i = 0; i < word.size();) {
      const std::size_t len = tracenas::hf::utf8_len(static_cast<unsigned char>(word[i]));
      ch.assign(word.substr(i, len));
      i += len;
      auto it = vocab_.find(ch);
      if (it != vocab_.end()) {
        syms.push_back({it->second, false});
        continue;
      }
      bool bytes_ok = byte_fallback_;
      for (std::size_t k = 0; bytes_ok && k < ch.size(); ++k) {
        bytes_ok = byte_ids_[static_cast<unsigned char>(ch[k])] >= 0;
      }
      if (bytes_ok) {
        for (const char c : ch) syms.push_back({byte_ids_[static_cast<unsigned char>(c)], false});
        continue;
      }
      if (unk_ < 0) {
        throw DataError("hf_tokenizer: the character '" + ch +
                        "' is not in the vocabulary and the model has no unk_token");
      }
      if (fuse_unk_ && !syms.empty() && syms.back().unk) continue;
      syms.push_back({unk_, true});
    }
    merge(&syms);
    for (const Symbol& s : syms) {
      if (s.id >= 0) out->push_back(s.id);
    }
  }

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
  void merge(std::vector<Symbol>* syms) const {
    const std::size_t n = syms->size();
    if (n < 2) return;
    Symbol* sy = syms->data();
    std::vector<std::int32_t> prev(n), next(n);
    for (std::size_t i = 0; i < n; ++i) {
      prev[i] = static_cast<std::int32_t>(i) - 1;
      next[i] = i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1;
    }
    // The merge of the pair starting at l (nullptr when none).
    auto lookup = [&](std::int32_t l) -> const std::pair<std::uint32_t, std::int32_t>* {
      if (l < 0) return nullptr;
      const std::int32_t r = next[static_cast<std::size_t>(l)];
      if (r < 0) return nullptr;
      auto it = merges_.find(key(sy[l].id, sy[r].id));
      return it == merges_.end() ? nullptr : &it->second;
    };
    std::vector<std::uint64_t> heap;
    heap.reserve(n);
    for (std::size_t i = 0; i + 1 < n; ++i) {
      if (const auto* m = lookup(static_cast<std::int32_t>(i))) {
        heap.push_back(static_cast<std::uint64_t>(m->first) << 32 | i);
      }
    }
    const std::greater<std::uint64_t> cmp;
    std::make_heap(heap.begin(), heap.end(), cmp);
    auto push = [&](std::int32_t l) {
      if (const auto* m = lookup(l)) {
        heap.push_back(static_cast<std::uint64_t>(m->first) << 32 | static_cast<std::uint32_t>(l));
        std::push_heap(heap.begin(), heap.end(), cmp);
      }
    };
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), cmp);
      const std::uint64_t top = heap.back();
      heap.pop_back();
      const auto pos = static_cast<std::int32_t>(top & 0xFFFFFFFFu);
      if (sy[pos].id < 0) continue;
      const auto* m = lookup(pos);
      if (m == nullptr || m->first != static_cast<std::uint32_t>(top >> 32)) continue;
      const std::int32_t r = next[static_cast<std::size_t>(pos)];
      sy[pos].id = m->second;
      sy[pos].unk = false;
      sy[r].id = -1;
      const std::int32_t rn = next[static_cast<std::size_t>(r)];
      next[static_cast<std::size_t>(pos)] = rn;
      if (rn >= 0) prev[static_cast<std::size_t>(rn)] = pos;
      push(prev[static_cast<std::size_t>(pos)]);
      push(pos);
    }
  }

  std::unordered_map<std::string, std::int32_t> vocab_;
  std::vector<std::string> tokens_;
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::int32_t>> merges_;
  std::array<std::int32_t, 256> byte_ids_{};
  std::int32_t unk_ = -1;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
};

// ---- the word cache: pre-tokenized word -> ids, open addressing over two arenas ----

class WordCache {
 public:
  WordCache() { slots_.resize(1 << 16); }

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

// ---- added tokens ----

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
  std::vector<Hit> find(std::string_view s) const {
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

 private:
  static bool is_word(char32_t c) {
    return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= 0x80 && !tracenas::hf::is_white_space(c));
  }
  static bool word_char_before(std::string_view s, std::size_t b) {
    if (b == 0) return false;
    std::size_t p = b - 1;
    while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
    return is_word(tracenas::hf::utf8_at(s, p));
  }
  static bool word_char_after(std::string_view s, std::size_t e) {
    return e < s.size() && is_word(tracenas::hf::utf8_at(s, e));
  }

  std::array<std::vector<const AddedToken*>, 256> by_first_;
};

// ---- post-processing (add_special_tokens) ----

struct TemplateItem {
  bool sequence = false;  // the encoded text; else `ids`
  Ids ids;
};

// ---- the tokenizer ----

std::string resolve_path(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path f = fs::path(path) / "tokenizer.json";
    if (!fs::is_regular_file(f, ec)) {
      throw DataError("tokenizer.params.path: " + path + " holds no tokenizer.json");
    }
    return f.string();
  }
  if (!fs::is_regular_file(path, ec)) {
    throw DataError("tokenizer.params.path: no such tokenizer.json file or folder (got " + path +
                    ")");
  }
  return path;
}

json parse_json(const std::string& file, const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    std::string why = e.what();
    std::replace(why.begin(), why.end(), '\n', ' ');
    throw DataError(file + ": not valid JSON: " + why);
  }
}

class HfTokenizer final : public tracenas::Tokenizer {
 public:
  explicit HfTokenizer(const std::string& path) : file_(resolve_path(path)) {
    const std::string text = read_file(file_);
    const json j = parse_json(file_, text);
    const Reader r(file_);
    if (!j.is_object()) r.fail("(top level)", "expected an object");

    const json& model = r.member(j, "", "model");
    const std::string model_type = model.is_object() && model.contains("type")
                                       ? r.string(model, "model", "type")
                                       : std::string("BPE");
    if (model_type != "BPE") r.unsupported("model", model_type, "BPE");
    bpe_ = std::make_unique<Bpe>(r, model);

    if (j.contains("normalizer") && !j.at("normalizer").is_null()) {
      normalizer_ = make_normalizer(r, j.at("normalizer"), "normalizer");
    }
    if (j.contains("pre_tokenizer") && !j.at("pre_tokenizer").is_null()) {
      pre_tokenizer_ = make_pre_tokenizer(r, j.at("pre_tokenizer"), "pre_tokenizer");
    }
    if (j.contains("decoder") && !j.at("decoder").is_null()) {
      decoder_ = make_decoder(r, j.at("decoder"), "decoder");
    }
    tokens_ = bpe_->tokens();
    read_added_tokens(r, j);
    if (j.contains("post_processor") && !j.at("post_processor").is_null()) {
      read_post_processor(r, j.at("post_processor"), "post_processor");
    }

    tracenas::Hasher h;
    h.add(std::string_view(kSettings)).add(std::string_view(text));
    read_config(&h);
    fingerprint_ = "hf_tokenizer:" + h.hex();
  }

  std::string fingerprint() const override { return fingerprint_; }

  Ids encode(const std::string& text, bool add_special_tokens) override {
    const std::ptrdiff_t bad = tracenas::hf::first_invalid_utf8(text);
    if (bad >= 0) {
      throw DataError("hf_tokenizer: the text is not valid UTF-8 (byte offset " +
                      std::to_string(bad) + ")");
    }
    Ids ids;
    ids.reserve(text.size() / 3 + 4);
    std::lock_guard<std::mutex> lock(mutex_);
    split_added(
        text, raw_matcher_,
        [&](std::string_view segment) {
          if (!normalizer_) {
            encode_segment(segment, &ids);
            return;
          }
          normalized_.assign(segment);
          normalizer_->normalize(&normalized_);
          split_added(
              normalized_, normalized_matcher_,
              [&](std::string_view part) { encode_segment(part, &ids); }, &ids);
        },
        &ids);
    if (add_special_tokens) ids = post_process(std::move(ids));
    return ids;
  }

  std::string decode(const Ids& ids) override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const std::int32_t id = ids[i];
      if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size() ||
          (tokens_[static_cast<std::size_t>(id)].empty())) {
        throw DataError("decode: id " + std::to_string(id) + " (position " + std::to_string(i) +
                        ") is out of range: " + file_ + " has no token with that id (ids 0.." +
                        std::to_string(static_cast<std::int64_t>(tokens_.size()) - 1) + ")");
      }
      tokens.push_back(tokens_[static_cast<std::size_t>(id)]);
    }
    if (!decoder_) {
      std::string out;
      for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
      return out;
    }
    decoder_->decode(&tokens);
    std::string out;
    for (const std::string& t : tokens) out += t;
    return out;
  }

  std::int32_t bos_id() const override { return bos_id_; }
  std::int32_t eos_id() const override { return eos_id_; }

 private:
  // Calls on_text for each stretch of `s` between added tokens (whose ids go to `ids`).
  template <class Fn>
  static void split_added(std::string_view s, const AddedMatcher& m, Fn&& on_text, Ids* ids) {
    if (m.empty()) {
      if (!s.empty()) on_text(s);
      return;
    }
    std::size_t at = 0;
    for (const auto& hit : m.find(s)) {
      if (hit.b > at) on_text(s.substr(at, hit.b - at));
      ids->push_back(hit.id);
      at = hit.e;
    }
    if (at < s.size()) on_text(s.substr(at));
  }

  void encode_segment(std::string_view segment, Ids* ids) {
    if (segment.empty()) return;
    Pieces& pieces = pieces_;
    pieces.buf.assign(segment);
    pieces.spans.assign(1, {0, segment.size()});
    if (pre_tokenizer_) pre_tokenizer_->split(&pieces, &scratch_);
    for (std::size_t i = 0; i < pieces.spans.size(); ++i) {
      const std::string_view p = pieces.at(i);
      if (p.empty()) continue;
      if (p.size() > kCacheWordMax) {
        bpe_->encode_word(p, ids);
        continue;
      }
      const std::uint64_t h = WordCache::hash(p);
      std::size_t n = 0;
      if (const std::int32_t* hit = cache_.find(p, h, &n)) {
        ids->insert(ids->end(), hit, hit + n);
        continue;
      }
      const std::size_t before = ids->size();
      bpe_->encode_word(p, ids);
      cache_.insert(p, h, ids->data() + before, ids->size() - before);
    }
  }

  Ids post_process(Ids ids) const {
    Ids out;
    if (has_template_) {
      for (const TemplateItem& item : template_) {
        if (item.sequence) {
          out.insert(out.end(), ids.begin(), ids.end());
        } else {
          out.insert(out.end(), item.ids.begin(), item.ids.end());
        }
      }
    } else {
      out = std::move(ids);
    }
    if (add_bos_ && bos_id_ >= 0 && (out.empty() || out.front() != bos_id_)) {
      out.insert(out.begin(), bos_id_);
    }
    if (add_eos_ && eos_id_ >= 0 && (out.empty() || out.back() != eos_id_)) {
      out.push_back(eos_id_);
    }
    return out;
  }

  void read_added_tokens(const Reader& r, const json& j) {
    if (!j.contains("added_tokens") || j.at("added_tokens").is_null()) return;
    const json& list = j.at("added_tokens");
    if (!list.is_array()) r.fail("added_tokens", "expected a list");
    added_.reserve(list.size());
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string field = "added_tokens[" + std::to_string(i) + "]";
      const json& a = list[i];
      AddedToken t;
      t.content = r.string(a, field, "content");
      const json& id = r.member(a, field, "id");
      if (!id.is_number_integer() || id.get<std::int64_t>() < 0 ||
          id.get<std::int64_t>() > 0x7FFFFFFF) {
        r.fail(field + ".id", "not a valid id");
      }
      t.id = id.get<std::int32_t>();
      t.single_word = r.flag(a, field, "single_word", false);
      t.lstrip = r.flag(a, field, "lstrip", false);
      t.rstrip = r.flag(a, field, "rstrip", false);
      t.special = r.flag(a, field, "special", false);
      t.normalized = r.flag(a, field, "normalized", !t.special);
      if (static_cast<std::size_t>(t.id) >= tokens_.size()) tokens_.resize(t.id + 1);
      tokens_[static_cast<std::size_t>(t.id)] = t.content;
      added_.push_back(std::move(t));
    }
    for (const AddedToken& t : added_) {
      added_ids_[t.content] = t.id;
      (t.normalized && normalizer_ ? normalized_matcher_ : raw_matcher_).add(&t);
    }
  }

  // The id of token text `s` (added tokens first), -1 when none.
  std::int32_t token_id(const std::string& s) const {
    auto a = added_ids_.find(s);
    if (a != added_ids_.end()) return a->second;
    auto v = bpe_->vocab().find(s);
    return v != bpe_->vocab().end() ? v->second : -1;
  }

  void read_post_processor(const Reader& r, const json& p, const std::string& field) {
    const std::string type = r.type(p, field);
    if (type == "ByteLevel") return;  // offsets only: adds no ids
    if (type == "Sequence") {
      const json& list = r.member(p, field, "processors");
      if (!list.is_array()) r.fail(field + ".processors", "expected a list");
      for (std::size_t i = 0; i < list.size(); ++i) {
        read_post_processor(r, list[i], field + ".processors[" + std::to_string(i) + "]");
      }
      return;
    }
    if (type != "TemplateProcessing") {
      r.unsupported(field, type, "ByteLevel, TemplateProcessing, Sequence");
    }
    if (has_template_) r.fail(field, "more than one TemplateProcessing");
    has_template_ = true;
    const json& single = r.member(p, field, "single");
    const json& specials = r.member(p, field, "special_tokens");
    if (!single.is_array()) r.fail(field + ".single", "expected a list");
    for (std::size_t i = 0; i < single.size(); ++i) {
      const std::string f = field + ".single[" + std::to_string(i) + "]";
      const json& item = single[i];
      TemplateItem t;
      if (item.is_object() && item.contains("Sequence")) {
        t.sequence = true;
      } else if (item.is_object() && item.contains("SpecialToken")) {
        const std::string name = r.string(item.at("SpecialToken"), f + ".SpecialToken", "id");
        if (!specials.is_object() || !specials.contains(name)) {
          r.fail(f, "special token '" + name + "' is not in " + field + ".special_tokens");
        }
        const json& ids = r.member(specials.at(name), field + ".special_tokens." + name, "ids");
        if (!ids.is_array()) r.fail(field + ".special_tokens." + name + ".ids", "expected a list");
        for (const json& id : ids) {
          if (!id.is_number_integer()) r.fail(field + ".special_tokens." + name, "bad id");
          t.ids.push_back(id.get<std::int32_t>());
        }
      } else {
        r.fail(f, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
      template_.push_back(std::move(t));
    }
  }

  // tokenizer_config.json next to tokenizer.json: BOS/EOS and add_bos_token/add_eos_token.
  void read_config(tracenas::Hasher* h) {
    const std::string file = (fs::path(file_).parent_path() / "tokenizer_config.json").string();
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) return;
    const std::string text = read_file(file);
    h->add(std::string_view(text));
    const json c = parse_json(file, text);
    const Reader r(file);
    if (!c.is_object()) r.fail("(top level)", "expected an object");
    auto special = [&](const char* key) -> std::int32_t {
      if (!c.contains(key) || c.at(key).is_null()) return -1;
      const json& v = c.at(key);
      std::string content;
      if (v.is_string()) {
        content = v.get<std::string>();
      } else if (v.is_object() && v.contains("content") && v.at("content").is_string()) {
        content = v.at("content").get<std::string>();
      } else {
        r.fail(key, "expected a token string or {\"content\": ...}");
      }
      const std::int32_t id = token_id(content);
      if (id < 0) r.fail(key, "'" + content + "' is not a token of " + file_);
      return id;
    };
    bos_id_ = special("bos_token");
    eos_id_ = special("eos_token");
    add_bos_ = r.flag(c, "", "add_bos_token", false);
    add_eos_ = r.flag(c, "", "add_eos_token", false);
  }

  std::string file_;
  std::string fingerprint_;
  std::unique_ptr<Bpe> bpe_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Decoder> decoder_;
  std::vector<AddedToken> added_;
  std::unordered_map<std::string, std::int32_t> added_ids_;
  AddedMatcher raw_matcher_;         // non-normalized added tokens: matched on the input
  AddedMatcher normalized_matcher_;  // normalized ones: matched after normalization
  std::vector<std::string> tokens_;  // id -> token text ("" for an unused id)
  bool has_template_ = false;
  std::vector<TemplateItem> template_;
  std::int32_t bos_id_ = -1;
  std::int32_t eos_id_ = -1;
  bool add_bos_ = false;
  bool add_eos_ = false;
  std::mutex mutex_;  // encode: the buffers and the cache below
  std::string normalized_;
  Pieces pieces_;
  Scratch scratch_;
  WordCache cache_;
};

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::Tokenizer>(
      "hf_tokenizer",
      "Hugging Face tokenizer.json (byte-level BPE: Llama 3, Qwen2/2.5/3; Llama 2 BPE)",
      {ParamSpec::path("path", "", "the tokenizer.json file, or a folder holding one")
           .make_required()},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        return std::make_unique<HfTokenizer>(p.get_string("path"));
      });
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.tokenizer.hf", "0.1.0", "Apache-2.0",
                       "Hugging Face tokenizer.json tokenizer (PCRE2, utf8proc)",
                       register_components)
