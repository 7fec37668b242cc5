// The `text` data source plugin with the real Llama 2 SentencePiece tokenizer:
// document modes, the token cache, every bad-input message, and the core's
// data loading (load_pipeline_tokens / load_spec_tokens) that picks the tokenizer.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "pipeline/data_loading.hpp"
#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "test_dir.hpp"
#include "test_util.hpp"
#include "tracenas/data.hpp"
#include "tracenas/error.hpp"
#include "tracenas/tokenizer.hpp"

namespace tracenas {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<std::int32_t>;
using testing::ScratchDir;

constexpr const char* kModel = TN_SHARED_DIR "/tokenizers/llama2-tokenizer.model";
constexpr std::int32_t kEos = 2;

const Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_tokenizer_sentencepiece.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_data_text.so");
    reg->load_file(TN_PLUGIN_DIR "/libtracenas_data_tokens.so");
    return reg;
  }();
  return *r;
}

Instance<Tokenizer>& llama2() {
  static Instance<Tokenizer> t = [] {
    ParamValues p;
    p.set("path", std::string(kModel));
    return registry().create<Tokenizer>("sentencepiece", p, RunContext());
  }();
  return t;
}

Ids encode(const std::string& text, bool special = true) {
  return llama2().call("encode", [&](Tokenizer& t) { return t.encode(text, special); });
}

// The documents encoded one by one and joined with EOS, as the source should.
Ids joined(const std::vector<std::string>& docs, bool special = true) {
  Ids out;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    if (i > 0) out.push_back(kEos);
    Ids part = encode(docs[i], special);
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

void write(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

// The text source's params: defaults, then `set` ("add_special_tokens" as "true"/"false").
ParamValues text_params(const std::string& path, const std::map<std::string, std::string>& set) {
  ParamValues p;
  for (const auto& s : registry().require(ComponentKind::kData, "text")->info.params) {
    p.set(s.name, s.default_value);
  }
  p.set("path", path);
  for (const auto& [k, v] : set) {
    if (k == "add_special_tokens") {
      p.set(k, v == "true");
    } else {
      p.set(k, v);
    }
  }
  return p;
}

Instance<DataSource> make_source(const std::string& path,
                                 const std::map<std::string, std::string>& set = {},
                                 const std::string& cache_dir = "") {
  RunContext run;
  run.cache_dir = cache_dir;
  return registry().create<DataSource>("text", text_params(path, set), run);
}

// A source with the tokenizer set: its stream.
Ids stream_of(const std::string& path, const std::map<std::string, std::string>& set = {},
              const std::string& cache_dir = "") {
  auto src = make_source(path, set, cache_dir);
  src.call("set_tokenizer", [](DataSource& d) { d.set_tokenizer(&llama2().get()); });
  return src.call("token_stream", [](DataSource& d) { return d.token_stream(); });
}

std::string fingerprint_of(const std::string& path,
                           const std::map<std::string, std::string>& set = {}) {
  auto src = make_source(path, set);
  src.call("set_tokenizer", [](DataSource& d) { d.set_tokenizer(&llama2().get()); });
  return src.call("fingerprint", [](DataSource& d) { return d.fingerprint(); });
}

using testing::error_of;

std::string stream_error(const std::string& path,
                         const std::map<std::string, std::string>& set = {},
                         int* exit_code = nullptr) {
  return error_of([&] { stream_of(path, set); }, exit_code);
}

// Evaluates `msg` once (it may run a whole load).
#define EXPECT_HAS(msg, part)                                      \
  do {                                                             \
    const std::string has_msg_ = (msg);                            \
    EXPECT_NE(has_msg_.find(part), std::string::npos) << has_msg_; \
  } while (0)

// ---------------------------------------------------------------------------
// Documents

TEST(TextSource, DeclaresItNeedsATokenizer) {
  ScratchDir dir;
  write(dir.str() + "/a.txt", "Hello world");
  auto src = make_source(dir.str() + "/a.txt");
  EXPECT_TRUE(src.call("needs_tokenizer", [](DataSource& d) { return d.needs_tokenizer(); }));
}

TEST(TextSource, PlainWholeFileIsOneDocument) {
  ScratchDir dir;
  const std::string text = "Hello world\nSecond line, same document.\n\nThird.\n";
  write(dir.str() + "/a.txt", text);
  const Ids ids = stream_of(dir.str() + "/a.txt");
  EXPECT_EQ(ids, encode(text));
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), kEos), 0);
  EXPECT_EQ(stream_of(dir.str() + "/a.txt", {{"add_special_tokens", "false"}}),
            encode(text, false));
}

TEST(TextSource, PlainSplitLineEncodesEveryNonEmptyLine) {
  ScratchDir dir;
  write(dir.str() + "/a.txt",
        "Hello world\r\n\nSecond line\n  indented line\nlast without newline");
  const Ids ids = stream_of(dir.str() + "/a.txt", {{"split", "line"}});
  EXPECT_EQ(ids, joined({"Hello world", "Second line", "  indented line", "last without newline"}));
  // Hand-checked head: BOS, "Hello world", EOS, BOS ...
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(Ids(ids.begin(), ids.begin() + 5), (Ids{1, 15043, 3186, 2, 1}));
  EXPECT_EQ(
      stream_of(dir.str() + "/a.txt", {{"split", "line"}, {"add_special_tokens", "false"}}),
      joined({"Hello world", "Second line", "  indented line", "last without newline"}, false));
}

TEST(TextSource, PlainSplitBlankLineMakesParagraphs) {
  ScratchDir dir;
  write(dir.str() + "/a.txt", "\n\nFirst paragraph\nstill first\r\n \t\n\nSecond\n\n");
  EXPECT_EQ(stream_of(dir.str() + "/a.txt", {{"split", "blank_line"}}),
            joined({"First paragraph\nstill first", "Second"}));
}

TEST(TextSource, JsonlByExtensionAndExplicitFormat) {
  ScratchDir dir;
  const std::string lines =
      "{\"text\": \"Hello world\", \"id\": 1}\n"
      "\n"
      "{\"text\": \"caf\\u00e9 \\u65e5\\u672c\", \"body\": \"x\"}\n"
      "{\"text\": \"\"}\n";
  write(dir.str() + "/a.jsonl", lines);
  EXPECT_EQ(stream_of(dir.str() + "/a.jsonl"),
            joined({"Hello world", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", ""}));
  // .json is JSONL too under auto.
  write(dir.str() + "/b.json", "{\"text\": \"Hello world\"}\n");
  EXPECT_EQ(stream_of(dir.str() + "/b.json"), encode("Hello world"));
  // Another field, on a file whose extension says plain.
  write(dir.str() + "/c.txt", "{\"body\": \"one\"}\n{\"body\": \"two\"}\n");
  EXPECT_EQ(stream_of(dir.str() + "/c.txt", {{"format", "jsonl"}, {"field", "body"}}),
            joined({"one", "two"}));
  // format plain reads a .jsonl file as text.
  EXPECT_EQ(stream_of(dir.str() + "/a.jsonl", {{"format", "plain"}}), encode(lines));
}

TEST(TextSource, RealCorpusLines) {
  // The first lines of WikiText-2 test (CRLF line ends), split by line.
  ScratchDir dir;
  std::ifstream in(TN_SHARED_DIR "/data/wikitext2-test.raw", std::ios::binary);
  std::string text(4096, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(text.rfind("\r\n") + 2);
  write(dir.str() + "/wiki.raw", text);
  std::vector<std::string> docs;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find("\r\n", start);
    if (end > start) docs.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  ASSERT_GT(docs.size(), 3u);
  const Ids ids = stream_of(dir.str() + "/wiki.raw", {{"split", "line"}});
  EXPECT_EQ(ids, joined(docs));
  // The first line is the reference case wikitext2-test.raw:1.
  EXPECT_EQ(Ids(ids.begin(), ids.begin() + 9),
            (Ids{1, 29871, 353, 4755, 350, 5059, 357, 353, 29871}));
}

// ---------------------------------------------------------------------------
// Cache

std::string key_of(const std::string& fingerprint) {
  auto k = fingerprint.find("#key=");
  return k == std::string::npos ? "" : fingerprint.substr(k + 5);
}

TEST(TextSource, FingerprintIsKeyBased) {
  ScratchDir dir;
  write(dir.str() + "/a.txt", "Hello world");
  write(dir.str() + "/b.txt", "Hello world");
  const std::string fa = fingerprint_of(dir.str() + "/a.txt");
  EXPECT_EQ(fa.rfind("text:" + dir.str() + "/a.txt#key=", 0), 0u) << fa;
  EXPECT_EQ(key_of(fa).size(), 32u);
  // Same content elsewhere: same key.
  EXPECT_EQ(key_of(fingerprint_of(dir.str() + "/b.txt")), key_of(fa));
  // Every setting changes it.
  EXPECT_NE(key_of(fingerprint_of(dir.str() + "/a.txt", {{"split", "line"}})), key_of(fa));
  EXPECT_NE(key_of(fingerprint_of(dir.str() + "/a.txt", {{"add_special_tokens", "false"}})),
            key_of(fa));
  EXPECT_NE(key_of(fingerprint_of(dir.str() + "/a.txt", {{"format", "jsonl"}})), key_of(fa));
  EXPECT_NE(key_of(fingerprint_of(dir.str() + "/a.txt", {{"field", "body"}})), key_of(fa));
  // format auto resolves to plain for .txt: the same key as format plain.
  EXPECT_EQ(key_of(fingerprint_of(dir.str() + "/a.txt", {{"format", "plain"}})), key_of(fa));
  write(dir.str() + "/b.txt", "Hello world!");
  EXPECT_NE(key_of(fingerprint_of(dir.str() + "/b.txt")), key_of(fa));
}

TEST(TextSource, SecondLoadIsACacheHit) {
  ScratchDir dir;
  const std::string cache = dir.str() + "/cache";
  const std::string file = dir.str() + "/a.txt";
  write(file, "Hello world\nSecond line\n");
  const std::map<std::string, std::string> set = {{"split", "line"}};
  const Ids first = stream_of(file, set, cache);
  EXPECT_EQ(first, joined({"Hello world", "Second line"}));
  const std::string entry = cache + "/tokens/" + key_of(fingerprint_of(file, set)) + ".u32";
  ASSERT_TRUE(fs::is_regular_file(entry)) << entry;
  EXPECT_EQ(fs::file_size(entry), 4 * first.size());
  // The second load gives the same stream.
  EXPECT_EQ(stream_of(file, set, cache), first);
  // ... and reads it from the entry: a planted entry is what comes back.
  write(entry, std::string("\x07\x00\x00\x00\x08\x00\x00\x00\x09\x01\x00\x00", 12));
  EXPECT_EQ(stream_of(file, set, cache), (Ids{7, 8, 265}));
  // A malformed entry (not whole uint32s) is a miss and is rewritten.
  write(entry, "xyz");
  EXPECT_EQ(stream_of(file, set, cache), first);
  EXPECT_EQ(fs::file_size(entry), 4 * first.size());
  // A changed setting is a miss with an entry of its own.
  const Ids plain = stream_of(file, {}, cache);
  EXPECT_EQ(plain, encode("Hello world\nSecond line\n"));
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(cache + "/tokens")) entries += e.is_regular_file();
  EXPECT_EQ(entries, 2u);
  // Changed content is a miss too.
  write(file, "Hello world\nThird line\n");
  EXPECT_EQ(stream_of(file, set, cache), joined({"Hello world", "Third line"}));
}

TEST(TextSource, NoCacheDirWritesNothing) {
  ScratchDir dir;
  write(dir.str() + "/a.txt", "Hello world");
  EXPECT_EQ(stream_of(dir.str() + "/a.txt"), encode("Hello world"));
  std::size_t n = 0;
  for (auto it = fs::directory_iterator(dir.path()); it != fs::directory_iterator(); ++it) ++n;
  EXPECT_EQ(n, 1u);
}

// ---------------------------------------------------------------------------
// Bad input

TEST(TextSource, MissingFile) {
  int code = 0;
  const std::string msg = error_of([] { make_source("/nonexistent/corpus.txt"); }, &code);
  EXPECT_HAS(msg, "data.params.path: no such text file (got /nonexistent/corpus.txt)");
  EXPECT_HAS(msg, "data source 'text'");
  EXPECT_EQ(code, 2);
}

TEST(TextSource, NoTokenizer) {
  ScratchDir dir;
  write(dir.str() + "/a.txt", "Hello world");
  auto src = make_source(dir.str() + "/a.txt");
  const std::string msg =
      error_of([&] { src.call("token_stream", [](DataSource& d) { return d.token_stream(); }); });
  EXPECT_HAS(msg, "needs a tokenizer");
  EXPECT_HAS(msg, dir.str() + "/a.txt");
}

TEST(TextSource, EmptyText) {
  ScratchDir dir;
  const std::string f = dir.str() + "/empty.txt";
  write(f, "");
  int code = 0;
  EXPECT_HAS(stream_error(f, {}, &code), f + ": no text: the file holds no documents");
  EXPECT_EQ(code, 2);
  // Only empty lines (split line keeps a line of spaces; split blank_line does not).
  write(dir.str() + "/blank.txt", "\n\r\n\n");
  EXPECT_HAS(stream_error(dir.str() + "/blank.txt", {{"split", "line"}}),
             "blank.txt: no text: the file holds no documents (format plain, split line)");
  write(dir.str() + "/spaces.txt", "\n \t\n\r\n");
  EXPECT_HAS(stream_error(dir.str() + "/spaces.txt", {{"split", "blank_line"}}),
             "spaces.txt: no text: the file holds no documents (format plain, split blank_line)");
  EXPECT_EQ(stream_of(dir.str() + "/spaces.txt", {{"split", "line"}}), encode(" \t"));
  write(dir.str() + "/empty.jsonl", "\n\n");
  EXPECT_HAS(stream_error(dir.str() + "/empty.jsonl"),
             "empty.jsonl: no text: the file holds no documents (format jsonl, field text)");
  // One empty document without special tokens encodes to nothing.
  write(dir.str() + "/one.jsonl", "{\"text\": \"\"}\n");
  EXPECT_HAS(stream_error(dir.str() + "/one.jsonl", {{"add_special_tokens", "false"}}),
             "one.jsonl: no text: the documents encode to no tokens");
}

TEST(TextSource, JsonlLineThatIsNotJson) {
  ScratchDir dir;
  const std::string f = dir.str() + "/bad.jsonl";
  write(f, "{\"text\": \"ok\"}\n{\"text\": oops}\n");
  int code = 0;
  EXPECT_HAS(stream_error(f, {}, &code), f + ":2: not valid JSON");
  EXPECT_EQ(code, 2);
  write(f, "{\"text\": \"ok\"}\n\n[\"a list\"]\n");
  EXPECT_HAS(stream_error(f), f + ":3: expected a JSON object");
}

TEST(TextSource, JsonlObjectWithoutTheField) {
  ScratchDir dir;
  const std::string f = dir.str() + "/bad.jsonl";
  write(f, "{\"body\": \"ok\"}\n");
  EXPECT_HAS(stream_error(f), f + ":1: the object has no string field 'text'");
  write(f, "{\"body\": \"ok\"}\n{\"body\": 3}\n");
  EXPECT_HAS(stream_error(f, {{"field", "body"}}),
             f + ":2: the object has no string field 'body' (got number)");
}

TEST(TextSource, InvalidUtf8NamesTheByteOffset) {
  ScratchDir dir;
  const std::string f = dir.str() + "/bad.txt";
  write(f,
        "abc\xff"
        "def");
  int code = 0;
  EXPECT_HAS(stream_error(f, {}, &code), f + ": invalid UTF-8 at byte offset 3 (byte 0xff)");
  EXPECT_EQ(code, 2);
  // Valid multi-byte text before it counts in bytes; a truncated sequence at the end.
  write(f, "caf\xc3\xa9 \xe6\x97");
  EXPECT_HAS(stream_error(f), f + ": invalid UTF-8 at byte offset 6 (byte 0xe6)");
  // Overlong form and an encoded surrogate.
  write(f, "\xc0\xaf");
  EXPECT_HAS(stream_error(f), "invalid UTF-8 at byte offset 0 (byte 0xc0)");
  write(f, "ok \xed\xa0\x80");
  EXPECT_HAS(stream_error(f), "invalid UTF-8 at byte offset 3 (byte 0xed)");
  // In JSONL as well (checked on the raw file).
  write(dir.str() + "/bad.jsonl", "{\"text\": \"a\xfe\"}\n");
  EXPECT_HAS(stream_error(dir.str() + "/bad.jsonl"), "invalid UTF-8 at byte offset 11");
}

// ---------------------------------------------------------------------------
// Core data loading: which tokenizer a text source gets

TEST(DataLoading, PipelineTokenizerSection) {
  ScratchDir dir;
  write(dir.str() + "/a.txt", "Hello world\nSecond line\n");
  Pipeline p;
  p.file = dir.str() + "/pipeline.yaml";
  p.model.params.set("path", dir.str());  // a folder without tokenizer files
  p.data.kind = ComponentKind::kData;
  p.data.name = "text";
  p.data.params = text_params(dir.str() + "/a.txt", {{"split", "line"}});
  p.tokenizer.name = "sentencepiece";
  p.tokenizer.params.set("path", std::string(kModel));
  RunContext run;
  TokenStream ts = load_pipeline_tokens(registry(), p, run);
  EXPECT_EQ(ts.ids, joined({"Hello world", "Second line"}));
  EXPECT_EQ(ts.fingerprint.rfind("text:", 0), 0u) << ts.fingerprint;

  // Without the section, the model folder's tokenizer.model is used.
  p.tokenizer.name.clear();
  p.tokenizer.params = ParamValues();
  fs::copy_file(kModel, dir.str() + "/tokenizer.model");
  EXPECT_EQ(load_pipeline_tokens(registry(), p, run).ids, ts.ids);
}

TEST(DataLoading, PipelineWithoutAnyTokenizer) {
  ScratchDir dir;
  write(dir.str() + "/a.txt", "Hello world");
  Pipeline p;
  p.file = dir.str() + "/pipeline.yaml";
  p.model.params.set("path", dir.str());
  p.data.kind = ComponentKind::kData;
  p.data.name = "text";
  p.data.params = text_params(dir.str() + "/a.txt", {});
  int code = 0;
  std::string msg = error_of([&] { load_pipeline_tokens(registry(), p, RunContext()); }, &code);
  EXPECT_HAS(msg, "data.source: 'text' needs a tokenizer: add a 'tokenizer:' section");
  EXPECT_HAS(msg, "model.params.path: " + dir.str() + " has neither");
  EXPECT_EQ(code, 2);

  // A tokenizer.json alone needs the plugin claiming .json, which is not loaded here.
  write(dir.str() + "/tokenizer.json", "{}");
  msg = error_of([&] { load_pipeline_tokens(registry(), p, RunContext()); }, &code);
  EXPECT_HAS(msg, dir.str() +
                      "/tokenizer.json: no loaded tokenizer plugin reads '.json' files (the "
                      "loaded ones read: .model)");
  EXPECT_EQ(code, 2);
}

TEST(DataLoading, PipelineTokenSourceNeedsNoTokenizer) {
  ScratchDir dir;
  write(dir.str() + "/ids.txt", "5 6 7 8");
  Pipeline p;
  p.file = dir.str() + "/pipeline.yaml";
  p.data.kind = ComponentKind::kData;
  p.data.name = "tokens";
  p.data.params.set("path", dir.str() + "/ids.txt");
  TokenStream ts = load_pipeline_tokens(registry(), p, RunContext());
  EXPECT_EQ(ts.ids, (Ids{5, 6, 7, 8}));
  EXPECT_EQ(ts.fingerprint.rfind("tokens:", 0), 0u);
}

TEST(DataLoading, SpecTokensAndText) {
  ScratchDir dir;
  write(dir.str() + "/ids.txt", "1 2 3");
  write(dir.str() + "/a.txt", "Hello world");
  RunContext run;
  TokenStream t =
      load_spec_tokens(registry(), "tokens:" + dir.str() + "/ids.txt", "--data", "", "", run);
  EXPECT_EQ(t.ids, (Ids{1, 2, 3}));
  EXPECT_EQ(t.fingerprint.rfind("tokens:" + dir.str() + "/ids.txt#size=5", 0), 0u) << t.fingerprint;

  // text: with --tokenizer (a file, or a folder holding tokenizer.model).
  TokenStream x =
      load_spec_tokens(registry(), "text:" + dir.str() + "/a.txt", "--data", kModel, "", run);
  EXPECT_EQ(x.ids, (Ids{1, 15043, 3186}));
  EXPECT_EQ(x.fingerprint.rfind("text:" + dir.str() + "/a.txt#key=", 0), 0u);
  const std::string model_dir = dir.str() + "/model";
  fs::create_directories(model_dir);
  fs::copy_file(kModel, model_dir + "/tokenizer.model");
  EXPECT_EQ(
      load_spec_tokens(registry(), "text:" + dir.str() + "/a.txt", "--data", model_dir, "", run)
          .ids,
      x.ids);
  // text: with the model folder's tokenizer.
  EXPECT_EQ(
      load_spec_tokens(registry(), "text:" + dir.str() + "/a.txt", "--data", "", model_dir, run)
          .ids,
      x.ids);
  // The cache of the run is used.
  run.cache_dir = dir.str() + "/cache";
  load_spec_tokens(registry(), "text:" + dir.str() + "/a.txt", "--data", kModel, "", run);
  EXPECT_TRUE(fs::is_regular_file(run.cache_dir + "/tokens/" + key_of(x.fingerprint) + ".u32"));
}

TEST(DataLoading, SpecErrors) {
  ScratchDir dir;
  write(dir.str() + "/a.txt", "Hello world");
  const std::string spec = "text:" + dir.str() + "/a.txt";
  RunContext run;
  int code = 0;
  std::string msg =
      error_of([&] { load_spec_tokens(registry(), "file:x.txt", "--data", "", "", run); }, &code);
  EXPECT_HAS(msg, "--data: expected tokens:PATH");
  EXPECT_HAS(msg, "or text:PATH (got file:x.txt)");
  EXPECT_EQ(code, 2);
  msg = error_of([&] { load_spec_tokens(registry(), spec, "--calib", "", "", run); }, &code);
  EXPECT_HAS(msg, "--calib: " + spec + " needs a tokenizer: give --tokenizer PATH or --model DIR");
  EXPECT_EQ(code, 2);
  msg = error_of([&] { load_spec_tokens(registry(), spec, "--data", "", dir.str(), run); });
  EXPECT_HAS(msg,
             "(the model folder " + dir.str() + " holds no tokenizer.model or tokenizer.json)");
  msg = error_of(
      [&] { load_spec_tokens(registry(), spec, "--data", dir.str() + "/missing.model", "", run); });
  EXPECT_HAS(msg,
             "--tokenizer: no such tokenizer file or folder (got " + dir.str() + "/missing.model)");
  msg = error_of(
      [&] { load_spec_tokens(registry(), spec, "--data", dir.str() + "/a.txt", "", run); });
  // The file goes to the tokenizer claiming its extension: none claims .txt.
  EXPECT_HAS(msg, "--tokenizer: " + dir.str() +
                      "/a.txt: no loaded tokenizer plugin reads '.txt' files (the loaded ones "
                      "read: .model)");
  // A real tokenizer.json (Llama 3): the plugin claiming .json is not loaded here.
  msg = error_of(
      [&] {
        load_spec_tokens(registry(), spec, "--data", TN_SHARED_DIR "/tokenizers/llama3", "", run);
      },
      &code);
  EXPECT_HAS(msg, "tokenizer.json: no loaded tokenizer plugin reads '.json' files");
  EXPECT_EQ(code, 2);
}

}  // namespace
}  // namespace tracenas
