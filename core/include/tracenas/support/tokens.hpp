// Part of the SDK's support folder, for authors of model adapters and data
// sources: the helpers behind ModelAdapter::load (config.json, checkpoint
// loading, the decoder) and behind data sources (token files, content
// hashes and cache entries). Proxies and search strategies need none of it.
//
// Token files and calibration batches (SPEC.md section 1).
//
// Token files: `.u16` (uint16 little-endian), `.u32` (uint32 little-endian) or
// `.txt` (whitespace-separated decimal ids). A token stream is cut into
// non-overlapping windows of seq_len tokens, in order (an incomplete last
// window is dropped); batch k holds windows k*B .. k*B+B-1; the calibration
// set is the first K batches, after an optional seeded shuffle of windows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tracenas/api.hpp"
#include "tracenas/data.hpp"

namespace tracenas {

// Reads a whole token file. DataError (naming the file) when it is unreadable,
// has an unknown extension, a size that is not a whole number of tokens, or a
// `.txt` entry that is not a non-negative integer (naming its position).
TN_API std::vector<std::int32_t> read_token_file(const std::string& path);

// Window start offsets of the calibration set, batch by batch: result[k][b]
// is the offset in the stream of window b of batch k. DataError when the
// stream holds fewer than batch_size * num_batches windows.
TN_API std::vector<std::vector<std::int64_t>> calibration_windows(std::size_t stream_length,
                                                                  const BatchSpec& spec,
                                                                  const std::string& source_name);

}  // namespace tracenas
