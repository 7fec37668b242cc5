#include "base/json_text.hpp"

namespace tracenas {
namespace {

template <typename Json>
void preview(const Json& j, int depth, std::string& out, std::size_t max_chars) {
  if (out.size() > max_chars) return;
  if (j.is_array() || j.is_object()) {
    const bool array = j.is_array();
    out += array ? '[' : '{';
    if (depth >= 2 && !j.empty()) {
      out += "...";
    } else {
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out += ", ";
        first = false;
        if (out.size() > max_chars) {
          out += "...";
          break;
        }
        if (!array) {
          out += Json(it.key()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
          out += ": ";
        }
        preview(it.value(), depth + 1, out, max_chars);
      }
    }
    out += array ? ']' : '}';
    return;
  }
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > max_chars) {
    std::size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
      --cut;  // whole characters
    s = s.substr(0, cut) + "...";
  }
  out += s;
}

}  // namespace

std::optional<std::size_t> json_depth_exceeded(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

std::string json_preview(const nlohmann::json& j, std::size_t max_chars) {
  std::string out;
  preview(j, 0, out, max_chars);
  return out;
}

std::string json_preview(const nlohmann::ordered_json& j, std::size_t max_chars) {
  std::string out;
  preview(j, 0, out, max_chars);
  return out;
}

}  // namespace tracenas
