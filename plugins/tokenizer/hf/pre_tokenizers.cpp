#include "pre_tokenizers.hpp"

#include <utility>

namespace tracenas::hf {
namespace {

// GPT-2's pre-tokenizer regex (ByteLevel with use_regex).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

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

}  // namespace

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

}  // namespace tracenas::hf
