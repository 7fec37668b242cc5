// Writing GGUF files, the format llama.cpp loads (version 3).
//
// Layout (llama.cpp's ggml/src/gguf.cpp reads it; every integer little-endian):
//   "GGUF", u32 version 3, u64 tensor count, u64 key-value count;
//   key-value pairs: string key, u32 value type, value (a string is a u64
//     byte length and the bytes, no terminator; an array is a u32 element
//     type, a u64 count and the elements);
//   tensor infos: string name, u32 dimension count, u64 sizes with the
//     fastest-varying dimension first (a row-major [rows, cols] tensor is
//     written as {cols, rows}), u32 ggml type, u64 offset of its data from the
//     start of the data section (a multiple of the alignment);
//   zero padding to the alignment (`general.alignment`, default 32), then the
//     data section, each tensor's bytes padded to the alignment.
// The writer keeps the tensors it is given (views, not copies) and converts
// each to its file type only while writing it, so a model is never held
// twice; the file is streamed into a temporary file and renamed into place
// (base/atomic_file.hpp).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tracenas {

// ggml's tensor types this writer produces.
enum class GgmlType : std::uint32_t { kF32 = 0, kF16 = 1, kBF16 = 30 };

// The ggml type of a floating dtype (float32, float16, bfloat16); Error otherwise.
GgmlType ggml_type_of(at::ScalarType dtype);
at::ScalarType dtype_of(GgmlType type);

class GgufWriter {
 public:
  static constexpr std::uint64_t kAlignment = 32;
  static constexpr std::size_t kMaxTensorName = 63;  // GGML_MAX_NAME - 1

  void set_u32(const std::string& key, std::uint32_t value);
  void set_i32(const std::string& key, std::int32_t value);
  void set_f32(const std::string& key, float value);
  void set_bool(const std::string& key, bool value);
  void set_string(const std::string& key, const std::string& value);
  void set_i32_array(const std::string& key, const std::vector<std::int32_t>& values);
  void set_f32_array(const std::string& key, const std::vector<float>& values);
  void set_string_array(const std::string& key, const std::vector<std::string>& values);

  // `t`: any CPU or CUDA floating tensor; stored as `type`, with its sizes
  // reversed (GGUF lists the fastest-varying dimension first).
  void add_tensor(const std::string& name, const at::Tensor& t, GgmlType type);

  bool has_key(const std::string& key) const;
  std::size_t tensor_count() const { return tensors_.size(); }
  // Bytes the data section will take (with padding).
  std::uint64_t data_bytes() const;

  // Writes the file atomically. Error naming `path` when it cannot be written.
  void write(const std::string& path) const;

 private:
  struct Kv {
    std::string key;
    std::string bytes;  // value type and value, encoded
  };
  struct Tensor {
    std::string name;
    at::Tensor data;
    GgmlType type;
  };
  void add_kv(const std::string& key, std::string bytes);

  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

}  // namespace tracenas
