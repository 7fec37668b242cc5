// The shim between the `sentencepiece` plugin and libsentencepiece (see
// sentencepiece_shim.hpp for why it exists): SentencePieceProcessor behind the
// tracenas::spm::Model interface, created by the one exported C function.
#include "sentencepiece_shim.hpp"

#include <sentencepiece_processor.h>

#include <exception>
#include <memory>

namespace {

class ProcessorModel final : public tracenas::spm::Model {
 public:
  bool load(const std::string& bytes, std::string* error) {
    const auto status = sp_.LoadFromSerializedProto(bytes);
    if (!status.ok()) {
      *error = status.ToString();
      return false;
    }
    return true;
  }
  int vocab_size() const override { return sp_.GetPieceSize(); }
  int bos_id() const override { return sp_.bos_id(); }
  int eos_id() const override { return sp_.eos_id(); }
  bool encode(const std::string& text, std::vector<int>* ids, std::string* error) const override {
    const auto status = sp_.Encode(text, ids);
    if (!status.ok()) *error = status.ToString();
    return status.ok();
  }
  bool decode(const std::vector<int>& ids, std::string* text, std::string* error) const override {
    const auto status = sp_.Decode(ids, text);
    if (!status.ok()) *error = status.ToString();
    return status.ok();
  }

 private:
  sentencepiece::SentencePieceProcessor sp_;
};

}  // namespace

extern "C" __attribute__((visibility("default"))) tracenas::spm::Model* tracenas_spm_shim_load_v1(
    const std::string& bytes, std::string* error) {
  try {
    auto model = std::make_unique<ProcessorModel>();
    if (!model->load(bytes, error)) return nullptr;
    return model.release();
  } catch (const std::exception& e) {
    *error = e.what();
    return nullptr;
  }
}
