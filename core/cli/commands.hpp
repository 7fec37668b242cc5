// The subcommands of `tracenas` implemented outside main.cpp.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tracenas::cli {

// The one JSON object on the last line of stdout.
void print_result(const nlohmann::json& j);

int cmd_run(const std::vector<std::string>& argv);
int cmd_study(const std::vector<std::string>& argv);
int cmd_report(const std::vector<std::string>& argv);
int cmd_convert(const std::vector<std::string>& argv);
int cmd_export(const std::vector<std::string>& argv);
int cmd_eval(const std::vector<std::string>& argv);
int cmd_importance(const std::vector<std::string>& argv);
int cmd_prune(const std::vector<std::string>& argv);
int cmd_score(const std::vector<std::string>& argv);
int cmd_tokenize(const std::vector<std::string>& argv);
int cmd_train(const std::vector<std::string>& argv);

}  // namespace tracenas::cli
