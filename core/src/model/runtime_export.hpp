// Exporting a model folder in the formats other runtimes load.
//
//   hf            Hugging Face layout (model/export.hpp): a plain config when
//                 the layers are uniform, else TraceNAS's "tracenas_layers".
//   gguf          one GGUF file for llama.cpp (model/gguf_vocab.hpp for its tokenizer).
//   nemotron-nas  config.json with Nemotron-NAS "block_configs" and
//                 safetensors , which vLLM, SGLang
//                 and TensorRT-LLM load as DeciLMForCausalLM.
//
// The model is any folder TraceNAS loads (a base checkpoint, a pruned or a
// recovered one), loaded in float32 so that each tensor is converted to the
// output dtype once. Nothing is left at the output path when an export is
// refused or fails: files are written to temporary names and renamed.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tracenas/support/decoder.hpp"

namespace tracenas {

// The formats `tracenas export --format` and `output.export_format` take.
const std::vector<std::string>& export_formats();
// The Nemotron-NAS format's name (its config's model_type too).
const std::string& nemotron_nas_format();

// One layer's kept shape, read from loaded weights.
struct LayerShape {
  bool attn = false;
  int heads = 0;     // query heads
  int kv_heads = 0;  // key/value heads
  bool mlp = false;
  int channels = 0;  // MLP width
};

// Per layer, in order (layers that keep neither block included).
std::vector<LayerShape> layer_shapes(const ModelWeights& w);

// The layers that keep at least one block (a layer with neither is the
// identity: dropped, the rest renumbered); ArchError when none is left.
ModelWeights without_empty_layers(const ModelWeights& w);

// Every layer keeps both blocks at one width.
bool is_uniform(const std::vector<LayerShape>& shapes);

struct FormatExport {
  std::string format;
  std::string out;                 // the file (gguf) or folder written
  std::string arch;                // gguf: general.architecture; nemotron-nas / hf: model_type
  std::int64_t params = 0;         // parameters of the model as exported (stand-ins included)
  std::uint64_t bytes = 0;         // bytes written
  std::vector<std::string> notes;  // what a user should know (stand-ins, placeholder tokens)
};

// `model_dir`: the folder the model was loaded from (its config.json and
// tokenizer files are read); `dtype`: float32, float16 or bfloat16 for the
// weights (1-D tensors stay float32 in GGUF, as llama.cpp's converter keeps
// them). ModelError (exit 2) for a model the format cannot hold, naming the
// layer and the reason.
FormatExport export_model(const std::string& model_dir, const DecoderModel& model,
                          const std::string& format, at::ScalarType dtype, const std::string& out,
                          std::uint64_t max_shard_bytes = 4ull << 30);

}  // namespace tracenas
