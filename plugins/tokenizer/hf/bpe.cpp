#include "bpe.hpp"

#include <algorithm>
#include <functional>

namespace tracenas::hf {

Bpe::Bpe(const Reader& r, const json& model) {
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

void Bpe::encode_word(std::string_view word, Ids* out) const {
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

void Bpe::merge(std::vector<Symbol>* syms) const {
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

}  // namespace tracenas::hf
