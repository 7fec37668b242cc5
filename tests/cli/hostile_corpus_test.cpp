// A generated corpus of hostile inputs across every kind of file the CLI
// reads: config.json, model.safetensors, the shard index, arch.json, token
// files, pipelines, tokenizer.json, llama2.c checkpoints and command-line
// values. Each case is written into its own folder and run through the CLI;
// each must end with exit 2, one error line (after any log lines), a JSON
// result line that parses, and the file (or the option or field) named.
// Cases are generated from mutation families: truncations, wrong types,
// overflowing and huge numbers, NaNs, deep nesting, bytes that are not UTF-8,
// missing and extra entries.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_runner.hpp"
#include "test_dir.hpp"

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace tracenas {
namespace {

const std::string& model_dir() { return testing::converted_stories260K("tn_corpus_stories260K"); }

const std::string kSamples = TN_SHARED_DIR "/data/stories260K-samples.u16";

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

// One hostile input: files written into the case folder {D} (a copy of the
// converted stories260K model at {D}/model when `model` is set), the CLI
// arguments, and what the error line must contain. {D} and {M} (= {D}/model)
// are substituted in `args` and `expect`.
struct Case {
  std::string name;
  std::vector<std::pair<std::string, std::string>> files;  // relative path, bytes
  std::string args;
  std::vector<std::string> expect;
  bool model = false;
};

class Corpus {
 public:
  explicit Corpus(std::string group) : group_(std::move(group)) {}
  void add(Case c) { cases_.push_back(std::move(c)); }
  std::size_t size() const { return cases_.size(); }

  // Runs every case through the CLI and checks each.
  void run() {
    testing::ScratchDir root;
    int n = 0;
    for (const Case& c : cases_) {
      const fs::path dir = root.path() / (group_ + std::to_string(n++));
      fs::create_directories(dir);
      if (c.model) fs::copy(model_dir(), dir / "model");
      auto subst = [&](const std::string& s) {
        return replace_all(replace_all(s, "{M}", (dir / "model").string()), "{D}", dir.string());
      };
      for (const auto& [rel, bytes] : c.files) {
        write(dir / rel, fs::path(rel).extension() == ".yaml" ? subst(bytes) : bytes);
      }
      const testing::CliResult r = testing::run_tracenas(subst(c.args), "tn_corpus_" + group_);
      SCOPED_TRACE(group_ + " case '" + c.name + "': tracenas " + subst(c.args));
      check(r, [&] {
        std::vector<std::string> e;
        for (const std::string& x : c.expect) e.push_back(subst(x));
        return e;
      }());
    }
    std::cerr << "hostile corpus: " << group_ << ": " << n << " inputs\n";
  }

 private:
  static void check(const testing::CliResult& r, const std::vector<std::string>& expect) {
    EXPECT_EQ(r.code, 2) << r.err;
    std::vector<std::string> lines;
    std::istringstream in(r.err);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) lines.push_back(line);
    }
    ASSERT_FALSE(lines.empty()) << "no error line";
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
      EXPECT_EQ(lines[i].rfind("[", 0), 0u) << "more than one error line: " << lines[i];
    }
    const std::string& error = lines.back();
    ASSERT_TRUE(r.last.is_object()) << "no JSON result line: " << r.out;
    EXPECT_EQ(r.last.value("exit_code", -1), 2) << r.last.dump();
    for (const std::string& part : expect) {
      EXPECT_NE(error.find(part), std::string::npos)
          << "the error does not name '" << part << "':\n"
          << error;
    }
  }

  std::string group_;
  std::vector<Case> cases_;
};

const std::string kEval = "eval --model {M} --data tokens:" + kSamples + " --seq-len 64 --batch 2";

// ---- config.json ------------------------------------------------------------

ojson base_config() { return ojson::parse(read(fs::path(model_dir()) / "config.json")); }

TEST(HostileCorpus, ConfigJson) {
  Corpus corpus("config");
  auto add = [&](const std::string& name, const std::string& text,
                 std::vector<std::string> expect = {}) {
    expect.insert(expect.begin(), "{M}/config.json");
    corpus.add({name, {{"model/config.json", text}}, kEval, expect, true});
  };
  const std::string text = base_config().dump(2);
  for (std::size_t cut : {0ul, 1ul, text.size() / 2, text.size() - 1}) {
    add("truncated at " + std::to_string(cut), text.substr(0, cut));
  }
  add("an array", "[1, 2, 3]");
  add("a string", "\"llama\"");
  add("nested 100000 deep", std::string(100000, '[') + std::string(100000, ']'));
  add("bytes that are not UTF-8", "{\"model_type\": \"ll\xff\xfe\"}");
  add("NaN", replace_all(text, "1e-05", "NaN"));
  for (const char* f : {"num_hidden_layers", "hidden_size", "num_attention_heads",
                        "intermediate_size", "vocab_size", "model_type"}) {
    ojson c = base_config();
    c.erase(f);
    add(std::string("without ") + f, c.dump(), {f});
  }
  const std::vector<std::pair<const char*, ojson>> bad_sizes = {
      {"num_hidden_layers", 1000000000},
      {"num_hidden_layers", 0},
      {"num_hidden_layers", -5},
      {"num_hidden_layers", "5"},
      {"num_hidden_layers", 5.5},
      {"hidden_size", 4294967296LL},
      {"hidden_size", 2147483648LL},
      {"num_attention_heads", 7},
      {"num_key_value_heads", 3},
      {"intermediate_size", ojson::array()},
      {"vocab_size", 100000000000LL},
      {"head_dim", 0},
      {"rms_norm_eps", -1},
      {"rope_theta", "big"},
      {"tie_word_embeddings", "yes"},
      {"hidden_act", "gelu"},
      {"model_type", "gpt2"},
      {"rope_scaling", "linear"},
      {"tracenas_layers", ojson::array({1, 2})}};
  for (const auto& [field, value] : bad_sizes) {
    ojson c = base_config();
    c[field] = value;
    add(std::string(field) + " = " + value.dump(), c.dump(), {field});
  }
  add("1e999", replace_all(text, "10000.0", "1e999"), {"overflow"});
  ojson rs = base_config();
  rs["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8}};
  add("llama3 rope without its fields", rs.dump(), {"rope_scaling.low_freq_factor"});
  EXPECT_GE(corpus.size(), 35u);
  corpus.run();
}

// ---- model.safetensors --------------------------------------------------------

struct SafeTensorsParts {
  ojson header;
  std::string data;
};

SafeTensorsParts split_safetensors() {
  const std::string bytes = read(fs::path(model_dir()) / "model.safetensors");
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  return {ojson::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}

std::string length_prefix(std::uint64_t n) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &n, 8);
  return s;
}

std::string join_safetensors(const std::string& header, const std::string& data) {
  return length_prefix(header.size()) + header + data;
}

TEST(HostileCorpus, SafeTensors) {
  Corpus corpus("safetensors");
  auto add = [&](const std::string& name, const std::string& bytes) {
    corpus.add(
        {name, {{"model/model.safetensors", bytes}}, kEval, {"{M}/model.safetensors"}, true});
  };
  const SafeTensorsParts parts = split_safetensors();
  const std::string header = parts.header.dump();
  const std::string whole = join_safetensors(header, parts.data);
  for (std::size_t cut : {0ul, 4ul, 7ul, 8ul, 8 + header.size() / 2, 8 + header.size(),
                          whole.size() / 2, whole.size() - 1}) {
    add("truncated at " + std::to_string(cut), whole.substr(0, cut));
  }
  for (std::uint64_t n : {0ull, 1ull << 40, ~0ull, 1ull << 63, 100000000ull}) {
    add("header length " + std::to_string(n), length_prefix(n) + header + parts.data);
  }
  add("header not JSON", join_safetensors("{\"a\": [1, 2", parts.data));
  add("header an array", join_safetensors("[1, 2, 3]", parts.data));
  add("header nested deep",
      join_safetensors(std::string(50000, '[') + std::string(50000, ']'), parts.data));
  add("header with bytes that are not UTF-8",
      join_safetensors(
          "{\"w\xff\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
          parts.data));
  const std::string first = "model.embed_tokens.weight";
  const std::vector<std::pair<std::string, ojson>> edits = {
      {"dtype", "F128"},
      {"dtype", 7},
      {"shape", ojson::array({-512, 64})},
      {"shape", ojson::array({512, 64, 1LL << 40, 1LL << 40})},
      {"shape", ojson::array({513, 64})},
      {"shape", "512x64"},
      {"shape", ojson::array({512.5, 64})},
      {"data_offsets", ojson::array({131072, 0})},
      {"data_offsets", ojson::array({0, 1LL << 50})},
      {"data_offsets", ojson::array({0})},
      {"data_offsets", ojson::array({-4, 131068})},
      {"data_offsets", ojson::array({1, 131073})},
      {"data_offsets", nullptr}};
  for (const auto& [field, value] : edits) {
    ojson h = parts.header;
    h[first][field] = value;
    add(field + " = " + value.dump(), join_safetensors(h.dump(), parts.data));
  }
  ojson missing = parts.header;
  missing.erase(first);
  corpus.add({"a tensor missing",
              {{"model/model.safetensors", join_safetensors(missing.dump(), parts.data)}},
              kEval,
              {"{M}: tensor '" + first + "' is missing"},
              true});
  ojson meta = parts.header;
  meta["__metadata__"] = {{"format", 5}};
  add("metadata not strings", join_safetensors(meta.dump(), parts.data));
  add("1e999 in a shape",
      join_safetensors(replace_all(header, "[512,64]", "[1e999,64]"), parts.data));
  add("NaN in offsets",
      join_safetensors(replace_all(header, "[0,131072]", "[NaN,131072]"), parts.data));
  add("the header repeated as data", join_safetensors(header, header));
  EXPECT_GE(corpus.size(), 30u);
  corpus.run();
}

// ---- model.safetensors.index.json (a sharded checkpoint) -----------------------

TEST(HostileCorpus, ShardIndex) {
  Corpus corpus("index");
  const SafeTensorsParts parts = split_safetensors();
  const std::string shard = "model-00001-of-00001.safetensors";
  ojson good = {{"metadata", {{"total_size", parts.data.size()}}}, {"weight_map", ojson::object()}};
  for (auto it = parts.header.begin(); it != parts.header.end(); ++it) {
    if (it.key() != "__metadata__") good["weight_map"][it.key()] = shard;
  }
  auto add = [&](const std::string& name, const std::string& index) {
    corpus.add({name,
                {{"model/model.safetensors.index.json", index},
                 {"model/" + shard, read(fs::path(model_dir()) / "model.safetensors")},
                 {"model/model.safetensors", ""}},
                kEval,
                {"{M}/"},
                true});
  };
  const std::string text = good.dump();
  add("truncated", text.substr(0, text.size() / 2));
  add("an array", "[]");
  add("no weight_map", R"({"metadata": {}})");
  add("weight_map a list", R"({"weight_map": ["a"]})");
  add("nested deep", std::string(20000, '{') + std::string(20000, '}'));
  for (const std::string& where :
       {std::string("../../escape.safetensors"), std::string("/etc/passwd"),
        std::string("missing-00001.safetensors"), std::string("model-@.safetensors")}) {
    ojson j = good;
    j["weight_map"]["model.norm.weight"] = where;
    add("shard " + where, replace_all(j.dump(), "@", "\xff"));  // @: bytes that are not UTF-8
  }
  ojson num = good;
  num["weight_map"]["model.norm.weight"] = 3;
  add("shard name a number", num.dump());
  ojson extra = good;
  extra["weight_map"]["model.not_a_tensor"] = shard;
  add("a tensor the shard lacks", extra.dump());
  EXPECT_GE(corpus.size(), 10u);
  corpus.run();
}

// ---- arch.json ------------------------------------------------------------------

TEST(HostileCorpus, ArchJson) {
  Corpus corpus("arch");
  auto add = [&](const std::string& name, const std::string& text,
                 std::vector<std::string> expect = {}) {
    expect.insert(expect.begin(), "{D}/arch.json");
    corpus.add({name, {{"arch.json", text}}, kEval + " --arch {D}/arch.json", expect, true});
  };
  ojson layer = {{"attn", true}, {"heads", 8}, {"mlp", true}, {"mlp_channels", 172}};
  auto arch = [&](const ojson& l2) {
    ojson layers = ojson::array({layer, layer, l2, layer, layer});
    return ojson{{"format", "tracenas.arch/1"}, {"layers", layers}}.dump();
  };
  const std::string good = arch(layer);
  add("truncated", good.substr(0, good.size() / 2));
  add("empty", "");
  add("nested deep", std::string(100000, '[') + std::string(100000, ']'));
  add("bytes that are not UTF-8", "{\"format\": \"tracenas.arch/1\xff\"}");
  add("wrong format", replace_all(good, "tracenas.arch/1", "tracenas.arch/9"), {"format"});
  add("layers not a list", R"({"format": "tracenas.arch/1", "layers": 5})", {"layers"});
  add("four layers",
      ojson{{"format", "tracenas.arch/1"}, {"layers", ojson::array({layer, layer, layer, layer})}}
          .dump());
  const std::vector<std::pair<std::string, ojson>> edits = {
      {"heads", 9},        {"heads", 3},         {"heads", 0},          {"heads", -8},
      {"heads", "8"},      {"heads", 1e300},     {"heads", 1LL << 40},  {"mlp_channels", 173},
      {"mlp_channels", 0}, {"mlp_channels", -1}, {"mlp_channels", 1.5}, {"attn", "yes"},
      {"mlp", 1}};
  for (const auto& [field, value] : edits) {
    ojson l = layer;
    l[field] = value;
    add("layer 2 " + field + " = " + value.dump(), arch(l), {field});
  }
  add("1e999", replace_all(good, "172", "1e999"));
  EXPECT_GE(corpus.size(), 20u);
  corpus.run();
}

// ---- token files ------------------------------------------------------------------

std::string u16s(const std::vector<std::uint16_t>& ids) {
  return std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * 2);
}

TEST(HostileCorpus, TokenFiles) {
  Corpus corpus("tokens");
  const std::string eval = "eval --model {M} --seq-len 8 --batch 1 --data tokens:{D}/";
  auto add = [&](const std::string& name, const std::string& file, const std::string& bytes,
                 std::vector<std::string> expect = {}) {
    expect.insert(expect.begin(), "{D}/" + file);
    corpus.add({name, {{file, bytes}}, eval + file, expect, true});
  };
  std::vector<std::uint16_t> ids(64, 5);
  add("odd byte count", "t.u16", u16s(ids) + "x", {"not a whole number"});
  add("empty .u16", "t.u16", "");
  ids[10] = 512;
  add("id at the vocabulary size", "t.u16", u16s(ids), {"512"});
  ids[10] = 65535;
  add("id 65535", "t.u16", u16s(ids), {"65535"});
  std::string u32(256, '\0');
  u32[100] = '\xff';
  u32[101] = '\xff';
  u32[102] = '\xff';
  u32[103] = '\x7f';
  add("u32 id 2^31 - 1", "t.u32", u32);
  add("u32 odd size", "t.u32", std::string(255, '\1'));
  std::string txt;
  for (int i = 0; i < 64; ++i) txt += "7 ";
  add("txt negative id", "t.txt", txt + "-3");
  add("txt word", "t.txt", txt + "seven");
  add("txt huge", "t.txt", txt + "99999999999999999999999");
  add("txt float", "t.txt", txt + "1.5");
  add("txt NaN", "t.txt", txt + "nan");
  add("txt bytes that are not UTF-8", "t.txt", txt + "\xff\xfe");
  add("txt id above the vocabulary", "t.txt", "100000 " + txt, {"100000"});
  add("too few tokens", "t.u16", u16s({1, 2, 3}));
  add("unknown extension", "t.bin", u16s(ids));
  corpus.add({"missing file", {}, eval + "nothing.u16", {"{D}/nothing.u16"}, true});
  corpus.add({"a folder", {{"dir.u16/x", ""}}, eval + "dir.u16", {"{D}/dir.u16"}, true});
  EXPECT_GE(corpus.size(), 15u);
  corpus.run();
}

// ---- pipelines ----------------------------------------------------------------------

TEST(HostileCorpus, Pipelines) {
  Corpus corpus("pipeline");
  const std::string good =
      "schema_version: 1\n"
      "run: {name: r, output_dir: {D}/runs, threads: 1}\n"
      "model: {adapter: llama, params: {path: {M}}}\n"
      "data: {source: tokens, seq_len: 64, batch_size: 2, num_batches: 1, params: {path: " +
      kSamples +
      "}}\n"
      "proxies: [{proxy: trace_correlation, objective: true}]\n"
      "search: {strategy: random, max_evaluations: 2}\n"
      "constraints: {target_params: 0.7, tolerance: 0.05}\n";
  auto add = [&](const std::string& name, const std::string& text,
                 std::vector<std::string> expect = {}, const std::string& command = "validate") {
    expect.insert(expect.begin(), "{D}/p.yaml");
    corpus.add({name, {{"p.yaml", text}}, command + " {D}/p.yaml", expect, true});
  };
  add("empty", "");
  add("binary junk", std::string("\x00\x01\x02\xff\xfe", 5));
  add("bytes that are not UTF-8", replace_all(good, "name: r", "name: r\xff"));
  add("tabs", "schema_version: 1\n\trun: {}\n");
  add("nested flow 100000 deep", std::string(100000, '[') + std::string(100000, ']'),
      {"levels deep, deeper than the reader allows"});
  add("nested blocks 10000 deep",
      [] {
        std::string s;
        for (int i = 0; i < 10000; ++i) s += std::string(i, ' ') + "a:\n";
        return s;
      }(),
      {"levels deep, deeper than the reader allows"});
  add("billion laughs",
      "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
      "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
      "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e]\n");
  add("unterminated string", good + "x: \"abc\n");
  add("duplicate section", good + "search: {strategy: random, max_evaluations: 3}\n", {"search"});
  add("schema_version 2", replace_all(good, "schema_version: 1", "schema_version: 2"),
      {"schema_version"});
  const std::vector<std::pair<std::string, std::string>> values = {
      {"seq_len: 64", "seq_len: 1000000000000"},
      {"seq_len: 64", "seq_len: -64"},
      {"seq_len: 64", "seq_len: .nan"},
      {"seq_len: 64", "seq_len: [64]"},
      {"batch_size: 2", "batch_size: 0"},
      {"num_batches: 1", "num_batches: 99999999999999999999"},
      {"max_evaluations: 2", "max_evaluations: -1"},
      {"target_params: 0.7", "target_params: .inf"},
      {"target_params: 0.7", "target_params: .nan"},
      {"tolerance: 0.05", "tolerance: 1e999"},
      {"threads: 1", "threads: 100000000"},
      {"strategy: random", "strategy: nonesuch"},
      {"proxy: trace_correlation", "proxy: \"\""},
      {"adapter: llama", "adapter: [llama]"},
      {"objective: true", "objective: maybe"},
      {"name: r", "name: ../../etc"}};
  for (const auto& [from, to] : values)
    add(to, replace_all(good, from, to), {to.substr(0, to.find(':'))});
  add("unknown section", good + "extra: {a: 1}\n", {"extra"});
  add("model path to a file", replace_all(good, "path: {M}", "path: {D}/p.yaml"), {}, "run");
  add("model path missing", replace_all(good, "path: {M}", "path: {D}/none"),
      {"model.params.path ({D}/none)"}, "run");
  add("seq_len a million", replace_all(good, "seq_len: 64", "seq_len: 1000000"), {"memory plan"},
      "run");
  add("seq_len above the data", replace_all(good, "seq_len: 64", "seq_len: 1000000"), {"data ("},
      "importance");
  corpus.add({"--set index past the end",
              {{"p.yaml", good}},
              "validate {D}/p.yaml --set proxies[99999999999].objective=true",
              {"proxies[99999999999]"},
              true});
  corpus.add({"--set without a value",
              {{"p.yaml", good}},
              "validate {D}/p.yaml --set run.seed",
              {"run.seed"},
              true});
  corpus.add({"--set a huge number",
              {{"p.yaml", good}},
              "validate {D}/p.yaml --set run.seed=1e400",
              {"run.seed"},
              true});
  corpus.add({"missing pipeline", {}, "validate {D}/none.yaml", {"{D}/none.yaml"}, false});
  corpus.add({"pipeline is a folder",
              {{"dir.yaml/x", ""}},
              "validate {D}/dir.yaml",
              {"{D}/dir.yaml"},
              false});
  EXPECT_GE(corpus.size(), 35u);
  corpus.run();
}

// ---- tokenizer.json -------------------------------------------------------------------

TEST(HostileCorpus, TokenizerJson) {
  Corpus corpus("tokenizer");
  const ojson good = ojson::parse(R"({
    "added_tokens": [],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false,
                      "use_regex": true},
    "post_processor": null,
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3}, "merges": ["a b"]}
  })");
  auto add = [&](const std::string& name, const std::string& text,
                 std::vector<std::string> expect = {}) {
    expect.insert(expect.begin(), "{D}/tokenizer.json");
    corpus.add({name,
                {{"tokenizer.json", text}},
                "tokenize --tokenizer {D}/tokenizer.json --text ab",
                expect,
                false});
  };
  const std::string text = good.dump();
  add("truncated", text.substr(0, text.size() - 3));
  add("empty", "");
  add("nested deep", std::string(100000, '[') + std::string(100000, ']'),
      {"nested deeper than 64 levels"});
  std::string seq = "{\"type\": \"NFC\"}";
  for (int i = 0; i < 5000; ++i) seq = "{\"type\": \"Sequence\", \"normalizers\": [" + seq + "]}";
  add("Sequence normalizers 5000 deep",
      replace_all(text, "\"normalizer\":null", "\"normalizer\":" + seq),
      {"nested deeper than 64 levels"});
  add("1e999 id", replace_all(text, "\"ab\":2", "\"ab\":1e999"));
  add("bytes that are not UTF-8", replace_all(text, "\"ab\":2", "\"a\xff\":2"));
  const std::vector<std::pair<std::string, ojson>> model_edits = {{"type", "Unigram"},
                                                                  {"vocab", ojson::array({"a"})},
                                                                  {"vocab", {{"a", -1}}},
                                                                  {"vocab", {{"a", "zero"}}},
                                                                  {"vocab", {{"a", 1LL << 40}}},
                                                                  {"merges", ojson::array({"a"})},
                                                                  {"merges", ojson::array({"a z"})},
                                                                  {"merges", "a b"}};
  for (const auto& [field, value] : model_edits) {
    ojson j = good;
    j["model"][field] = value;
    add("model." + field + " = " + value.dump(), j.dump(), {"model." + field});
  }
  ojson bad_regex = good;
  bad_regex["pre_tokenizer"] = {{"type", "Split"},
                                {"pattern", {{"Regex", "(unclosed"}}},
                                {"behavior", "Isolated"},
                                {"invert", false}};
  add("invalid regex", bad_regex.dump(), {"pre_tokenizer.pattern"});
  ojson added = good;
  added["added_tokens"] = ojson::array({{{"id", 99999999999LL}, {"content", "<x>"}}});
  add("added token id huge", added.dump(), {"added_tokens"});
  corpus.add({"missing file",
              {},
              "tokenize --tokenizer {D}/none.json --text ab",
              {"{D}/none.json"},
              false});
  EXPECT_GE(corpus.size(), 15u);
  corpus.run();
}

// ---- llama2.c checkpoints ------------------------------------------------------------

TEST(HostileCorpus, Llama2c) {
  Corpus corpus("llama2c");
  const std::string real = read(TN_SHARED_DIR "/models/stories260K.bin");
  auto add = [&](const std::string& name, const std::string& bytes) {
    corpus.add({name,
                {{"m.bin", bytes}},
                "convert llama2c {D}/m.bin --out {D}/out",
                {"{D}/m.bin"},
                false});
  };
  auto with_field = [&](int index, std::int32_t value) {
    std::string b = real;
    std::memcpy(b.data() + 4 * index, &value, 4);
    return b;
  };
  for (std::size_t cut : {0ul, 3ul, 27ul, 28ul, real.size() / 2, real.size() - 4}) {
    add("truncated at " + std::to_string(cut), real.substr(0, cut));
  }
  // Header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len.
  add("dim 0", with_field(0, 0));
  add("dim negative", with_field(0, -64));
  add("huge hidden_dim", with_field(1, 2000000000));
  add("layers 100000", with_field(2, 100000));
  add("heads not dividing dim", with_field(3, 7));
  add("kv heads above heads", with_field(4, 64));
  add("vocab negative (shared classifier) and huge", with_field(5, -2000000000));
  add("seq_len 0", with_field(6, 0));
  EXPECT_GE(corpus.size(), 14u);
  corpus.run();
}

// ---- command-line values ---------------------------------------------------------------

TEST(HostileCorpus, CommandLineValues) {
  Corpus corpus("cli");
  const std::string data = " --data tokens:" + kSamples;
  auto add = [&](const std::string& args, const std::string& named) {
    corpus.add({args, {}, args, {named}, true});
  };
  add("eval --model {M}" + data + " --seq-len -1", "--seq-len");
  add("eval --model {M}" + data + " --seq-len 0", "--seq-len");
  add("eval --model {M}" + data + " --seq-len 99999999999999", "--seq-len");
  add("eval --model {M}" + data + " --seq-len 1e3", "--seq-len");
  add("eval --model {M}" + data + " --batch 0", "--batch");
  add("eval --model {M}" + data + " --threads -2", "--threads");
  add("eval --model {M}" + data + " --dtype float8", "eval: --dtype: unknown dtype 'float8'");
  add("eval --model {M}" + data + " --device tpu",
      "eval: --device: expected one of auto, cpu, cuda (got 'tpu')");
  add("eval --model {M} --data nothing:" + kSamples, "nothing:");
  add("eval --model {M} --data tokens:", "--data: expected tokens:PATH");
  add("importance --model {M}" + data + " --batches -1", "--batches");
  add("train --model {M}" + data + " --out {D}/t --steps -5", "--steps");
  add("train --model {M}" + data + " --out {D}/t --lr nan", "--lr");
  add("train --model {M}" + data + " --out {D}/t --schedule sawtooth", "--schedule");
  add("eval --model {D}/nothing" + data, "{D}/nothing");
  EXPECT_GE(corpus.size(), 15u);
  corpus.run();
}

}  // namespace
}  // namespace tracenas
