#include "tracenas/support/tokens.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tracenas/error.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

class TokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tn_tokens_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& bytes) {
    std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  fs::path dir_;
};

std::string expect_data_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const DataError& e) {
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  ADD_FAILURE() << "no DataError thrown";
  return "";
}

TEST_F(TokensTest, ReadsLittleEndianU16AndU32) {
  std::string u16 = write("a.u16", std::string("\x01\x00\x34\x12\xff\xff", 6));
  EXPECT_EQ(read_token_file(u16), (std::vector<std::int32_t>{1, 0x1234, 65535}));
  std::string u32 = write("a.u32", std::string("\x01\x00\x00\x00\x00\x00\x01\x00", 8));
  EXPECT_EQ(read_token_file(u32), (std::vector<std::int32_t>{1, 65536}));
}

TEST_F(TokensTest, ReadsWhitespaceSeparatedText) {
  std::string txt = write("a.txt", "1 2\n 30\t4\n\n");
  EXPECT_EQ(read_token_file(txt), (std::vector<std::int32_t>{1, 2, 30, 4}));
}

TEST_F(TokensTest, RejectsBadFilesNamingThem) {
  std::string odd = write("odd.u16", std::string("\x01\x00\x02", 3));
  EXPECT_NE(expect_data_error([&] {
              read_token_file(odd);
            }).find(odd + ": size 3 bytes is not a whole number of 2-byte tokens"),
            std::string::npos);
  std::string bad = write("bad.txt", "1 2 x3 4");
  EXPECT_NE(expect_data_error([&] {
              read_token_file(bad);
            }).find(bad + ": entry 2 at byte 4 is not a token id (got \"x3\")"),
            std::string::npos);
  std::string neg = write("neg.txt", "-1");
  EXPECT_NE(expect_data_error([&] { read_token_file(neg); }).find("is not a token id"),
            std::string::npos);
  std::string ext = write("a.bin", "1");
  EXPECT_NE(expect_data_error([&] { read_token_file(ext); }).find("unknown token file type '.bin'"),
            std::string::npos);
  EXPECT_NE(expect_data_error([&] {
              read_token_file((dir_ / "none.u16").string());
            }).find("no such token file"),
            std::string::npos);
  std::string big = write("big.u32", std::string("\x00\x00\x00\x80", 4));
  EXPECT_NE(expect_data_error([&] { read_token_file(big); }).find("token 0 is 2147483648"),
            std::string::npos);
}

TEST(CalibrationWindows, FollowsSpecSection1) {
  BatchSpec spec;
  spec.seq_len = 4;
  spec.batch_size = 2;
  spec.num_batches = 2;
  // 19 tokens: 4 whole windows (the incomplete last one is dropped).
  auto w = calibration_windows(19, spec, "src");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0], (std::vector<std::int64_t>{0, 4}));
  EXPECT_EQ(w[1], (std::vector<std::int64_t>{8, 12}));
}

TEST(CalibrationWindows, ShuffleIsSeededAndAPermutation) {
  BatchSpec spec;
  spec.seq_len = 2;
  spec.batch_size = 3;
  spec.num_batches = 3;
  spec.shuffle = true;
  spec.shuffle_seed = 7;
  auto a = calibration_windows(40, spec, "src");  // 20 windows, 9 used
  auto b = calibration_windows(40, spec, "src");
  EXPECT_EQ(a, b);
  std::vector<std::int64_t> flat;
  for (auto& batch : a) flat.insert(flat.end(), batch.begin(), batch.end());
  std::vector<std::int64_t> sorted = flat;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());  // distinct
  for (auto off : flat) EXPECT_EQ(off % 2, 0);
  std::vector<std::int64_t> in_order = {0, 2, 4, 6, 8, 10, 12, 14, 16};
  EXPECT_NE(flat, in_order);
  spec.shuffle_seed = 8;
  EXPECT_NE(calibration_windows(40, spec, "src"), a);
}

TEST(CalibrationWindows, TooFewTokensIsAnError) {
  BatchSpec spec;
  spec.seq_len = 256;
  spec.batch_size = 4;
  spec.num_batches = 2;
  try {
    calibration_windows(256 * 7 + 5, spec, "tokens:x.u16");
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_STREQ(e.what(),
                 "tokens:x.u16: 1797 tokens make 7 windows of 256, fewer than batch_size x "
                 "num_batches = 8");
  }
}

TEST(CalibrationWindows, RealSamplesFileHas512Sequences) {
  auto tokens = read_token_file(TN_SHARED_DIR "/data/stories260K-samples.u16");
  ASSERT_EQ(tokens.size(), 512u * 256u);
  // Every sequence starts with BOS = 1 (shared/README.md).
  for (std::size_t s = 0; s < 512; ++s) ASSERT_EQ(tokens[s * 256], 1) << "sequence " << s;
}

}  // namespace
}  // namespace tracenas
