#include "normalizers.hpp"

#include <utility>
#include <vector>

namespace tracenas::hf {
namespace {

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

}  // namespace

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

}  // namespace tracenas::hf
