// `tracenas tokenize`: text to token ids (or ids back to text) with a tokenizer file.
//
//   tracenas tokenize --tokenizer PATH (--text T | --text-file F) [--add-special-tokens]
//   tracenas tokenize --tokenizer PATH (--text IDS | --text-file F) --decode
//
// PATH is a tokenizer.model (sentencepiece), a tokenizer.json (hf_tokenizer)
// or a folder holding one (data_loading.hpp). The result is one JSON object on
// the last line of stdout: {"ids": [...]} or, with --decode, {"text": "..."}.
// With --decode the input holds the ids separated by whitespace, commas or
// brackets (so the "ids" list of an earlier run can be pasted back). Bytes the
// decoder gives that are not valid UTF-8 are printed as U+FFFD.
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "options.hpp"
#include "pipeline/data_loading.hpp"
#include "plugin/registry.hpp"
#include "tracenas/error.hpp"
#include "tracenas/tokenizer.hpp"

using nlohmann::json;

namespace tracenas::cli {
namespace {

std::string read_input(const Options& o) {
  const auto text = o.get("--text");
  const auto file = o.get("--text-file");
  if (text && file) throw UsageError("tokenize: give --text or --text-file, not both");
  if (text) return *text;
  if (!file) throw UsageError("tokenize: --text or --text-file is required");
  std::ifstream in(*file, std::ios::binary);
  if (!in) throw UsageError("tokenize: --text-file: cannot read " + *file);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::int32_t> parse_ids(const std::string& text, const std::string& option) {
  std::vector<std::int32_t> ids;
  std::string cur;
  auto flush = [&] {
    if (cur.empty()) return;
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(cur.c_str(), &end, 10);
    if (*end != '\0' || errno == ERANGE || v < INT32_MIN || v > INT32_MAX) {
      throw UsageError("tokenize: " + option + ": not a token id: '" + cur + "'");
    }
    ids.push_back(static_cast<std::int32_t>(v));
    cur.clear();
  };
  for (char c : text) {
    if (c == ',' || c == '[' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      flush();
    } else {
      cur += c;
    }
  }
  flush();
  return ids;
}

// `s` as a JSON string value, invalid UTF-8 replaced by U+FFFD.
json utf8_string(const std::string& s) {
  return json::parse(json(s).dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace

int cmd_tokenize(const std::vector<std::string>& argv) {
  Options o("tokenize", argv,
            {{"--tokenizer"},
             {"--text"},
             {"--text-file"},
             {"--add-special-tokens", false},
             {"--decode", false}});
  if (!o.positional().empty()) {
    throw UsageError("tokenize: unexpected argument '" + o.positional()[0] + "'");
  }
  const std::string path = o.require("--tokenizer");
  const bool decode = o.flag("--decode");
  if (decode && o.flag("--add-special-tokens")) {
    throw UsageError("tokenize: --add-special-tokens applies to encoding, not to --decode");
  }
  const std::string input = read_input(o);
  const std::string input_option = o.get("--text") ? "--text" : "--text-file";
  std::vector<std::int32_t> ids;
  if (decode) ids = parse_ids(input, input_option);

  Registry registry;
  registry.discover({});
  RunContext run;
  Instance<Tokenizer> tok = create_tokenizer_for_path(registry, path, run, "--tokenizer");
  if (decode) {
    const std::string text = tok.call("decode", [&](Tokenizer& t) { return t.decode(ids); });
    print_result({{"text", utf8_string(text)}});
  } else {
    const bool special = o.flag("--add-special-tokens");
    ids = tok.call("encode", [&](Tokenizer& t) { return t.encode(input, special); });
    print_result({{"ids", ids}});
  }
  return 0;
}

}  // namespace tracenas::cli
