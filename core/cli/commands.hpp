// The subcommands of `tracenas` implemented outside main.cpp.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tracenas/component.hpp"
#include "pipeline/pipeline.hpp"
#include "pipeline/data_loading.hpp"
#include "plugin/registry.hpp"
#include "search/search_space.hpp"

namespace tracenas::cli {

// The one JSON object on the last line of stdout.
void print_result(const nlohmann::json& j);

int cmd_convert(const std::vector<std::string>& argv);
int cmd_eval(const std::vector<std::string>& argv);
int cmd_importance(const std::vector<std::string>& argv);
int cmd_prune(const std::vector<std::string>& argv);
int cmd_score(const std::vector<std::string>& argv);
int cmd_tokenize(const std::vector<std::string>& argv);
int cmd_train(const std::vector<std::string>& argv);

// The search space and constraints of `p` over `base` (ConfigError prefixed
// with the pipeline file); `dtype` sizes the KV cache.
std::unique_ptr<ArchSpace> make_space(const Pipeline& p, const ModelConfig& base,
                                      const std::string& dtype);

// The token stream of `section`'s `<key>_data` key (read as `<key>_format`
// through the pipeline's tokenizer, else the model folder's), or, when that is
// empty, the pipeline's data source (`fallback`) or nullopt. `name` receives
// a description for messages; `where` names the section ("study").
std::optional<TokenStream> section_tokens(const Pipeline& p, const ParamValues& section,
                                          const std::string& where, const std::string& key,
                                          bool fallback, const Registry& registry,
                                          const RunContext& run, const std::string& model_dir,
                                          std::string& name);

// The search of `tracenas run`, after the run folder is set up.
int run_search(const Pipeline& pipeline, const Registry& registry, const RunContext& run,
               bool resume);

// `tracenas study` (study.hpp): check_study validates the study section
// against the search space before anything is written or loaded (ConfigError
// naming the field); run_study runs it in the prepared run folder.
void check_study(const Pipeline& pipeline, const Registry& registry);
int run_study(const Pipeline& pipeline, const Registry& registry, const RunContext& run,
              bool resume);

}  // namespace tracenas::cli
