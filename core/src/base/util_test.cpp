#include "base/util.hpp"

#include <gtest/gtest.h>

namespace tracenas {
namespace {

TEST(Util, EditDistance) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("seed", "sed"), 1u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
}

TEST(Util, SuggestsCloseNamesOnly) {
  std::vector<std::string> known = {"random", "evolutionary", "bayesian"};
  EXPECT_EQ(suggest("evolutionery", known),
            " (did you mean 'evolutionary'?; known: bayesian, evolutionary, random)");
  EXPECT_EQ(suggest("zzz", known), " (known: bayesian, evolutionary, random)");
  EXPECT_EQ(suggest("x", {}), " (none known)");
  EXPECT_EQ(closest_name("sed", {"seed", "name"}), "seed");
}

TEST(Util, QuoteEscapes) {
  EXPECT_EQ(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
  EXPECT_EQ(quote(std::string("\x01", 1)), "\"\\u0001\"");
}

}  // namespace
}  // namespace tracenas
