// Loading a token stream for a command: from a pipeline's data source, or
// from a command-line data SPEC (`tokens:PATH`: a token file; SOURCE:PATH:
// the data source SOURCE on PATH, e.g. `text:PATH`), with the tokenizer a
// text source needs.
//
// Which tokenizer a text source gets, first match wins:
//   1. the pipeline's `tokenizer:` section (CLI: --tokenizer PATH);
//   2. the model folder's own files (pipeline: model.params.path; CLI: --model):
//      tokenizer.model, else tokenizer.json.
// A tokenizer PATH names a tokenizer file or a folder holding one of them
// (tokenizer.model preferred, as for model folders). The file goes to the
// tokenizer component that claims its extension (component.hpp, Claims);
// when no loaded plugin claims it, the error lists the extensions claimed.
//
// Every call into plugin code goes through Instance<T>::call. The tokenizer
// handed to a data source is a core-side wrapper whose methods call the real
// tokenizer through its own guard, so a tokenizer failure names the tokenizer
// plugin, not the data source that called it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/pipeline.hpp"
#include "plugin/registry.hpp"
#include "study/multiple_choice.hpp"
#include "tracenas/component.hpp"
#include "tracenas/tokenizer.hpp"

namespace tracenas {

struct TokenStream {
  std::vector<std::int32_t> ids;
  std::string fingerprint;  // the source's fingerprint (cache keys and messages)
};

// The tokenizer for `path` (a tokenizer file or a folder holding one).
// `what` names where the path came from, for messages ("--tokenizer").
// UsageError when the path does not exist or holds no tokenizer file,
// ConfigError when the component it needs is not registered.
Instance<Tokenizer> create_tokenizer_for_path(const Registry& registry, const std::string& path,
                                              const RunContext& run, const std::string& what);

// The multiple-choice examples of the task file `tasks` (multiple_choice.hpp),
// every token id checked against `vocab_size`. Text lines are tokenized with
// `tokenizer_path` when not empty, else with the model folder's tokenizer
// when it has one; id lines need neither. `what` names where the tokenizer
// path came from, for messages.
std::vector<ChoiceExample> load_choice_tasks(const Registry& registry, const std::string& tasks,
                                             const std::string& tokenizer_path,
                                             const std::string& model_dir, std::int64_t vocab_size,
                                             const RunContext& run, const std::string& what);

// The pipeline's data source's stream (with its tokenizer when it needs one).
TokenStream load_pipeline_tokens(const Registry& registry, const Pipeline& pipeline,
                                 const RunContext& run);

// A command-line data SPEC: `tokens:PATH` (.u16, .u32, .txt) or `text:PATH`
// (the `text` data source with its defaults; tokenizer from `tokenizer_path`
// when not empty, else from `model_dir`). `option` names the option the spec
// came from ("--data"), for messages.
TokenStream load_spec_tokens(const Registry& registry, const std::string& spec,
                             const std::string& option, const std::string& tokenizer_path,
                             const std::string& model_dir, const RunContext& run);

// The token stream of `section`'s `<key>_data` key (read as `<key>_format`
// through the pipeline's tokenizer, else the model folder's), or, when that is
// empty, the pipeline's data source (`fallback`) or nullopt. `name` receives
// a description for messages; `where` names the section ("study").
std::optional<TokenStream> section_tokens(const Pipeline& p, const ParamValues& section,
                                          const std::string& where, const std::string& key,
                                          bool fallback, const Registry& registry,
                                          const RunContext& run, const std::string& model_dir,
                                          std::string& name);

}  // namespace tracenas
