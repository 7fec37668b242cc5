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
// The stages live beside this file, one each: normalizers.hpp, pre_tokenizers.hpp, bpe.hpp
// (the model), added_tokens.hpp, decoders.hpp; hf_reader.hpp reads tokenizer.json for them.
// Unicode: PCRE2 (UTF + UCP, JIT) for the Split regexes, libutf8proc for NFC (hf_text.hpp).
// Speed: pieces are spans of one buffer, buffers are reused between calls, and a word cache
// (pre-tokenized word -> ids, up to 1M words of at most 96 bytes) skips BPE for words seen
#include <algorithm>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "added_tokens.hpp"
#include "bpe.hpp"
#include "decoders.hpp"
#include "hf_reader.hpp"
#include "hf_text.hpp"
#include "normalizers.hpp"
#include "pre_tokenizers.hpp"
#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/support/cache.hpp"
#include "tracenas/tokenizer.hpp"
#include "word_cache.hpp"

namespace tracenas::hf {
namespace {

namespace fs = std::filesystem;
using tracenas::ParamSpec;

// Bump when encode/decode behaviour changes (invalidates cached token streams).
constexpr const char* kSettings = "hf_tokenizer/1";

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
      },
      {{".json"}});
}

}  // namespace
}  // namespace tracenas::hf

TN_PLUGIN_WITH_SUMMARY("org.tracenas.tokenizer.hf", "0.1.0", "Apache-2.0",
                       "Hugging Face tokenizer.json tokenizer (PCRE2, utf8proc)",
                       tracenas::hf::register_components)
