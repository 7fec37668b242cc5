// The command line of every subcommand: `--name value` or `--name=value`,
// flags, repeatable options (`--set`), positionals. Unknown options and bad
// values are UsageErrors naming the command and the option.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tracenas::cli {

struct OptionSpec {
  std::string name;  // "--seq-len"
  bool takes_value = true;
  bool repeated = false;  // may be given several times (all() has every value)
};

class Options {
 public:
  Options(std::string command, const std::vector<std::string>& argv,
          const std::vector<OptionSpec>& specs);

  // The option's value (the last one of a repeated option).
  std::optional<std::string> get(const std::string& name) const;
  // Every value of a repeated option, in order.
  std::vector<std::string> all(const std::string& name) const;
  std::string require(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& def) const;
  // An integer option within [min, max].
  int get_int(const std::string& name, int def, int min, int max) const;
  // The value of `name` (or `def`), which must be one of `allowed`.
  std::string get_choice(const std::string& name, const std::string& def,
                         const std::vector<std::string>& allowed) const;
  bool flag(const std::string& name) const { return flags_.count(name) > 0; }
  const std::vector<std::string>& positional() const { return positional_; }
  const std::string& command() const { return command_; }

 private:
  std::string command_;
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, bool> flags_;
  std::vector<std::string> positional_;
};

// The one positional argument of a pipeline command (UsageError otherwise).
std::string pipeline_file(const Options& o);

}  // namespace tracenas::cli
