#include "tracenas/params.hpp"

#include <gtest/gtest.h>

#include "tracenas/error.hpp"

namespace tracenas {
namespace {

TEST(Params, TypedAccess) {
  ParamValues v;
  v.set("i", std::int64_t{3});
  v.set("f", 2.5);
  v.set("s", std::string("x"));
  v.set("l", std::vector<std::int64_t>{1, 2});
  v.set("unset", std::monostate{});
  EXPECT_EQ(v.get_int("i"), 3);
  EXPECT_DOUBLE_EQ(v.get_float("i"), 3.0);  // ints read as floats
  EXPECT_DOUBLE_EQ(v.get_float("f"), 2.5);
  EXPECT_EQ(v.get_string("s"), "x");
  EXPECT_EQ(v.get_int_list("l"), (std::vector<std::int64_t>{1, 2}));
  EXPECT_TRUE(v.has("i"));
  EXPECT_FALSE(v.has("unset"));
  EXPECT_FALSE(v.has("missing"));
}

TEST(Params, WrongAccessNamesTheParameter) {
  ParamValues v;
  v.set("f", 2.5);
  try {
    v.get_int("f");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "parameter 'f' is not of type int");
  }
  try {
    v.get_bool("nope");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter 'nope' is not set"), std::string::npos);
  }
}

TEST(Params, SpecBuilders) {
  ParamSpec s = ParamSpec::integer("population_size", 30, "doc").min(2);
  EXPECT_EQ(s.type, ParamType::kInt);
  EXPECT_EQ(std::get<std::int64_t>(s.default_value), 30);
  EXPECT_EQ(*s.min_value, 2.0);
  EXPECT_FALSE(s.max_value.has_value());
  ParamSpec r = ParamSpec::path("path", "", "doc").make_required();
  EXPECT_TRUE(r.required);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(r.default_value));
  ParamSpec c = ParamSpec::choice("similarity", {"pearson", "cosine"}, "pearson", "doc");
  EXPECT_EQ(c.choices.size(), 2u);
  EXPECT_STREQ(to_string(ParamType::kFloatList), "float_list");
}

}  // namespace
}  // namespace tracenas
