// CheckFile, DefaultChain, size_limit and declaration.
#include "executor/disclosure/filter.h"

#include <stdexcept>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/unit/disclosure/rules_test_util.h"

namespace safeflow::executor::disclosure {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testutil::Builtin;
using testutil::CellRefs;
using testutil::Declare;
using testutil::Ev;
using testutil::Frequency;
using testutil::Magnitude;
using testutil::RunRule;
using testutil::TestFile;

// Records what the chain gave it; returns a finding with the given outcome (or none).
class ProbeFilter final : public OutputFilter {
 public:
  struct Seen {
    bool called = false;
    bool has_table = false;
    std::vector<std::string> header;
    std::size_t rows = 0;
    std::string table_error;
    std::string content;
  };
  ProbeFilter(Seen& seen, std::optional<Verdict> outcome, std::string name = "probe")
      : seen_(seen), outcome_(outcome), name_(std::move(name)) {}
  std::string_view Name() const override { return name_; }
  std::optional<Finding> Apply(const FileContext& file) const override {
    seen_.called = true;
    seen_.has_table = file.table != nullptr;
    if (file.table) {
      seen_.header = file.table->header;
      seen_.rows = file.table->rows.size();
    }
    seen_.table_error = file.table_error;
    seen_.content = std::string(file.input.content);
    if (!outcome_) return std::nullopt;
    Finding f;
    f.rule = "whatever the filter wrote";
    f.outcome = *outcome_;
    return f;
  }

 private:
  Seen& seen_;
  const std::optional<Verdict> outcome_;
  const std::string name_;
};

class ThrowingFilter final : public OutputFilter {
 public:
  std::string_view Name() const override { return "thrower"; }
  std::optional<Finding> Apply(const FileContext&) const override {
    throw std::runtime_error("boom");
  }
};

std::vector<std::unique_ptr<OutputFilter>> Chain(std::unique_ptr<OutputFilter> a,
                                                 std::unique_ptr<OutputFilter> b = nullptr) {
  std::vector<std::unique_ptr<OutputFilter>> chain;
  chain.push_back(std::move(a));
  if (b) chain.push_back(std::move(b));
  return chain;
}

ProbeFilter::Seen Probe(const TestFile& file, const Profile& profile = Builtin("acro-default")) {
  ProbeFilter::Seen seen;
  (void)CheckFile(file.Input(), profile, {},
                  Chain(std::make_unique<ProbeFilter>(seen, Verdict::kPass)));
  return seen;
}

// ---- CheckFile ----

TEST(CheckFileTest, ReportDescribesTheFile) {
  TestFile file = Frequency("region,n\nA,12\n", {"region"}, {"n"});
  ProbeFilter::Seen seen;
  FileReport report = CheckFile(file.Input(), Builtin("strict"), {},
                                Chain(std::make_unique<ProbeFilter>(seen, Verdict::kPass)));
  EXPECT_EQ(report.name, "output");
  EXPECT_EQ(report.path, "table.csv");
  EXPECT_EQ(report.size_bytes, file.content.size());
  EXPECT_EQ(report.type, "frequency_table");
  EXPECT_EQ(report.profile, "strict");
  EXPECT_EQ(report.verdict, Verdict::kPass);
  EXPECT_THAT(report.rules_applied, ElementsAre("probe"));
  ASSERT_EQ(report.findings.size(), 1u);
  EXPECT_EQ(report.findings[0].rule, "probe");  // the filter's name, whatever it wrote
}

TEST(CheckFileTest, Sha256OfTheContent) {
  TestFile file{.path = "notes.txt", .content = "abc"};
  FileReport report = CheckFile(file.Input(), Builtin("acro-default"), {}, {});
  EXPECT_EQ(report.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(report.type, "undeclared");
  file.content.clear();
  report = CheckFile(file.Input(), Builtin("acro-default"), {}, {});
  EXPECT_EQ(report.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(CheckFileTest, NoRuleAppliedFails) {
  TestFile file{.path = "notes.txt", .content = "abc"};
  ProbeFilter::Seen seen;
  FileReport report = CheckFile(file.Input(), Builtin("acro-default"), {},
                                Chain(std::make_unique<ProbeFilter>(seen, std::nullopt)));
  EXPECT_TRUE(seen.called);
  EXPECT_THAT(report.rules_applied, IsEmpty());
  EXPECT_EQ(report.verdict, Verdict::kFail);
}

TEST(CheckFileTest, WorstFindingWinsInChainOrder) {
  TestFile file{.path = "notes.txt", .content = "abc"};
  ProbeFilter::Seen a, b;
  FileReport report = CheckFile(file.Input(), Builtin("acro-default"), {},
                                Chain(std::make_unique<ProbeFilter>(a, Verdict::kReview, "first"),
                                      std::make_unique<ProbeFilter>(b, Verdict::kPass, "second")));
  EXPECT_THAT(report.rules_applied, ElementsAre("first", "second"));
  EXPECT_EQ(report.verdict, Verdict::kReview);
}

TEST(CheckFileTest, AThrowingRuleFailsTheFile) {
  TestFile file{.path = "notes.txt", .content = "abc"};
  ProbeFilter::Seen seen;
  FileReport report = CheckFile(file.Input(), Builtin("acro-default"), {},
                                Chain(std::make_unique<ThrowingFilter>(),
                                      std::make_unique<ProbeFilter>(seen, Verdict::kPass)));
  EXPECT_EQ(report.verdict, Verdict::kFail);
  EXPECT_THAT(report.rules_applied, ElementsAre("thrower", "probe"));
  EXPECT_THAT(report.findings[0].message, HasSubstr("boom"));
}

TEST(CheckFileTest, UndeclaredCsvAndTsvAreTables) {
  TestFile csv{.path = "out/x.csv", .content = "a,b\n1,2\n"};
  ProbeFilter::Seen seen = Probe(csv);
  EXPECT_TRUE(seen.has_table);
  EXPECT_THAT(seen.header, ElementsAre("a", "b"));
  TestFile tsv{.path = "x.TSV", .content = "a,b\tc\n1\t2\n"};
  seen = Probe(tsv);
  EXPECT_TRUE(seen.has_table);
  EXPECT_THAT(seen.header, ElementsAre("a,b", "c"));
  TestFile txt{.path = "x.txt", .content = "a,b\n1,2\n"};
  seen = Probe(txt);
  EXPECT_FALSE(seen.has_table);
  EXPECT_EQ(seen.table_error, "");
}

TEST(CheckFileTest, DeclaredTypeDecidesTabularity) {
  // Table types are tables whatever their extension.
  TestFile extract{
      .path = "x.dat", .content = "a,b\n1,2\n", .declaration = Declare(OutputType::kDataExtract)};
  EXPECT_TRUE(Probe(extract).has_table);
  // Other types are tables when they are CSV/TSV files (a regression's coefficients), so that
  // column rules see their cells; otherwise not.
  TestFile coefficients{.path = "coefficients.csv",
                        .content = "term,estimate,df_resid\nage,0.1,97\n",
                        .declaration = Declare(OutputType::kRegression)};
  EXPECT_TRUE(Probe(coefficients).has_table);
  TestFile text{
      .path = "x.txt", .content = "a,b\n1,2\n", .declaration = Declare(OutputType::kText)};
  EXPECT_FALSE(Probe(text).has_table);
  TestFile figure{.path = "x.svg", .content = "a\n", .declaration = Declare(OutputType::kFigure)};
  EXPECT_FALSE(Probe(figure).has_table);
}

TEST(CheckFileTest, DelimiterFromTheDeclaration) {
  TestFile semicolon = Frequency("a;b\n1;2\n", {"a"}, {"b"});
  semicolon.declaration->table.delimiter = ';';
  EXPECT_THAT(Probe(semicolon).header, ElementsAre("a", "b"));
  TestFile tsv = Frequency("a\tb\n1\t2\n", {"a"}, {"b"});
  tsv.path = "t.tsv";  // the declaration left the default ','
  EXPECT_THAT(Probe(tsv).header, ElementsAre("a", "b"));
}

TEST(CheckFileTest, ParseErrorsReachTheRules) {
  TestFile bad{.path = "x.csv", .content = "a,b\n1\n"};
  ProbeFilter::Seen seen = Probe(bad);
  EXPECT_FALSE(seen.has_table);
  EXPECT_THAT(seen.table_error, AllOf(HasSubstr("INVALID_ARGUMENT"), HasSubstr("line 2")));
}

TEST(CheckFileTest, OversizedFilesAreNotRead) {
  Profile p = Builtin("acro-default");
  p.max_file_bytes = 8;
  TestFile file{.path = "x.csv", .content = "a,b\n1,2\n"};  // 8 bytes: exactly the limit
  ProbeFilter::Seen seen = Probe(file, p);
  EXPECT_TRUE(seen.has_table);
  file.content = "a,b\n1,22\n";  // 9 bytes
  seen = Probe(file, p);
  EXPECT_FALSE(seen.has_table);
  EXPECT_EQ(seen.content, "");
  EXPECT_THAT(seen.table_error, HasSubstr("larger than 8 bytes"));
  FileReport report = CheckFile(file.Input(), p, {}, Chain(NewSizeLimitFilter()));
  EXPECT_EQ(report.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(report.verdict, Verdict::kFail);
}

// ---- size_limit ----

TEST(SizeLimitTest, BytesAtTheLimitPassAboveFail) {
  Profile p = Builtin("acro-default");
  p.max_file_bytes = 100;
  TestFile file{.path = "x.bin", .content = std::string(100, 'x')};
  auto f = RunRule(NewSizeLimitFilter(), file, p);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rule, "size_limit");
  EXPECT_EQ(f->outcome, Verdict::kPass);
  EXPECT_EQ(f->parameters, (nlohmann::json{{"max_file_bytes", 100}, {"max_rows", p.max_rows}}));
  file.content = std::string(99, 'x');
  EXPECT_EQ(RunRule(NewSizeLimitFilter(), file, p)->outcome, Verdict::kPass);
  // The stated size counts even when the caller read nothing.
  FileInput input = file.Input();
  input.content = {};
  input.size_bytes = 101;
  FileReport report = CheckFile(input, p, {}, Chain(NewSizeLimitFilter()));
  EXPECT_EQ(report.verdict, Verdict::kFail);
  EXPECT_THAT(report.findings[0].message, HasSubstr("101 bytes"));
}

TEST(SizeLimitTest, RowsAtTheLimitPassAboveFail) {
  Profile p = Builtin("acro-default");
  p.max_rows = 2;
  TestFile file{.path = "x.csv", .content = "a\n1\n2\n"};
  EXPECT_EQ(RunRule(NewSizeLimitFilter(), file, p)->outcome, Verdict::kPass);
  file.content = "a\n1\n2\n3\n";
  auto f = RunRule(NewSizeLimitFilter(), file, p);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  EXPECT_THAT(f->message, HasSubstr("more than the limit of 2 data rows"));
  file.content = "a\n1\n\"2\n";  // malformed, not too long: not this rule's business
  EXPECT_EQ(RunRule(NewSizeLimitFilter(), file, p)->outcome, Verdict::kPass);
}

// ---- declaration ----

TEST(DeclarationTest, UndeclaredIsReview) {
  TestFile file{.path = "x.csv", .content = "a\n1\n"};
  auto f = RunRule(NewDeclarationFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rule, "declaration");
  EXPECT_EQ(f->outcome, Verdict::kReview);
  EXPECT_THAT(f->message, HasSubstr("not declared"));
}

TEST(DeclarationTest, FiguresTextAndOtherAreReview) {
  for (OutputType type : {OutputType::kFigure, OutputType::kText, OutputType::kOther}) {
    TestFile file{.path = "x.png", .content = "x", .declaration = Declare(type)};
    auto f = RunRule(NewDeclarationFilter(), file, Builtin("strict"));
    EXPECT_EQ(f->outcome, Verdict::kReview) << OutputTypeName(type);
    EXPECT_THAT(f->message, HasSubstr("cannot be checked automatically"));
  }
}

TEST(DeclarationTest, RegressionPasses) {
  TestFile file{.path = "m.txt", .content = "x", .declaration = Declare(OutputType::kRegression)};
  EXPECT_EQ(RunRule(NewDeclarationFilter(), file)->outcome, Verdict::kPass);
}

TEST(DeclarationTest, DataExtractsFailUnlessAllowed) {
  TestFile file{.path = "rows.csv",
                .content = "id,age\n1,40\n",
                .declaration = Declare(OutputType::kDataExtract)};
  auto f = RunRule(NewDeclarationFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  EXPECT_THAT(f->message, HasSubstr("acro-default"));
  Profile allowing = Builtin("acro-default");
  allowing.allow_data_extract = true;
  EXPECT_EQ(RunRule(NewDeclarationFilter(), file, allowing)->outcome, Verdict::kReview);
}

TEST(DeclarationTest, MatchingFrequencyTablePasses) {
  TestFile file = Frequency("region,n\nA,12\nB,*\nC,\nD,0\nE,12.0\n", {"region"}, {"n"});
  auto f = RunRule(NewDeclarationFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kPass) << f->message;
  EXPECT_EQ(f->parameters, (nlohmann::json{{"type", "frequency_table"}}));
}

TEST(DeclarationTest, UnreadableTableFails) {
  TestFile file = Frequency("region,n\nA\n", {"region"}, {"n"});
  auto f = RunRule(NewDeclarationFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  EXPECT_THAT(f->message, HasSubstr("could not be read as a table"));
}

TEST(DeclarationTest, MissingColumnsFail) {
  TestFile file = Frequency("region,n\nA,12\n", {"region", "sex"}, {"n", "count"});
  auto f = RunRule(NewDeclarationFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  EXPECT_THAT(f->message, HasSubstr("declared columns missing from the header: sex, count"));
}

TEST(DeclarationTest, BadCountCellsAreListed) {
  TestFile file = Frequency("region,n\nA,-1\nB,2.5\nC,NA\nD,abc\nE,3\n", {"region"}, {"n"});
  auto f = RunRule(NewDeclarationFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  ASSERT_THAT(CellRefs(*f), ElementsAre("0:n", "1:n", "2:n", "3:n"));
  EXPECT_THAT(f->message, HasSubstr("not non-negative integers"));
}

TEST(DeclarationTest, SurvivalCountColumnsAreCounts) {
  TableSpec spec;
  spec.time = "t";
  spec.at_risk = "r";
  spec.events = "e";
  TestFile file{.content = "t,r,e\n0,10,1.5\n",
                .declaration = Declare(OutputType::kSurvivalTable, spec)};
  auto f = RunRule(NewDeclarationFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  ASSERT_THAT(CellRefs(*f), ElementsAre("0:e"));
}

TEST(DeclarationTest, MagnitudeTableWithCompleteEvidencePasses) {
  TestFile file = Magnitude("region,cost\nA,100\nB,*\n", {"region"}, {"cost"},
                            {Ev(0, "cost", 12, 100, {20, 15})});
  auto f = RunRule(NewDeclarationFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kPass) << f->message;
}

TEST(DeclarationTest, MagnitudeTableEvidenceProblems) {
  TestFile file = Magnitude("region,cost,other\nA,100,1\nB,abc,2\nC,300,3\n", {"region"}, {"cost"},
                            {Ev(0, "cost", 12, 100, {20, 15}), Ev(0, "cost", 12, 100, {20, 15}),
                             Ev(5, "cost", 12, 100, {20, 15}), Ev(1, "other", 12, 100, {20, 15}),
                             Ev(1, "cost", 12, 100, {20, 30})});
  auto f = RunRule(NewDeclarationFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  ASSERT_THAT(CellRefs(*f),
              ElementsAre("1:cost", "0:cost", "5:cost", "1:other", "1:cost", "2:cost"));
  EXPECT_THAT(f->message,
              AllOf(HasSubstr("not numbers"), HasSubstr("more than one evidence entry"),
                    HasSubstr("rows the table does not have"), HasSubstr("not declared statistics"),
                    HasSubstr("inconsistent evidence"), HasSubstr("without evidence")));
}

TEST(DeclarationTest, MagnitudeTableWithoutEvidenceFails) {
  TestFile file = Magnitude("region,cost\nA,100\n", {"region"}, {"cost"}, {});
  file.evidence.reset();
  auto f = RunRule(NewDeclarationFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  EXPECT_THAT(f->message, HasSubstr("no usable evidence (not provided)"));
  file.evidence = Evidence{};
  file.evidence_error = "cells[0].n: required";
  f = RunRule(NewDeclarationFilter(), file);
  EXPECT_THAT(f->message, HasSubstr("cells[0].n: required"));
}

struct InconsistentCase {
  CellEvidence evidence;
  const char* expected;
};

class InconsistentEvidenceTest : public ::testing::TestWithParam<InconsistentCase> {};

TEST_P(InconsistentEvidenceTest, Fails) {
  TestFile file = Magnitude("region,cost\nA,100\n", {"region"}, {"cost"}, {GetParam().evidence});
  auto f = RunRule(NewDeclarationFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  ASSERT_EQ(f->cells.size(), 1u);
  EXPECT_THAT(f->cells[0].note, HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, InconsistentEvidenceTest,
    ::testing::Values(InconsistentCase{Ev(0, "cost", -1, 0, {}), "n is negative"},
                      InconsistentCase{Ev(0, "cost", 3, 10, {5, 3}, 4), "negatives"},
                      InconsistentCase{Ev(0, "cost", 3, -10, {5, 3}), "sum"},
                      InconsistentCase{Ev(0, "cost", 1, 10, {5, 3}), "more largest values"},
                      InconsistentCase{Ev(0, "cost", 3, 10, {5}), "2 largest"},
                      InconsistentCase{Ev(0, "cost", 1, 10, {}), "2 largest"},
                      InconsistentCase{Ev(0, "cost", 3, 10, {5, -1}), "negative value"},
                      InconsistentCase{Ev(0, "cost", 3, 10, {3, 5}), "descending"},
                      InconsistentCase{Ev(0, "cost", 3, 10, {6, 5}), "more than sum"}));

// ---- DefaultChain ----

TEST(DefaultChainTest, EveryRuleInOrder) {
  std::vector<std::string> names;
  for (const auto& filter : DefaultChain()) names.emplace_back(filter->Name());
  EXPECT_THAT(names,
              ElementsAre("size_limit", "file_type", "declaration", "direct_identifiers",
                          "identifier_columns", "min_cell_count", "zeros", "dominance_nk",
                          "p_percent", "negative_contributions", "margin_recovery", "rounding",
                          "histogram_bins", "survival_steps", "residual_dof", "differencing"));
}

TEST(DefaultChainTest, SafeFrequencyTablePasses) {
  TestFile file = Frequency("region,n\nNorth,12\nSouth,25\nTotal,37\n", {"region"}, {"n"}, "Total");
  FileReport report = CheckFile(file.Input(), Builtin("acro-default"));
  EXPECT_EQ(report.verdict, Verdict::kPass) << ToJson(report).dump(2);
  EXPECT_THAT(report.rules_applied,
              ::testing::IsSupersetOf(
                  {"size_limit", "declaration", "min_cell_count", "zeros", "differencing"}));
}

TEST(DefaultChainTest, SmallCellFailsUnderStrict) {
  TestFile file = Frequency("region,n\nNorth,12\nSouth,3\n", {"region"}, {"n"});
  FileReport report = CheckFile(file.Input(), Builtin("strict"));
  EXPECT_EQ(report.verdict, Verdict::kFail);
}

TEST(DefaultChainTest, UndeclaredFileIsReviewAtBest) {
  TestFile file{.path = "x.csv", .content = "region,n\nNorth,12\nSouth,25\n"};
  FileReport report = CheckFile(file.Input(), Builtin("acro-default"));
  EXPECT_NE(report.verdict, Verdict::kPass) << ToJson(report).dump(2);
}

}  // namespace
}  // namespace safeflow::executor::disclosure
