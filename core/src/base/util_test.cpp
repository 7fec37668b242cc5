#include "base/util.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

TEST(Util, PrintableTextKeepsUtf8AndEscapesEverythingElse) {
  EXPECT_EQ(printable_text("plain ascii, tab\t and newline\n"), "plain ascii, tab\t and newline\n");
  EXPECT_EQ(printable_text("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");  // 2, 3 and 4 bytes kept
  EXPECT_EQ(printable_text("a\xFF\xFE"
                           "b"),
            "a\\xFF\\xFEb");                                              // never UTF-8
  EXPECT_EQ(printable_text("\xC3"), "\\xC3");                             // truncated sequence
  EXPECT_EQ(printable_text("\xC0\xAF"), "\\xC0\\xAF");                    // overlong '/'
  EXPECT_EQ(printable_text("\xE0\x80\xAF"), "\\xE0\\x80\\xAF");           // overlong, 3 bytes
  EXPECT_EQ(printable_text("\xED\xA0\x80"), "\\xED\\xA0\\x80");           // a surrogate
  EXPECT_EQ(printable_text("\xF4\x90\x80\x80"), "\\xF4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(printable_text(std::string("bell\x07 nul") + '\0' + "del\x7F"),
            "bell\\x07 nul\\x00del\\x7F");
  // What comes out is valid UTF-8: a JSON dump in strict mode does not throw.
  const std::string mixed = "\xFF\xC3\xA9\xC3";
  EXPECT_NO_THROW((void)nlohmann::json(printable_text(mixed)).dump());
}

}  // namespace
}  // namespace tracenas
