// The `sentencepiece` tokenizer plugin against shared/reference/tokenizers/llama2.jsonl
// (ids SentencePiece itself gives for llama2-tokenizer.model) and its error messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
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

constexpr const char* kModel = TN_SHARED_DIR "/tokenizers/llama2-tokenizer.model";
constexpr const char* kCases = TN_SHARED_DIR "/reference/tokenizers/llama2.jsonl";

const Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_tokenizer_sentencepiece.so");
    return reg;
  }();
  return *r;
}

Instance<Tokenizer> open_model(const std::string& path) {
  ParamValues p;
  p.set("path", path);
  return registry().create<Tokenizer>("sentencepiece", p, RunContext());
}

Instance<Tokenizer>& llama2() {
  static Instance<Tokenizer> t = open_model(kModel);
  return t;
}

std::vector<std::int32_t> encode(const std::string& text, bool special) {
  return llama2().call("encode", [&](Tokenizer& t) { return t.encode(text, special); });
}

std::string decode(const std::vector<std::int32_t>& ids) {
  return llama2().call("decode", [&](Tokenizer& t) { return t.decode(ids); });
}

std::vector<json> reference_cases() { return testing::read_jsonl(kCases); }

using testing::error_of;

TEST(SentencePieceTokenizer, ModelFacts) {
  EXPECT_EQ(llama2().call("bos_id", [](Tokenizer& t) { return t.bos_id(); }), 1);
  EXPECT_EQ(llama2().call("eos_id", [](Tokenizer& t) { return t.eos_id(); }), 2);
  EXPECT_EQ(encode("Hello world", false), (std::vector<std::int32_t>{15043, 3186}));
  EXPECT_EQ(encode("Hello world", true), (std::vector<std::int32_t>{1, 15043, 3186}));
  EXPECT_EQ(decode({15043, 3186}), "Hello world");
  // Control ids decode to nothing.
  EXPECT_EQ(decode({1, 15043, 3186, 2}), "Hello world");
  EXPECT_EQ(decode({}), "");
}

TEST(SentencePieceTokenizer, EncodeMatchesSentencePieceReferenceIdsOnEveryCase) {
  const auto cases = reference_cases();
  ASSERT_EQ(cases.size(), 166u);
  int checked = 0;
  for (const json& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto expected = c["ids_spm"].get<std::vector<std::int32_t>>();
    EXPECT_EQ(encode(c["text"].get<std::string>(), false), expected);
    ++checked;
  }
  EXPECT_EQ(checked, 166);
}

TEST(SentencePieceTokenizer, DecodeInvertsEncodeExceptTheDocumentedCases) {
  int checked = 0;
  for (const json& c : reference_cases()) {
    const std::string name = c["name"].get<std::string>();
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE(name);
    const std::string round = decode(encode(text, false));
    if (name == "spm-underline-literal") {
      // U+2581 written in the text decodes to a space (README).
      EXPECT_EQ(round, c["decoded"].get<std::string>());
      EXPECT_EQ(round, " already escaped  ");
      continue;
    }
    if (name == "special-sp-markers") {
      // Documented for tokenizer.json's ids; SentencePiece spells the markers
      // out, so its own ids give the text back.
      EXPECT_EQ(round, text);
      continue;
    }
    EXPECT_EQ(round, text);
    ++checked;
  }
  EXPECT_EQ(checked, 164);
}

TEST(SentencePieceTokenizer, AddSpecialTokensPrependsBos) {
  int checked = 0;
  for (const json& c : reference_cases()) {
    if (!c.contains("ids_special")) continue;
    const std::string name = c["name"].get<std::string>();
    SCOPED_TRACE(name);
    auto expected = c["ids_special"].get<std::vector<std::int32_t>>();
    if (name == "special-sp-markers") {
      // ids_special comes from tokenizer.json, which matches "<s>" etc.; SentencePiece: BOS +
      // ids_spm.
      expected = {1};
      for (auto id : c["ids_spm"]) expected.push_back(id.get<std::int32_t>());
    }
    EXPECT_EQ(encode(c["text"].get<std::string>(), true), expected);
    ++checked;
  }
  EXPECT_EQ(checked, 7);
  EXPECT_EQ(encode("", true), (std::vector<std::int32_t>{1}));
}

TEST(SentencePieceTokenizer, FingerprintFollowsTheModelContent) {
  const std::string fp = llama2().call("fingerprint", [](Tokenizer& t) { return t.fingerprint(); });
  EXPECT_EQ(fp.rfind("sentencepiece:", 0), 0u) << fp;
  EXPECT_EQ(fp.size(), std::string("sentencepiece:").size() + 32);
  testing::ScratchDir dir;
  const std::string copy = dir.str() + "/renamed.model";
  fs::copy_file(kModel, copy);
  auto other = open_model(copy);
  EXPECT_EQ(other.call("fingerprint", [](Tokenizer& t) { return t.fingerprint(); }), fp);
}

TEST(SentencePieceTokenizer, MissingModelNamesThePath) {
  int code = 0;
  const std::string msg = error_of([] { open_model("/nonexistent/tokenizer.model"); }, &code);
  EXPECT_NE(msg.find("no such SentencePiece model file (got /nonexistent/tokenizer.model)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("tokenizer 'sentencepiece'"), std::string::npos) << msg;
  EXPECT_EQ(code, 2);
}

TEST(SentencePieceTokenizer, CorruptModelNamesTheFileAndSentencePiecesStatus) {
  testing::ScratchDir dir;
  const std::string bad = dir.str() + "/tokenizer.model";
  {
    std::ofstream out(bad, std::ios::binary);
    out << "this is not a protobuf \xff\xff\xff\xff";
  }
  int code = 0;
  const std::string msg = error_of([&] { open_model(bad); }, &code);
  EXPECT_NE(msg.find(bad + ": not a SentencePiece model: "), std::string::npos) << msg;
  // SentencePiece's own status text follows.
  EXPECT_GT(msg.size(), msg.find("not a SentencePiece model: ") + 30) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_EQ(code, 2);

  // An empty file is not a model either.
  const std::string empty = dir.str() + "/empty.model";
  std::ofstream(empty).close();
  EXPECT_NE(error_of([&] { open_model(empty); }).find(empty + ": not a SentencePiece model"),
            std::string::npos);
}

TEST(SentencePieceTokenizer, DecodeRejectsIdsOutOfRange) {
  int code = 0;
  std::string msg = error_of([] { decode({15043, 32000}); }, &code);
  EXPECT_NE(msg.find("decode: id 32000 (position 1) is out of range"), std::string::npos) << msg;
  EXPECT_NE(msg.find("vocabulary of 32000"), std::string::npos) << msg;
  EXPECT_EQ(code, 2);
  msg = error_of([] { decode({-1}); });
  EXPECT_NE(msg.find("decode: id -1 (position 0) is out of range"), std::string::npos) << msg;
  // The last id in range is fine.
  EXPECT_NO_THROW(decode({31999}));
}

}  // namespace
}  // namespace tracenas
