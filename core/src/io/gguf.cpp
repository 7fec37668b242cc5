#include "io/gguf.hpp"

#include <ATen/ATen.h>

#include <cstring>
#include <set>

#include "base/atomic_file.hpp"
#include "base/util.hpp"
#include "tracenas/error.hpp"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.cpp assumes a little-endian host (GGUF is written little-endian)"
#endif

namespace tracenas {
namespace {

// GGUF value types (gguf.h, enum gguf_type).
enum : std::uint32_t {
  kTypeUint32 = 4,
  kTypeInt32 = 5,
  kTypeFloat32 = 6,
  kTypeBool = 7,
  kTypeString = 8,
  kTypeArray = 9,
};

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<std::uint64_t>(out, s.size());
  out += s;
}

std::uint64_t element_bytes(GgmlType t) { return t == GgmlType::kF32 ? 4 : 2; }

std::uint64_t padded(std::uint64_t n) {
  return (n + GgufWriter::kAlignment - 1) / GgufWriter::kAlignment * GgufWriter::kAlignment;
}

}  // namespace

GgmlType ggml_type_of(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return GgmlType::kF32;
    case at::kHalf:
      return GgmlType::kF16;
    case at::kBFloat16:
      return GgmlType::kBF16;
    default:
      throw Error(std::string("GGUF: no tensor type for dtype ") + c10::toString(dtype));
  }
}

at::ScalarType dtype_of(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return at::kFloat;
    case GgmlType::kF16:
      return at::kHalf;
    case GgmlType::kBF16:
      return at::kBFloat16;
  }
  return at::kFloat;
}

bool GgufWriter::has_key(const std::string& key) const {
  for (const Kv& kv : kvs_) {
    if (kv.key == key) return true;
  }
  return false;
}

void GgufWriter::add_kv(const std::string& key, std::string bytes) {
  if (has_key(key)) throw Error("GGUF: duplicate key " + quote(key));
  kvs_.push_back({key, std::move(bytes)});
}

void GgufWriter::set_u32(const std::string& key, std::uint32_t value) {
  std::string b;
  put(b, kTypeUint32);
  put(b, value);
  add_kv(key, std::move(b));
}

void GgufWriter::set_i32(const std::string& key, std::int32_t value) {
  std::string b;
  put(b, kTypeInt32);
  put(b, value);
  add_kv(key, std::move(b));
}

void GgufWriter::set_f32(const std::string& key, float value) {
  std::string b;
  put(b, kTypeFloat32);
  put(b, value);
  add_kv(key, std::move(b));
}

void GgufWriter::set_bool(const std::string& key, bool value) {
  std::string b;
  put(b, kTypeBool);
  put<std::uint8_t>(b, value ? 1 : 0);
  add_kv(key, std::move(b));
}

void GgufWriter::set_string(const std::string& key, const std::string& value) {
  std::string b;
  put(b, kTypeString);
  put_string(b, value);
  add_kv(key, std::move(b));
}

void GgufWriter::set_i32_array(const std::string& key, const std::vector<std::int32_t>& values) {
  std::string b;
  put(b, kTypeArray);
  put(b, kTypeInt32);
  put<std::uint64_t>(b, values.size());
  for (std::int32_t v : values) put(b, v);
  add_kv(key, std::move(b));
}

void GgufWriter::set_f32_array(const std::string& key, const std::vector<float>& values) {
  std::string b;
  put(b, kTypeArray);
  put(b, kTypeFloat32);
  put<std::uint64_t>(b, values.size());
  for (float v : values) put(b, v);
  add_kv(key, std::move(b));
}

void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& values) {
  std::string b;
  put(b, kTypeArray);
  put(b, kTypeString);
  put<std::uint64_t>(b, values.size());
  for (const std::string& v : values) put_string(b, v);
  add_kv(key, std::move(b));
}

void GgufWriter::add_tensor(const std::string& name, const at::Tensor& t, GgmlType type) {
  if (name.empty() || name.size() > kMaxTensorName) {
    throw Error("GGUF: tensor name " + quote(name) + " must have 1 to " +
                std::to_string(kMaxTensorName) + " bytes");
  }
  for (const Tensor& x : tensors_) {
    if (x.name == name) throw Error("GGUF: duplicate tensor " + quote(name));
  }
  if (!t.defined() || t.dim() < 1 || t.dim() > 4) {
    throw Error("GGUF: tensor " + quote(name) + " must have 1 to 4 dimensions");
  }
  tensors_.push_back({name, t, type});
}

std::uint64_t GgufWriter::data_bytes() const {
  std::uint64_t n = 0;
  for (const Tensor& t : tensors_) {
    n += padded(static_cast<std::uint64_t>(t.data.numel()) * element_bytes(t.type));
  }
  return n;
}

void GgufWriter::write(const std::string& path) const {
  std::string head;
  head += "GGUF";
  put<std::uint32_t>(head, 3);
  put<std::uint64_t>(head, tensors_.size());
  put<std::uint64_t>(head, kvs_.size());
  for (const Kv& kv : kvs_) {
    put_string(head, kv.key);
    head += kv.bytes;
  }
  std::uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(head, t.name);
    put<std::uint32_t>(head, static_cast<std::uint32_t>(t.data.dim()));
    for (std::int64_t d = t.data.dim() - 1; d >= 0; --d) {
      put<std::uint64_t>(head, static_cast<std::uint64_t>(t.data.size(d)));
    }
    put<std::uint32_t>(head, static_cast<std::uint32_t>(t.type));
    put<std::uint64_t>(head, offset);
    offset += padded(static_cast<std::uint64_t>(t.data.numel()) * element_bytes(t.type));
  }
  AtomicFile file(path);
  file.write(head.data(), head.size());
  file.pad_to(kAlignment);
  for (const Tensor& t : tensors_) {
    // One tensor at a time in its file type, on the CPU.
    at::Tensor cpu = t.data.detach().to(at::kCPU, dtype_of(t.type)).contiguous();
    file.write(cpu.data_ptr(), static_cast<std::size_t>(cpu.numel()) * cpu.element_size());
    file.pad_to(kAlignment);
  }
  file.commit();
}

}  // namespace tracenas
