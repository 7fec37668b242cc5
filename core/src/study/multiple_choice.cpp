#include "study/multiple_choice.hpp"

#include <ATen/ATen.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "base/json_text.hpp"
#include "tracenas/error.hpp"

namespace tracenas {
namespace {

using nlohmann::json;

std::vector<std::int32_t> ids_of(const json& v, const std::string& where,
                                 const std::string& field) {
  if (!v.is_array()) throw DataError(where + ": field '" + field + "' must be a list of token ids");
  std::vector<std::int32_t> out;
  for (const auto& e : v) {
    if (!e.is_number_integer() || e.get<std::int64_t>() < 0) {
      throw DataError(where + ": field '" + field + "' must hold non-negative integers (got " +
                      json_preview(e) + ")");
    }
    out.push_back(e.get<std::int32_t>());
  }
  return out;
}

}  // namespace

std::vector<ChoiceExample> read_choice_tasks(const std::string& path, const EncodeFn& encode) {
  std::ifstream in(path);
  if (!in) throw DataError(path + ": cannot read the task file");
  std::vector<ChoiceExample> out;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) throw DataError(where + ": not a JSON object");
    ChoiceExample ex;
    const bool id_form = j.contains("context_ids") || j.contains("choices_ids");
    std::vector<std::string> texts;
    if (j.contains("choices")) {
      if (!j["choices"].is_array()) throw DataError(where + ": field 'choices' must be a list");
      for (const auto& c : j["choices"]) {
        if (!c.is_string()) throw DataError(where + ": field 'choices' must hold strings");
        texts.push_back(c.get<std::string>());
      }
    }
    if (id_form) {
      if (!j.contains("context_ids")) throw DataError(where + ": missing field 'context_ids'");
      if (!j.contains("choices_ids")) throw DataError(where + ": missing field 'choices_ids'");
      ex.context = ids_of(j["context_ids"], where, "context_ids");
      if (!j["choices_ids"].is_array()) {
        throw DataError(where + ": field 'choices_ids' must be a list of id lists");
      }
      for (const auto& c : j["choices_ids"]) ex.choices.push_back(ids_of(c, where, "choices_ids"));
      if (!texts.empty() && texts.size() != ex.choices.size()) {
        throw DataError(where + ": 'choices' and 'choices_ids' differ in length");
      }
      for (std::size_t i = 0; i < ex.choices.size(); ++i) {
        ex.choice_lengths.push_back(texts.empty() ? static_cast<double>(ex.choices[i].size())
                                                  : static_cast<double>(texts[i].size()));
      }
    } else {
      if (!j.contains("context")) throw DataError(where + ": missing field 'context'");
      if (!j["context"].is_string()) throw DataError(where + ": field 'context' must be a string");
      if (!j.contains("choices")) throw DataError(where + ": missing field 'choices'");
      if (!encode) {
        throw DataError(where +
                        ": text examples need a tokenizer, and the model folder holds none "
                        "(give eval --tokenizer, or write the example in the id form)");
      }
      const std::string context = j["context"].get<std::string>();
      ex.context = encode(context, true);
      for (const std::string& t : texts) {
        std::vector<std::int32_t> whole = encode(context + t, true);
        std::vector<std::int32_t> cont;
        const bool prefix = whole.size() > ex.context.size() &&
                            std::equal(ex.context.begin(), ex.context.end(), whole.begin());
        if (prefix) {
          cont.assign(whole.begin() + static_cast<std::ptrdiff_t>(ex.context.size()), whole.end());
        } else {
          cont = encode(t, false);  // the context's tokens changed at the boundary
        }
        if (cont.empty()) throw DataError(where + ": a choice encodes to no tokens");
        ex.choices.push_back(std::move(cont));
        ex.choice_lengths.push_back(static_cast<double>(t.size()));
      }
    }
    if (ex.choices.empty()) throw DataError(where + ": field 'choices' is empty");
    if (!j.contains("answer")) throw DataError(where + ": missing field 'answer'");
    if (!j["answer"].is_number_integer()) {
      throw DataError(where + ": field 'answer' must be an integer index");
    }
    const std::int64_t a = j["answer"].get<std::int64_t>();
    if (a < 0 || a >= static_cast<std::int64_t>(ex.choices.size())) {
      throw DataError(where + ": answer " + std::to_string(a) + " is out of range for " +
                      std::to_string(ex.choices.size()) + " choices");
    }
    ex.answer = static_cast<int>(a);
    ex.line = number;
    if (ex.context.empty()) throw DataError(where + ": the context encodes to no tokens");
    out.push_back(std::move(ex));
  }
  if (out.empty()) throw DataError(path + ": no examples");
  return out;
}

void check_choice_ids(const std::vector<ChoiceExample>& examples, std::int64_t vocab_size,
                      const std::string& path) {
  for (const ChoiceExample& ex : examples) {
    auto check = [&](const std::vector<std::int32_t>& ids, const char* field) {
      for (std::int32_t id : ids) {
        if (id >= vocab_size) {
          throw DataError(path + ":" + std::to_string(ex.line) + ": field '" + field +
                          "': token id " + std::to_string(id) +
                          " is not below the model's vocabulary size " +
                          std::to_string(vocab_size));
        }
      }
    };
    check(ex.context, "context_ids");
    for (const auto& c : ex.choices) check(c, "choices_ids");
  }
}

MultipleChoiceResult score_multiple_choice(const ModelConfig& config, const ModelWeights& weights,
                                           const std::vector<ChoiceExample>& examples) {
  at::NoGradGuard no_grad;
  const at::Device device = weights.embed.device();
  // Every (example, choice) is one sequence, context then continuation. Sequences of
  // one length run as one batch (a causal model's logits at a position do not depend
  // on the other rows), in chunks that keep the logits near 2^25 elements.
  struct Item {
    std::size_t example = 0, choice = 0;
    std::vector<std::int64_t> seq;
  };
  std::map<std::size_t, std::vector<Item>> by_length;
  std::vector<std::vector<double>> loglik(examples.size());
  for (std::size_t e = 0; e < examples.size(); ++e) {
    const ChoiceExample& ex = examples[e];
    loglik[e].assign(ex.choices.size(), 0.0);
    for (std::size_t c = 0; c < ex.choices.size(); ++c) {
      Item it{e, c, std::vector<std::int64_t>(ex.context.begin(), ex.context.end())};
      it.seq.insert(it.seq.end(), ex.choices[c].begin(), ex.choices[c].end());
      for (std::int64_t id : it.seq) {
        if (id >= config.vocab_size) {
          throw DataError("task token id " + std::to_string(id) +
                          " is not below the model's vocabulary size " +
                          std::to_string(config.vocab_size));
        }
      }
      by_length[it.seq.size()].push_back(std::move(it));
    }
  }
  for (const auto& [length, items] : by_length) {
    const auto len = static_cast<std::int64_t>(length);
    const std::size_t chunk = static_cast<std::size_t>(std::clamp<std::int64_t>(
        (std::int64_t{1} << 25) / std::max<std::int64_t>(1, len * config.vocab_size), 1, 64));
    for (std::size_t from = 0; from < items.size(); from += chunk) {
      const std::size_t to = std::min(items.size(), from + chunk);
      std::vector<std::int64_t> flat;
      for (std::size_t i = from; i < to; ++i) {
        flat.insert(flat.end(), items[i].seq.begin(), items[i].seq.end());
      }
      at::Tensor tokens =
          at::tensor(flat, at::kLong).view({static_cast<std::int64_t>(to - from), len}).to(device);
      at::Tensor logp =
          at::log_softmax(decoder_logits(config, weights, tokens).to(at::kDouble), -1);
      // Continuation token j sits at position ctx + j and is predicted at ctx + j - 1:
      // one gather for the chunk, summed per item.
      std::vector<std::int64_t> rows, positions, targets;
      for (std::size_t i = from; i < to; ++i) {
        const Item& it = items[i];
        const auto ctx = static_cast<std::int64_t>(examples[it.example].context.size());
        for (std::int64_t pos = ctx; pos < len; ++pos) {
          rows.push_back(static_cast<std::int64_t>(i - from));
          positions.push_back(pos - 1);
          targets.push_back(it.seq[static_cast<std::size_t>(pos)]);
        }
      }
      auto ids = [&](const std::vector<std::int64_t>& v) {
        return at::tensor(v, at::kLong).to(logp.device());
      };
      at::Tensor picked = logp.index({ids(rows), ids(positions), ids(targets)});
      at::Tensor sums = at::zeros({static_cast<std::int64_t>(to - from)}, picked.options())
                            .index_add_(0, ids(rows), picked)
                            .to(at::kCPU);
      for (std::size_t i = from; i < to; ++i) {
        loglik[items[i].example][items[i].choice] =
            sums[static_cast<std::int64_t>(i - from)].item<double>();
      }
    }
  }
  MultipleChoiceResult r;
  for (std::size_t e = 0; e < examples.size(); ++e) {
    const ChoiceExample& ex = examples[e];
    const std::vector<double>& ll = loglik[e];
    std::size_t best = 0, best_norm = 0;
    for (std::size_t i = 1; i < ll.size(); ++i) {
      if (ll[i] > ll[best]) best = i;
      if (ll[i] / ex.choice_lengths[i] > ll[best_norm] / ex.choice_lengths[best_norm])
        best_norm = i;
    }
    r.acc += best == static_cast<std::size_t>(ex.answer) ? 1 : 0;
    r.acc_norm += best_norm == static_cast<std::size_t>(ex.answer) ? 1 : 0;
  }
  r.loglik = std::move(loglik);
  r.examples = static_cast<std::int64_t>(examples.size());
  r.acc /= static_cast<double>(r.examples);
  r.acc_norm /= static_cast<double>(r.examples);
  return r;
}

}  // namespace tracenas
