#include "tracenas/support/tokens.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "tracenas/error.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot read the token file");
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  in.seekg(0);
  std::vector<char> bytes(static_cast<std::size_t>(size));
  if (size > 0 && !in.read(bytes.data(), size)) {
    throw DataError(path + ": read failed after " + std::to_string(in.gcount()) + " bytes");
  }
  return bytes;
}

template <class T>
std::vector<std::int32_t> decode_le(const std::vector<char>& bytes, const std::string& path) {
  if (bytes.size() % sizeof(T) != 0) {
    throw DataError(path + ": size " + std::to_string(bytes.size()) +
                    " bytes is not a whole number of " + std::to_string(sizeof(T)) +
                    "-byte tokens");
  }
  std::size_t n = bytes.size() / sizeof(T);
  std::vector<std::int32_t> out(n);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  for (std::size_t i = 0; i < n; ++i) {
    std::uint64_t v = 0;
    for (std::size_t b = 0; b < sizeof(T); ++b) {
      v |= static_cast<std::uint64_t>(p[i * sizeof(T) + b]) << (8 * b);
    }
    if (v > static_cast<std::uint64_t>(INT32_MAX)) {
      throw DataError(path + ": token " + std::to_string(i) + " is " + std::to_string(v) +
                      ", above the largest supported id");
    }
    out[i] = static_cast<std::int32_t>(v);
  }
  return out;
}

std::vector<std::int32_t> decode_text(const std::vector<char>& bytes, const std::string& path) {
  std::vector<std::int32_t> out;
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  while (i < n) {
    while (i < n && std::isspace(static_cast<unsigned char>(bytes[i]))) ++i;
    if (i >= n) break;
    std::size_t start = i;
    while (i < n && !std::isspace(static_cast<unsigned char>(bytes[i]))) ++i;
    std::string tok(bytes.begin() + static_cast<long>(start), bytes.begin() + static_cast<long>(i));
    bool digits = !tok.empty() && std::all_of(tok.begin(), tok.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    if (!digits || tok.size() > 10 || std::stoll(tok) > INT32_MAX) {
      throw DataError(path + ": entry " + std::to_string(out.size()) + " at byte " +
                      std::to_string(start) + " is not a token id (got \"" + tok.substr(0, 32) +
                      "\")");
    }
    out.push_back(static_cast<std::int32_t>(std::stoll(tok)));
  }
  return out;
}

}  // namespace

std::vector<std::int32_t> read_token_file(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  if (ext != ".u16" && ext != ".u32" && ext != ".txt") {
    throw DataError(path + ": unknown token file type '" + ext + "' (expected .u16, .u32 or .txt)");
  }
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw DataError(path + ": no such token file");
  std::vector<char> bytes = read_bytes(path);
  if (ext == ".u16") return decode_le<std::uint16_t>(bytes, path);
  if (ext == ".u32") return decode_le<std::uint32_t>(bytes, path);
  return decode_text(bytes, path);
}

std::vector<std::vector<std::int64_t>> calibration_windows(std::size_t stream_length,
                                                           const BatchSpec& spec,
                                                           const std::string& source_name) {
  const std::size_t seq = static_cast<std::size_t>(spec.seq_len);
  const std::size_t windows = stream_length / seq;
  const std::size_t need =
      static_cast<std::size_t>(spec.batch_size) * static_cast<std::size_t>(spec.num_batches);
  if (windows < need) {
    throw DataError(source_name + ": " + std::to_string(stream_length) + " tokens make " +
                    std::to_string(windows) + " windows of " + std::to_string(seq) +
                    ", fewer than batch_size x num_batches = " + std::to_string(need));
  }
  std::vector<std::int64_t> order(windows);
  std::iota(order.begin(), order.end(), 0);
  if (spec.shuffle) {
    std::mt19937_64 rng(spec.shuffle_seed);
    // Fisher-Yates with our own index draw, so the order does not depend on the
    // standard library's distribution implementation.
    for (std::size_t i = windows; i > 1; --i) {
      std::size_t j = static_cast<std::size_t>(rng() % i);
      std::swap(order[i - 1], order[j]);
    }
  }
  std::vector<std::vector<std::int64_t>> out(static_cast<std::size_t>(spec.num_batches));
  for (std::size_t k = 0; k < out.size(); ++k) {
    for (std::size_t b = 0; b < static_cast<std::size_t>(spec.batch_size); ++b) {
      out[k].push_back(order[k * static_cast<std::size_t>(spec.batch_size) + b] *
                       static_cast<std::int64_t>(seq));
    }
  }
  return out;
}

}  // namespace tracenas
