// Data sources: where calibration and training tokens come from.
//
// A data source yields one stream of token ids. The core cuts every stream the
// same way (SPEC.md section 1: non-overlapping windows of seq_len, an
// incomplete last window dropped, batch k holds windows k*B .. k*B+B-1, the
// calibration set is the first K batches), so sources only read and decode.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tracenas/api.hpp"
#include "tracenas/component.hpp"

namespace tracenas {

class Tokenizer;

class TN_API DataSource : public Component {
 public:
  static constexpr ComponentKind kKind = ComponentKind::kData;
  ~DataSource() override;

  // A short, stable description of the inputs and settings, used to key
  // caches (e.g. "tokens:/abs/path.u16#size=1234#mtime=...").
  virtual std::string fingerprint() const = 0;
  // The whole token stream, in order.
  virtual std::vector<std::int32_t> token_stream() = 0;

  // Text sources: the host hands over the pipeline's tokenizer (or the model
  // folder's) before fingerprint() and token_stream() are called. The
  // tokenizer outlives the source.
  virtual bool needs_tokenizer() const { return false; }
  virtual void set_tokenizer(Tokenizer* /*tokenizer*/) {}
};

// Windowing and batching settings shared by every data source.
struct TN_API BatchSpec {
  int seq_len = 256;
  int batch_size = 8;
  int num_batches = 4;  // K
  bool shuffle = false;
  std::uint64_t shuffle_seed = 0;
};

}  // namespace tracenas
