#include "io/safetensors.hpp"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "base/atomic_file.hpp"
#include "base/json_text.hpp"
#include "base/util.hpp"
#include "tracenas/error.hpp"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp assumes a little-endian host (safetensors data is little-endian)"
#endif

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace tracenas {

namespace {

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr const char* kMetadataKey = "__metadata__";

std::string errno_text() { return std::strerror(errno); }

std::string range_text(std::uint64_t begin, std::uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

std::string json_type(const json& j) {
  if (j.is_number_integer()) return "integer";
  if (j.is_number_float()) return "number";
  return j.type_name();
}

bool parse_dtype(const std::string& name, at::ScalarType* dtype) {
  if (name == "F32") {
    *dtype = at::kFloat;
  } else if (name == "F16") {
    *dtype = at::kHalf;
  } else if (name == "BF16") {
    *dtype = at::kBFloat16;
  } else if (name == "F64") {
    *dtype = at::kDouble;
  } else {
    return false;
  }
  return true;
}

std::size_t element_size(at::ScalarType dtype) {
  return dtype == at::kDouble ? 8 : dtype == at::kFloat ? 4 : 2;
}

// Parses JSON, reporting the first duplicate object key (nlohmann keeps the
// last one silently). `what` prefixes messages; `top_level_noun` names the
// keys of the top-level object ("tensor name") and, for nested objects, the
// owner of the entry.
json parse_json_strict(const char* first, const char* last, const std::string& what,
                       const std::string& top_level_noun) {
  std::vector<std::set<std::string>> seen;  // keys of each open object
  std::string top_key;                      // the current key of the top-level object
  std::string duplicate;                    // first duplicate, as a message
  json::parser_callback_t cb = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        seen.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!seen.empty()) seen.pop_back();
        break;
      case json::parse_event_t::key: {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!seen.empty() && !seen.back().insert(key).second && duplicate.empty()) {
          if (seen.size() == 1) {
            duplicate = "duplicate " + top_level_noun + " " + quote(key);
          } else {
            duplicate = "duplicate key " + quote(key) + " in " + quote(top_key);
          }
        }
        if (seen.size() == 1) top_key = key;
        break;
      }
      default:
        break;
    }
    return true;
  };
  if (const auto at =
          json_depth_exceeded(std::string_view(first, static_cast<std::size_t>(last - first)))) {
    throw ModelError(what + ": malformed JSON: nested deeper than " +
                     std::to_string(kMaxJsonDepth) + " levels (at byte " + std::to_string(*at) +
                     ")");
  }
  json j;
  try {
    j = json::parse(first, last, cb);
  } catch (const json::exception& e) {
    throw ModelError(what + ": malformed JSON: " + e.what());
  }
  if (!duplicate.empty()) throw ModelError(what + ": " + duplicate);
  return j;
}

// Reads and checks one tensor entry of a header.
TensorInfo parse_entry(const std::string& file, const std::string& name, const json& entry,
                       std::uint64_t data_size) {
  const std::string where = file + ": tensor " + quote(name);
  if (!entry.is_object()) {
    throw ModelError(where + ": entry must be an object (got " + json_type(entry) + ")");
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(field)) throw ModelError(where + ": missing \"" + field + "\"");
  }
  TensorInfo info;
  const json& dtype = entry.at("dtype");
  if (!dtype.is_string()) {
    throw ModelError(where + ": \"dtype\" must be a string (got " + json_type(dtype) + ")");
  }
  const std::string& dtype_name = dtype.get_ref<const std::string&>();
  if (!parse_dtype(dtype_name, &info.dtype)) {
    throw ModelError(where + ": unsupported dtype " + quote(dtype_name) +
                     " (supported: F64, F32, F16, BF16)");
  }

  const json& shape = entry.at("shape");
  if (!shape.is_array()) {
    throw ModelError(where + ": \"shape\" must be an array of integers (got " + json_type(shape) +
                     ")");
  }
  for (const json& dim : shape) {
    if (!dim.is_number_integer()) {
      throw ModelError(where + ": \"shape\" must be an array of integers (got " +
                       json_preview(shape) + ")");
    }
    info.shape.push_back(dim.is_number_unsigned() && dim.get<std::uint64_t>() > INT64_MAX
                             ? INT64_MAX
                             : dim.get<std::int64_t>());
  }
  for (std::int64_t dim : info.shape) {
    if (dim < 0) {
      throw ModelError(where + ": negative dimension " + std::to_string(dim) + " in shape " +
                       shape_text(info.shape));
    }
  }

  const json& offsets = entry.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned()) {
    throw ModelError(where +
                     ": \"data_offsets\" must be two non-negative integers [begin, end] "
                     "(got " +
                     json_preview(offsets) + ")");
  }
  info.begin = offsets[0].get<std::uint64_t>();
  info.end = offsets[1].get<std::uint64_t>();
  if (info.begin > info.end) {
    throw ModelError(where + ": data_offsets " + range_text(info.begin, info.end) +
                     " have begin > end");
  }
  if (info.end > data_size) {
    throw ModelError(where + ": data_offsets " + range_text(info.begin, info.end) +
                     " lie outside the data section (" + std::to_string(data_size) + " bytes)");
  }

  // Expected byte length, with overflow checks.
  std::uint64_t expected = element_size(info.dtype);
  bool overflow = false;
  for (std::int64_t dim : info.shape) {
    overflow =
        overflow || __builtin_mul_overflow(expected, static_cast<std::uint64_t>(dim), &expected);
  }
  if (overflow || expected > static_cast<std::uint64_t>(INT64_MAX)) {
    throw ModelError(where + ": shape " + shape_text(info.shape) + " is too large");
  }
  if (info.nbytes() != expected) {
    throw ModelError(where + ": data_offsets " + range_text(info.begin, info.end) + " hold " +
                     std::to_string(info.nbytes()) + " bytes but " + dtype_name + " x shape " +
                     shape_text(info.shape) + " needs " + std::to_string(expected));
  }
  return info;
}

// A tensor ready to be written: CPU, contiguous, supported dtype.
struct PreparedTensor {
  std::string name;
  at::Tensor tensor;
  std::uint64_t nbytes = 0;
};

std::vector<PreparedTensor> prepare(const std::string& path, const NamedTensors& tensors) {
  std::vector<PreparedTensor> out;
  std::set<std::string> names;
  for (const auto& [name, tensor] : tensors) {
    const std::string where = path + ": tensor " + quote(name);
    if (name.empty()) throw ModelError(path + ": a tensor has an empty name");
    if (name == kMetadataKey) throw ModelError(where + ": the name is reserved");
    if (!names.insert(name).second)
      throw ModelError(path + ": duplicate tensor name " + quote(name));
    if (!tensor.defined()) throw ModelError(where + ": undefined tensor");
    at::ScalarType dtype = tensor.scalar_type();
    if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16 &&
        dtype != at::kDouble) {
      throw ModelError(where + ": unsupported dtype " + std::string(c10::toString(dtype)) +
                       " (supported: Double, Float, Half, BFloat16)");
    }
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    out.push_back({name, t, static_cast<std::uint64_t>(t.numel()) * element_size(dtype)});
  }
  return out;
}

void write_file(const std::string& path, std::vector<PreparedTensor> tensors,
                const SafeTensorsMetadata& metadata) {
  // Largest elements first, then by name: back to back, each tensor stays aligned.
  std::sort(tensors.begin(), tensors.end(), [](const PreparedTensor& a, const PreparedTensor& b) {
    std::size_t ea = element_size(a.tensor.scalar_type());
    std::size_t eb = element_size(b.tensor.scalar_type());
    return ea != eb ? ea > eb : a.name < b.name;
  });
  json header = json::object();
  if (!metadata.empty()) header[kMetadataKey] = metadata;
  std::uint64_t offset = 0;
  for (const PreparedTensor& t : tensors) {
    json entry;
    entry["dtype"] = safetensors_dtype_name(t.tensor.scalar_type());
    entry["shape"] = t.tensor.sizes().vec();
    entry["data_offsets"] = {offset, offset + t.nbytes};
    header[t.name] = std::move(entry);
    offset += t.nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    throw ModelError(path + ": cannot write the header: " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(text.size() >> (8 * i));

  AtomicFile file(path);
  file.write(length, sizeof length);
  file.write(text.data(), text.size());
  for (const PreparedTensor& t : tensors) file.write(t.tensor.data_ptr(), t.nbytes);
  file.commit();
}

void remove_file(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) throw Error(path.string() + ": cannot remove: " + ec.message());
}

}  // namespace

// ---------------------------------------------------------------------------
// TensorInfo

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

std::string safetensors_dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return "F32";
    case at::kHalf:
      return "F16";
    case at::kBFloat16:
      return "BF16";
    case at::kDouble:
      return "F64";
    default:
      throw ModelError("safetensors: unsupported dtype " + std::string(c10::toString(dtype)) +
                       " (supported: Double, Float, Half, BFloat16)");
  }
}

// ---------------------------------------------------------------------------
// SafeTensorsFile

struct SafeTensorsFile::Mapping {
  void* addr = nullptr;
  std::size_t size = 0;
  ~Mapping() {
    if (addr) ::munmap(addr, size);
  }
};

SafeTensorsFile::~SafeTensorsFile() = default;

std::shared_ptr<SafeTensorsFile> SafeTensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelError(path + ": cannot open: " + errno_text());
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    std::string err = errno_text();
    ::close(fd);
    throw ModelError(path + ": cannot stat: " + err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ModelError(path + ": not a regular file");
  }
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    throw ModelError(path + ": file is " + std::to_string(file_size) +
                     " bytes, shorter than the 8-byte header length");
  }
  auto mapping = std::make_shared<Mapping>();
  // Private and writable: copy-on-write, so an in-place op on a returned tensor
  // touches only this process's pages instead of faulting.
  void* addr = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  std::string mmap_err = addr == MAP_FAILED ? errno_text() : "";
  ::close(fd);
  if (addr == MAP_FAILED) throw ModelError(path + ": cannot memory-map: " + mmap_err);
  mapping->addr = addr;
  mapping->size = file_size;

  const auto* bytes = static_cast<const unsigned char*>(addr);
  std::uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
  if (header_len > file_size - 8) {
    throw ModelError(path + ": header length " + std::to_string(header_len) +
                     " runs past the end of the file (" + std::to_string(file_size) + " bytes)");
  }

  std::shared_ptr<SafeTensorsFile> file(new SafeTensorsFile());
  file->path_ = path;
  file->mapping_ = mapping;
  file->data_start_ = 8 + header_len;
  const std::uint64_t data_size = file_size - file->data_start_;

  const char* text = reinterpret_cast<const char*>(bytes + 8);
  json header = parse_json_strict(text, text + header_len, path + ": header", "tensor name");
  if (!header.is_object()) {
    throw ModelError(path + ": header must be a JSON object (got " + json_type(header) + ")");
  }
  for (const auto& [name, entry] : header.items()) {
    if (name == kMetadataKey) {
      if (!entry.is_object()) {
        throw ModelError(path + ": \"__metadata__\" must be an object of strings (got " +
                         json_type(entry) + ")");
      }
      for (const auto& [key, value] : entry.items()) {
        if (!value.is_string()) {
          throw ModelError(path + ": \"__metadata__\"." + key + " must be a string (got " +
                           json_type(value) + ")");
        }
        file->metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    file->tensors_.emplace(name, parse_entry(path, name, entry, data_size));
  }

  // No two tensors may share bytes (empty tensors occupy none).
  std::vector<std::pair<const std::string*, const TensorInfo*>> by_offset;
  for (const auto& [name, info] : file->tensors_) {
    if (info.nbytes() > 0) by_offset.emplace_back(&name, &info);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto& a, const auto& b) { return a.second->begin < b.second->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const auto& [prev_name, prev] = by_offset[i - 1];
    const auto& [name, info] = by_offset[i];
    if (info->begin < prev->end) {
      throw ModelError(path + ": tensors " + quote(*prev_name) + " " +
                       range_text(prev->begin, prev->end) + " and " + quote(*name) + " " +
                       range_text(info->begin, info->end) + " overlap");
    }
  }
  return file;
}

std::vector<std::string> SafeTensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

const TensorInfo& SafeTensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    std::string near = closest_name(name, names());
    throw ModelError(path_ + ": no tensor " + quote(name) +
                     (near.empty() ? "" : " (did you mean " + quote(near) + "?)"));
  }
  return it->second;
}

at::Tensor SafeTensorsFile::get(const std::string& name) const {
  const TensorInfo& ti = info(name);
  auto* data = static_cast<char*>(mapping_->addr) + data_start_ + ti.begin;
  auto options = at::TensorOptions().dtype(ti.dtype).device(at::kCPU);
  if (reinterpret_cast<std::uintptr_t>(data) % element_size(ti.dtype) != 0) {
    // A foreign file with a misaligned tensor: copy rather than hand out a misaligned view.
    at::Tensor out = at::empty(ti.shape, options);
    std::memcpy(out.data_ptr(), data, ti.nbytes());
    return out;
  }
  std::shared_ptr<Mapping> keep = mapping_;
  return at::from_blob(
      data, ti.shape, [keep](void*) mutable { keep.reset(); }, options);
}

// ---------------------------------------------------------------------------
// Checkpoint

Checkpoint Checkpoint::open(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return open_dir(path);
  if (!fs::exists(path, ec)) throw ModelError(path + ": no such file or folder");
  const std::string suffix = ".index.json";
  if (path.size() >= suffix.size() &&
      path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return open_index(path);
  }
  Checkpoint ck;
  ck.path_ = path;
  ck.files_.push_back(SafeTensorsFile::open(path));
  for (const auto& kv : ck.files_[0]->tensors()) ck.where_.emplace(kv.first, 0);
  return ck;
}

Checkpoint Checkpoint::open_index(const std::string& path) {
  std::error_code ec;
  Checkpoint ck;
  ck.path_ = path;
  ck.sharded_ = true;
  const fs::path index(path);
  const fs::path dir = index.parent_path();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError(path + ": cannot open: " + errno_text());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw ModelError(path + ": cannot read: " + errno_text());
  const std::string text = buffer.str();
  json j = parse_json_strict(text.data(), text.data() + text.size(), path, "key");
  if (!j.is_object()) {
    throw ModelError(path + ": index must be a JSON object (got " + json_type(j) + ")");
  }
  if (!j.contains("weight_map")) throw ModelError(path + ": missing \"weight_map\"");
  const json& map = j.at("weight_map");
  if (!map.is_object()) {
    throw ModelError(path + ": \"weight_map\" must be an object (got " + json_type(map) + ")");
  }
  if (map.empty()) throw ModelError(path + ": \"weight_map\" lists no tensors");

  std::set<std::string> shard_set;            // shard file names
  std::map<std::string, std::string> listed;  // tensor -> shard file name
  for (const auto& [name, shard] : map.items()) {
    if (!shard.is_string()) {
      throw ModelError(path + ": \"weight_map\"." + name + " must be a shard file name (got " +
                       json_type(shard) + ")");
    }
    const std::string& file = shard.get_ref<const std::string&>();
    if (file.empty() || file == "." || file == ".." || file.find('/') != std::string::npos) {
      throw ModelError(path + ": \"weight_map\"." + name + ": shard " + quote(file) +
                       " must be a file name in the checkpoint folder");
    }
    listed[name] = file;
    shard_set.insert(file);
  }
  const std::vector<std::string> shard_names(shard_set.begin(), shard_set.end());  // shard order
  for (const std::string& file : shard_names) {
    const fs::path shard_path = dir / file;
    if (!fs::is_regular_file(shard_path, ec)) {
      std::string example;
      for (const auto& [name, f] : listed) {
        if (f == file) {
          example = name;
          break;
        }
      }
      throw ModelError(path + ": shard " + quote(file) + " (holding " + quote(example) +
                       ") is missing from " + (dir.empty() ? std::string(".") : dir.string()));
    }
    ck.files_.push_back(SafeTensorsFile::open(shard_path.string()));
  }
  // Every shard's tensors: each in one shard only, and where the index says.
  for (std::size_t i = 0; i < ck.files_.size(); ++i) {
    for (const auto& kv : ck.files_[i]->tensors()) {
      const std::string& name = kv.first;
      auto [it, inserted] = ck.where_.emplace(name, i);
      if (!inserted) {
        throw ModelError(path + ": tensor " + quote(name) + " is in two shards, " +
                         quote(shard_names[it->second]) + " and " + quote(shard_names[i]));
      }
      auto l = listed.find(name);
      if (l == listed.end()) {
        throw ModelError(path + ": shard " + quote(shard_names[i]) + " holds tensor " +
                         quote(name) + ", which the index does not list");
      }
    }
  }
  for (const auto& [name, file] : listed) {
    auto it = ck.where_.find(name);
    if (it == ck.where_.end() || shard_names[it->second] != file) {
      throw ModelError(path + ": tensor " + quote(name) + " is mapped to shard " + quote(file) +
                       " but that shard does not hold it");
    }
  }
  return ck;
}

Checkpoint Checkpoint::open_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw ModelError(dir + ": not a checkpoint folder");
  const fs::path single = fs::path(dir) / kSingleFile;
  const fs::path index = fs::path(dir) / kIndexFile;
  Checkpoint ck;
  if (fs::exists(single, ec)) {
    ck = open(single.string());
  } else if (fs::exists(index, ec)) {
    ck = open(index.string());
  } else {
    throw ModelError(dir + ": no " + kSingleFile + " or " + kIndexFile + " in the folder");
  }
  ck.path_ = dir;
  return ck;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& kv : where_) out.push_back(kv.first);
  return out;
}

const SafeTensorsFile& Checkpoint::lookup(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    std::string near = closest_name(name, names());
    throw ModelError(path_ + ": no tensor " + quote(name) + " in the checkpoint" +
                     (near.empty() ? "" : " (did you mean " + quote(near) + "?)"));
  }
  return *files_[it->second];
}

const SafeTensorsFile& Checkpoint::file_of(const std::string& name) const { return lookup(name); }

at::Tensor Checkpoint::get(const std::string& name) const { return lookup(name).get(name); }

const TensorInfo& Checkpoint::info(const std::string& name) const {
  return lookup(name).info(name);
}

std::int64_t Checkpoint::numel_total() const {
  std::int64_t n = 0;
  for (const auto& file : files_) {
    for (const auto& kv : file->tensors()) n += kv.second.numel();
  }
  return n;
}

std::uint64_t Checkpoint::nbytes_total() const {
  std::uint64_t n = 0;
  for (const auto& file : files_) {
    for (const auto& kv : file->tensors()) n += kv.second.nbytes();
  }
  return n;
}

const SafeTensorsMetadata& Checkpoint::metadata() const {
  static const SafeTensorsMetadata kEmpty;
  return files_.empty() ? kEmpty : files_.front()->metadata();
}

// ---------------------------------------------------------------------------
// Writers

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const SafeTensorsMetadata& metadata) {
  write_file(path, prepare(path, tensors), metadata);
}

void save_checkpoint(const std::string& dir, const NamedTensors& tensors,
                     const SafeTensorsMetadata& metadata, std::uint64_t max_shard_bytes) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(dir + ": cannot create the folder: " + ec.message());
  const fs::path folder(dir);

  std::vector<PreparedTensor> all = prepare(dir, tensors);
  std::sort(all.begin(), all.end(),
            [](const PreparedTensor& a, const PreparedTensor& b) { return a.name < b.name; });
  std::vector<std::vector<PreparedTensor>> shards(1);
  std::uint64_t total = 0, current = 0;
  for (PreparedTensor& t : all) {
    if (max_shard_bytes > 0 && !shards.back().empty() && current + t.nbytes > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    current += t.nbytes;
    total += t.nbytes;
    shards.back().push_back(std::move(t));
  }

  const std::regex shard_pattern(R"(model-\d{5}-of-\d{5}\.safetensors)");
  std::set<std::string> written;
  if (shards.size() == 1) {
    write_file((folder / kSingleFile).string(), std::move(shards[0]), metadata);
    written.insert(kSingleFile);
    remove_file(folder / kIndexFile);
  } else {
    const std::size_t k = shards.size();
    if (k > 99999) throw Error(dir + ": " + std::to_string(k) + " shards, more than 99999");
    json weight_map = json::object();
    for (std::size_t i = 0; i < k; ++i) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, k);
      for (const PreparedTensor& t : shards[i]) weight_map[t.name] = name;
      write_file((folder / name).string(), std::move(shards[i]), metadata);
      written.insert(name);
    }
    json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    std::string text = index.dump(2) + "\n";
    AtomicFile file((folder / kIndexFile).string());
    file.write(text.data(), text.size());
    file.commit();
    remove_file(folder / kSingleFile);
  }
  // Shards of an earlier save that this one did not overwrite.
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, shard_pattern) && !written.count(name)) remove_file(entry.path());
  }
}

}  // namespace tracenas
