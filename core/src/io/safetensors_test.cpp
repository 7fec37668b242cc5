#include "io/safetensors.hpp"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tracenas/error.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using ::testing::HasSubstr;

namespace tracenas {
namespace {

const std::string kReference = std::string(TN_SHARED_DIR) + "/reference";

// A header read with std::ifstream, sharing no code with the reader under test.
struct RawHeader {
  json header;
  std::uint64_t length = 0;  // N
  std::uint64_t file_size = 0;
};

RawHeader read_raw_header(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  unsigned char len[8] = {};
  in.read(reinterpret_cast<char*>(len), 8);
  RawHeader raw;
  for (int i = 0; i < 8; ++i) raw.length |= static_cast<std::uint64_t>(len[i]) << (8 * i);
  std::string text(raw.length, '\0');
  in.read(text.data(), static_cast<std::streamsize>(raw.length));
  raw.header = json::parse(text);
  raw.file_size = fs::file_size(path);
  return raw;
}

std::string read_raw_bytes(const std::string& path, std::uint64_t offset, std::uint64_t size) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  EXPECT_EQ(static_cast<std::uint64_t>(in.gcount()), size);
  return bytes;
}

std::string tensor_bytes(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
}

// Runs `f`, which must throw a ModelError; returns its message.
template <class F>
std::string model_error(F&& f) {
  try {
    f();
  } catch (const ModelError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    std::string what = e.what();
    EXPECT_EQ(what.find('\n'), std::string::npos) << "not one line: " << what;
    return what;
  }
  ADD_FAILURE() << "expected a ModelError";
  return "";
}

class SafeTensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "tracenas-st-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

  static void write_file(const std::string& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  // A safetensors file made by hand: length prefix, header text, data bytes.
  std::string write_raw(const std::string& name, const std::string& header,
                        std::size_t data_bytes = 0) const {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
    bytes += header;
    bytes.append(data_bytes, '\x01');
    write_file(path(name), bytes);
    return path(name);
  }

  // The message of opening a hand-made file with `header` and `data_bytes` of data.
  std::string open_error(const std::string& header, std::size_t data_bytes) {
    std::string p = write_raw("bad.safetensors", header, data_bytes);
    return model_error([&] { SafeTensorsFile::open(p); });
  }

  std::string dir_;
};

// ---------------------------------------------------------------------------
// Round trips

TEST_F(SafeTensorsTest, RoundTripExactValuesF32F16BF16) {
  at::manual_seed(7);
  at::Tensor f32 = at::randn({3, 5});
  float* p = f32.data_ptr<float>();
  p[0] = std::numeric_limits<float>::infinity();
  p[1] = -0.0f;
  p[2] = std::numeric_limits<float>::denorm_min();
  p[3] = std::numeric_limits<float>::quiet_NaN();
  p[4] = std::numeric_limits<float>::max();
  at::Tensor f16 = (at::randn({4, 2, 3}) * 100).to(at::kHalf);
  at::Tensor bf16 = (at::randn({7}) * 1e20).to(at::kBFloat16);
  at::Tensor scalar = at::full({}, 1.5f);
  at::Tensor empty = at::zeros({0, 3}, at::kHalf);
  SafeTensorsMetadata meta = {{"format", "pt"}, {"note", "round trip \"quoted\""}};
  const std::string file = path("rt.safetensors");
  save_safetensors(
      file,
      {{"w.f32", f32}, {"w.f16", f16}, {"w.bf16", bf16}, {"scalar", scalar}, {"empty", empty}},
      meta);

  auto st = SafeTensorsFile::open(file);
  EXPECT_EQ(st->names(), (std::vector<std::string>{"empty", "scalar", "w.bf16", "w.f16", "w.f32"}));
  EXPECT_EQ(st->metadata(), meta);
  const std::vector<std::pair<std::string, at::Tensor>> expected = {
      {"w.f32", f32}, {"w.f16", f16}, {"w.bf16", bf16}, {"scalar", scalar}, {"empty", empty}};
  for (const auto& [name, want] : expected) {
    SCOPED_TRACE(name);
    at::Tensor got = st->get(name);
    EXPECT_EQ(got.scalar_type(), want.scalar_type());
    EXPECT_EQ(got.sizes(), want.sizes());
    EXPECT_TRUE(got.device().is_cpu());
    EXPECT_EQ(tensor_bytes(got), tensor_bytes(want));  // bit-exact, NaN and -0 included
    EXPECT_EQ(st->info(name).shape, want.sizes().vec());
    EXPECT_EQ(st->info(name).dtype, want.scalar_type());
  }
  EXPECT_EQ(safetensors_dtype_name(st->info("w.bf16").dtype), "BF16");

  // Nothing left over from the atomic write.
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path().filename());
  EXPECT_EQ(files, std::vector<std::string>{"rt.safetensors"});
}

TEST_F(SafeTensorsTest, LayoutIsPaddedContiguousAndAligned) {
  // Odd element counts and mixed dtypes: F32 first (largest elements), then by name.
  save_safetensors(
      path("l.safetensors"),
      {{"a", at::ones({3}, at::kHalf)}, {"c", at::ones({1}, at::kBFloat16)}, {"b", at::ones({5})}});
  RawHeader raw = read_raw_header(path("l.safetensors"));
  EXPECT_EQ((8 + raw.length) % 8, 0u);
  EXPECT_EQ(raw.header.at("b").at("data_offsets"), json({0, 20}));
  EXPECT_EQ(raw.header.at("a").at("data_offsets"), json({20, 26}));
  EXPECT_EQ(raw.header.at("c").at("data_offsets"), json({26, 28}));
  EXPECT_EQ(raw.header.at("b").at("dtype"), "F32");
  EXPECT_EQ(raw.header.at("a").at("dtype"), "F16");
  EXPECT_EQ(raw.header.at("c").at("dtype"), "BF16");
  EXPECT_EQ(raw.file_size, 8 + raw.length + 28);
  EXPECT_FALSE(raw.header.contains("__metadata__"));  // empty metadata is omitted
  // The padding is spaces.
  std::string text = read_raw_bytes(path("l.safetensors"), 8, raw.length);
  EXPECT_EQ(text.find_first_not_of(' ', text.rfind('}') + 1), std::string::npos);
}

TEST_F(SafeTensorsTest, WriterTakesNonContiguousViews) {
  at::Tensor base = at::arange(24, at::kFloat).reshape({4, 6});
  at::Tensor view = base.t().narrow(0, 1, 3);  // [3, 4], non-contiguous
  save_safetensors(path("v.safetensors"), {{"v", view}});
  at::Tensor got = SafeTensorsFile::open(path("v.safetensors"))->get("v");
  EXPECT_TRUE(at::equal(got, view));
}

TEST_F(SafeTensorsTest, TensorsAreViewsOverTheMappingAndOutliveIt) {
  at::Tensor a = at::arange(8, at::kFloat);
  at::Tensor b = at::arange(4, at::kFloat) + 100;
  save_safetensors(path("m.safetensors"), {{"a", a}, {"b", b}});
  at::Tensor ga, gb;
  {
    auto st = SafeTensorsFile::open(path("m.safetensors"));
    ga = st->get("a");
    gb = st->get("b");
    // Both are views into one mapping, at their header offsets: no copy was made.
    EXPECT_EQ(static_cast<char*>(gb.data_ptr()) - static_cast<char*>(ga.data_ptr()),
              static_cast<std::ptrdiff_t>(st->info("b").begin - st->info("a").begin));
  }
  EXPECT_TRUE(at::equal(ga, a));  // the file object is gone, the mapping is not
  EXPECT_TRUE(at::equal(gb, b));
  // Writing through a view is copy-on-write: the file is unchanged.
  ga.mul_(2);
  EXPECT_TRUE(at::equal(ga, a * 2));
  EXPECT_TRUE(at::equal(Checkpoint::open(path("m.safetensors")).get("a"), a));
}

TEST_F(SafeTensorsTest, MisalignedTensorIsCopiedNotViewed) {
  // A foreign file whose data section starts at an odd address (no header padding).
  std::string header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})";
  if (header.size() % 2 == 0) header += ' ';
  const float values[3] = {1.25f, -2.5f, 1e-3f};
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  bytes += header;
  bytes.append(reinterpret_cast<const char*>(values), sizeof values);
  write_file(path("odd.safetensors"), bytes);
  at::Tensor t = SafeTensorsFile::open(path("odd.safetensors"))->get("w");
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data_ptr()) % alignof(float), 0u);
  EXPECT_TRUE(at::equal(t, at::tensor({1.25f, -2.5f, 1e-3f})));
}

// ---------------------------------------------------------------------------
// Reference checkpoints

TEST_F(SafeTensorsTest, ReadsLlama3TinyReference) {
  const std::string dir = kReference + "/llama3-tiny";
  Checkpoint ck = Checkpoint::open_dir(dir);
  EXPECT_FALSE(ck.sharded());
  EXPECT_EQ(ck.names().size(), 29u);
  EXPECT_EQ(ck.metadata().at("format"), "pt");
  EXPECT_FALSE(ck.has("lm_head.weight"));  // tied embeddings
  EXPECT_EQ(ck.shape("model.embed_tokens.weight"), (std::vector<std::int64_t>{512, 128}));
  EXPECT_EQ(ck.shape("model.layers.2.self_attn.k_proj.weight"),
            (std::vector<std::int64_t>{32, 128}));
  EXPECT_EQ(ck.shape("model.layers.0.mlp.down_proj.weight"), (std::vector<std::int64_t>{128, 344}));
  EXPECT_EQ(ck.shape("model.norm.weight"), (std::vector<std::int64_t>{128}));
  EXPECT_EQ(ck.dtype("model.norm.weight"), at::kBFloat16);

  std::int64_t sum = 0;
  for (const std::string& name : ck.names()) sum += ck.get(name).numel();
  EXPECT_EQ(ck.numel_total(), sum);
  // From the config (README): embeddings + 3 layers x (2 norms, 3 MLP, q/k/v/o) + final norm.
  EXPECT_EQ(sum, 512 * 128 + 3 * (2 * 128 + 3 * 128 * 344 + 2 * 32 * 128 + 2 * 128 * 128) + 128);

  // One tensor's bytes against an independent read of the file.
  const std::string file = dir + "/model.safetensors";
  const std::string name = "model.layers.1.self_attn.q_proj.weight";
  RawHeader raw = read_raw_header(file);
  const json& offsets = raw.header.at(name).at("data_offsets");
  std::uint64_t begin = offsets[0], end = offsets[1];
  at::Tensor t = ck.get(name);
  EXPECT_EQ(t.scalar_type(), at::kBFloat16);
  EXPECT_EQ(t.sizes(), (std::vector<std::int64_t>{128, 128}));
  EXPECT_EQ(tensor_bytes(t), read_raw_bytes(file, 8 + raw.length + begin, end - begin));
  // Norm weights are N(1, 0.1): a sanity check of the decoded values.
  double mean = ck.get("model.norm.weight").to(at::kFloat).mean().item<double>();
  EXPECT_NEAR(mean, 1.0, 0.05);
}

TEST_F(SafeTensorsTest, ReadsShardedQwen2TinyReference) {
  const std::string dir = kReference + "/qwen2-tiny";
  Checkpoint ck = Checkpoint::open_dir(dir);
  EXPECT_TRUE(ck.sharded());
  ASSERT_EQ(ck.files().size(), 2u);
  EXPECT_EQ(ck.names().size(), 27u);
  EXPECT_EQ(fs::path(ck.file_of("lm_head.weight").path()).filename().string(),
            "model-00002-of-00002.safetensors");
  EXPECT_EQ(
      fs::path(ck.file_of("model.layers.1.self_attn.q_proj.weight").path()).filename().string(),
      "model-00001-of-00002.safetensors");
  EXPECT_EQ(ck.shape("lm_head.weight"), (std::vector<std::int64_t>{520, 64}));
  EXPECT_EQ(ck.shape("model.layers.0.self_attn.q_proj.bias"), (std::vector<std::int64_t>{64}));
  EXPECT_EQ(ck.shape("model.layers.1.self_attn.k_proj.bias"), (std::vector<std::int64_t>{32}));
  EXPECT_EQ(ck.shape("model.layers.1.mlp.up_proj.weight"), (std::vector<std::int64_t>{176, 64}));
  EXPECT_FALSE(ck.has("model.layers.0.self_attn.o_proj.bias"));
  EXPECT_EQ(ck.dtype("lm_head.weight"), at::kFloat);

  std::int64_t sum = 0;
  for (const std::string& name : ck.names()) sum += ck.get(name).numel();
  EXPECT_EQ(ck.numel_total(), sum);
  EXPECT_EQ(sum, 2 * 520 * 64 +
                     2 * (2 * 64 + 3 * 64 * 176 + 2 * 32 * 64 + 2 * 64 * 64 + 64 + 32 + 32) + 64);
  // The index's total_size counts data bytes.
  std::ifstream index_in(dir + "/model.safetensors.index.json");
  json index = json::parse(index_in);
  EXPECT_EQ(ck.nbytes_total(), index.at("metadata").at("total_size").get<std::uint64_t>());

  // Opening the index file directly gives the same checkpoint.
  Checkpoint by_index = Checkpoint::open(dir + "/model.safetensors.index.json");
  EXPECT_EQ(by_index.names(), ck.names());

  const std::string file = dir + "/model-00002-of-00002.safetensors";
  const std::string name = "model.layers.1.self_attn.v_proj.bias";
  RawHeader raw = read_raw_header(file);
  const json& offsets = raw.header.at(name).at("data_offsets");
  std::uint64_t begin = offsets[0], end = offsets[1];
  EXPECT_EQ(tensor_bytes(ck.get(name)), read_raw_bytes(file, 8 + raw.length + begin, end - begin));
}

// ---------------------------------------------------------------------------
// Sharded writing

TEST_F(SafeTensorsTest, ShardedWriteThenReadEqualsInput) {
  at::manual_seed(3);
  NamedTensors tensors = {
      {"e", at::randn({10, 10})},                   // 400 bytes
      {"a", at::randn({50}).to(at::kHalf)},         // 100 bytes
      {"d", at::randn({25, 4}).to(at::kBFloat16)},  // 200 bytes
      {"b", at::randn({30})},                       // 120 bytes
      {"c", at::randn({600})},                      // 2400 bytes: over the limit, alone
      {"f", at::randn({5, 3})},                     // 60 bytes
  };
  const std::string out = path("ck");
  SafeTensorsMetadata meta = {{"format", "pt"}};
  save_checkpoint(out, tensors, meta, /*max_shard_bytes=*/500);

  // Sorted by name, filled greedily: [a, b] [c] [d] [e, f].
  std::ifstream index_in(out + "/model.safetensors.index.json");
  json index = json::parse(index_in);
  EXPECT_EQ(index.at("metadata").at("total_size"), 100 + 120 + 2400 + 200 + 400 + 60);
  EXPECT_EQ(index.at("weight_map"), json({{"a", "model-00001-of-00004.safetensors"},
                                          {"b", "model-00001-of-00004.safetensors"},
                                          {"c", "model-00002-of-00004.safetensors"},
                                          {"d", "model-00003-of-00004.safetensors"},
                                          {"e", "model-00004-of-00004.safetensors"},
                                          {"f", "model-00004-of-00004.safetensors"}}));
  EXPECT_FALSE(fs::exists(out + "/model.safetensors"));

  Checkpoint ck = Checkpoint::open_dir(out);
  EXPECT_TRUE(ck.sharded());
  EXPECT_EQ(ck.files().size(), 4u);
  EXPECT_EQ(ck.metadata(), meta);
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
  for (const auto& [name, want] : tensors) {
    SCOPED_TRACE(name);
    EXPECT_EQ(ck.dtype(name), want.scalar_type());
    EXPECT_EQ(tensor_bytes(ck.get(name)), tensor_bytes(want));
  }

  // Saving again with room for everything: one file, the sharded layout removed.
  save_checkpoint(out, tensors, meta, /*max_shard_bytes=*/0);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(out)) files.push_back(e.path().filename());
  EXPECT_EQ(files, std::vector<std::string>{"model.safetensors"});
  Checkpoint single = Checkpoint::open_dir(out);
  EXPECT_FALSE(single.sharded());
  for (const auto& [name, want] : tensors) {
    EXPECT_EQ(tensor_bytes(single.get(name)), tensor_bytes(want)) << name;
  }

  // And back to two shards: the single file goes, and so do no-longer-used shards.
  save_checkpoint(out, tensors, meta, /*max_shard_bytes=*/2900);
  files.clear();
  for (const auto& e : fs::directory_iterator(out)) files.push_back(e.path().filename());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"model-00001-of-00002.safetensors",
                                             "model-00002-of-00002.safetensors",
                                             "model.safetensors.index.json"}));
  EXPECT_EQ(Checkpoint::open_dir(out).numel_total(), 50 + 30 + 600 + 100 + 100 + 15);
}

TEST_F(SafeTensorsTest, WriterRejectsUnsupportedDtype) {
  std::string msg = model_error([&] {
    save_safetensors(path("x.safetensors"), {{"ids", at::arange(4, at::kLong)}});
  });
  EXPECT_THAT(msg, HasSubstr("x.safetensors: tensor \"ids\": unsupported dtype Long"));
  EXPECT_FALSE(fs::exists(path("x.safetensors")));
}

TEST_F(SafeTensorsTest, WriterRejectsDuplicateName) {
  std::string msg = model_error([&] {
    save_safetensors(path("x.safetensors"), {{"w", at::ones({1})}, {"w", at::ones({2})}});
  });
  EXPECT_THAT(msg, HasSubstr("x.safetensors: duplicate tensor name \"w\""));
}

// ---------------------------------------------------------------------------
// Rejected files: each message names the file and the tensor or field.

TEST_F(SafeTensorsTest, RejectsFileShorterThan8Bytes) {
  write_file(path("short.safetensors"), "abc");
  std::string msg = model_error([&] { SafeTensorsFile::open(path("short.safetensors")); });
  EXPECT_THAT(msg, HasSubstr("short.safetensors: file is 3 bytes, shorter than the 8-byte header"));
}

TEST_F(SafeTensorsTest, RejectsHeaderLengthBeyondFile) {
  std::string bytes = std::string("\xe8\x03\0\0\0\0\0\0", 8) + "{}xxxxxx";  // N = 1000
  write_file(path("long.safetensors"), bytes);
  std::string msg = model_error([&] { SafeTensorsFile::open(path("long.safetensors")); });
  EXPECT_THAT(msg, HasSubstr("long.safetensors: header length 1000 runs past the end of the "
                             "file (16 bytes)"));
}

TEST_F(SafeTensorsTest, RejectsMalformedJson) {
  std::string msg = open_error(R"({"w": {"dtype": "F32", )", 0);
  EXPECT_THAT(msg, HasSubstr("bad.safetensors: header: malformed JSON: "));
  EXPECT_THAT(open_error("[1, 2]", 0),
              HasSubstr("bad.safetensors: header must be a JSON object (got array)"));
}

TEST_F(SafeTensorsTest, RejectsDeepNestingAndOverflowingNumbersBeforeUsingThem) {
  // A "shape" nested 100,000 deep: refused before parsing (no recursion on it).
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THAT(
      open_error(R"({"w": {"dtype": "F32", "shape": )" + deep + R"(, "data_offsets": [0, 8]}})", 8),
      HasSubstr("bad.safetensors: header: malformed JSON: nested deeper than 64 levels"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [1e999], "data_offsets": [0, 8]}})", 8),
              HasSubstr("bad.safetensors: header: malformed JSON: "));
}

TEST_F(SafeTensorsTest, RejectsEntryThatIsNotAnObject) {
  EXPECT_THAT(open_error(R"({"w": [1, 2]})", 0),
              HasSubstr("bad.safetensors: tensor \"w\": entry must be an object (got array)"));
}

TEST_F(SafeTensorsTest, RejectsEntryMissingDtype) {
  EXPECT_THAT(open_error(R"({"w": {"shape": [2], "data_offsets": [0, 8]}})", 8),
              HasSubstr("bad.safetensors: tensor \"w\": missing \"dtype\""));
}

TEST_F(SafeTensorsTest, RejectsEntryMissingShape) {
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", 8),
              HasSubstr("bad.safetensors: tensor \"w\": missing \"shape\""));
}

TEST_F(SafeTensorsTest, RejectsEntryMissingDataOffsets) {
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [2]}})", 8),
              HasSubstr("bad.safetensors: tensor \"w\": missing \"data_offsets\""));
}

TEST_F(SafeTensorsTest, RejectsEntryFieldsOfWrongType) {
  EXPECT_THAT(open_error(R"({"w": {"dtype": 32, "shape": [2], "data_offsets": [0, 8]}})", 8),
              HasSubstr("tensor \"w\": \"dtype\" must be a string (got integer)"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}})", 8),
              HasSubstr("tensor \"w\": \"shape\" must be an array of integers (got string)"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", 8),
              HasSubstr("tensor \"w\": \"shape\" must be an array of integers (got [2.5])"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}})", 8),
              HasSubstr("tensor \"w\": \"data_offsets\" must be two non-negative integers "
                        "[begin, end] (got [0])"));
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})", 8),
              HasSubstr("tensor \"w\": \"data_offsets\" must be two non-negative integers"));
}

TEST_F(SafeTensorsTest, RejectsUnsupportedDtype) {
  EXPECT_THAT(open_error(R"({"ids": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}})", 8),
              HasSubstr("bad.safetensors: tensor \"ids\": unsupported dtype \"I64\" "
                        "(supported: F64, F32, F16, BF16)"));
}

TEST_F(SafeTensorsTest, RejectsNegativeDimension) {
  EXPECT_THAT(
      open_error(R"({"w": {"dtype": "F32", "shape": [-2, -2], "data_offsets": [0, 16]}})", 16),
      HasSubstr("bad.safetensors: tensor \"w\": negative dimension -2 in shape [-2, -2]"));
}

TEST_F(SafeTensorsTest, RejectsBeginAfterEnd) {
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 8),
              HasSubstr("bad.safetensors: tensor \"w\": data_offsets [8, 0] have begin > end"));
}

TEST_F(SafeTensorsTest, RejectsRangeOutsideDataSection) {
  EXPECT_THAT(open_error(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8),
              HasSubstr("bad.safetensors: tensor \"w\": data_offsets [0, 16] lie outside the data "
                        "section (8 bytes)"));
}

TEST_F(SafeTensorsTest, RejectsByteLengthThatDoesNotMatchShape) {
  EXPECT_THAT(
      open_error(R"({"w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 12]}})", 12),
      HasSubstr("bad.safetensors: tensor \"w\": data_offsets [0, 12] hold 12 bytes but BF16 x "
                "shape [2, 2] needs 8"));
}

TEST_F(SafeTensorsTest, RejectsOverlappingTensors) {
  std::string header = R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
                       R"( "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})";
  EXPECT_THAT(open_error(header, 24),
              HasSubstr("bad.safetensors: tensors \"a\" [0, 16] and \"b\" [8, 24] overlap"));
}

TEST_F(SafeTensorsTest, RejectsDuplicateTensorName) {
  std::string header = R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                       R"( "w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})";
  EXPECT_THAT(open_error(header, 16),
              HasSubstr("bad.safetensors: header: duplicate tensor name \"w\""));
  std::string inner = R"({"w": {"dtype": "F32", "dtype": "F16", "shape": [2],)"
                      R"( "data_offsets": [0, 8]}})";
  EXPECT_THAT(open_error(inner, 8),
              HasSubstr("bad.safetensors: header: duplicate key \"dtype\" in \"w\""));
}

TEST_F(SafeTensorsTest, RejectsMetadataThatIsNotStrings) {
  EXPECT_THAT(open_error(R"({"__metadata__": {"format": "pt", "version": 2}})", 0),
              HasSubstr("bad.safetensors: \"__metadata__\".version must be a string (got "
                        "integer)"));
}

TEST_F(SafeTensorsTest, RejectsUnknownTensorName) {
  save_safetensors(path("m.safetensors"), {{"model.norm.weight", at::ones({2})}});
  Checkpoint ck = Checkpoint::open(path("m.safetensors"));
  EXPECT_THAT(model_error([&] { ck.get("model.norm.weigth"); }),
              HasSubstr("m.safetensors: no tensor \"model.norm.weigth\" in the checkpoint "
                        "(did you mean \"model.norm.weight\"?)"));
}

TEST_F(SafeTensorsTest, RejectsFolderWithoutCheckpoint) {
  EXPECT_THAT(model_error([&] { Checkpoint::open_dir(dir_); }),
              HasSubstr(dir_ + ": no model.safetensors or model.safetensors.index.json"));
  EXPECT_THAT(model_error([&] { Checkpoint::open(path("nothing")); }),
              HasSubstr("nothing: no such file or folder"));
}

// Sharded folders made by hand: two shards and an index.
class SafeTensorsShardedTest : public SafeTensorsTest {
 protected:
  void write_index(const json& weight_map) {
    json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
    write_file(path("model.safetensors.index.json"), index.dump());
  }
  std::string open_error() {
    return model_error([&] { Checkpoint::open_dir(dir_); });
  }
};

TEST_F(SafeTensorsShardedTest, RejectsMissingShard) {
  save_safetensors(path("s1.safetensors"), {{"a", at::ones({2})}});
  write_index({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}});
  EXPECT_THAT(open_error(), HasSubstr("model.safetensors.index.json: shard \"s2.safetensors\" "
                                      "(holding \"b\") is missing from " +
                                      dir_));
}

TEST_F(SafeTensorsShardedTest, RejectsTensorAbsentFromItsShard) {
  save_safetensors(path("s1.safetensors"), {{"a", at::ones({2})}});
  save_safetensors(path("s2.safetensors"), {{"b", at::ones({2})}});
  write_index({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}, {"c", "s2.safetensors"}});
  EXPECT_THAT(open_error(), HasSubstr("model.safetensors.index.json: tensor \"c\" is mapped to "
                                      "shard \"s2.safetensors\" but that shard does not hold it"));
}

TEST_F(SafeTensorsShardedTest, RejectsTensorInTwoShards) {
  save_safetensors(path("s1.safetensors"), {{"a", at::ones({2})}, {"b", at::ones({2})}});
  save_safetensors(path("s2.safetensors"), {{"b", at::ones({2})}});
  write_index({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}});
  EXPECT_THAT(open_error(), HasSubstr("model.safetensors.index.json: tensor \"b\" is in two "
                                      "shards, \"s1.safetensors\" and \"s2.safetensors\""));
}

TEST_F(SafeTensorsShardedTest, RejectsShardTensorMissingFromIndex) {
  save_safetensors(path("s1.safetensors"), {{"a", at::ones({2})}, {"z", at::ones({2})}});
  write_index({{"a", "s1.safetensors"}});
  EXPECT_THAT(open_error(), HasSubstr("model.safetensors.index.json: shard \"s1.safetensors\" "
                                      "holds tensor \"z\", which the index does not list"));
}

TEST_F(SafeTensorsShardedTest, RejectsBadIndex) {
  write_file(path("model.safetensors.index.json"),
             R"({"weight_map": {"a": "s1.safetensors", "a": "s2.safetensors"}})");
  EXPECT_THAT(open_error(),
              HasSubstr("model.safetensors.index.json: duplicate key \"a\" in \"weight_map\""));
  write_file(path("model.safetensors.index.json"), R"({"metadata": {}})");
  EXPECT_THAT(open_error(), HasSubstr("model.safetensors.index.json: missing \"weight_map\""));
  write_index({{"a", "../s1.safetensors"}});
  EXPECT_THAT(open_error(), HasSubstr("\"weight_map\".a: shard \"../s1.safetensors\" must be a "
                                      "file name in the checkpoint folder"));
  write_file(path("model.safetensors.index.json"), "{\"weight_map\": ");
  EXPECT_THAT(open_error(), HasSubstr("model.safetensors.index.json: malformed JSON"));
}

TEST_F(SafeTensorsShardedTest, ReportsBadShardByItsPath) {
  write_file(path("s1.safetensors"), "1234567");
  write_index({{"a", "s1.safetensors"}});
  EXPECT_THAT(open_error(), HasSubstr("s1.safetensors: file is 7 bytes"));
}

}  // namespace
}  // namespace tracenas
