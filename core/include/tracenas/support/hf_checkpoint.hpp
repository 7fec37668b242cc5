// Part of the SDK's support folder, for authors of model adapters and data
// sources: the helpers behind ModelAdapter::load (config.json, checkpoint
// loading, the decoder) and behind data sources (token files, content
// hashes and cache entries). Proxies and search strategies need none of it.
//
// Loading a Hugging Face checkpoint folder into the core decoder.
//
// An adapter gives one table from the decoder's canonical roles to the
// checkpoint's tensor names (per family, hf_family.hpp, as llama.cpp does); this
// module opens the safetensors files, checks every tensor's presence and
// shape against the normalized config (a mismatch names the tensor, the
// expected and the found shape), refuses tensors it would not use, and
// returns the weights in the grouped shapes of decoder.hpp on the requested
// device and dtype (CPU tensors in the stored dtype stay views of the mapping).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tracenas/api.hpp"
#include "tracenas/model.hpp"
#include "tracenas/support/decoder.hpp"
#include "tracenas/support/hf_family.hpp"

namespace tracenas {

// Reads `dir` (config already parsed into `config`) with the family's tensor
// names; the model keeps the family (export writes the same names).
TN_API std::shared_ptr<DecoderModel> load_hf_decoder(const std::string& dir,
                                                     const ModelConfig& config,
                                                     const HfFamily& family,
                                                     const LoadOptions& options);

// Number of elements stored in the checkpoint folder (every tensor).
TN_API std::int64_t checkpoint_numel(const std::string& dir);

// A model adapter for Hugging Face decoder families: reads and checks
// config.json when created (its model_type must be one of the families',
// else a ModelError), loads with that family's tensor names.
class TN_API HfDecoderAdapter : public ModelAdapter {
 public:
  HfDecoderAdapter(std::string path, std::vector<HfFamily> families);
  ~HfDecoderAdapter() override;
  std::string path() const override { return path_; }
  ModelConfig read_config() const override { return config_; }
  std::shared_ptr<DecoderModel> load(const LoadOptions& options) const override;

 private:
  std::string path_;
  std::vector<HfFamily> families_;
  ModelConfig config_;
};

}  // namespace tracenas
