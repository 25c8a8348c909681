// Direct identifiers: each check digit and pattern at its boundaries, the contexts that make
// a number count, and the "direct_identifiers" / "identifier_columns" rules over files.
#include "executor/disclosure/identifiers.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/disclosure/filter.h"

namespace safeflow::executor::disclosure {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The kinds found in `text`, as names ("nhs_number", ...).
std::vector<std::string> Kinds(std::string_view text, std::string_view column = {}) {
  std::vector<std::string> kinds;
  for (const IdentifierMatch& match : FindIdentifiers(text, column)) {
    kinds.emplace_back(IdentifierKindName(match.kind));
  }
  return kinds;
}

// The values found in `text`.
std::vector<std::string> Values(std::string_view text, std::string_view column = {}) {
  std::vector<std::string> values;
  for (const IdentifierMatch& match : FindIdentifiers(text, column)) {
    values.emplace_back(match.text);
  }
  return values;
}

// ---- check digits -------------------------------------------------------------------------------

TEST(NhsNumberTest, AcceptsValidCheckDigits) {
  EXPECT_TRUE(IsValidNhsNumber("9434765919"));
  EXPECT_TRUE(IsValidNhsNumber("4010232137"));
  EXPECT_TRUE(IsValidNhsNumber("6400329870"));  // 11 - 0 -> check digit 0
}

TEST(NhsNumberTest, RefusesWrongCheckDigitLengthAndCharacters) {
  EXPECT_FALSE(IsValidNhsNumber("9434765918"));
  EXPECT_FALSE(IsValidNhsNumber("1234567890"));  // remainder gives 10: never issued
  EXPECT_FALSE(IsValidNhsNumber("4000000080"));  // check digit 10 whatever the last digit
  EXPECT_FALSE(IsValidNhsNumber("4000000081"));
  EXPECT_FALSE(IsValidNhsNumber("943476591"));
  EXPECT_FALSE(IsValidNhsNumber("94347659190"));
  EXPECT_FALSE(IsValidNhsNumber("943476591a"));
  EXPECT_FALSE(IsValidNhsNumber(""));
}

TEST(KvnrTest, AcceptsValidCheckDigits) {
  EXPECT_TRUE(IsValidKvnr("A123456780"));
  EXPECT_TRUE(IsValidKvnr("Z987654321"));  // Z = 26: two digits both used
  EXPECT_TRUE(IsValidKvnr("K112233443"));
}

TEST(KvnrTest, RefusesWrongCheckDigitAndShape) {
  EXPECT_FALSE(IsValidKvnr("A123456781"));
  EXPECT_FALSE(IsValidKvnr("a123456780"));
  EXPECT_FALSE(IsValidKvnr("A12345678"));
  EXPECT_FALSE(IsValidKvnr("A1234567801"));
  EXPECT_FALSE(IsValidKvnr("1123456780"));
  EXPECT_FALSE(IsValidKvnr("A12345678x"));
}

TEST(IbanTest, KnowsCountryLengths) {
  EXPECT_EQ(IbanLength("DE"), 22u);
  EXPECT_EQ(IbanLength("GB"), 22u);
  EXPECT_EQ(IbanLength("CH"), 21u);
  EXPECT_EQ(IbanLength("NO"), 15u);
  EXPECT_EQ(IbanLength("MT"), 31u);
  EXPECT_EQ(IbanLength("FR"), 27u);
  EXPECT_EQ(IbanLength("US"), std::nullopt);
  EXPECT_EQ(IbanLength("de"), std::nullopt);
}

TEST(IbanTest, AcceptsValidCompactAndGroupedForms) {
  EXPECT_TRUE(IsValidIban("GB82WEST12345698765432"));
  EXPECT_TRUE(IsValidIban("GB82 WEST 1234 5698 7654 32"));
  EXPECT_TRUE(IsValidIban("DE89 3704 0044 0532 0130 00"));
  EXPECT_TRUE(IsValidIban("CH9300762011623852957"));
  EXPECT_TRUE(IsValidIban("NO9386011117947"));
  EXPECT_TRUE(IsValidIban("MT84MALT011000012345MTLCAST001S"));
  EXPECT_TRUE(IsValidIban("gb82west12345698765432"));
}

TEST(IbanTest, RefusesWrongChecksumLengthOrSpacing) {
  EXPECT_FALSE(IsValidIban("GB82WEST12345698765431"));
  EXPECT_FALSE(IsValidIban("GB82WEST1234569876543"));    // one short
  EXPECT_FALSE(IsValidIban("DE89370400440532013000 "));  // trailing space
  EXPECT_FALSE(IsValidIban("DE89  3704004405320130 00"));
  EXPECT_FALSE(IsValidIban("DE8 93704 0044 0532 0130 00"));
  EXPECT_FALSE(IsValidIban("US12345678901234567890"));
  EXPECT_FALSE(IsValidIban(""));
}

// ---- NHS numbers in text ------------------------------------------------------------------------

TEST(FindIdentifiersTest, NhsNumberFormattedWithSpacesOrDashes) {
  EXPECT_THAT(Kinds("patient 943 476 5919 seen"), ElementsAre("nhs_number"));
  EXPECT_THAT(Values("943-476-5919"), ElementsAre("943-476-5919"));
  EXPECT_THAT(Kinds("943 476 5918"), IsEmpty());  // wrong check digit
  EXPECT_THAT(Kinds("943 476-5919"), IsEmpty());  // mixed separators
}

TEST(FindIdentifiersTest, NhsNumberUnformattedNeedsContextOrEnglandRange) {
  EXPECT_THAT(Kinds("4010232137"), ElementsAre("nhs_number"));
  EXPECT_THAT(Kinds("7000000007"), ElementsAre("nhs_number"));
  // 9434765919 is valid but starts with 9: only where NHS is mentioned.
  EXPECT_THAT(Kinds("9434765919"), IsEmpty());
  EXPECT_THAT(Kinds("NHS no 9434765919"), ElementsAre("nhs_number"));
  EXPECT_THAT(Kinds("9434765919", "NHS Number"), ElementsAre("nhs_number"));
  EXPECT_THAT(Kinds("9434765919", "nhs"), ElementsAre("nhs_number"));
  EXPECT_THAT(Kinds("9434765919.0", "nhs_number"), ElementsAre("nhs_number"));
}

TEST(FindIdentifiersTest, NhsNumberNotPartOfLongerNumbersDecimalsOrTimes) {
  EXPECT_THAT(Kinds("40102321370"), IsEmpty());
  EXPECT_THAT(Kinds("14010232137"), IsEmpty());
  EXPECT_THAT(Kinds("0.4010232137"), IsEmpty());
  EXPECT_THAT(Kinds("4010232137.5"), IsEmpty());
  EXPECT_THAT(Kinds("1,4010232137"), IsEmpty());
  EXPECT_THAT(Kinds("-4010232137"), IsEmpty());
  EXPECT_THAT(Kinds("10:4010232137"), IsEmpty());
  EXPECT_THAT(Kinds("x4010232137"), IsEmpty());
  EXPECT_THAT(Kinds("4010232137T"), IsEmpty());
}

TEST(FindIdentifiersTest, OrdinaryNumbersAreNotIdentifiers) {
  EXPECT_THAT(Kinds("1234567890"), IsEmpty());  // fails mod 11
  EXPECT_THAT(Kinds("3.14159265"), IsEmpty());
  EXPECT_THAT(Kinds("1700000000"), IsEmpty());     // unix seconds
  EXPECT_THAT(Kinds("1700000000000"), IsEmpty());  // unix milliseconds
  EXPECT_THAT(Kinds("12 15 100 250"), IsEmpty());
  EXPECT_THAT(Kinds("0 12 15 100 250"), IsEmpty());
  EXPECT_THAT(Kinds("n = 4530, mean 12.5"), IsEmpty());
  EXPECT_THAT(Kinds("4010232137", "value"), IsEmpty());  // a statistic in a quantity column
  EXPECT_THAT(Kinds("4010232137", "Total cost"), IsEmpty());
  EXPECT_THAT(Kinds("ref 4010232137", "value"), ElementsAre("nhs_number"));
}

// ---- other identifiers --------------------------------------------------------------------------

TEST(FindIdentifiersTest, Kvnr) {
  EXPECT_THAT(Kinds("Versichertennr. A123456780"), ElementsAre("kvnr"));
  EXPECT_THAT(Kinds("A123456781"), IsEmpty());
  EXPECT_THAT(Kinds("XA123456780"), IsEmpty());
  EXPECT_THAT(Kinds("A1234567801"), IsEmpty());
}

TEST(FindIdentifiersTest, Iban) {
  EXPECT_THAT(Kinds("IBAN: DE89 3704 0044 0532 0130 00."), ElementsAre("iban"));
  EXPECT_THAT(Values("pay GB82WEST12345698765432 now"), ElementsAre("GB82WEST12345698765432"));
  EXPECT_THAT(Kinds("GB82WEST12345698765431"), IsEmpty());
  EXPECT_THAT(Kinds("GB82WEST123456987654321"), IsEmpty());  // too long: not an IBAN
}

TEST(FindIdentifiersTest, Email) {
  EXPECT_THAT(Values("contact: jane.doe+study@nhs.net."), ElementsAre("jane.doe+study@nhs.net"));
  EXPECT_THAT(Kinds("<j_smith@example.co.uk>"), ElementsAre("email"));
  EXPECT_THAT(Kinds("model@coefficients"), IsEmpty());  // R slot access
  EXPECT_THAT(Kinds("@decorator"), IsEmpty());
  EXPECT_THAT(Kinds("a@b.c"), IsEmpty());  // one-letter top-level domain
  EXPECT_THAT(Kinds("x@@y.com"), IsEmpty());
}

TEST(FindIdentifiersTest, PhoneNumbersInternational) {
  EXPECT_THAT(Kinds("+44 20 7946 0958"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("+44 (0)20 7946 0958"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("tel +49 30 12345678"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("+4930123456"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("+1 (555) 123-4567"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("+44 1234"), IsEmpty());           // too few digits
  EXPECT_THAT(Kinds("+123456789"), IsEmpty());         // unseparated and short
  EXPECT_THAT(Kinds("+0.1234567890"), IsEmpty());      // a signed decimal
  EXPECT_THAT(Kinds("3+44 20 7946 0958"), IsEmpty());  // arithmetic
}

TEST(FindIdentifiersTest, PhoneNumbersNational) {
  EXPECT_THAT(Kinds("07700 900123"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("07700900123"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("020 7946 0958"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("(0161) 496 0000"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("030 12345678"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("089/1234567"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("01711234567"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("0161 4960000 1"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("Tel: 0161 496 0000"), ElementsAre("phone"));
  EXPECT_THAT(Kinds("12 015 020 7946 0958"), IsEmpty());  // the tail of a longer sequence
  EXPECT_THAT(Kinds("0770090012"), IsEmpty());            // 10 digits unseparated
  EXPECT_THAT(Kinds("02079460958"), IsEmpty());           // landline unseparated: could be an id
  EXPECT_THAT(Kinds("01/02/2023"), IsEmpty());
  EXPECT_THAT(Kinds("05 01 2024"), IsEmpty());
  EXPECT_THAT(Kinds("0.0123456789"), IsEmpty());
  EXPECT_THAT(Kinds("001 234 567 89"), IsEmpty());
}

TEST(FindIdentifiersTest, FullUkPostcodesButNotOutwardCodes) {
  EXPECT_THAT(Kinds("SW1A 1AA"), ElementsAre("uk_postcode"));
  EXPECT_THAT(Kinds("lives at M1 1AE"), ElementsAre("uk_postcode"));
  EXPECT_THAT(Kinds("DN55 1PT"), ElementsAre("uk_postcode"));
  EXPECT_THAT(Kinds("W1A1AA"), ElementsAre("uk_postcode"));
  EXPECT_THAT(Kinds("ec1a 1bb"), ElementsAre("uk_postcode"));
  EXPECT_THAT(Kinds("GIR 0AA"), ElementsAre("uk_postcode"));
  EXPECT_THAT(Kinds("SW1A"), IsEmpty());
  EXPECT_THAT(Kinds("SW1A 1"), IsEmpty());    // a sector
  EXPECT_THAT(Kinds("QQ1 1AA"), IsEmpty());   // no such area
  EXPECT_THAT(Kinds("SW1A 1CA"), IsEmpty());  // C never in an inward code
  EXPECT_THAT(Kinds("Sw1A 1aA"), IsEmpty());  // mixed case: a word, not a postcode
  EXPECT_THAT(Kinds("XSW1A 1AA"), IsEmpty());
}

TEST(FindIdentifiersTest, DatesOfBirthOnlyInContext) {
  EXPECT_THAT(Kinds("1961-03-12", "date_of_birth"), ElementsAre("date_of_birth"));
  EXPECT_THAT(Kinds("12/03/1961", "DOB"), ElementsAre("date_of_birth"));
  EXPECT_THAT(Kinds("12.03.1961", "Geburtsdatum"), ElementsAre("date_of_birth"));
  EXPECT_THAT(Kinds("12 March 1961", "born"), ElementsAre("date_of_birth"));
  EXPECT_THAT(Kinds("1961-03-12T00:00:00Z", "birth_date"), ElementsAre("date_of_birth"));
  EXPECT_THAT(Kinds("DOB: 12/03/1961"), ElementsAre("date_of_birth"));
  EXPECT_THAT(Kinds("date of birth 1961-03-12."), ElementsAre("date_of_birth"));
  EXPECT_THAT(Kinds("geb. 12. M\xc3\xa4rz 1961"), ElementsAre("date_of_birth"));
  EXPECT_THAT(Kinds("born March 12, 1961"), ElementsAre("date_of_birth"));
  EXPECT_THAT(Kinds("12-Mar-1961 (date of birth)"), ElementsAre("date_of_birth"));
}

TEST(FindIdentifiersTest, DatesOutsideContextTimestampsAndInvalidDatesAreNot) {
  EXPECT_THAT(Kinds("1961-03-12"), IsEmpty());
  EXPECT_THAT(Kinds("2024-01-05", "created"), IsEmpty());
  EXPECT_THAT(Kinds("2024-01-05", "date"), IsEmpty());
  EXPECT_THAT(Kinds("2024-01-05T10:00:00Z"), IsEmpty());
  EXPECT_THAT(Kinds("born after 2024-01-05T10:00:00Z"), IsEmpty());
  EXPECT_THAT(Kinds("1961-02-30", "dob"), IsEmpty());
  EXPECT_THAT(Kinds("1961-13-01", "dob"), IsEmpty());
  EXPECT_THAT(Kinds("1700000000", "dob"), IsEmpty());
  EXPECT_THAT(Kinds("1961", "birth_year"), IsEmpty());
  // Too far from the word.
  EXPECT_THAT(Kinds("birth cohort study, first wave of interviews completed 1961-03-12"),
              IsEmpty());
}

TEST(FindIdentifiersTest, SeveralInOneLineInOrder) {
  EXPECT_THAT(Kinds("a@b.org 943 476 5919 SW1A 1AA +44 20 7946 0958"),
              ElementsAre("email", "nhs_number", "uk_postcode", "phone"));
}

TEST(FindIdentifiersTest, HostileInputDoesNotCrash) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "@a.";
  text +=
      std::string(5000, '9') + std::string("\xff\xfe\x00", 3) + "+((((0)" + std::string(3000, '-');
  EXPECT_NO_FATAL_FAILURE(FindIdentifiers(text, "nhs dob"));
  EXPECT_THAT(Kinds(""), IsEmpty());
  EXPECT_THAT(Kinds("+"), IsEmpty());
  EXPECT_THAT(Kinds("("), IsEmpty());
  EXPECT_THAT(Kinds("12."), IsEmpty());
  EXPECT_THAT(Kinds("12 Mar"), IsEmpty());
}

TEST(FindIdentifiersTest, LongHostileLinesStayLinear) {
  // Each of these made an earlier draft slow (quadratic): 40 KB lines take milliseconds.
  std::string groups, births, addresses;
  for (int i = 0; i < 10000; ++i) groups += "012 ";
  for (int i = 0; i < 2500; ++i) births += "born 1961-03-12 ";
  for (int i = 0; i < 10000; ++i) addresses += "a@b@";
  EXPECT_THAT(FindIdentifiers(groups), IsEmpty());
  EXPECT_EQ(FindIdentifiers(births).size(), 2500u);
  EXPECT_THAT(FindIdentifiers(addresses), IsEmpty());
}

// ---- helpers ------------------------------------------------------------------------------------

TEST(MaskIdentifierTest, KeepsThreeCharactersAndMasksTheRest) {
  EXPECT_EQ(MaskIdentifier("9434765919"), "943*******");
  EXPECT_EQ(MaskIdentifier("943 476 5919"), "943*********");
  EXPECT_EQ(MaskIdentifier("abc"), "abc");
  EXPECT_EQ(MaskIdentifier("ab"), "ab");
  EXPECT_EQ(MaskIdentifier(""), "");
}

TEST(MaskIdentifierTest, CountsCharactersNotBytesAndNeverEmitsInvalidUtf8) {
  EXPECT_EQ(MaskIdentifier("M\xc3\xbcller"), "M\xc3\xbcl***");
  EXPECT_EQ(MaskIdentifier("\xff\xfe"
                           "abc"),
            "**a**");
  EXPECT_FALSE(FirstInvalidUtf8(MaskIdentifier("\xc3")).has_value());
}

TEST(NormaliseColumnNameTest, LowerCasesAndCollapsesSeparators) {
  EXPECT_EQ(NormaliseColumnName("NHS No."), "nhs_no");
  EXPECT_EQ(NormaliseColumnName("  Date of Birth "), "date_of_birth");
  EXPECT_EQ(NormaliseColumnName("patient-ID"), "patient_id");
  EXPECT_EQ(NormaliseColumnName("Stra\xc3\x9f"
                                "e"),
            "stra_e");
  EXPECT_EQ(NormaliseColumnName("__"), "");
}

TEST(Utf8Test, FindsTheFirstInvalidByte) {
  EXPECT_EQ(FirstInvalidUtf8("plain"), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("M\xc3\xa4rz \xe2\x82\xac \xf0\x9f\x98\x80"), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("ab\xff"), 2u);
  EXPECT_EQ(FirstInvalidUtf8("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("\xed\xa0\x80"), 0u);      // surrogate
  EXPECT_EQ(FirstInvalidUtf8("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("ok\xe2\x82"), 2u);        // truncated
}

TEST(LowerCaseExtensionTest, LastComponentOnly) {
  EXPECT_EQ(LowerCaseExtension("out/Table.CSV"), ".csv");
  EXPECT_EQ(LowerCaseExtension("a.tar.gz"), ".gz");
  EXPECT_EQ(LowerCaseExtension("README"), "");
  EXPECT_EQ(LowerCaseExtension(".profile"), "");
  EXPECT_EQ(LowerCaseExtension("dir.d/file"), "");
  EXPECT_TRUE(IsTextExtension(".csv"));
  EXPECT_FALSE(IsTextExtension(".png"));
  EXPECT_FALSE(IsTextExtension(".pdf"));
}

// ---- the rules ----------------------------------------------------------------------------------

class IdentifierRuleTest : public ::testing::Test {
 protected:
  std::optional<Finding> Run(const OutputFilter& filter, std::string path, std::string content,
                             const Table* table = nullptr) {
    content_ = std::move(content);
    input_.name = path;
    input_.path = std::move(path);
    input_.content = content_;
    input_.size_bytes = content_.size();
    const FileContext context{input_, profile_, table, "", history_};
    return filter.Apply(context);
  }

  Profile profile_;
  std::string content_;
  FileInput input_;
  const std::vector<ReleasedTable> history_;
};

TEST_F(IdentifierRuleTest, TextLinesAreNumberedAndValuesMasked) {
  const auto filter = NewIdentifierFilter();
  EXPECT_EQ(filter->Name(), "direct_identifiers");
  const std::optional<Finding> finding =
      Run(*filter, "notes.txt", "summary\r\nNHS 943 476 5919\ncontact jane@nhs.net\n");
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->rule, "direct_identifiers");
  EXPECT_EQ(finding->outcome, Verdict::kFail);
  EXPECT_EQ(finding->cells_total, 2u);
  ASSERT_EQ(finding->cells.size(), 2u);
  EXPECT_EQ(finding->cells[0].row, 2u);
  EXPECT_EQ(finding->cells[0].column, "");
  EXPECT_EQ(finding->cells[0].value, "943*********");
  EXPECT_EQ(finding->cells[0].note, "nhs_number");
  EXPECT_EQ(finding->cells[1].row, 3u);
  EXPECT_EQ(finding->cells[1].value, "jan*********");
  EXPECT_THAT(finding->message, ::testing::HasSubstr("email 1"));
  EXPECT_EQ(finding->message.find("jane"), std::string::npos);
  EXPECT_EQ(finding->parameters["kinds"].size(), AllIdentifierKinds().size());
}

TEST_F(IdentifierRuleTest, TableCellsUseHeadersAsContext) {
  Table table;
  table.header = {"nhs_number", "value", "created", "dob"};
  table.rows = {{"9434765919", "4010232137", "2024-01-05", "1961-03-12"},
                {"", "12", "2024-01-06", ""}};
  const auto filter = NewIdentifierFilter();
  const std::optional<Finding> finding = Run(*filter, "t.csv", "(parsed)", &table);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kFail);
  ASSERT_EQ(finding->cells.size(), 2u);
  EXPECT_EQ(finding->cells[0].row, 0u);
  EXPECT_EQ(finding->cells[0].column, "nhs_number");
  EXPECT_EQ(finding->cells[1].column, "dob");
  EXPECT_EQ(finding->cells[1].value, "196*******");
  EXPECT_EQ(finding->cells[1].note, "date_of_birth");
}

TEST_F(IdentifierRuleTest, IdentifierInHeaderRowIsReported) {
  Table table;
  table.header = {"4010232137", "x"};
  table.rows = {{"1", "2"}};
  const std::optional<Finding> finding = Run(*NewIdentifierFilter(), "t.csv", "(parsed)", &table);
  ASSERT_TRUE(finding.has_value());
  ASSERT_EQ(finding->cells.size(), 1u);
  EXPECT_EQ(finding->cells[0].note, "nhs_number in the header");
}

TEST_F(IdentifierRuleTest, PassesCleanFilesAndCountsBeyondTheCellLimit) {
  const auto filter = NewIdentifierFilter();
  std::optional<Finding> finding =
      Run(*filter, "t.csv", "region,count,created\nSW1A,12,2024-01-05T10:00:00Z\n");
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kPass);
  EXPECT_THAT(finding->cells, IsEmpty());

  std::string many;
  for (int i = 0; i < 150; ++i) many += "x@example.org\n";
  finding = Run(*filter, "t.log", many);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->cells_total, 150u);
  EXPECT_EQ(finding->cells.size(), kMaxCellsPerFinding);
}

TEST_F(IdentifierRuleTest, DoesNotApplyToImagesUnreadFilesOrWhenDisabled) {
  const auto filter = NewIdentifierFilter();
  EXPECT_FALSE(Run(*filter, "plot.png", "943 476 5919").has_value());
  EXPECT_FALSE(Run(*filter, "plot.PDF", "943 476 5919").has_value());
  input_.size_bytes = 1;
  content_.clear();
  input_.content = content_;
  input_.path = "big.csv";
  EXPECT_FALSE(filter->Apply({input_, profile_, nullptr, "", history_}).has_value());
  profile_.check_identifiers = false;
  EXPECT_FALSE(Run(*filter, "notes.txt", "943 476 5919").has_value());
}

TEST_F(IdentifierRuleTest, ColumnsNamingPeopleFailAndPostcodesNeedReview) {
  const auto filter = NewIdentifierColumnFilter();
  EXPECT_EQ(filter->Name(), "identifier_columns");
  Table table;
  table.header = {"Patient ID", "region", "DateOfBirth", "NHS No.", "count"};
  std::optional<Finding> finding = Run(*filter, "t.csv", "", &table);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kFail);
  ASSERT_EQ(finding->cells.size(), 3u);
  EXPECT_EQ(finding->cells[0].row, 0u);
  EXPECT_EQ(finding->cells[0].column, "Patient ID");
  EXPECT_EQ(finding->cells[0].note, "header");
  EXPECT_EQ(finding->cells[2].column, "NHS No.");

  table.header = {"postcode", "count"};
  finding = Run(*filter, "t.csv", "", &table);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kReview);
  EXPECT_THAT(finding->message, ::testing::HasSubstr("districts, not full postcodes"));

  table.header = {"ZIP code", "nhs_number"};
  finding = Run(*filter, "t.csv", "", &table);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kFail);  // the worst wins
  EXPECT_EQ(finding->cells.size(), 2u);
}

TEST_F(IdentifierRuleTest, ColumnsThatOnlyContainAnIdentifierWordPass) {
  const auto filter = NewIdentifierColumnFilter();
  Table table;
  table.header = {"phone_contacts_count", "postcode_district", "email_sent", "n_patients"};
  const std::optional<Finding> finding = Run(*filter, "t.csv", "", &table);
  ASSERT_TRUE(finding.has_value());
  EXPECT_EQ(finding->outcome, Verdict::kPass);
  EXPECT_THAT(finding->cells, IsEmpty());
}

TEST_F(IdentifierRuleTest, ColumnRuleNeedsATable) {
  EXPECT_FALSE(Run(*NewIdentifierColumnFilter(), "notes.txt", "patient_id").has_value());
  Table table;
  table.header = {"patient_id"};
  profile_.check_identifiers = false;
  EXPECT_FALSE(Run(*NewIdentifierColumnFilter(), "t.csv", "", &table).has_value());
}

TEST(IdentifierChainTest, ReportOfARowLevelExtractFailsAndNeverHoldsTheValues) {
  const std::string content = "patient_id,nhs_number,email,count\n17,943 476 5919,jane@nhs.net,3\n";
  FileInput input;
  input.name = "extract.csv";
  input.path = "extract.csv";
  input.content = content;
  input.size_bytes = content.size();
  const FileReport report = CheckFile(input, Profile{});
  EXPECT_EQ(report.verdict, Verdict::kFail);
  bool values = false, columns = false;
  for (const Finding& finding : report.findings) {
    values = values || (finding.rule == "direct_identifiers" && finding.outcome == Verdict::kFail);
    columns =
        columns || (finding.rule == "identifier_columns" && finding.outcome == Verdict::kFail);
  }
  EXPECT_TRUE(values);
  EXPECT_TRUE(columns);
  const std::string json = ToJson(report).dump();
  EXPECT_EQ(json.find("476 5919"), std::string::npos) << json;
  EXPECT_EQ(json.find("jane@"), std::string::npos) << json;
}

}  // namespace
}  // namespace safeflow::executor::disclosure
