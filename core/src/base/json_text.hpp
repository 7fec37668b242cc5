// JSON read from files people hand us, and JSON values quoted in messages:
// bounded nesting and bounded, always-printable previews.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "tracenas/support/json_limits.hpp"

namespace tracenas {

// Parses `text` (a file's JSON) with its nesting bounded. `fail(reason)` is
// called with one line when it is nested too deeply or is not JSON (numbers
// that overflow a double included), and must throw the caller's error type.
template <typename Json = nlohmann::json, typename Fail>
Json parse_json_text(std::string_view text, Fail&& fail) {
  if (const auto at = json_depth_exceeded(text)) {
    fail("nested deeper than " + std::to_string(kMaxJsonDepth) + " levels (at byte " +
         std::to_string(*at) + ")");
  }
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    std::string why = e.what();
    for (char& c : why) {
      if (c == '\n') c = ' ';
    }
    fail("not valid JSON: " + why);
  }
  return Json();  // not reached: fail throws
}

// A JSON value for a message: `dump()` of scalars, arrays and objects shown
// two levels deep ("[1, [2, ...], ...]"), cut to about `max_chars`, never
// recursing further and never throwing on any string content.
std::string json_preview(const nlohmann::json& j, std::size_t max_chars = 80);
std::string json_preview(const nlohmann::ordered_json& j, std::size_t max_chars = 80);

}  // namespace tracenas
