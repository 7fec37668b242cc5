// Small helpers shared across the core: name suggestions, joining, quoting,
// shapes in messages, elapsed time.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tracenas {

// Levenshtein edit distance.
std::size_t edit_distance(const std::string& a, const std::string& b);
// The closest candidate, if it is close enough to be a likely typo.
std::string closest_name(const std::string& name, const std::vector<std::string>& candidates);
// " (did you mean 'x'?; known: a, b, c)" or " (known: a, b, c)"; "(none known)" when empty.
std::string suggest(const std::string& name, const std::vector<std::string>& candidates);
std::string join(const std::vector<std::string>& items, const std::string& sep);
// JSON-style quoting of a string for messages.
std::string quote(const std::string& s);
// `s` made safe for a terminal line and a JSON string: valid UTF-8 is kept,
// every byte that is not part of a valid UTF-8 character, and every control
// character but tab and newline, becomes "\xNN".
std::string printable_text(const std::string& s);
// A tensor shape for messages: "[2, 3]".
std::string shape_text(const std::vector<std::int64_t>& shape);
// Seconds of the steady clock since `start`.
double seconds_since(std::chrono::steady_clock::time_point start);

}  // namespace tracenas
