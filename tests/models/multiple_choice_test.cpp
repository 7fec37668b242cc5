// Multiple-choice scoring on a small hand-made task on the real stories260K
// model. The test computes every log-likelihood independently, one token at
// a time from growing prefixes (the implementation scores each choice in one
// forward pass), and derives acc / acc_norm from those.
#include "study/multiple_choice.hpp"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "checkpoints.hpp"
#include "io/llama2c.hpp"
#include "test_dir.hpp"
#include "tracenas/error.hpp"
#include "tracenas/support/hf_checkpoint.hpp"
#include "tracenas/support/hf_config.hpp"

namespace tracenas {
namespace {

std::shared_ptr<DecoderModel> stories64() {
  static std::shared_ptr<DecoderModel> m = [] {
    const std::string dir = tracenas::testing::test_path("tn_mc_stories260K");
    convert_llama2c(TN_SHARED_DIR "/models/stories260K.bin", dir);
    LoadOptions o;
    o.dtype = "float64";
    return tracenas::testing::load_checkpoint(dir, o);
  }();
  return m;
}

std::string write(const tracenas::testing::ScratchDir& d, const std::string& text) {
  const std::string path = (d.path() / "task.jsonl").string();
  std::ofstream(path) << text;
  return path;
}

// log p(seq[pos] | seq[0..pos-1]) from a forward pass over the prefix alone.
double token_logprob(const std::vector<std::int64_t>& seq, std::size_t pos) {
  at::NoGradGuard ng;
  std::vector<std::int64_t> prefix(seq.begin(), seq.begin() + static_cast<std::ptrdiff_t>(pos));
  at::Tensor t = at::tensor(prefix, at::kLong).view({1, -1});
  at::Tensor logits = stories64()->logits(t)[0][static_cast<std::int64_t>(pos) - 1];
  return at::log_softmax(logits, -1)[seq[pos]].item<double>();
}

TEST(MultipleChoice, LogLikelihoodsAccAndAccNormMatchAnIndependentComputation) {
  tracenas::testing::ScratchDir d;
  // Ids of stories260K's 512-token vocabulary; the third line gives choice
  // texts whose byte lengths (1 and 13) normalize acc_norm.
  const std::string path = write(
      d,
      "{\"context_ids\": [1, 403, 261, 335], \"choices_ids\": [[280, 304], [432]], \"answer\": 0}\n"
      "\n"
      "{\"id\": \"b\", \"context_ids\": [1, 72, 403], \"choices_ids\": [[261], [300], [17, 18]],"
      " \"answer\": 2}\n"
      "{\"context_ids\": [1, 403, 261], \"choices_ids\": [[335], [280, 304, 290]],"
      " \"choices\": [\"a\", \"a long choice\"], \"answer\": 1}\n");
  auto examples = read_choice_tasks(path, nullptr);
  ASSERT_EQ(examples.size(), 3u);
  const ModelConfig& c = stories64()->config();
  MultipleChoiceResult r = score_multiple_choice(c, stories64()->weights(), examples);
  ASSERT_EQ(r.examples, 3);
  double acc = 0, acc_norm = 0;
  for (std::size_t e = 0; e < examples.size(); ++e) {
    const auto& ex = examples[e];
    std::vector<double> ll, norm;
    for (std::size_t k = 0; k < ex.choices.size(); ++k) {
      std::vector<std::int64_t> seq(ex.context.begin(), ex.context.end());
      seq.insert(seq.end(), ex.choices[k].begin(), ex.choices[k].end());
      double sum = 0;
      for (std::size_t p = ex.context.size(); p < seq.size(); ++p) sum += token_logprob(seq, p);
      EXPECT_NEAR(r.loglik[e][k], sum, 1e-9) << "example " << e << " choice " << k;
      ll.push_back(sum);
      const double len = e == 2 ? (k == 0 ? 1.0 : 13.0) : static_cast<double>(ex.choices[k].size());
      norm.push_back(sum / len);
    }
    const auto best = std::max_element(ll.begin(), ll.end()) - ll.begin();
    const auto best_norm = std::max_element(norm.begin(), norm.end()) - norm.begin();
    acc += best == ex.answer ? 1 : 0;
    acc_norm += best_norm == ex.answer ? 1 : 0;
  }
  EXPECT_DOUBLE_EQ(r.acc, acc / 3);
  EXPECT_DOUBLE_EQ(r.acc_norm, acc_norm / 3);
}

TEST(MultipleChoice, BadTaskFilesNameTheLineAndTheField) {
  tracenas::testing::ScratchDir d;
  auto error_of = [&](const std::string& text) {
    const std::string path = write(d, text);
    try {
      read_choice_tasks(path, nullptr);
    } catch (const DataError& e) {
      return std::string(e.what()).substr(path.size());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_of("{\"context_ids\": [1], \"choices_ids\": [[2], [3]]}\n"),
            ":1: missing field 'answer'");
  EXPECT_EQ(error_of("\n{\"context_ids\": [1], \"choices_ids\": [[2], [3]], \"answer\": 2}\n"),
            ":2: answer 2 is out of range for 2 choices");
  EXPECT_EQ(error_of("{\"context_ids\": [1], \"answer\": 0}\n"), ":1: missing field 'choices_ids'");
  EXPECT_EQ(error_of("{\"context\": \"x\", \"choices\": [\"a\"], \"answer\": 0}\n"),
            ":1: text examples need a tokenizer, and the model folder holds none (give eval "
            "--tokenizer, or write the example in the id form)");
  EXPECT_EQ(error_of("{\"choices\": [\"a\"], \"answer\": 0}\n"), ":1: missing field 'context'");
  EXPECT_EQ(error_of("not json\n"), ":1: not a JSON object");
}

}  // namespace
}  // namespace tracenas
