#include "executor/disclosure/table.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::executor::disclosure {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

constexpr std::uint64_t kRows = 1000;

TEST(ParseTableTest, ReadsHeaderAndRows) {
  auto table = ParseTable("region,count\nNorth,12\nSouth,7\n", ',', kRows);
  ASSERT_THAT(table, IsOk());
  EXPECT_THAT(table->header, ElementsAre("region", "count"));
  ASSERT_EQ(table->rows.size(), 2u);
  EXPECT_THAT(table->rows[0], ElementsAre("North", "12"));
  EXPECT_THAT(table->rows[1], ElementsAre("South", "7"));
  EXPECT_EQ(table->Column("count"), 1);
  EXPECT_EQ(table->Column("region"), 0);
  EXPECT_EQ(table->Column("Count"), -1);
  EXPECT_EQ(table->Column(""), -1);
}

TEST(ParseTableTest, FinalLineBreakIsOptional) {
  auto table = ParseTable("a,b\n1,2", ',', kRows);
  ASSERT_THAT(table, IsOk());
  ASSERT_EQ(table->rows.size(), 1u);
  EXPECT_THAT(table->rows[0], ElementsAre("1", "2"));
}

TEST(ParseTableTest, HeaderOnlyHasNoRows) {
  auto table = ParseTable("a,b\n", ',', kRows);
  ASSERT_THAT(table, IsOk());
  EXPECT_TRUE(table->rows.empty());
  auto bare = ParseTable("a,b", ',', kRows);
  ASSERT_THAT(bare, IsOk());
  EXPECT_THAT(bare->header, ElementsAre("a", "b"));
}

TEST(ParseTableTest, CrLfLineBreaks) {
  auto table = ParseTable("a,b\r\n1,2\r\n3,4\r\n", ',', kRows);
  ASSERT_THAT(table, IsOk());
  ASSERT_EQ(table->rows.size(), 2u);
  EXPECT_THAT(table->rows[1], ElementsAre("3", "4"));
}

TEST(ParseTableTest, QuotedFieldsWithDelimitersQuotesAndNewlines) {
  auto table =
      ParseTable("name,note\n\"Smith, J\",\"said \"\"hi\"\"\"\n\"x\",\"two\nlines\"\n", ',', kRows);
  ASSERT_THAT(table, IsOk());
  ASSERT_EQ(table->rows.size(), 2u);
  EXPECT_THAT(table->rows[0], ElementsAre("Smith, J", "said \"hi\""));
  EXPECT_THAT(table->rows[1], ElementsAre("x", "two\nlines"));
}

TEST(ParseTableTest, QuotedCrLfIsKeptInTheField) {
  auto table = ParseTable("a\r\n\"1\r\n2\"\r\n", ',', kRows);
  ASSERT_THAT(table, IsOk());
  EXPECT_THAT(table->rows[0], ElementsAre("1\r\n2"));
}

TEST(ParseTableTest, EmptyFieldsAndQuotedEmptyField) {
  auto table = ParseTable("a,b,c\n,,\n\"\",x,\n", ',', kRows);
  ASSERT_THAT(table, IsOk());
  EXPECT_THAT(table->rows[0], ElementsAre("", "", ""));
  EXPECT_THAT(table->rows[1], ElementsAre("", "x", ""));
}

TEST(ParseTableTest, SingleColumnQuotedEmptyRowIsNotBlank) {
  auto table = ParseTable("a\n\"\"\n", ',', kRows);
  ASSERT_THAT(table, IsOk());
  EXPECT_THAT(table->rows[0], ElementsAre(""));
}

TEST(ParseTableTest, TabDelimiter) {
  auto table = ParseTable("a\tb\n1,5\t2\n", '\t', kRows);
  ASSERT_THAT(table, IsOk());
  EXPECT_THAT(table->rows[0], ElementsAre("1,5", "2"));
}

TEST(ParseTableTest, SkipsUtf8Bom) {
  auto table = ParseTable("\xEF\xBB\xBFregion,count\nN,1\n", ',', kRows);
  ASSERT_THAT(table, IsOk());
  EXPECT_EQ(table->header[0], "region");
}

TEST(ParseTableTest, RefusesUnterminatedQuoteNamingItsLine) {
  auto table = ParseTable("a,b\n1,2\n\"open,3\n4,5\n", ',', kRows);
  EXPECT_THAT(table, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(table.status().message(), HasSubstr("line 3"));
  EXPECT_THAT(table.status().message(), HasSubstr("not terminated"));
}

TEST(ParseTableTest, RefusesStrayQuoteInUnquotedField) {
  auto table = ParseTable("a,b\n1,ab\"c\n", ',', kRows);
  EXPECT_THAT(table, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(table.status().message(), HasSubstr("line 2"));
  EXPECT_THAT(table.status().message(), HasSubstr("quote"));
}

TEST(ParseTableTest, RefusesTextAfterClosingQuote) {
  auto table = ParseTable("a,b\n\"1\"x,2\n", ',', kRows);
  EXPECT_THAT(table, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(table.status().message(), HasSubstr("line 2"));
}

TEST(ParseTableTest, RefusesRowOfDifferentWidth) {
  auto narrow = ParseTable("a,b\n1,2\n3\n", ',', kRows);
  EXPECT_THAT(narrow, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(narrow.status().message(), HasSubstr("line 3: 1 fields where the header has 2"));
  auto wide = ParseTable("a,b\n1,2,3\n", ',', kRows);
  EXPECT_THAT(wide, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(wide.status().message(), HasSubstr("line 2"));
}

TEST(ParseTableTest, WidthErrorNamesTheFirstLineOfAMultiLineRecord) {
  auto table = ParseTable("a,b\n\"x\ny\"\n", ',', kRows);
  EXPECT_THAT(table, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(table.status().message(), HasSubstr("line 2"));
}

TEST(ParseTableTest, RefusesEmptyAndDuplicateHeaderNames) {
  auto empty = ParseTable("a,,c\n1,2,3\n", ',', kRows);
  EXPECT_THAT(empty, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(empty.status().message(), HasSubstr("column 2 has no name"));
  auto dup = ParseTable("a,b,a\n1,2,3\n", ',', kRows);
  EXPECT_THAT(dup, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(dup.status().message(), HasSubstr("duplicate header name \"a\""));
}

TEST(ParseTableTest, RefusesMissingHeader) {
  EXPECT_THAT(ParseTable("", ',', kRows), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseTable("\xEF\xBB\xBF", ',', kRows), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseTable("\n", ',', kRows), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseTableTest, RefusesBlankLines) {
  auto middle = ParseTable("a,b\n1,2\n\n3,4\n", ',', kRows);
  EXPECT_THAT(middle, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(middle.status().message(), HasSubstr("line 3: blank line"));
  auto trailing = ParseTable("a,b\n1,2\n\n", ',', kRows);
  EXPECT_THAT(trailing, StatusIs(absl::StatusCode::kInvalidArgument));
  auto crlf = ParseTable("a,b\r\n\r\n", ',', kRows);
  EXPECT_THAT(crlf, StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseTableTest, RefusesBareCarriageReturn) {
  EXPECT_THAT(ParseTable("a,b\r1,2\r", ',', kRows), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseTableTest, RefusesQuoteAsDelimiter) {
  EXPECT_THAT(ParseTable("a\n", '"', kRows), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseTable("a\n", '\n', kRows), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseTableTest, MaxRowsBoundary) {
  const std::string three = "a\n1\n2\n3\n";
  EXPECT_THAT(ParseTable(three, ',', 4), IsOk());
  EXPECT_THAT(ParseTable(three, ',', 3), IsOk());
  auto over = ParseTable(three, ',', 2);
  EXPECT_THAT(over, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(over.status().message(), HasSubstr("more than 2 data rows"));
  EXPECT_THAT(ParseTable("a\n", ',', 0), IsOk());
  EXPECT_THAT(ParseTable("a\n1\n", ',', 0), StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST(ParseTableTest, ArbitraryBytesNeverCrash) {
  // Every prefix of an awkward input either parses or fails cleanly.
  const std::string input = "\xEF\xBB\xBF\"a\"\"\",b\r\n\"1\n\",\"\"\r\n,\"x\r\n\"\"\n";
  for (std::size_t i = 0; i <= input.size(); ++i) {
    auto table = ParseTable(std::string_view(input).substr(0, i), ',', kRows);
    if (table.ok()) {
      for (const auto& row : table->rows) EXPECT_EQ(row.size(), table->header.size());
    }
  }
  std::string bytes;
  for (int c = 0; c < 256; ++c) bytes.push_back(static_cast<char>(c));
  (void)ParseTable(bytes, ',', kRows);
  (void)ParseTable(bytes, '\t', kRows);
}

TEST(ParseNumberTest, PlainDecimals) {
  EXPECT_THAT(ParseNumber("12"), Optional(12.0));
  EXPECT_THAT(ParseNumber("-3.5"), Optional(-3.5));
  EXPECT_THAT(ParseNumber("+4"), Optional(4.0));
  EXPECT_THAT(ParseNumber("1e3"), Optional(1000.0));
  EXPECT_THAT(ParseNumber("2.5E-1"), Optional(0.25));
  EXPECT_THAT(ParseNumber(" 7 "), Optional(7.0));
  EXPECT_THAT(ParseNumber("\t7\t"), Optional(7.0));
  EXPECT_THAT(ParseNumber("0"), Optional(0.0));
  EXPECT_THAT(ParseNumber(".5"), Optional(0.5));
  EXPECT_THAT(ParseNumber("5."), Optional(5.0));
}

TEST(ParseNumberTest, ThousandsSeparators) {
  EXPECT_THAT(ParseNumber("1,234"), Optional(1234.0));
  EXPECT_THAT(ParseNumber("12,345,678.5"), Optional(12345678.5));
  EXPECT_THAT(ParseNumber("-1,000"), Optional(-1000.0));
  EXPECT_EQ(ParseNumber("1,23"), std::nullopt);
  EXPECT_EQ(ParseNumber("1234,567"), std::nullopt);
  EXPECT_EQ(ParseNumber(",123"), std::nullopt);
  EXPECT_EQ(ParseNumber("1,"), std::nullopt);
  EXPECT_EQ(ParseNumber("1,,234"), std::nullopt);
  EXPECT_EQ(ParseNumber("1,234,56"), std::nullopt);
}

TEST(ParseNumberTest, RefusesEverythingElse) {
  for (const char* s :
       {"",     " ",   "NA",  "na",    "inf",    "-inf", "Infinity", "nan",  "NaN",
        "0x10", "1e",  "1e+", "e3",    ".",      "-",    "+",        "--1",  "1.2.3",
        "12a",  "a12", "1 2", "1e999", "-1e999", "*",    "<5",       "1_000"}) {
    EXPECT_EQ(ParseNumber(s), std::nullopt) << s;
  }
  EXPECT_EQ(ParseNumber(std::string(1000, '1')), std::nullopt);
}

TEST(IsSuppressedTest, Markers) {
  for (const char* s : {"", "*", "**", "c", "[c]", "x", "[x]", "-", "suppressed", "<5", "< 5",
                        "<10", "<0.5", " * ", "C", "[X]", "Suppressed"}) {
    EXPECT_TRUE(IsSuppressed(s)) << s;
  }
}

TEST(IsSuppressedTest, NotMarkers) {
  for (const char* s : {"NA", "na", "0", "5", "-5", "***", "<", "< ", "<x", "<-5", ">5", "n/a",
                        "cc", "[y]", "suppress"}) {
    EXPECT_FALSE(IsSuppressed(s)) << s;
  }
}

}  // namespace
}  // namespace safeflow::executor::disclosure
