// Reading and writing checkpoints in the safetensors format.
//
// This is how weights enter and leave TraceNAS: model adapters read a Hugging
// Face checkpoint folder through Checkpoint, and prune/export writes one back
// with save_checkpoint.
//
// File format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian unsigned header length N, then N bytes of UTF-8 JSON mapping
// each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte
// offsets relative to the data section, which starts at byte 8 + N), plus an
// optional "__metadata__" object of string -> string. A sharded checkpoint is
// a folder holding `model.safetensors.index.json` ({"metadata": {...},
// "weight_map": {tensor name: shard file name}}) and the shard files.
//
// Reading memory-maps each file (private, copy-on-write; the file is opened
// read-only and never modified) and returns tensors as CPU views over the
// mapping: no copy of the data is made, and a tensor keeps its mapping alive
// after the SafeTensorsFile / Checkpoint it came from is gone. Writing through
// such a view changes only this process's pages. Only F32, F16 and BF16 are
// supported (at::kFloat, at::kHalf, at::kBFloat16).
//
// Every header is validated when the file is opened; a bad file is a
// ModelError (one line, naming the file and the tensor or field at fault).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tracenas {

using SafeTensorsMetadata = std::map<std::string, std::string>;
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// One tensor's entry in a safetensors header.
struct TensorInfo {
  at::ScalarType dtype = at::kFloat;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // data_offsets, relative to the data section
  std::uint64_t end = 0;

  std::int64_t numel() const;
  std::uint64_t nbytes() const { return end - begin; }
};

// "F32", "F16" or "BF16"; ModelError for any other dtype.
std::string safetensors_dtype_name(at::ScalarType dtype);

// One `.safetensors` file, memory-mapped and validated.
class SafeTensorsFile {
 public:
  // ModelError when the file cannot be opened or its header is invalid.
  static std::shared_ptr<SafeTensorsFile> open(const std::string& path);

  SafeTensorsFile(const SafeTensorsFile&) = delete;
  SafeTensorsFile& operator=(const SafeTensorsFile&) = delete;
  ~SafeTensorsFile();

  const std::string& path() const { return path_; }
  // Tensor names, sorted.
  std::vector<std::string> names() const;
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // ModelError naming the file when `name` is absent.
  const TensorInfo& info(const std::string& name) const;
  // A CPU view over the mapping (a copy only if the data is misaligned for its dtype).
  at::Tensor get(const std::string& name) const;
  // The "__metadata__" object (empty when absent).
  const SafeTensorsMetadata& metadata() const { return metadata_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }

 private:
  struct Mapping;
  SafeTensorsFile() = default;

  std::string path_;
  std::shared_ptr<Mapping> mapping_;
  std::uint64_t data_start_ = 0;  // 8 + header length
  std::map<std::string, TensorInfo> tensors_;
  SafeTensorsMetadata metadata_;
};

// The weights of a model: one `.safetensors` file or a sharded folder.
class Checkpoint {
 public:
  // `path` is a folder (see open_dir), a `.safetensors` file, or an
  // `*.index.json` file of a sharded checkpoint.
  static Checkpoint open(const std::string& path);
  // A folder holding `model.safetensors` or, failing that,
  // `model.safetensors.index.json` and its shards (the order Hugging Face
  // uses). Sharded checkpoints are checked: every shard exists, every tensor
  // is in the shard the index names, no tensor is in two shards, and no shard
  // holds a tensor the index does not list.
  static Checkpoint open_dir(const std::string& dir);

  // What was opened (the folder, file or index path).
  const std::string& path() const { return path_; }
  bool sharded() const { return sharded_; }
  // The opened files, in shard order.
  const std::vector<std::shared_ptr<SafeTensorsFile>>& files() const { return files_; }

  // Tensor names, sorted.
  std::vector<std::string> names() const;
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  // ModelError naming the checkpoint (and a likely intended name) when absent.
  at::Tensor get(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;
  std::vector<std::int64_t> shape(const std::string& name) const { return info(name).shape; }
  at::ScalarType dtype(const std::string& name) const { return info(name).dtype; }
  // The file that holds `name`.
  const SafeTensorsFile& file_of(const std::string& name) const;

  // Sum of the element counts / data bytes of every tensor.
  std::int64_t numel_total() const;
  std::uint64_t nbytes_total() const;
  // The "__metadata__" of the file (of the first shard when sharded).
  const SafeTensorsMetadata& metadata() const;

 private:
  Checkpoint() = default;
  static Checkpoint open_index(const std::string& index_path);
  const SafeTensorsFile& lookup(const std::string& name) const;

  std::string path_;
  bool sharded_ = false;
  std::vector<std::shared_ptr<SafeTensorsFile>> files_;
  std::map<std::string, std::size_t> where_;  // tensor name -> index into files_
};

// Writes `tensors` (F32/F16/BF16, any device, any layout; names unique and
// non-empty) with `metadata` as "__metadata__" to `path`, atomically (a
// temporary file in the same folder, then rename). Tensors are laid out by
// element size (largest first) and then by name - for a single-dtype
// checkpoint simply sorted by name - back to back, after a header padded with
// spaces to a multiple of 8 bytes, so every tensor is aligned for its dtype and
// the file is accepted by the reference implementation (which refuses gaps).
// ModelError for an unsupported tensor, Error when writing fails.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const SafeTensorsMetadata& metadata = {});

// Hugging Face's default shard size.
constexpr std::uint64_t kDefaultMaxShardBytes = 5'000'000'000ULL;

// Writes a checkpoint folder (created if needed). Tensors, sorted by name, go
// to shards of at most `max_shard_bytes` of data each (a larger tensor gets a
// shard of its own): `model-00001-of-0000K.safetensors` ... plus
// `model.safetensors.index.json` (metadata.total_size = data bytes), or a
// single `model.safetensors` when everything fits (always, when
// max_shard_bytes is 0). Each shard carries `metadata`. Files of the other
// layout left from an earlier save into the same folder are removed.
void save_checkpoint(const std::string& dir, const NamedTensors& tensors,
                     const SafeTensorsMetadata& metadata = {},
                     std::uint64_t max_shard_bytes = kDefaultMaxShardBytes);

}  // namespace tracenas
