// Part of the SDK's support folder: bounds for JSON files read from users
// (config.json, tokenizer.json, arch.json, safetensors headers). A plugin that
// parses JSON with nlohmann::json checks the nesting first: the parser itself
// is iterative, but code that walks a parsed value (and `dump()`) recurses.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "tracenas/api.hpp"

namespace tracenas {

// Nesting deeper than this in a JSON file we read is refused before parsing:
// real config.json, tokenizer.json, arch.json and safetensors headers nest a
// few levels.
constexpr int kMaxJsonDepth = 64;

// The byte offset where `text` first opens a JSON array or object deeper than
// `limit` levels (outside strings), or nullopt. Linear in the text's size.
TN_API std::optional<std::size_t> json_depth_exceeded(std::string_view text,
                                                      int limit = kMaxJsonDepth);

}  // namespace tracenas
