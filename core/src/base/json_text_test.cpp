// JSON from files: nesting bounded before parsing, overflowing numbers as
// parse errors, and values quoted in messages without recursion or throwing.
#include "base/json_text.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace tracenas {
namespace {

std::string nested(int depth, const std::string& inner = "1") {
  return std::string(static_cast<std::size_t>(depth), '[') + inner +
         std::string(static_cast<std::size_t>(depth), ']');
}

std::string parse_failure(const std::string& text) {
  try {
    (void)parse_json_text(text, [](const std::string& why) { throw std::runtime_error(why); });
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(JsonText, DepthIsCountedOutsideStringsOnly) {
  EXPECT_FALSE(json_depth_exceeded(nested(64)).has_value());
  ASSERT_TRUE(json_depth_exceeded(nested(65)).has_value());
  EXPECT_EQ(*json_depth_exceeded(nested(65)), 64u);  // the byte of the 65th bracket
  EXPECT_EQ(*json_depth_exceeded("{\"a\": {\"b\": [1]}}", 2), 12u);
  // Brackets inside strings, escaped quotes included, do not count.
  EXPECT_FALSE(json_depth_exceeded("[\"[[[[\\\"[[[[\"]", 2).has_value());
  EXPECT_FALSE(json_depth_exceeded("{\"k\": \"{{{{\"}", 1).has_value());
}

TEST(JsonText, DeepNestingAndOverflowingNumbersAreOneLineFailures) {
  EXPECT_EQ(parse_failure(nested(100000)), "nested deeper than 64 levels (at byte 64)");
  const std::string overflow = parse_failure("{\"rope_theta\": 1e999}");
  EXPECT_NE(overflow.find("not valid JSON"), std::string::npos) << overflow;
  EXPECT_NE(overflow.find("overflow"), std::string::npos) << overflow;
  EXPECT_EQ(overflow.find('\n'), std::string::npos);
  EXPECT_NE(parse_failure("{\"a\": ").find("not valid JSON"), std::string::npos);
  const auto ok = parse_json_text(nested(64), [](const std::string& why) { FAIL() << why; });
  EXPECT_EQ(ok.dump().size(), 129u);  // within the bound: parsed
}

TEST(JsonText, PreviewIsShallowShortAndSafe) {
  EXPECT_EQ(json_preview(nlohmann::json(3)), "3");
  EXPECT_EQ(json_preview(nlohmann::json::parse("[1, [2, [3, [4]]]]")), "[1, [2, [...]]]");
  EXPECT_EQ(json_preview(nlohmann::json::parse("{\"a\": {\"b\": {\"c\": 1}}}")),
            "{\"a\": {\"b\": {...}}}");
  EXPECT_EQ(json_preview(nlohmann::json::parse("[]")), "[]");
  // Long values are cut, at a character boundary.
  const std::string long_text = json_preview(nlohmann::json(std::string(200, 'x')), 20);
  EXPECT_EQ(long_text, "\"" + std::string(19, 'x') + "...");
  const std::string accents =
      json_preview(nlohmann::json(std::string(30, 'a') + "\xC3\xA9\xC3\xA9"), 32);
  EXPECT_NO_THROW((void)nlohmann::json(accents).dump()) << accents;
  // A string that is not UTF-8 (built in code; the parser refuses such input).
  EXPECT_NO_THROW((void)json_preview(nlohmann::json(std::string("\xFF\xFE"))));
  // A value nested far deeper than any file could be is still previewed.
  nlohmann::json deep = 1;
  for (int i = 0; i < 100000; ++i) deep = nlohmann::json::array({std::move(deep)});
  EXPECT_EQ(json_preview(deep), "[[[...]]]");
}

}  // namespace
}  // namespace tracenas
