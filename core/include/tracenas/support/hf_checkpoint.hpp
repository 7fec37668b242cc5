// Part of the SDK's support folder, for authors of model adapters and data
// sources: the helpers behind ModelAdapter::load (config.json, checkpoint
// loading, the decoder) and behind data sources (token files, content
// hashes and cache entries). Proxies and search strategies need none of it.
//
// Loading a Hugging Face checkpoint folder into the core decoder.
//
// An adapter gives one table from the decoder's canonical roles to the
// checkpoint's tensor names (per architecture, as llama.cpp does); this
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

namespace tracenas {

// Tensor names; "{i}" stands for the layer index. An empty name: the
// architecture has no such tensor (asking for it is a ModelError).
struct TN_API HfTensorNames {
  std::string embed;
  std::string final_norm;
  std::string lm_head;
  std::string input_norm;
  std::string q;
  std::string k;
  std::string v;
  std::string o;
  std::string q_bias;
  std::string k_bias;
  std::string v_bias;
  std::string o_bias;
  std::string q_norm;
  std::string k_norm;
  std::string post_norm;
  std::string gate;
  std::string up;
  std::string down;
  std::string gate_bias;
  std::string up_bias;
  std::string down_bias;
};

// The names of the usual Hugging Face decoder layout ("model.layers.{i}.
// self_attn.q_proj.weight", ...), every optional tensor included: q/k/v/o and
// MLP biases, Qwen3's q/k norms. They are the names export writes
// (named_hf_tensors). An adapter clears the ones its architecture never has.
TN_API HfTensorNames hf_decoder_names();

// Reads `dir` (config already parsed into `config`) with the given names.
TN_API std::shared_ptr<DecoderModel> load_hf_decoder(const std::string& dir,
                                                     const ModelConfig& config,
                                                     const HfTensorNames& names,
                                                     const LoadOptions& options);

// Number of elements stored in the checkpoint folder (every tensor).
TN_API std::int64_t checkpoint_numel(const std::string& dir);

// A model adapter for one Hugging Face family: reads and checks config.json
// when created (its model_type must be one of `model_types`, else a
// ModelError that points to `other_adapter`), loads with `names`.
class TN_API HfDecoderAdapter : public ModelAdapter {
 public:
  HfDecoderAdapter(std::string path, HfTensorNames names, std::vector<std::string> model_types,
                   std::string adapter_name, std::string other_adapter);
  ~HfDecoderAdapter() override;
  std::string path() const override { return path_; }
  ModelConfig read_config() const override { return config_; }
  std::shared_ptr<DecoderModel> load(const LoadOptions& options) const override;

 private:
  std::string path_;
  HfTensorNames names_;
  ModelConfig config_;
};

}  // namespace tracenas
