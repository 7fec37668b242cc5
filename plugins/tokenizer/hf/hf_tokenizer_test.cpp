// The `hf_tokenizer` plugin (tokenizer.json) against shared/reference/tokenizers/{llama3,qwen3,
// llama2}.jsonl (ids, decoded text, ids with special tokens) and its error messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "plugin/registry.hpp"
#include "test_dir.hpp"
#include "test_util.hpp"
#include "tracenas/error.hpp"
#include "tracenas/tokenizer.hpp"

namespace tracenas {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Ids = std::vector<std::int32_t>;
using testing::ScratchDir;

#define EXPECT_HAS(msg, part) \
  EXPECT_NE(std::string(msg).find(part), std::string::npos) << "message: " << (msg)

const Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_tokenizer_hf.so");
    return reg;
  }();
  return *r;
}

Instance<Tokenizer> open_tokenizer(const std::string& path) {
  ParamValues p;
  p.set("path", path);
  return registry().create<Tokenizer>("hf_tokenizer", p, RunContext());
}

// The tokenizers of shared/tokenizers/<name>, opened once.
Instance<Tokenizer>& tokenizer(const std::string& name) {
  static std::map<std::string, Instance<Tokenizer>> open;
  auto it = open.find(name);
  if (it == open.end()) {
    it = open.emplace(name, open_tokenizer(TN_SHARED_DIR "/tokenizers/" + name)).first;
  }
  return it->second;
}

Ids encode(const std::string& name, const std::string& text, bool special) {
  return tokenizer(name).call("encode", [&](Tokenizer& t) { return t.encode(text, special); });
}

std::string decode(const std::string& name, const Ids& ids) {
  return tokenizer(name).call("decode", [&](Tokenizer& t) { return t.decode(ids); });
}

std::vector<json> reference_cases(const std::string& name) {
  return testing::read_jsonl(TN_SHARED_DIR "/reference/tokenizers/" + name + ".jsonl");
}

using testing::error_of;

// Every case of <name>.jsonl: ids, decoded and ids_special.
void check_reference(const std::string& name) {
  const std::vector<json> cases = reference_cases(name);
  ASSERT_EQ(cases.size(), 166u) << name;
  int ids_ok = 0, decoded_ok = 0, special_ok = 0, special_n = 0;
  for (const json& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    const Ids want = c.at("ids").get<Ids>();
    const Ids got = encode(name, text, false);
    ids_ok += got == want;
    EXPECT_EQ(got, want) << name << " " << c.at("name");
    const std::string decoded = decode(name, want);
    decoded_ok += decoded == c.at("decoded").get<std::string>();
    EXPECT_EQ(decoded, c.at("decoded").get<std::string>()) << name << " " << c.at("name");
    if (c.contains("ids_special")) {
      ++special_n;
      const Ids got_special = encode(name, text, true);
      special_ok += got_special == c.at("ids_special").get<Ids>();
      EXPECT_EQ(got_special, c.at("ids_special").get<Ids>()) << name << " " << c.at("name");
    }
  }
  EXPECT_EQ(special_n, 7) << name;
  std::cout << name << ": ids " << ids_ok << "/" << cases.size() << ", decoded " << decoded_ok
            << "/" << cases.size() << ", ids_special " << special_ok << "/" << special_n << "\n";
}

TEST(HfTokenizer, Llama3Reference) { check_reference("llama3"); }
TEST(HfTokenizer, Qwen3Reference) { check_reference("qwen3"); }
TEST(HfTokenizer, Llama2Reference) { check_reference("llama2"); }

TEST(HfTokenizer, ModelFacts) {
  EXPECT_EQ(encode("llama3", "Hello world", false), (Ids{9906, 1917}));
  EXPECT_EQ(encode("qwen3", "Hello world", false), (Ids{9707, 1879}));
  EXPECT_EQ(encode("llama2", "Hello world", false), (Ids{15043, 3186}));
  EXPECT_EQ(encode("llama2", "Hello world", true), (Ids{1, 15043, 3186}));
  EXPECT_EQ(encode("llama2", "", true), (Ids{1}));
  EXPECT_EQ(encode("llama3", "", true), Ids{});
  auto bos = [](const std::string& n) {
    return tokenizer(n).call("bos_id", [](Tokenizer& t) { return t.bos_id(); });
  };
  auto eos = [](const std::string& n) {
    return tokenizer(n).call("eos_id", [](Tokenizer& t) { return t.eos_id(); });
  };
  // From tokenizer_config.json (Qwen3 has bos_token null).
  EXPECT_EQ(bos("llama3"), 128000);
  EXPECT_EQ(eos("llama3"), 128001);
  EXPECT_EQ(bos("qwen3"), -1);
  EXPECT_EQ(eos("qwen3"), 151645);
  EXPECT_EQ(bos("llama2"), 1);
  EXPECT_EQ(eos("llama2"), 2);
}

TEST(HfTokenizer, FileOrFolderAndFingerprint) {
  auto fp = [](Instance<Tokenizer>& t) {
    return t.call("fingerprint", [](Tokenizer& x) { return x.fingerprint(); });
  };
  Instance<Tokenizer> file = open_tokenizer(TN_SHARED_DIR "/tokenizers/qwen3/tokenizer.json");
  EXPECT_EQ(fp(file), fp(tokenizer("qwen3")));
  EXPECT_EQ(fp(file).rfind("hf_tokenizer:", 0), 0u);
  EXPECT_NE(fp(tokenizer("qwen3")), fp(tokenizer("llama3")));
  EXPECT_EQ(file.call("encode", [](Tokenizer& t) { return t.encode("Hello world", false); }),
            (Ids{9707, 1879}));
}

TEST(HfTokenizer, RoundTripAndSpecialText) {
  const std::string text =
      "Hi <|endoftext|> <think>x</think> caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87\n";
  for (const char* name : {"llama3", "qwen3"}) {
    EXPECT_EQ(decode(name, encode(name, text, false)), text) << name;
  }
  const Ids q = encode("qwen3", "<|endoftext|><think>", false);
  EXPECT_EQ(q, (Ids{151643, 151667}));
}

TEST(HfTokenizer, InvalidUtf8) {
  int code = 0;
  std::string msg = error_of(
      [] {
        encode("llama3",
               "abc\xFF"
               "def",
               false);
      },
      &code);
  EXPECT_HAS(msg, "not valid UTF-8 (byte offset 3)");
  EXPECT_EQ(code, DataError("x").exit_code());
  EXPECT_HAS(error_of([] { encode("qwen3", "ok \xC3", false); }), "(byte offset 3)");
  EXPECT_HAS(error_of([] { encode("qwen3", "\xC0\x80", false); }), "(byte offset 0)");
  EXPECT_HAS(error_of([] { encode("llama2", "a\xED\xA0\x80", false); }), "(byte offset 1)");
}

TEST(HfTokenizer, DecodeUnknownId) {
  EXPECT_HAS(error_of([] {
               decode("qwen3", Ids{9707, 999999});
             }),
             "decode: id 999999 (position 1) is out of range");
  EXPECT_HAS(error_of([] { decode("llama3", Ids{-1}); }), "decode: id -1 (position 0)");
}

// A small valid tokenizer.json to modify.
json tiny_tokenizer() {
  return json::parse(R"({
    "added_tokens": [],
    "normalizer": null,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false,
       "use_regex": false}]},
    "post_processor": null,
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3},
              "merges": ["a b"]}
  })");
}

std::string write_tokenizer(const ScratchDir& dir, const json& j) {
  const std::string file = dir.str() + "/tokenizer.json";
  std::ofstream(file) << j.dump();
  return file;
}

TEST(HfTokenizer, TinyFile) {
  ScratchDir dir;
  write_tokenizer(dir, tiny_tokenizer());
  Instance<Tokenizer> t = open_tokenizer(dir.str());
  EXPECT_EQ(t.call("encode", [](Tokenizer& x) { return x.encode("ab a b", false); }),
            (Ids{2, 3, 0, 3, 1}));
  EXPECT_EQ(t.call("decode", [](Tokenizer& x) { return x.decode({2, 3, 0}); }), "ab a");
  EXPECT_EQ(t.call("bos_id", [](Tokenizer& x) { return x.bos_id(); }), -1);
}

TEST(HfTokenizer, FileErrors) {
  ScratchDir dir;
  int code = 0;
  std::string msg = error_of([] { open_tokenizer("/nonexistent/tokenizer.json"); }, &code);
  EXPECT_HAS(msg,
             "tokenizer.params.path: no such tokenizer.json file or folder "
             "(got /nonexistent/tokenizer.json)");
  EXPECT_EQ(code, DataError("x").exit_code());
  EXPECT_HAS(error_of([&] { open_tokenizer(dir.str()); }),
             "tokenizer.params.path: " + dir.str() + " holds no tokenizer.json");

  const std::string file = dir.str() + "/tokenizer.json";
  std::ofstream(file) << "{\"model\": {\"type\": \"BPE\",";
  msg = error_of([&] { open_tokenizer(file); });
  EXPECT_HAS(msg, file + ": not valid JSON");
  EXPECT_EQ(msg.find('\n'), std::string::npos);
}

TEST(HfTokenizer, UnsupportedComponents) {
  ScratchDir dir;
  json j = tiny_tokenizer();
  j["model"]["type"] = "WordPiece";
  std::string file = write_tokenizer(dir, j);
  EXPECT_HAS(error_of([&] { open_tokenizer(file); }),
             file + ": model.type: 'WordPiece' is not supported by hf_tokenizer (supported: BPE)");

  j = tiny_tokenizer();
  j["pre_tokenizer"]["pretokenizers"][1]["type"] = "Metaspace";
  file = write_tokenizer(dir, j);
  EXPECT_HAS(error_of([&] { open_tokenizer(file); }),
             file +
                 ": pre_tokenizer.pretokenizers[1].type: 'Metaspace' is not supported by "
                 "hf_tokenizer (supported: Split, ByteLevel, Sequence)");

  j = tiny_tokenizer();
  j["normalizer"] = json::parse(R"({"type": "Sequence", "normalizers": [{"type": "NFKC"}]})");
  file = write_tokenizer(dir, j);
  EXPECT_HAS(error_of([&] { open_tokenizer(file); }),
             "normalizer.normalizers[0].type: 'NFKC' is not supported");

  j = tiny_tokenizer();
  j["decoder"] = json::parse(R"({"type": "WordPiece"})");
  file = write_tokenizer(dir, j);
  EXPECT_HAS(error_of([&] { open_tokenizer(file); }), "decoder.type: 'WordPiece' is not supported");

  j = tiny_tokenizer();
  j["post_processor"] = json::parse(R"({"type": "BertProcessing"})");
  file = write_tokenizer(dir, j);
  EXPECT_HAS(error_of([&] { open_tokenizer(file); }),
             "post_processor.type: 'BertProcessing' is not supported");

  j = tiny_tokenizer();
  j["model"]["merges"] = json::array({"a c"});
  file = write_tokenizer(dir, j);
  EXPECT_HAS(error_of([&] { open_tokenizer(file); }),
             "model.merges[0]: 'a' + 'c' uses a token that is not in model.vocab");
}

}  // namespace
}  // namespace tracenas
