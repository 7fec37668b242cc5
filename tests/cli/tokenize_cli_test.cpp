// `tracenas tokenize` as a user runs it: ids and text as ONE JSON object on the
// last stdout line, one-line errors with exit status 2 (SPEC.md section 6).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "test_dir.hpp"

extern char** environ;

namespace tracenas {
namespace {

using nlohmann::json;
using testing::ScratchDir;

constexpr const char* kModel = TN_SHARED_DIR "/tokenizers/llama2-tokenizer.model";

struct Result {
  int status = -1;
  std::string out;
  std::string err;

  // The last non-empty stdout line as JSON (discarded when it is not JSON).
  json result() const {
    std::istringstream ss(out);
    std::string line;
    std::string last;
    while (std::getline(ss, line)) {
      if (!line.empty()) last = line;
    }
    return json::parse(last, nullptr, /*allow_exceptions=*/false);
  }
  // The last stderr line (the error message follows any log lines).
  std::string last_err_line() const {
    std::istringstream ss(err);
    std::string line;
    std::string last;
    while (std::getline(ss, line)) {
      if (!line.empty()) last = line;
    }
    return last;
  }
  std::string describe() const {
    return "exit " + std::to_string(status) + "\n--- stdout\n" + out + "--- stderr\n" + err;
  }
};

std::string slurp(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs TN_CLI with `args`, only the built-in plugins (TRACENAS_PLUGIN_PATH unset).
Result run_cli(const std::vector<std::string>& args) {
  const std::string out_file = ::tracenas::testing::test_path("tokenize_out_XXXXXX");
  const std::string err_file = ::tracenas::testing::test_path("tokenize_err_XXXXXX");
  std::vector<char> out_name(out_file.begin(), out_file.end());
  std::vector<char> err_name(err_file.begin(), err_file.end());
  out_name.push_back('\0');
  err_name.push_back('\0');
  const int out_fd = mkstemp(out_name.data());
  const int err_fd = mkstemp(err_name.data());
  if (out_fd < 0 || err_fd < 0) throw std::runtime_error("mkstemp failed");

  std::vector<std::string> argv_s = {TN_CLI};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "TRACENAS_PLUGIN_PATH=", 21) == 0) continue;
    if (std::strncmp(*e, "OMP_WAIT_POLICY=", 16) == 0) continue;
    env_s.push_back(*e);
  }
  env_s.push_back("OMP_WAIT_POLICY=PASSIVE");  // no re-exec of the CLI
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(out_fd);
  close(err_fd);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("waitpid failed");
  }
  Result r;
  r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  r.out = slurp(out_name.data());
  r.err = slurp(err_name.data());
  unlink(out_name.data());
  unlink(err_name.data());
  return r;
}

void expect_usage_error(const Result& r, const std::string& part) {
  EXPECT_EQ(r.status, 2) << r.describe();
  EXPECT_NE(r.last_err_line().find(part), std::string::npos) << r.describe();
  const json j = r.result();
  ASSERT_TRUE(j.is_object()) << r.describe();
  EXPECT_NE(j.value("error", std::string()).find(part), std::string::npos) << j.dump();
  EXPECT_EQ(j.value("exit_code", -1), 2) << j.dump();
}

TEST(CliTokenize, EncodesText) {
  Result r = run_cli({"tokenize", "--tokenizer", kModel, "--text", "Hello world"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.result(), json::parse(R"({"ids": [15043, 3186]})")) << r.describe();

  r = run_cli({"tokenize", "--tokenizer", kModel, "--text", "Hello world", "--add-special-tokens"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.result(), json::parse(R"({"ids": [1, 15043, 3186]})")) << r.describe();
}

TEST(CliTokenize, EncodesATextFileAndAFolder) {
  ScratchDir dir;
  {
    std::ofstream out(dir.str() + "/in.txt", std::ios::binary);
    out << " = Robert Boulter = ";
  }
  std::filesystem::copy_file(kModel, dir.str() + "/tokenizer.model");
  // The folder holding tokenizer.model is a tokenizer PATH too.
  Result r = run_cli({"tokenize", "--tokenizer", dir.str(), "--text-file", dir.str() + "/in.txt"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.result(), json::parse(R"({"ids": [29871, 353, 4755, 350, 5059, 357, 353, 29871]})"))
      << r.describe();
}

TEST(CliTokenize, Decodes) {
  Result r = run_cli({"tokenize", "--tokenizer", kModel, "--decode", "--text", "15043, 3186"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.result(), json::parse(R"({"text": "Hello world"})")) << r.describe();
  // The ids list of an encode run, pasted back (brackets and BOS included).
  r = run_cli({"tokenize", "--tokenizer", kModel, "--decode", "--text",
               "[1, 29871, 353, 4755, 350, 5059, 357, 353, 29871]"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.result(), json::parse(R"({"text": " = Robert Boulter = "})")) << r.describe();
}

TEST(CliTokenize, Errors) {
  expect_usage_error(run_cli({"tokenize", "--tokenizer", kModel}),
                     "tokenize: --text or --text-file is required");
  expect_usage_error(run_cli({"tokenize", "--text", "x"}), "tokenize: --tokenizer is required");
  expect_usage_error(run_cli({"tokenize", "--tokenizer", kModel, "--decode", "--text", "12 x3"}),
                     "tokenize: --text: not a token id: 'x3'");
  expect_usage_error(
      run_cli({"tokenize", "--tokenizer", kModel, "--decode", "--text", "15043 32000"}),
      "decode: id 32000 (position 1) is out of range");
  expect_usage_error(run_cli({"tokenize", "--tokenizer", "/nonexistent.model", "--text", "x"}),
                     "--tokenizer: no such tokenizer file or folder (got /nonexistent.model)");
  // A tokenizer.json the hf_tokenizer plugin cannot read: its error, naming the file.
  ScratchDir dir;
  {
    std::ofstream out(dir.str() + "/tokenizer.json", std::ios::binary);
    out << "{not json";
  }
  Result r = run_cli({"tokenize", "--tokenizer", dir.str(), "--text", "x"});
  EXPECT_NE(r.status, 0) << r.describe();
  EXPECT_NE(r.last_err_line().find(dir.str() + "/tokenizer.json: not valid JSON"),
            std::string::npos)
      << r.describe();
}

// tokenizer.json (a file, or a folder holding one) goes to the hf_tokenizer plugin.
TEST(CliTokenize, HfTokenizerJson) {
  Result r = run_cli({"tokenize", "--tokenizer", TN_SHARED_DIR "/tokenizers/llama3/tokenizer.json",
                      "--text", "Hello world"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.result(), json::parse(R"({"ids": [9906, 1917]})")) << r.describe();
  r = run_cli(
      {"tokenize", "--tokenizer", TN_SHARED_DIR "/tokenizers/qwen3", "--text", "Hello world"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.result(), json::parse(R"({"ids": [9707, 1879]})")) << r.describe();
  r = run_cli({"tokenize", "--tokenizer", TN_SHARED_DIR "/tokenizers/qwen3", "--decode", "--text",
               "9707 1879"});
  ASSERT_EQ(r.status, 0) << r.describe();
  EXPECT_EQ(r.result(), json::parse(R"({"text": "Hello world"})")) << r.describe();
}

}  // namespace
}  // namespace tracenas
