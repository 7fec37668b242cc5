// The boundary between the `sentencepiece` tokenizer plugin and its shim, the
// one library that links Debian's libsentencepiece.
//
// Why a shim: libsentencepiece 0.1.97 (Debian) carries its own copy of
// protobuf-lite 3.14 and exports those symbols; LibTorch has already loaded
// the system libprotobuf 3.21 into the global scope, so a libsentencepiece
// loaded the ordinary way binds its protobuf calls to 3.21 and aborts in the
// version check ("compiled against version 3.14.0 ..."). The plugin therefore
// loads the shim (and with it libsentencepiece) with RTLD_DEEPBIND, which puts
// the shim's own dependencies ahead of the global scope, and talks to it only
// through this virtual interface (no symbol crosses by name but the loader).
#pragma once

#include <string>
#include <vector>

namespace tracenas::spm {

class Model {
 public:
  virtual ~Model() = default;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // SentencePiece's ids (-1 when the model has none)
  virtual int eos_id() const = 0;
  // false with `*error` set on failure.
  virtual bool encode(const std::string& text, std::vector<int>* ids, std::string* error) const = 0;
  virtual bool decode(const std::vector<int>& ids, std::string* text, std::string* error) const = 0;
};

// A model from the bytes of a .model file, or nullptr with `*error` set to
// SentencePiece's status message.
using LoadFn = Model* (*)(const std::string& bytes, std::string* error);

}  // namespace tracenas::spm

#define TN_SPM_SHIM_LOAD_SYMBOL "tracenas_spm_shim_load_v1"
// Where the shim lies, relative to the plugin's folder.
#define TN_SPM_SHIM_FILE "sentencepiece/libtracenas_sentencepiece_shim.so"
