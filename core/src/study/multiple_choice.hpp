// Zero-shot multiple-choice evaluation (the usual way papers report tasks
// such as HellaSwag or ARC): each choice is scored by the summed
// log-likelihood of its continuation tokens given the context (one forward
// pass per batch of equal-length sequences),
//   LL(c) = sum over continuation tokens t of log p(t | context, earlier tokens of c),
// `acc` counts examples whose highest-LL choice is the answer, `acc_norm`
// those whose highest LL / (length of the choice in UTF-8 bytes) is.
//
// Task files are JSONL, one example per line, in one of two forms:
//   {"context": "The sky is", "choices": [" blue", " green"], "answer": 0}
//       text, tokenized with the model's tokenizer: the context with its
//       special tokens (BOS), and each continuation as the tokens that
//       encode(context + choice) adds after encode(context) (so that a word
//       split across the boundary is scored as the model sees it);
//   {"context_ids": [1, 5], "choices_ids": [[7], [8, 9]], "answer": 1}
//       token ids; acc_norm then divides by the byte length of "choices"
//       when the line also gives them, else by the continuation's token count.
// An optional "id" names the example. A missing or mistyped field, an empty
// choice list or an answer index out of range is a DataError naming
// file:line and the field.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tracenas/support/decoder.hpp"

namespace tracenas {

struct ChoiceExample {
  std::vector<std::int32_t> context;
  std::vector<std::vector<std::int32_t>> choices;  // continuation tokens of each choice
  std::vector<double> choice_lengths;              // bytes (or tokens) for acc_norm
  int answer = 0;
  int line = 0;  // line in the task file
};

using EncodeFn = std::function<std::vector<std::int32_t>(const std::string&, bool)>;

// `encode` may be empty when every line uses the id form.
std::vector<ChoiceExample> read_choice_tasks(const std::string& path, const EncodeFn& encode);

// A DataError naming file:line and the id when a token id of an example is
// not below `vocab_size` (checked before any model runs).
void check_choice_ids(const std::vector<ChoiceExample>& examples, std::int64_t vocab_size,
                      const std::string& path);

struct MultipleChoiceResult {
  std::int64_t examples = 0;
  double acc = 0;
  double acc_norm = 0;
  std::vector<std::vector<double>> loglik;  // per example, per choice
};

MultipleChoiceResult score_multiple_choice(const ModelConfig& config, const ModelWeights& weights,
                                           const std::vector<ChoiceExample>& examples);

}  // namespace tracenas
