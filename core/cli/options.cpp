#include "options.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "base/util.hpp"
#include "tracenas/error.hpp"

namespace tracenas::cli {

Options::Options(std::string command, const std::vector<std::string>& argv,
                 const std::vector<OptionSpec>& specs)
    : command_(std::move(command)) {
  std::vector<std::string> known;
  for (const auto& s : specs) known.push_back(s.name);
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() < 2 || a[0] != '-') {
      positional_.push_back(a);
      continue;
    }
    std::string name = a;
    std::optional<std::string> inline_value;
    auto eq = a.find('=');
    if (eq != std::string::npos) {
      name = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
    }
    auto spec = std::find_if(specs.begin(), specs.end(),
                             [&](const OptionSpec& s) { return s.name == name; });
    if (spec == specs.end()) {
      throw UsageError(command_ + ": unknown option '" + name + "'" + suggest(name, known));
    }
    if (!spec->takes_value) {
      if (inline_value) throw UsageError(command_ + ": " + name + " takes no value");
      flags_[name] = true;
      continue;
    }
    if (!inline_value && i + 1 >= argv.size()) {
      throw UsageError(command_ + ": " + name + " needs a value");
    }
    std::vector<std::string>& values = values_[name];
    if (!spec->repeated) values.clear();
    values.push_back(inline_value ? *inline_value : argv[++i]);
  }
}

std::optional<std::string> Options::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Options::all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Options::require(const std::string& name) const {
  auto v = get(name);
  if (!v) throw UsageError(command_ + ": " + name + " is required");
  return *v;
}

std::string Options::get_or(const std::string& name, const std::string& def) const {
  return get(name).value_or(def);
}

std::string Options::get_choice(const std::string& name, const std::string& def,
                                const std::vector<std::string>& allowed) const {
  const std::string v = get_or(name, def);
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw UsageError(command_ + ": " + name + ": expected one of " + list + " (got '" + v + "')");
  }
  return v;
}

int Options::get_int(const std::string& name, int def, int min, int max) const {
  auto v = get(name);
  if (!v) return def;
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno == ERANGE) {
    throw UsageError(command_ + ": " + name + " expects an integer (got " + *v + ")");
  }
  if (x < min || x > max) {
    throw UsageError(command_ + ": " + name + " must be in " + std::to_string(min) + ".." +
                     std::to_string(max) + " (got " + *v + ")");
  }
  return static_cast<int>(x);
}

std::string pipeline_file(const Options& o) {
  if (o.positional().size() != 1) {
    throw UsageError(o.command() + ": expected one pipeline file (got " +
                     std::to_string(o.positional().size()) + " arguments)");
  }
  return o.positional()[0];
}

}  // namespace tracenas::cli
