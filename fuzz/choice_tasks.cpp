// Fuzzes multiple-choice task files (`tracenas eval --tasks`, the study's
// zero-shot tasks): JSONL lines in the text or the id form, encoded byte by
// byte; an accepted example must have an answer among its choices.
#include "harness.hpp"
#include "study/multiple_choice.hpp"

using namespace tracenas;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = fuzz::write_input("tasks.jsonl", data, size);
  const EncodeFn bytes = [](const std::string& text, bool bos) {
    std::vector<std::int32_t> ids;
    if (bos) ids.push_back(1);
    for (const char c : text) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  };
  fuzz::accept_or_refuse(path, [&] {
    for (const ChoiceExample& ex : read_choice_tasks(path, bytes)) {
      fuzz::check(!ex.choices.empty(), "an example without choices was accepted");
      fuzz::check(ex.answer >= 0 && static_cast<std::size_t>(ex.answer) < ex.choices.size(),
                  "an answer outside the choices was accepted");
      fuzz::check(ex.choice_lengths.size() == ex.choices.size(), "a length per choice");
    }
  });
  return 0;
}
