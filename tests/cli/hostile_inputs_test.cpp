// Hostile inputs through the CLI: each is one line on stderr, exit 2, and a
// JSON result line that parses, naming the file or value; a folder another
// process writes is refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/folder_lock.hpp"
#include "cli_runner.hpp"
#include "test_dir.hpp"

namespace fs = std::filesystem;

namespace tracenas {
namespace {

using Result = testing::CliResult;

Result run_cli(const std::string& args) { return testing::run_tracenas(args, "tn_hostile"); }

const std::string& model_dir() { return testing::converted_stories260K("tn_hostile_stories260K"); }

const std::string kData = "tokens:" TN_SHARED_DIR "/data/stories260K-samples.u16";

// Exit 2 and one error line holding `part` (after the log lines of what ran
// before it), and the same text in the JSON result line.
void expect_one_line(const Result& r, const std::string& part) {
  EXPECT_EQ(r.code, 2) << r.err;
  std::vector<std::string> lines;
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  ASSERT_FALSE(lines.empty()) << r.out;
  for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(lines[i].rfind("[", 0), 0u) << "not a log line: " << lines[i];
  }
  EXPECT_NE(lines.back().find(part), std::string::npos) << "missing: " << part << "\n" << r.err;
  ASSERT_TRUE(r.last.is_object()) << "no JSON result line:\n" << r.out;
  EXPECT_NE(r.last.value("error", "").find(part), std::string::npos) << r.last.dump();
  EXPECT_EQ(r.last.value("exit_code", -1), 2) << r.last.dump();
}

void write(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(HostileInputs, AnArchJsonNestedAHundredThousandDeepIsOneLine) {
  testing::ScratchDir d;
  const fs::path arch = d.path() / "deep.json";
  write(arch, "{\"format\": \"tracenas-arch/1\", \"layers\": " + std::string(100000, '[') +
                  std::string(100000, ']') + "}");
  const Result r = run_cli("eval --model " + model_dir() + " --data " + kData + " --arch " +
                           arch.string() + " --seq-len 64 --batch 2");
  expect_one_line(r, arch.string() + ": nested deeper than 64 levels (at byte");
}

TEST(HostileInputs, AConfigNumberThatOverflowsNamesTheFile) {
  testing::ScratchDir d;
  const fs::path model = d.path() / "model";
  fs::copy(model_dir(), model);
  std::ifstream in(model / "config.json");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string cfg = ss.str();
  const std::size_t at = cfg.find("\"rms_norm_eps\"");
  ASSERT_NE(at, std::string::npos) << cfg;
  cfg.insert(at, "\"rope_theta_extra\": 1e999, ");
  write(model / "config.json", cfg);
  const Result r =
      run_cli("eval --model " + model.string() + " --data " + kData + " --seq-len 64 --batch 2");
  expect_one_line(r, (model / "config.json").string() + ": not valid JSON: ");
  EXPECT_NE(r.err.find("overflow"), std::string::npos) << r.err;
}

TEST(HostileInputs, BytesThatAreNotUtf8InAnErrorAreEscapedNotFatal) {
  testing::ScratchDir d;
  const std::string bad = (d.path() / "mod\xFF\xFEl").string();
  const Result r = run_cli("eval --model '" + bad + "' --data " + kData);
  expect_one_line(r, "mod\\xFF\\xFEl");
}

TEST(HostileInputs, TokenIdsAboveTheVocabularyAreCheckedByEveryCommand) {
  testing::ScratchDir d;
  const fs::path ids = d.path() / "ids.u16";
  {
    std::ofstream out(ids, std::ios::binary);
    for (int i = 0; i < 4096; ++i) {
      const std::uint16_t id = i == 700 ? 65535 : static_cast<std::uint16_t>(i % 500);
      out.write(reinterpret_cast<const char*>(&id), sizeof id);
    }
  }
  const std::string data = " --data tokens:" + ids.string() + " --seq-len 64 --batch 4 --batches 4";
  const fs::path arch = d.path() / "arch.json";
  std::string layers;
  for (int l = 0; l < 5; ++l) {
    layers += std::string(l ? ", " : "") +
              R"({"attn": true, "heads": 8, "mlp": true, "mlp_channels": 172})";
  }
  write(arch, R"({"format": "tracenas.arch/1", "layers": [)" + layers + "]}");
  for (const std::string& cmd :
       {"importance --model " + model_dir() + data,
        "score --model " + model_dir() + data + " --arch " + arch.string()}) {
    const Result r = run_cli(cmd);
    expect_one_line(r, "tokens:" + ids.string() +
                           ": token id 65535 is not below the model's vocabulary size 512");
  }
}

TEST(HostileInputs, AWindowLongerThanTheDataNamesTheFileNotAnInternalKey) {
  testing::ScratchDir d;
  const fs::path pipeline = d.path() / "p.yaml";
  write(pipeline,
        "schema_version: 1\n"
        "run: {name: r, output_dir: " +
            (d.path() / "runs").string() +
            ", threads: 1}\n"
            "model: {adapter: llama, params: {path: " +
            model_dir() +
            "}}\n"
            "data: {source: tokens, seq_len: 1000000, batch_size: 2, num_batches: 1,\n"
            "       params: {path: " TN_SHARED_DIR
            "/data/stories260K-samples.u16}}\n"
            "proxies: [{proxy: trace_correlation, objective: true}]\n"
            "search: {strategy: random, max_evaluations: 2}\n");
  const Result r = run_cli("importance " + pipeline.string());
  expect_one_line(r, pipeline.string() + ": data (");
  EXPECT_NE(r.err.find("stories260K-samples.u16): 131072 tokens make 0 windows of 1000000"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("#size="), std::string::npos) << r.err;
}

// Holds `dir`'s folder lock in a child process until the returned pid is killed.
pid_t hold_lock(const std::string& dir) {
  int ready[2];
  if (::pipe(ready) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    lock_folder(dir, "test");
    const char c = 'x';
    (void)!::write(ready[1], &c, 1);
    ::pause();
    _exit(0);
  }
  char c = 0;
  (void)!::read(ready[0], &c, 1);
  ::close(ready[0]);
  ::close(ready[1]);
  return pid;
}

void release(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

TEST(HostileInputs, ARunFolderOrTrainOutputHeldByAnotherProcessIsRefused) {
  testing::ScratchDir d;
  const fs::path pipeline = d.path() / "p.yaml";
  write(pipeline,
        "schema_version: 1\n"
        "run: {name: r, output_dir: " +
            (d.path() / "runs").string() + ", cache_dir: " + (d.path() / "cache").string() +
            ", threads: 1}\n"
            "model: {adapter: llama, params: {path: " +
            model_dir() +
            "}}\n"
            "data: {source: tokens, seq_len: 64, batch_size: 2, num_batches: 1,\n"
            "       params: {path: " TN_SHARED_DIR
            "/data/stories260K-samples.u16}}\n"
            "proxies: [{proxy: trace_correlation, objective: true}]\n"
            "search: {strategy: random, max_evaluations: 2}\n"
            "constraints: {target_params: 0.7, tolerance: 0.05}\n");
  const fs::path run_dir = d.path() / "runs" / "r";
  const pid_t holder = hold_lock(run_dir.string());
  ASSERT_GT(holder, 0);
  const Result r = run_cli("run " + pipeline.string());
  expect_one_line(r, "run folder '" + run_dir.string() +
                         "' is in use by another tracenas process (pid " + std::to_string(holder) +
                         ")");
  EXPECT_FALSE(fs::exists(run_dir / "config.resolved.yaml")) << "the refused run wrote";

  const fs::path out = d.path() / "trained";
  const pid_t trainer = hold_lock(out.string());
  const Result t = run_cli("train --model " + model_dir() + " --data " + kData + " --out " +
                           out.string() + " --steps 1 --batch 1 --seq-len 32");
  expect_one_line(t, "--out '" + out.string() + "' is in use by another tracenas process (pid " +
                         std::to_string(trainer) + ")");
  release(trainer);
  release(holder);
  // Once the holder is gone (killed), the folder is free.
  const Result again = run_cli("run " + pipeline.string());
  EXPECT_EQ(again.code, 0) << again.err;
}

}  // namespace
}  // namespace tracenas
