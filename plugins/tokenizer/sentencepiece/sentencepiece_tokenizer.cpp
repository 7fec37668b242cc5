// The `sentencepiece` tokenizer: a SentencePiece `tokenizer.model` (Llama 2 and
// other SentencePiece models) read by the SentencePiece library itself.
//
// - encode(text, add_special_tokens) gives SentencePiece's own ids; with
//   add_special_tokens it prepends BOS (the Llama 2 convention: `<s>` and
//   nothing else, also for the empty text). Special-token text in the input
//   (`<s>`, `</s>`, `<unk>`) is NOT matched: SentencePiece spells it out as
//   characters (tokenizer.json matches it; see shared/reference/tokenizers).
// - decode(ids) is SentencePiece's decoder (control ids such as BOS/EOS decode
//   to nothing); an id outside [0, vocab size) is a DataError naming the id.
// - bos_id()/eos_id() come from the model (-1 when it has none).
// - fingerprint(): a hash of the model file's content plus the encode
//   settings above, so that a cache keyed on it follows the vocabulary and
//   not the file's name or location.
//
// The model file is read once into memory, hashed, and loaded from those
// bytes, so the hash always describes exactly what was loaded.
//
// libsentencepiece is reached through a shim library loaded with RTLD_DEEPBIND
// (sentencepiece_shim.hpp explains the protobuf clash that makes it necessary):
// `<plugin folder>/sentencepiece/libtracenas_sentencepiece_shim.so`.
#include <dlfcn.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "sentencepiece_shim.hpp"
#include "tracenas/error.hpp"
#include "tracenas/plugin.hpp"
#include "tracenas/support/cache.hpp"
#include "tracenas/tokenizer.hpp"

namespace {

namespace fs = std::filesystem;
using tracenas::ParamSpec;

// Bump when encode/decode behaviour changes (invalidates cached token streams).
constexpr const char* kSettings = "sentencepiece/1;bos=llama2";

std::string read_model_file(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw tracenas::DataError("tokenizer.params.path: no such SentencePiece model file (got " +
                              path + ")");
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in || in.bad()) throw tracenas::DataError(path + ": cannot read the SentencePiece model");
  return ss.str();
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif
#else
constexpr bool kAddressSanitizer = false;
#endif

// The shim's load function (the shim is loaded on first use, once).
tracenas::spm::LoadFn shim_loader() {
  static const tracenas::spm::LoadFn fn = [] {
    if (kAddressSanitizer) {  // ASan's dlopen aborts the process on RTLD_DEEPBIND
      throw tracenas::Error(
          "sentencepiece: not available in an AddressSanitizer build (its shim is loaded with "
          "RTLD_DEEPBIND, which the sanitizer runtime refuses); use a Release build");
    }
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&shim_loader), &info) == 0 || info.dli_fname == nullptr) {
      throw tracenas::Error("sentencepiece: cannot locate the plugin's own file");
    }
    const std::string shim =
        (fs::path(info.dli_fname).parent_path() / TN_SPM_SHIM_FILE).lexically_normal().string();
    void* handle = dlopen(shim.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (handle == nullptr) {
      const char* why = dlerror();
      throw tracenas::Error(shim + ": cannot load the SentencePiece shim: " +
                            (why != nullptr ? why : "unknown error"));
    }
    void* sym = dlsym(handle, TN_SPM_SHIM_LOAD_SYMBOL);
    if (sym == nullptr) {
      throw tracenas::Error(shim + ": no symbol " + TN_SPM_SHIM_LOAD_SYMBOL);
    }
    return reinterpret_cast<tracenas::spm::LoadFn>(sym);
  }();
  return fn;
}

class SentencePieceTokenizer final : public tracenas::Tokenizer {
 public:
  explicit SentencePieceTokenizer(std::string path) : path_(std::move(path)) {
    const std::string bytes = read_model_file(path_);
    std::string error;
    sp_.reset(shim_loader()(bytes, &error));
    while (!error.empty() && (error.back() == ' ' || error.back() == '\n')) error.pop_back();
    if (!sp_) throw tracenas::DataError(path_ + ": not a SentencePiece model: " + error);
    vocab_size_ = sp_->vocab_size();
    if (vocab_size_ <= 0) {
      throw tracenas::DataError(path_ + ": not a SentencePiece model: it holds no pieces");
    }
    tracenas::Hasher h;
    h.add(std::string_view(kSettings)).add(std::string_view(bytes));
    fingerprint_ = std::string("sentencepiece:") + h.hex();
  }

  std::string fingerprint() const override { return fingerprint_; }

  std::vector<std::int32_t> encode(const std::string& text, bool add_special_tokens) override {
    std::vector<int> ids;
    std::string error;
    if (!sp_->encode(text, &ids, &error)) {
      throw tracenas::DataError(path_ + ": SentencePiece cannot encode the text: " + error);
    }
    std::vector<std::int32_t> out;
    out.reserve(ids.size() + 1);
    if (add_special_tokens && bos_id() >= 0) out.push_back(bos_id());
    out.insert(out.end(), ids.begin(), ids.end());
    return out;
  }

  std::string decode(const std::vector<std::int32_t>& ids) override {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= vocab_size_) {
        throw tracenas::DataError("decode: id " + std::to_string(ids[i]) + " (position " +
                                  std::to_string(i) + ") is out of range: " + path_ +
                                  " has a vocabulary of " + std::to_string(vocab_size_) +
                                  " (ids 0.." + std::to_string(vocab_size_ - 1) + ")");
      }
    }
    std::string text;
    std::string error;
    if (!sp_->decode(std::vector<int>(ids.begin(), ids.end()), &text, &error)) {
      throw tracenas::DataError(path_ + ": SentencePiece cannot decode the ids: " + error);
    }
    return text;
  }

  std::int32_t bos_id() const override { return valid_or_none(sp_->bos_id()); }
  std::int32_t eos_id() const override { return valid_or_none(sp_->eos_id()); }

 private:
  std::int32_t valid_or_none(int id) const { return id >= 0 && id < vocab_size_ ? id : -1; }

  std::string path_;
  std::unique_ptr<tracenas::spm::Model> sp_;
  int vocab_size_ = 0;
  std::string fingerprint_;
};

void register_components(tracenas::Registrar& r) {
  r.add<tracenas::Tokenizer>(
      "sentencepiece",
      "SentencePiece tokenizer.model (Llama 2 style: add_special_tokens prepends BOS)",
      {ParamSpec::path("path", "", "the tokenizer.model file").make_required()},
      [](const tracenas::ParamValues& p, const tracenas::RunContext&) {
        return std::make_unique<SentencePieceTokenizer>(p.get_string("path"));
      },
      {{".model"}});
}

}  // namespace

TN_PLUGIN_WITH_SUMMARY("org.tracenas.tokenizer.sentencepiece", "0.1.0", "Apache-2.0",
                       "SentencePiece tokenizer (libsentencepiece)", register_components)
