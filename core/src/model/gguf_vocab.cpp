#include "model/gguf_vocab.hpp"

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "base/json_text.hpp"
#include "base/util.hpp"
#include "tracenas/error.hpp"
#include "tracenas/log.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

enum TokenType : std::int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

struct Vocab {
  std::string model;  // "llama", "gpt2", "none"
  std::string pre;    // gpt2 only
  std::vector<std::string> tokens;
  std::vector<float> scores;  // llama only
  std::vector<std::int32_t> types;
  std::vector<std::string> merges;  // gpt2 only
  std::optional<std::int32_t> bos, eos, unk, pad;
};

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw ModelError(p.string() + ": cannot read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<json> read_json_if_present(const fs::path& p) {
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  return parse_json_text(read_file(p), [&](const std::string& why) -> void {
    throw ModelError(p.string() + ": " + why);
  });
}

// --- SentencePiece's ModelProto (protobuf wire format) ------------------

class Wire {
 public:
  Wire(const std::string& bytes, std::size_t begin, std::size_t end, std::string origin)
      : b_(bytes), pos_(begin), end_(end), origin_(std::move(origin)) {}
  bool done() const { return pos_ >= end_; }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= end_) fail("truncated varint");
      const auto c = static_cast<unsigned char>(b_[pos_++]);
      v |= static_cast<std::uint64_t>(c & 0x7f) << shift;
      if ((c & 0x80) == 0) return v;
    }
    fail("varint longer than 10 bytes");
  }
  // (field number, wire type)
  std::pair<std::uint64_t, int> tag() {
    const std::uint64_t t = varint();
    return {t >> 3, static_cast<int>(t & 7)};
  }
  // The [begin, end) of a length-delimited field's bytes.
  std::pair<std::size_t, std::size_t> bytes() {
    const std::uint64_t n = varint();
    if (n > end_ - pos_) fail("field longer than its message");
    const std::size_t begin = pos_;
    pos_ += static_cast<std::size_t>(n);
    return {begin, pos_};
  }
  float fixed32_float() {
    if (end_ - pos_ < 4) fail("truncated float");
    float f;
    std::memcpy(&f, b_.data() + pos_, 4);
    pos_ += 4;
    return f;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0:
        varint();
        return;
      case 1:
        if (end_ - pos_ < 8) fail("truncated field");
        pos_ += 8;
        return;
      case 2:
        bytes();
        return;
      case 5:
        if (end_ - pos_ < 4) fail("truncated field");
        pos_ += 4;
        return;
      default:
        fail("unknown wire type " + std::to_string(wire_type));
    }
  }
  [[noreturn]] void fail(const std::string& why) const {
    throw ModelError(origin_ + ": not a SentencePiece model (" + why + " at byte " +
                     std::to_string(pos_) + ")");
  }

 private:
  const std::string& b_;
  std::size_t pos_, end_;
  std::string origin_;
};

Vocab sentencepiece_vocab(const fs::path& path, int vocab_size) {
  const std::string b = read_file(path);
  const std::string origin = path.string();
  Vocab v;
  v.model = "llama";
  Wire top(b, 0, b.size(), origin);
  while (!top.done()) {
    const auto [field, wt] = top.tag();
    if (field == 1 && wt == 2) {  // SentencePiece pieces
      const auto [pb, pe] = top.bytes();
      Wire p(b, pb, pe, origin);
      std::string piece;
      float score = 0;
      std::int32_t type = kNormal;
      while (!p.done()) {
        const auto [f, w] = p.tag();
        if (f == 1 && w == 2) {
          const auto [sb, se] = p.bytes();
          piece = b.substr(sb, se - sb);
        } else if (f == 2 && w == 5) {
          score = p.fixed32_float();
        } else if (f == 3 && w == 0) {
          type = static_cast<std::int32_t>(p.varint());
        } else {
          p.skip(w);
        }
      }
      if (type < kNormal || type > kByte) {
        throw ModelError(origin + ": piece " + std::to_string(v.tokens.size()) +
                         " has unknown type " + std::to_string(type));
      }
      if (static_cast<int>(v.tokens.size()) >= vocab_size) {
        throw ModelError(origin + ": holds more pieces than the model's vocab_size " +
                         std::to_string(vocab_size));
      }
      if (type == kUnknown) v.unk = static_cast<std::int32_t>(v.tokens.size());
      v.tokens.push_back(piece);
      v.scores.push_back(score);
      v.types.push_back(type);
    } else if (field == 2 && wt == 2) {  // TrainerSpec: bos_id 41, eos_id 42, pad_id 43
      const auto [tb, te] = top.bytes();
      Wire t(b, tb, te, origin);
      while (!t.done()) {
        const auto [f, w] = t.tag();
        if (w == 0 && (f == 41 || f == 42 || f == 43)) {
          const auto id = static_cast<std::int32_t>(static_cast<std::int64_t>(t.varint()));
          if (id >= 0) (f == 41 ? v.bos : f == 42 ? v.eos : v.pad) = id;
        } else {
          t.skip(w);
        }
      }
    } else {
      top.skip(wt);
    }
  }
  if (v.tokens.empty()) throw ModelError(origin + ": the SentencePiece model holds no pieces");
  return v;
}

// --- tokenizer.json (byte-level BPE) -------------------------------------

// llama.cpp's name for the split regex of a pre-tokenizer (llama-vocab.cpp's
// LLAMA_VOCAB_PRE_TYPE_* names).
std::string pre_tokenizer_name(const json& pre) {
  std::string pattern;
  if (pre.is_object() && pre.value("type", "") == "Sequence" && pre.contains("pretokenizers") &&
      pre["pretokenizers"].is_array()) {
    for (const json& p : pre["pretokenizers"]) {
      if (p.is_object() && p.value("type", "") == "Split" && p.contains("pattern") &&
          p["pattern"].is_object() && p["pattern"].contains("Regex") &&
          p["pattern"]["Regex"].is_string()) {
        pattern = p["pattern"]["Regex"].get<std::string>();
      }
    }
  }
  const std::string common = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}";
  const std::string tail = "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  if (pattern == common + "{1,3}" + tail) return "llama-bpe";
  if (pattern == common + tail) return "qwen2";
  return "";
}

Vocab byte_level_bpe_vocab(const fs::path& path, const json& j, int vocab_size) {
  const std::string origin = path.string();
  auto fail = [&](const std::string& field, const std::string& why) {
    throw ModelError(origin + ": " + field + ": " + why);
  };
  auto check_id = [&](const std::string& field, const json& id, const std::string& token) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 ||
        id.get<std::int64_t>() >= vocab_size) {
      fail(field, "id of " + quote(token) + " must be an integer in 0.." +
                      std::to_string(vocab_size - 1) + ", the model's vocab_size (got " +
                      json_preview(id) + ")");
    }
  };
  if (!j.is_object() || !j.contains("model") || !j["model"].is_object()) {
    fail("model", "missing");
  }
  const json& m = j["model"];
  if (m.value("type", "") != "BPE") {
    fail("model.type", "only BPE tokenizers can be written to GGUF (got " +
                           json_preview(m.value("type", json())) + ")");
  }
  if (m.value("byte_fallback", false)) {
    fail("model.byte_fallback",
         "a SentencePiece-style BPE (Llama 2) needs its scores: put its tokenizer.model in the "
         "folder");
  }
  if (!m.contains("vocab") || !m["vocab"].is_object()) fail("model.vocab", "missing");
  Vocab v;
  v.model = "gpt2";
  std::map<std::int64_t, std::pair<std::string, std::int32_t>> by_id;
  for (const auto& [tok, id] : m["vocab"].items()) {
    check_id("model.vocab", id, tok);
    by_id[id.get<std::int64_t>()] = {tok, kNormal};
  }
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const json& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a.contains("content") ||
          !a["content"].is_string()) {
        fail("added_tokens", "entries need an id and a string content");
      }
      check_id("added_tokens", a["id"], a["content"].get<std::string>());
      by_id[a["id"].get<std::int64_t>()] = {a["content"].get<std::string>(),
                                            a.value("special", false) ? kControl : kUserDefined};
    }
  }
  const std::int64_t n = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  for (std::int64_t id = 0; id < n; ++id) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      v.tokens.push_back("[PAD" + std::to_string(id) + "]");
      v.types.push_back(kUnused);
    } else {
      v.tokens.push_back(it->second.first);
      v.types.push_back(it->second.second);
    }
  }
  if (m.contains("merges") && m["merges"].is_array()) {
    for (const json& mg : m["merges"]) {
      if (mg.is_string()) {
        v.merges.push_back(mg.get<std::string>());
      } else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string()) {
        v.merges.push_back(mg[0].get<std::string>() + " " + mg[1].get<std::string>());
      } else {
        fail("model.merges", "an entry is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
  }
  v.pre = pre_tokenizer_name(j.value("pre_tokenizer", json()));
  if (v.pre.empty()) {
    log().warn("{}: pre-tokenizer not recognised as Llama 3's or Qwen's; GGUF says \"default\"",
               origin);
    v.pre = "default";
  }
  return v;
}

Vocab placeholder_vocab(int vocab_size) {
  Vocab v;
  if (vocab_size < 259) {
    v.model = "none";
    return v;
  }
  v.model = "llama";
  auto add = [&](std::string t, std::int32_t type) {
    v.tokens.push_back(std::move(t));
    v.scores.push_back(0);
    v.types.push_back(type);
  };
  add("<unk>", kUnknown);
  add("<s>", kControl);
  add("</s>", kControl);
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    add(buf, kByte);
  }
  for (int id = 259; id < vocab_size; ++id) add("<tracenas_" + std::to_string(id) + ">", kNormal);
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  return v;
}

std::optional<std::int32_t> config_id(const std::optional<json>& cfg, const char* key) {
  if (!cfg || !cfg->is_object() || !cfg->contains(key)) return std::nullopt;
  const json& x = (*cfg)[key];
  if (x.is_number_integer()) return x.get<std::int32_t>();
  if (x.is_array() && !x.empty() && x[0].is_number_integer()) return x[0].get<std::int32_t>();
  return std::nullopt;
}

}  // namespace

std::string add_gguf_vocab(GgufWriter& g, const std::string& model_dir, int vocab_size) {
  const fs::path dir(model_dir);
  std::error_code ec;
  Vocab v;
  std::string note;
  if (fs::exists(dir / "tokenizer.model", ec)) {
    v = sentencepiece_vocab(dir / "tokenizer.model", vocab_size);
  } else if (auto tj = read_json_if_present(dir / "tokenizer.json")) {
    v = byte_level_bpe_vocab(dir / "tokenizer.json", *tj, vocab_size);
  } else {
    v = placeholder_vocab(vocab_size);
    note = v.model == "none"
               ? "no tokenizer in the model folder: tokenizer model \"none\" (token ids only)"
               : "no tokenizer in the model folder: placeholder tokens (<unk>, <s>, </s>, 256 "
                 "bytes, <tracenas_N>)";
  }
  if (v.model != "none") {
    if (static_cast<int>(v.tokens.size()) > vocab_size) {
      throw ModelError(model_dir + ": the tokenizer has " + std::to_string(v.tokens.size()) +
                       " tokens but the model's vocab_size is " + std::to_string(vocab_size));
    }
    for (int id = static_cast<int>(v.tokens.size()); id < vocab_size; ++id) {
      v.tokens.push_back("[PAD" + std::to_string(id) + "]");
      v.types.push_back(kUnused);
      if (!v.scores.empty()) v.scores.push_back(-1000.0f);
    }
  }
  // Ids the model's config states win over the tokenizer's own.
  const auto cfg = read_json_if_present(dir / "config.json");
  if (auto id = config_id(cfg, "bos_token_id")) v.bos = id;
  if (auto id = config_id(cfg, "eos_token_id")) v.eos = id;
  if (auto id = config_id(cfg, "pad_token_id")) v.pad = id;

  g.set_string("tokenizer.ggml.model", v.model);
  if (v.model == "none") return note;
  if (v.model == "gpt2") g.set_string("tokenizer.ggml.pre", v.pre);
  g.set_string_array("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) g.set_f32_array("tokenizer.ggml.scores", v.scores);
  g.set_i32_array("tokenizer.ggml.token_type", v.types);
  if (!v.merges.empty()) g.set_string_array("tokenizer.ggml.merges", v.merges);
  auto id_key = [&](const char* key, const std::optional<std::int32_t>& id) {
    if (id && *id >= 0 && *id < vocab_size) g.set_u32(key, static_cast<std::uint32_t>(*id));
  };
  id_key("tokenizer.ggml.bos_token_id", v.bos);
  id_key("tokenizer.ggml.eos_token_id", v.eos);
  id_key("tokenizer.ggml.unknown_token_id", v.unk);
  id_key("tokenizer.ggml.padding_token_id", v.pad);
  if (const auto tc = read_json_if_present(dir / "tokenizer_config.json"); tc && tc->is_object()) {
    for (const char* k : {"add_bos_token", "add_eos_token"}) {
      if (tc->contains(k) && (*tc)[k].is_boolean()) {
        g.set_bool(std::string("tokenizer.ggml.") + k, (*tc)[k].get<bool>());
      }
    }
  }
  return note;
}

}  // namespace tracenas
