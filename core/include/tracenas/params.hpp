// Declared parameters of a component, and the typed values it receives.
//
// A component (proxy, search strategy, ...) declares a schema: one ParamSpec
// per parameter, with its type, default, range or choices and a doc line. The
// core validates the pipeline's YAML against that schema (unknown keys, types,
// ranges, choices) and hands the component a ParamValues holding one typed
// value per declared parameter, defaults filled in. Plugin code never sees YAML.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tracenas/api.hpp"

namespace tracenas {

enum class ParamType {
  kBool,
  kInt,
  kFloat,
  kString,
  kChoice,  // a string from a fixed list
  kPath,    // a string; relative paths resolve against the pipeline file's folder
  kIntList,
  kFloatList,
  kStringList,
};

TN_API const char* to_string(ParamType type);

using ParamValue =
    std::variant<std::monostate, bool, std::int64_t, double, std::string, std::vector<std::int64_t>,
                 std::vector<double>, std::vector<std::string>>;

// One declared parameter. Build with the helpers below, e.g.
//   ParamSpec::integer("population_size", 30, "individuals per generation").min(2)
struct TN_API ParamSpec {
  std::string name;
  ParamType type = ParamType::kString;
  ParamValue default_value;  // std::monostate: required (or optional, see `optional`)
  bool required = false;     // no default: the pipeline must set it
  bool optional = false;     // no default and may stay unset (has() is false)
  std::optional<double> min_value;
  std::optional<double> max_value;
  std::vector<std::string> choices;  // kChoice only
  std::string doc;

  static ParamSpec boolean(std::string name, bool def, std::string doc);
  static ParamSpec integer(std::string name, std::int64_t def, std::string doc);
  static ParamSpec real(std::string name, double def, std::string doc);
  static ParamSpec string(std::string name, std::string def, std::string doc);
  static ParamSpec choice(std::string name, std::vector<std::string> choices, std::string def,
                          std::string doc);
  static ParamSpec path(std::string name, std::string def, std::string doc);
  static ParamSpec int_list(std::string name, std::vector<std::int64_t> def, std::string doc);
  static ParamSpec real_list(std::string name, std::vector<double> def, std::string doc);
  static ParamSpec string_list(std::string name, std::vector<std::string> def, std::string doc);

  // Modifiers (chainable).
  ParamSpec& min(double v) {
    min_value = v;
    return *this;
  }
  ParamSpec& max(double v) {
    max_value = v;
    return *this;
  }
  ParamSpec& range(double lo, double hi) {
    min_value = lo;
    max_value = hi;
    return *this;
  }
  // The parameter has no default and must be given.
  ParamSpec& make_required();
  // The parameter has no default and may be left out.
  ParamSpec& make_optional();
};

using ParamSchema = std::vector<ParamSpec>;

// Typed, validated values for one component instance.
class TN_API ParamValues {
 public:
  ParamValues() = default;

  bool has(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  std::int64_t get_int(const std::string& name) const;
  double get_float(const std::string& name) const;               // also accepts int values
  const std::string& get_string(const std::string& name) const;  // string, choice, path
  const std::vector<std::int64_t>& get_int_list(const std::string& name) const;
  const std::vector<double>& get_float_list(const std::string& name) const;
  const std::vector<std::string>& get_string_list(const std::string& name) const;

  void set(const std::string& name, ParamValue value);
  const std::map<std::string, ParamValue>& values() const { return values_; }

 private:
  const ParamValue& at(const std::string& name) const;
  std::map<std::string, ParamValue> values_;
};

}  // namespace tracenas
