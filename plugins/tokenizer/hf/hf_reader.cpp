#include "hf_reader.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "tracenas/support/json_limits.hpp"

namespace tracenas::hf {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in || in.bad()) throw DataError(path + ": cannot read the file");
  return ss.str();
}

json parse_json(const std::string& file, const std::string& text) {
  // Every stage reader walks the value recursively (a Sequence holds stages).
  if (const auto at = json_depth_exceeded(text)) {
    throw DataError(file + ": nested deeper than " + std::to_string(kMaxJsonDepth) +
                    " levels (at byte " + std::to_string(*at) + ")");
  }
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse errors, and numbers that overflow
    std::string why = e.what();
    std::replace(why.begin(), why.end(), '\n', ' ');
    throw DataError(file + ": not valid JSON: " + why);
  }
}

}  // namespace tracenas::hf
