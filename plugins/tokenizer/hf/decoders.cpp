#include "decoders.hpp"

#include <cstddef>
#include <utility>

namespace tracenas::hf {
namespace {

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

}  // namespace

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

}  // namespace tracenas::hf
