#include "tracenas/params.hpp"

#include <utility>

#include "tracenas/error.hpp"

namespace tracenas {

const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::kBool:
      return "bool";
    case ParamType::kInt:
      return "int";
    case ParamType::kFloat:
      return "float";
    case ParamType::kString:
      return "string";
    case ParamType::kChoice:
      return "choice";
    case ParamType::kPath:
      return "path";
    case ParamType::kIntList:
      return "int_list";
    case ParamType::kFloatList:
      return "float_list";
    case ParamType::kStringList:
      return "string_list";
  }
  return "?";
}

namespace {
ParamSpec make(std::string name, ParamType type, ParamValue def, std::string doc) {
  ParamSpec s;
  s.name = std::move(name);
  s.type = type;
  s.default_value = std::move(def);
  s.doc = std::move(doc);
  return s;
}
}  // namespace

ParamSpec ParamSpec::boolean(std::string name, bool def, std::string doc) {
  return make(std::move(name), ParamType::kBool, def, std::move(doc));
}
ParamSpec ParamSpec::integer(std::string name, std::int64_t def, std::string doc) {
  return make(std::move(name), ParamType::kInt, def, std::move(doc));
}
ParamSpec ParamSpec::real(std::string name, double def, std::string doc) {
  return make(std::move(name), ParamType::kFloat, def, std::move(doc));
}
ParamSpec ParamSpec::string(std::string name, std::string def, std::string doc) {
  return make(std::move(name), ParamType::kString, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::choice(std::string name, std::vector<std::string> choices, std::string def,
                            std::string doc) {
  ParamSpec s = make(std::move(name), ParamType::kChoice, std::move(def), std::move(doc));
  s.choices = std::move(choices);
  return s;
}
ParamSpec ParamSpec::path(std::string name, std::string def, std::string doc) {
  return make(std::move(name), ParamType::kPath, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::int_list(std::string name, std::vector<std::int64_t> def, std::string doc) {
  return make(std::move(name), ParamType::kIntList, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::real_list(std::string name, std::vector<double> def, std::string doc) {
  return make(std::move(name), ParamType::kFloatList, std::move(def), std::move(doc));
}
ParamSpec ParamSpec::string_list(std::string name, std::vector<std::string> def, std::string doc) {
  return make(std::move(name), ParamType::kStringList, std::move(def), std::move(doc));
}

ParamSpec& ParamSpec::make_required() {
  required = true;
  optional = false;
  default_value = std::monostate{};
  return *this;
}

ParamSpec& ParamSpec::make_optional() {
  optional = true;
  required = false;
  default_value = std::monostate{};
  return *this;
}

bool ParamValues::has(const std::string& name) const {
  auto it = values_.find(name);
  return it != values_.end() && !std::holds_alternative<std::monostate>(it->second);
}

void ParamValues::set(const std::string& name, ParamValue value) {
  values_[name] = std::move(value);
}

const ParamValue& ParamValues::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || std::holds_alternative<std::monostate>(it->second)) {
    throw Error("parameter '" + name +
                "' is not set (a component read a parameter it did not "
                "declare, or an optional one without checking has())");
  }
  return it->second;
}

namespace {
template <class T>
const T& typed(const ParamValue& v, const std::string& name, const char* want) {
  if (const T* p = std::get_if<T>(&v)) return *p;
  throw Error("parameter '" + name + "' is not of type " + want);
}
}  // namespace

bool ParamValues::get_bool(const std::string& name) const {
  return typed<bool>(at(name), name, "bool");
}
std::int64_t ParamValues::get_int(const std::string& name) const {
  return typed<std::int64_t>(at(name), name, "int");
}
double ParamValues::get_float(const std::string& name) const {
  const ParamValue& v = at(name);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  return typed<double>(v, name, "float");
}
const std::string& ParamValues::get_string(const std::string& name) const {
  return typed<std::string>(at(name), name, "string");
}
const std::vector<std::int64_t>& ParamValues::get_int_list(const std::string& name) const {
  return typed<std::vector<std::int64_t>>(at(name), name, "int_list");
}
const std::vector<double>& ParamValues::get_float_list(const std::string& name) const {
  return typed<std::vector<double>>(at(name), name, "float_list");
}
const std::vector<std::string>& ParamValues::get_string_list(const std::string& name) const {
  return typed<std::vector<std::string>>(at(name), name, "string_list");
}

}  // namespace tracenas
