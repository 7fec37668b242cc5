// `tracenas study` end to end on the real stories260K model: a small study
// completes and writes every output; its coefficients are those of the
// per-architecture records (recomputed here with stats.hpp, which
// core/src/stats_test.cpp checks against hand-computed values); a study
// killed mid-way resumes to the uninterrupted result; a window that admits
// fewer than N architectures is refused before anything runs.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cli_runner.hpp"
#include "study/stats.hpp"
#include "test_dir.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tracenas {
namespace {

using testing::CliResult;
using testing::read_jsonl;

CliResult run_cli(const std::string& args) { return testing::run_tracenas(args, "tn_study"); }

const std::string& model_dir() { return testing::converted_stories260K("tn_study_stories260K"); }

// Six architectures with 150k-200k of the 260,032 parameters: three uniform,
// three from a 12-candidate evolutionary search; six training steps each.
std::string write_pipeline(const fs::path& dir, const std::string& space,
                           const std::string& constraints, int n) {
  fs::create_directories(dir);
  const fs::path file = dir / "study.yaml";
  std::ofstream out(file);
  out << "schema_version: 1\n"
      << "run: {name: s, seed: 5, output_dir: " << (dir / "runs").string()
      << ", cache_dir: " << (dir / "cache").string() << ", threads: 1}\n"
      << "model: {adapter: llama, params: {path: " << model_dir() << "}}\n"
      << "data: {source: tokens, seq_len: 64, batch_size: 2, num_batches: 2,\n"
      << "       params: {path: " TN_SHARED_DIR "/data/stories260K-samples.u16}}\n"
      << "proxies:\n"
      << "  - {proxy: trace_correlation, objective: true}\n"
      << "  - {proxy: loss}\n"
      << "  - {proxy: param_count}\n"
      << "  - {proxy: random}\n"
      << "search: {strategy: evolutionary, max_evaluations: 40,\n"
      << "         params: {population_size: 6, elites: 2}}\n"
      << "space: " << space << "\n"
      << "constraints: " << constraints << "\n"
      << "study: {architectures: " << n << ", strategy_share: 0.5, proposal_evaluations: 12,\n"
      << "        seq_len: 64, batch_size: 4, steps: 6, warmup_steps: 1, eval_fraction: 0.05,\n"
      << "        resamples: 200}\n";
  return file.string();
}

json read_json(const fs::path& path) {
  std::ifstream in(path);
  return json::parse(in);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

TEST(StudyCli, CompletesWritesEveryOutputAndResumesToTheSameResult) {
  testing::ScratchDir d;
  const std::string p = write_pipeline(d.path(), "{min_layers: 3, mlp_align: 4}",
                                       "{min_params: 150000, max_params: 200000}", 6);
  CliResult r = run_cli("study " + p);
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path dir = d.path() / "runs" / "s";
  ASSERT_TRUE(r.last.is_object()) << r.err;
  EXPECT_EQ(r.last["study_json"], (dir / "study.json").string());

  // study.jsonl: six distinct architectures inside the window, trained.
  const std::vector<json> lines = read_jsonl((dir / "study.jsonl").string());
  ASSERT_EQ(lines.size(), 6u);
  std::set<std::string> archs;
  int strategy = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const json& l = lines[i];
    EXPECT_EQ(l["index"], static_cast<int>(i));
    archs.insert(l["arch"].dump());
    strategy += l["origin"] == "strategy" ? 1 : 0;
    EXPECT_GE(l["params"].get<std::int64_t>(), 150000);
    EXPECT_LE(l["params"].get<std::int64_t>(), 200000);
    EXPECT_EQ(l["proxies"]["param_count"].get<double>(), l["params"].get<double>());
    const double before = l["loss_before"], after = l["loss_after"];
    EXPECT_TRUE(std::isfinite(before) && std::isfinite(after));
    EXPECT_LT(after, before) << "recovery training did not lower architecture " << i << "'s loss";
  }
  EXPECT_EQ(archs.size(), 6u);
  EXPECT_EQ(strategy, 3);

  // study.json: every proxy's coefficients are those of the records.
  const json study = read_json(dir / "study.json");
  ASSERT_EQ(study["coefficients"].size(), 4u);
  std::vector<double> after, before;
  for (const json& l : lines) {
    after.push_back(-l["loss_after"].get<double>());
    before.push_back(-l["loss_before"].get<double>());
  }
  for (const json& c : study["coefficients"]) {
    const std::string label = c["proxy"];
    const double sign = c["better"] == "higher" ? 1 : -1;
    std::vector<double> score;
    for (const json& l : lines) score.push_back(sign * l["proxies"][label].get<double>());
    EXPECT_EQ(c["n"], 6) << label;
    EXPECT_NEAR(c["spearman_after"]["value"].get<double>(), spearman(score, after), 1e-12) << label;
    EXPECT_NEAR(c["kendall_after"]["value"].get<double>(), kendall(score, after), 1e-12) << label;
    EXPECT_NEAR(c["spearman_before"]["value"].get<double>(), spearman(score, before), 1e-12)
        << label;
    EXPECT_NEAR(c["kendall_before"]["value"].get<double>(), kendall(score, before), 1e-12) << label;
    // The uniform samples alone.
    std::vector<double> u_score, u_after;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (lines[i]["origin"] != "uniform") continue;
      u_score.push_back(score[i]);
      u_after.push_back(after[i]);
    }
    EXPECT_EQ(c["uniform_only"]["n"], 3) << label;
    const json& uv = c["uniform_only"]["spearman_after"]["value"];
    const double want = spearman(u_score, u_after);
    if (std::isnan(want)) {
      EXPECT_TRUE(uv.is_null()) << label;  // undefined (a constant side) is written as null
    } else {
      EXPECT_NEAR(uv.get<double>(), want, 1e-12) << label;
    }
    for (const char* k : {"spearman_after", "kendall_after", "spearman_before", "kendall_before"}) {
      const json& ci = c[k]["ci95"];
      ASSERT_TRUE(ci[0].is_number() && ci[1].is_number()) << label << " " << k;
      EXPECT_LE(-1.0, ci[0].get<double>());
      EXPECT_LE(ci[0].get<double>(), ci[1].get<double>());
      EXPECT_LE(ci[1].get<double>(), 1.0);
    }
    const std::string svg = read_text(dir / "plots" / (label + ".svg"));
    EXPECT_EQ(svg.rfind("<svg", 0), 0u) << label;
    EXPECT_EQ(count(svg, "class=\"point\""), 6) << label;
  }
  const std::string md = read_text(dir / "study.md");
  for (const char* label : {"trace_correlation", "loss", "param_count", "random"}) {
    EXPECT_NE(md.find(std::string("| ") + label + " | "), std::string::npos) << md;
  }

  // The folder holds a study: a second start without --resume is refused.
  CliResult again = run_cli("study " + p);
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("already holds a study"), std::string::npos) << again.err;

  // Killed after three architectures, mid-way through writing the fourth.
  {
    std::ofstream cut(dir / "study.jsonl", std::ios::trunc);
    for (int i = 0; i < 3; ++i) cut << lines[static_cast<std::size_t>(i)].dump() << "\n";
    const std::string torn = lines[3].dump();
    cut << torn.substr(0, torn.size() / 2);
  }
  CliResult resumed = run_cli("study " + p + " --resume");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  const std::vector<json> again_lines = read_jsonl((dir / "study.jsonl").string());
  ASSERT_EQ(again_lines.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(again_lines[i]["genome"], lines[i]["genome"]) << i;
    EXPECT_EQ(again_lines[i]["loss_before"].get<double>(), lines[i]["loss_before"].get<double>())
        << i;
    EXPECT_EQ(again_lines[i]["loss_after"].get<double>(), lines[i]["loss_after"].get<double>())
        << i;
    EXPECT_EQ(again_lines[i]["proxies"]["trace_correlation"].get<double>(),
              lines[i]["proxies"]["trace_correlation"].get<double>())
        << i;
  }
  EXPECT_EQ(read_json(dir / "study.json")["coefficients"], study["coefficients"]);
}

TEST(StudyCli, WindowWithFewerThanNArchitecturesIsRefusedBeforeAnythingRuns) {
  testing::ScratchDir d;
  // Depth only, layer 0 protected: 2^4 = 16 architectures, 24 asked for.
  const std::string p =
      write_pipeline(d.path(), "{width: false, protected_layers: [0]}", "{min_params: 0.05}", 24);
  CliResult r = run_cli("study " + p);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find(p + ": error: study.architectures: the constraint window admits only 16 "
                           "distinct architectures"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("needs 24"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(d.path() / "runs" / "s" / "architectures.json"));
  EXPECT_FALSE(fs::exists(d.path() / "runs" / "s" / "study.jsonl"));
}

TEST(StudyCli, HeldOutSplitAndArchitectureListErrorsNameTheirSource) {
  testing::ScratchDir d;
  const std::string p = write_pipeline(d.path(), "{min_layers: 3, mlp_align: 4}",
                                       "{min_params: 150000, max_params: 200000}", 3);
  // 2048 windows of 64 tokens, 5% held out: 1945 left, fewer than a batch of 5000.
  CliResult r = run_cli("study " + p + " --set study.batch_size=5000");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(p + ": error: study.eval_fraction: tokens:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stories260K-samples.u16 holds 2048 windows of 64 tokens; holding out 103 "
                       "leaves fewer than study.batch_size = 5000 to train on"),
            std::string::npos)
      << r.err;

  // A damaged architecture list is named on --resume.
  const fs::path dir = d.path() / "runs" / "s2";
  fs::create_directories(dir);
  std::ofstream(dir / "architectures.json") << "{\"oops\": 1}\n";
  CliResult resumed = run_cli("study " + p + " --set run.name=s2 --resume");
  EXPECT_NE(resumed.code, 0);
  EXPECT_NE(
      resumed.err.find((dir / "architectures.json").string() + ": not a study architecture list"),
      std::string::npos)
      << resumed.err;
}

TEST(StudyCli, SeedsRunOneStudyEachWithMeanAndSpreadAndResumePerSeed) {
  testing::ScratchDir d;
  const std::string p = write_pipeline(d.path(), "{min_layers: 3, mlp_align: 4}",
                                       "{min_params: 150000, max_params: 200000}", 6);
  CliResult r = run_cli("study " + p + " --set study.seeds=[3,4]");
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path dir = d.path() / "runs" / "s";
  const json top = read_json(dir / "study.json");
  EXPECT_EQ(top["seeds"], json::array({3, 4}));
  std::vector<json> per_seed;
  std::vector<std::set<std::string>> archs;
  for (int seed : {3, 4}) {
    const fs::path sd = dir / ("seed-" + std::to_string(seed));
    const json st = read_json(sd / "study.json");
    EXPECT_EQ(st["settings"]["seed"], seed);
    const std::vector<json> lines = read_jsonl((sd / "study.jsonl").string());
    EXPECT_EQ(lines.size(), 6u);
    std::set<std::string> a;
    for (const json& l : lines) a.insert(l["arch"].dump());
    archs.push_back(a);
    per_seed.push_back(st);
  }
  EXPECT_NE(archs[0], archs[1]) << "both seeds drew the same architectures";
  // Mean and sample standard deviation of each coefficient over the two seeds.
  ASSERT_EQ(top["summary"].size(), 4u);
  int checked = 0;
  for (const json& row : top["summary"]) {
    std::vector<double> v;
    for (const json& st : per_seed) {
      for (const json& c : st["coefficients"]) {
        if (c["proxy"] == row["proxy"] && c["spearman_after"]["value"].is_number()) {
          v.push_back(c["spearman_after"]["value"].get<double>());
        }
      }
    }
    if (v.size() != 2) continue;
    EXPECT_NEAR(row["spearman_after"]["mean"].get<double>(), (v[0] + v[1]) / 2, 1e-12);
    EXPECT_NEAR(row["spearman_after"]["sd"].get<double>(), std::fabs(v[0] - v[1]) / std::sqrt(2.0),
                1e-12);
    ++checked;
  }
  EXPECT_GE(checked, 3);  // every proxy but possibly a constant one
  EXPECT_NE(read_text(dir / "study.md").find("+-"), std::string::npos);
  EXPECT_GE(count(read_text(dir / "plots" / "seeds.svg"), "class=\"point\""), 2 * checked);

  // A second run without --resume is refused; with it, a finished seed is not redone and an
  // unfinished one is: the same coefficients again.
  EXPECT_EQ(run_cli("study " + p + " --set study.seeds=[3,4]").code, 2);
  const json before = read_json(dir / "seed-4" / "study.json");
  fs::remove(dir / "seed-4" / "study.json");
  r = run_cli("study " + p + " --set study.seeds=[3,4] --resume");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("seed 3 already done"), std::string::npos) << r.err;
  EXPECT_EQ(read_json(dir / "seed-4" / "study.json")["coefficients"], before["coefficients"]);

  r = run_cli("study " + p + " --set study.seeds=[3,3] --set run.name=dup");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("study.seeds: seed 3 appears twice"), std::string::npos) << r.err;
}

// scripts/story_choices.py with `args`; its exit code (stdout and stderr to `log`).
int story_choices(const std::string& args, const fs::path& log) {
  const std::string cmd =
      "python3 " TN_SOURCE_DIR "/scripts/story_choices.py " + args + " > " + log.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::vector<std::int64_t>> read_u16_sequences(const std::string& path, int seq_len) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::int64_t> ids;
  unsigned char b[2];
  while (in.read(reinterpret_cast<char*>(b), 2)) ids.push_back(b[0] | (b[1] << 8));
  std::vector<std::vector<std::int64_t>> out;
  for (std::size_t i = 0; i + seq_len <= ids.size(); i += seq_len) {
    out.emplace_back(ids.begin() + static_cast<long>(i),
                     ids.begin() + static_cast<long>(i) + seq_len);
  }
  return out;
}

// The task file the script builds is what its header says: per sequence of the range and
// context length, the sequence's own next tokens among other sequences' tokens at the same
// place, all of one length, the answer's place varying; bad input is one line, exit 2.
TEST(StoryChoices, ExamplesAreTheTrueContinuationAmongOtherSequencesAtTheSamePlace) {
  testing::ScratchDir d;
  const std::string samples = TN_SHARED_DIR "/data/stories260K-samples.u16";
  const fs::path out = d.path() / "choices.jsonl";
  ASSERT_EQ(story_choices("--samples " + samples + " --out " + out.string(), d.path() / "log"), 0)
      << read_text(d.path() / "log");
  const auto seqs = read_u16_sequences(samples, 256);
  ASSERT_EQ(seqs.size(), 512u);
  const std::vector<json> lines = read_jsonl(out.string());
  ASSERT_EQ(lines.size(), 3u * 128u);  // contexts 32, 96, 160 over the last quarter
  std::vector<int> answers(4, 0);
  std::set<std::string> ids;
  for (const json& l : lines) {
    const std::string id = l["id"];
    ids.insert(id);
    const int seq = std::stoi(id.substr(4, id.find('@') - 4));
    const int ctx = std::stoi(id.substr(id.find('@') + 1));
    ASSERT_GE(seq, 384);
    ASSERT_LT(seq, 512);
    const auto& s = seqs[static_cast<std::size_t>(seq)];
    EXPECT_EQ(l["context_ids"].get<std::vector<std::int64_t>>(),
              std::vector<std::int64_t>(s.begin(), s.begin() + ctx));
    const int answer = l["answer"];
    ++answers[static_cast<std::size_t>(answer)];
    const auto choices = l["choices_ids"].get<std::vector<std::vector<std::int64_t>>>();
    ASSERT_EQ(choices.size(), 4u);
    EXPECT_EQ(choices[static_cast<std::size_t>(answer)],
              std::vector<std::int64_t>(s.begin() + ctx, s.begin() + ctx + 2));
    std::set<std::vector<std::int64_t>> distinct(choices.begin(), choices.end());
    EXPECT_EQ(distinct.size(), 4u) << id;
    for (std::size_t c = 0; c < choices.size(); ++c) {
      if (static_cast<int>(c) == answer) continue;
      // Found at the same place in another sequence of the range.
      bool found = false;
      for (int j = 384; j < 512 && !found; ++j) {
        const auto& o = seqs[static_cast<std::size_t>(j)];
        found = j != seq &&
                std::vector<std::int64_t>(o.begin() + ctx, o.begin() + ctx + 2) == choices[c];
      }
      EXPECT_TRUE(found) << id << " choice " << c;
    }
  }
  EXPECT_EQ(ids.size(), lines.size());
  for (int a : answers) EXPECT_GT(a, 384 / 4 / 2) << "the answer's place is not spread out";

  const fs::path log = d.path() / "bad.log";
  EXPECT_EQ(story_choices("--samples " + samples + " --out " + (d.path() / "x").string() +
                              " --contexts 250 --continuation 8",
                          log),
            2);
  EXPECT_NE(read_text(log).find("--contexts 250 + --continuation 8 exceeds --seq-len 256"),
            std::string::npos)
      << read_text(log);
  EXPECT_FALSE(fs::exists(d.path() / "x"));
}

// study.tasks: every architecture's task accuracy after training is recorded and correlated
// with the proxies; the perplexity coefficients equal the loss ones (a monotone map).
TEST(StudyCli, TaskAccuracyAndPerplexityColumns) {
  testing::ScratchDir d;
  const std::string p = write_pipeline(d.path(), "{min_layers: 3, mlp_align: 4}",
                                       "{min_params: 150000, max_params: 200000}", 6);
  // The last 25 sequences: inside the study's held-out tail (the last 103 of 2048 windows of 64
  // tokens).
  const fs::path tasks = d.path() / "tasks.jsonl";
  ASSERT_EQ(story_choices("--samples " TN_SHARED_DIR "/data/stories260K-samples.u16 --out " +
                              tasks.string() + " --first 487 --contexts 32,96",
                          d.path() / "log"),
            0)
      << read_text(d.path() / "log");
  CliResult r = run_cli("study " + p + " --set study.tasks=" + tasks.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const fs::path dir = d.path() / "runs" / "s";
  const json study = read_json(dir / "study.json");
  EXPECT_EQ(study["settings"]["tasks"], tasks.string());
  EXPECT_EQ(study["settings"]["task_examples"], 50);
  // The unpruned model's accuracy is what `tracenas eval --tasks` gives.
  CliResult e = run_cli("eval --model " + model_dir() + " --tasks " + tasks.string());
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_NEAR(study["base_task_acc"].get<double>(), e.last["acc"].get<double>(), 1e-12);

  const std::vector<json> lines = read_jsonl((dir / "study.jsonl").string());
  ASSERT_EQ(lines.size(), 6u);
  std::vector<double> acc, after;
  for (const json& l : lines) {
    const double a = l["task"]["acc"];
    EXPECT_NEAR(a * 50, std::round(a * 50), 1e-9);
    EXPECT_EQ(l["task"]["acc_norm"], l["task"]["acc"]);  // every choice has two tokens
    EXPECT_NEAR(l["ppl_after"].get<double>(), std::exp(l["loss_after"].get<double>()), 1e-9);
    acc.push_back(a);
    after.push_back(-l["loss_after"].get<double>());
  }
  for (const json& c : study["coefficients"]) {
    const std::string label = c["proxy"];
    const double sign = c["better"] == "higher" ? 1 : -1;
    std::vector<double> score;
    for (const json& l : lines) score.push_back(sign * l["proxies"][label].get<double>());
    EXPECT_EQ(c["n_task"], 6) << label;
    const double rho = spearman(score, acc), tau = kendall(score, acc);
    for (const auto& [key, want] :
         {std::pair{"spearman_task_acc", rho}, {"kendall_task_acc", tau}}) {
      if (std::isnan(want)) {
        EXPECT_TRUE(c[key]["value"].is_null()) << label << " " << key;
      } else {
        EXPECT_NEAR(c[key]["value"].get<double>(), want, 1e-12) << label << " " << key;
      }
    }
    EXPECT_EQ(c["spearman_ppl_after"]["value"], c["spearman_after"]["value"]) << label;
    EXPECT_EQ(c["kendall_ppl_after"]["value"], c["kendall_after"]["value"]) << label;
  }
  EXPECT_NE(read_text(dir / "study.md").find("Spearman rho, task accuracy"), std::string::npos);
  EXPECT_NE(read_text(dir / "report.html").find("Spearman, task accuracy"), std::string::npos);

  // A token id beyond the vocabulary is one line naming file:line, before anything runs.
  const fs::path bad = d.path() / "bad.jsonl";
  std::ofstream(bad) << R"({"context_ids": [1, 2], "choices_ids": [[3], [4]], "answer": 0})"
                     << "\n"
                     << R"({"context_ids": [1, 600], "choices_ids": [[3], [4]], "answer": 1})"
                     << "\n";
  r = run_cli("study " + p + " --set study.tasks=" + bad.string() + " --set run.name=bad");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(bad.string() + ":2: field 'context_ids': token id 600 is not below the "
                                      "model's vocabulary size 512"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(d.path() / "runs" / "bad" / "study.jsonl"));
}

TEST(StudyCli, ScheduleErrorsNameTheSectionAndItsKeys) {
  const std::string p = TN_SOURCE_DIR "/configs/study/stories260K.yaml";
  CliResult r = run_cli("validate " + p + " --set study.steps=2");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: study: warmup_steps (5) exceeds steps (2)"), std::string::npos)
      << r.err;
  r = run_cli(
      "validate " + p +
      " --set output.export_best=true --set recovery.steps=3 --set recovery.warmup_steps=9");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: recovery: warmup_steps (9) exceeds steps (3)"), std::string::npos)
      << r.err;
  r = run_cli("validate " + p +
              " --set output.export_best=true --set recovery.steps=3 --set recovery.min_lr=1");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("error: recovery: min_lr must be in 0..lr"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tracenas
