// The count rules: min_cell_count, zeros, rounding, histogram_bins, survival_steps.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/disclosure/filter.h"
#include "tests/unit/disclosure/rules_test_util.h"

namespace safeflow::executor::disclosure {
namespace {

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

// ---- min_cell_count ----

TEST(MinCellCountTest, FlagsCountsBetweenZeroAndTheThreshold) {
  // Threshold 10: 9 is below, 10 (exactly) and 11 pass, 0 and suppressed cells are skipped.
  TestFile file = Frequency("region,n\nA,9\nB,10\nC,11\nD,0\nE,*\nF,<5\nG,1\n", {"region"}, {"n"});
  auto f = RunRule(NewMinCellCountFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rule, "min_cell_count");
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("0:n", "6:n"));
  EXPECT_EQ(f->cells[0].value, "9");
  EXPECT_EQ(f->parameters, (nlohmann::json{{"threshold", 10}}));
  EXPECT_THAT(f->message, HasSubstr("2 cells count between 1 and 9"));
}

TEST(MinCellCountTest, ExactlyAtThresholdPasses) {
  TestFile file = Frequency("region,n\nA,10\nB,10\n", {"region"}, {"n"});
  auto f = RunRule(NewMinCellCountFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->outcome, Verdict::kPass);
  EXPECT_THAT(f->cells, IsEmpty());
  EXPECT_EQ(f->cells_total, 0u);
}

TEST(MinCellCountTest, UsesTheProfileThresholdAndOutcome) {
  TestFile file = Frequency("region,n\nA,2\nB,3\nC,4\n", {"region"}, {"n"});
  auto ds = RunRule(NewMinCellCountFilter(), file, Builtin("datashield"));  // threshold 3
  ASSERT_TRUE(ds.has_value());
  EXPECT_EQ(ds->outcome, Verdict::kFail);
  ASSERT_THAT(CellRefs(*ds), ElementsAre("0:n"));
  auto strict = RunRule(NewMinCellCountFilter(), file, Builtin("strict"));
  EXPECT_EQ(strict->outcome, Verdict::kFail);
  EXPECT_EQ(strict->cells_total, 3u);
}

TEST(MinCellCountTest, MarginsAndEveryCountColumnAreChecked) {
  TestFile file = Frequency("sex,male,female,Total\nyes,10,12,22\nno,1,0,1\nTotal,11,12,23\n",
                            {"sex"}, {"male", "female", "Total"}, "Total");
  auto f = RunRule(NewMinCellCountFilter(), file);
  ASSERT_THAT(CellRefs(*f), ElementsAre("1:male", "1:Total"));
}

TEST(MinCellCountTest, IgnoresUndeclaredColumnsAndText) {
  TestFile file = Frequency("region,n,note\nA,12,3\nB,abc,4\n", {"region"}, {"n"});
  auto f = RunRule(NewMinCellCountFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kPass);  // "abc" is the declaration rule's business
}

TEST(MinCellCountTest, DoesNotApplyToOtherTypes) {
  TestFile file = Frequency("bin,n\n0-10,3\n", {"bin"}, {"n"});
  file.declaration->type = OutputType::kHistogram;
  EXPECT_FALSE(RunRule(NewMinCellCountFilter(), file).has_value());
  file.declaration->type = OutputType::kSurvivalTable;
  EXPECT_FALSE(RunRule(NewMinCellCountFilter(), file).has_value());
  file.declaration.reset();
  EXPECT_FALSE(RunRule(NewMinCellCountFilter(), file).has_value());
}

TEST(MinCellCountTest, UnreadableTableFails) {
  TestFile file = Frequency("region,n\nA,\"3\n", {"region"}, {"n"});
  auto f = RunRule(NewMinCellCountFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->outcome, Verdict::kFail);
  EXPECT_THAT(f->message, HasSubstr("could not be read"));
  EXPECT_THAT(f->message, HasSubstr("not terminated"));
}

TEST(MinCellCountTest, MagnitudeTablesUseEvidenceN) {
  TestFile file = Magnitude(
      "region,cost\nA,100\nB,200\nC,300\nD,*\nE,0\n", {"region"}, {"cost"},
      {Ev(0, "cost", 9, 100, {50, 10}), Ev(1, "cost", 10, 200, {20, 20}),
       Ev(2, "cost", 11, 300, {30, 30}), Ev(3, "cost", 2, 10, {5, 5}), Ev(4, "cost", 0, 0, {})});
  auto f = RunRule(NewMinCellCountFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("0:cost"));  // row 3 is suppressed, row 4 has n = 0
  EXPECT_EQ(f->cells[0].value, "100");
  EXPECT_THAT(f->cells[0].note, HasSubstr("9 contributors"));
}

TEST(MinCellCountTest, MeanTableWithoutEvidenceFails) {
  TestFile file =
      Magnitude("region,mean\nA,1.5\n", {"region"}, {"mean"}, {}, "", OutputType::kMeanTable);
  file.evidence.reset();
  auto f = RunRule(NewMinCellCountFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  EXPECT_THAT(f->message, HasSubstr("no usable evidence (not provided)"));
  file.evidence = Evidence{};
  file.evidence_error = "evidence/x.json: not found";
  f = RunRule(NewMinCellCountFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  EXPECT_THAT(f->message, HasSubstr("evidence/x.json: not found"));
}

// ---- zeros ----

TEST(ZerosTest, ZeroCountsAreStatisticalFindings) {
  TestFile file = Frequency("region,n\nA,0\nB,1\nC,*\nD,0.0\n", {"region"}, {"n"});
  auto f = RunRule(NewZerosFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rule, "zeros");
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("0:n", "3:n"));
  EXPECT_EQ(f->parameters, (nlohmann::json{{"zeros_disclosive", true}}));
  EXPECT_EQ(RunRule(NewZerosFilter(), file, Builtin("strict"))->outcome, Verdict::kFail);
}

TEST(ZerosTest, NoZerosPasses) {
  TestFile file = Frequency("region,n\nA,1\nB,12\n", {"region"}, {"n"});
  EXPECT_EQ(RunRule(NewZerosFilter(), file)->outcome, Verdict::kPass);
}

TEST(ZerosTest, NotDisclosiveUnderDataShield) {
  TestFile file = Frequency("region,n\nA,0\n", {"region"}, {"n"});
  auto f = RunRule(NewZerosFilter(), file, Builtin("datashield"));
  EXPECT_EQ(f->outcome, Verdict::kPass);
  EXPECT_EQ(f->parameters, (nlohmann::json{{"zeros_disclosive", false}}));
}

TEST(ZerosTest, FrequencyTablesOnly) {
  TestFile file = Frequency("bin,n\nA,0\n", {"bin"}, {"n"});
  file.declaration->type = OutputType::kHistogram;
  EXPECT_FALSE(RunRule(NewZerosFilter(), file).has_value());
}

// ---- rounding ----

Profile WithRounding(int base, Verdict outcome = Verdict::kReview) {
  Profile p = Builtin("acro-default");
  p.required_rounding = base;
  p.statistical_outcome = outcome;
  return p;
}

TEST(RoundingTest, NotAppliedWithoutRequiredOrDeclaredRounding) {
  TestFile file = Frequency("region,n\nA,12\n", {"region"}, {"n"});
  EXPECT_FALSE(RunRule(NewRoundingFilter(), file).has_value());
}

TEST(RoundingTest, DeclaredBaseMustHold) {
  TestFile file = Frequency("region,n\nA,10\nB,15\nC,0\nD,*\n", {"region"}, {"n"});
  file.declaration->table.rounding = 5;
  auto f = RunRule(NewRoundingFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->outcome, Verdict::kPass);
  EXPECT_EQ(f->parameters, (nlohmann::json{{"required", 0}, {"declared", 5}}));

  file.content = "region,n\nA,10\nB,14\nC,16\nD,2.5\n";
  f = RunRule(NewRoundingFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  ASSERT_THAT(CellRefs(*f), ElementsAre("1:n", "2:n", "3:n"));
  EXPECT_THAT(f->message, HasSubstr("declared rounded to base 5"));
}

TEST(RoundingTest, RequiredBaseIsAStatisticalFinding) {
  TestFile file = Frequency("region,n\nA,10\nB,15\nC,14\n", {"region"}, {"n"});
  auto f = RunRule(NewRoundingFilter(), file, WithRounding(5));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("2:n"));
  EXPECT_EQ(f->parameters, (nlohmann::json{{"required", 5}, {"declared", 0}}));
  EXPECT_EQ(RunRule(NewRoundingFilter(), file, Builtin("strict"))->outcome, Verdict::kFail);
  file.content = "region,n\nA,10\nB,15\n";
  EXPECT_EQ(RunRule(NewRoundingFilter(), file, WithRounding(5))->outcome, Verdict::kPass);
}

TEST(RoundingTest, DeclaredMultipleOfRequiredSatisfiesIt) {
  TestFile file = Frequency("region,n\nA,10\nB,20\n", {"region"}, {"n"});
  file.declaration->table.rounding = 10;
  EXPECT_EQ(RunRule(NewRoundingFilter(), file, WithRounding(5))->outcome, Verdict::kPass);
  file.content = "region,n\nA,10\nB,15\n";  // 15 is a multiple of 5 but not of the declared 10
  EXPECT_EQ(RunRule(NewRoundingFilter(), file, WithRounding(5))->outcome, Verdict::kFail);
}

TEST(RoundingTest, DeclaredBaseThatIsNotAMultipleOfTheRequiredOne) {
  TestFile file = Frequency("region,n\nA,9\nB,15\n", {"region"}, {"n"});
  file.declaration->table.rounding = 3;
  auto f = RunRule(NewRoundingFilter(), file, WithRounding(5));
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("0:n"));
}

TEST(RoundingTest, NegativeDeclaredBaseFails) {
  TestFile file = Frequency("region,n\nA,10\n", {"region"}, {"n"});
  file.declaration->table.rounding = -5;
  EXPECT_EQ(RunRule(NewRoundingFilter(), file)->outcome, Verdict::kFail);
}

TEST(RoundingTest, AppliesToHistogramsNotMagnitudeTables) {
  TestFile file = Frequency("bin,n\n0-9,12\n", {"bin"}, {"n"});
  file.declaration->type = OutputType::kHistogram;
  EXPECT_EQ(RunRule(NewRoundingFilter(), file, WithRounding(5))->outcome, Verdict::kReview);
  file.declaration->type = OutputType::kMagnitudeTable;
  EXPECT_FALSE(RunRule(NewRoundingFilter(), file, WithRounding(5)).has_value());
}

// ---- histogram_bins ----

TestFile Histogram(std::string content) {
  TableSpec spec;
  spec.keys = {"bin"};
  spec.counts = {"n"};
  spec.total_label = "Total";
  return TestFile{.content = std::move(content),
                  .declaration = Declare(OutputType::kHistogram, spec)};
}

TEST(HistogramTest, SmallBinsAndExtremesAreNamed) {
  TestFile file = Histogram("bin,n\n<20,9\n20-29,10\n30-39,9\n40-49,0\n50+,1\nTotal,29\n");
  auto f = RunRule(NewHistogramFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rule, "histogram_bins");
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("0:n", "2:n", "4:n"));
  EXPECT_THAT(f->cells[0].note, HasSubstr("first bin"));
  EXPECT_THAT(f->cells[1].note, ::testing::Not(HasSubstr("bin:")));
  EXPECT_THAT(f->cells[2].note, HasSubstr("last bin"));
  EXPECT_EQ(f->parameters, (nlohmann::json{{"threshold", 10}}));
}

TEST(HistogramTest, BinsAtTheThresholdPass) {
  TestFile file = Histogram("bin,n\n0-9,10\n10-19,11\n20-29,0\n");
  EXPECT_EQ(RunRule(NewHistogramFilter(), file)->outcome, Verdict::kPass);
  EXPECT_EQ(RunRule(NewHistogramFilter(), file, Builtin("strict"))->outcome, Verdict::kPass);
  file.content = "bin,n\n0-9,10\n10-19,11\n20-29,9\n";
  EXPECT_EQ(RunRule(NewHistogramFilter(), file, Builtin("strict"))->outcome, Verdict::kFail);
}

TEST(HistogramTest, OnlyHistograms) {
  TestFile file = Frequency("bin,n\nA,3\n", {"bin"}, {"n"});
  EXPECT_FALSE(RunRule(NewHistogramFilter(), file).has_value());
}

// ---- survival_steps ----

TestFile Survival(std::string content, std::vector<std::string> keys = {}) {
  TableSpec spec;
  spec.keys = std::move(keys);
  spec.time = "time";
  spec.at_risk = "at_risk";
  spec.events = "events";
  return TestFile{.content = std::move(content),
                  .declaration = Declare(OutputType::kSurvivalTable, spec)};
}

TEST(SurvivalTest, LargeStepsPass) {
  TestFile file = Survival("time,at_risk,events\n0,100,0\n1,90,10\n1,80,10\n5,60,20\n");
  auto f = RunRule(NewSurvivalFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rule, "survival_steps");
  EXPECT_EQ(f->outcome, Verdict::kPass) << f->message;
  EXPECT_EQ(f->parameters, (nlohmann::json{{"threshold", 10}}));
}

TEST(SurvivalTest, SmallAtRiskEventsAndDrops) {
  // Row 1: drop of 9 and 9 events; row 2: at_risk 9 (drop 72); row 3: drop of 9 to 0.
  TestFile file = Survival("time,at_risk,events\n0,90,0\n1,81,9\n2,9,10\n3,0,10\n4,0,0\n5,0,*\n");
  auto f = RunRule(NewSurvivalFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("1:at_risk", "1:events", "2:at_risk", "3:at_risk"));
  EXPECT_THAT(f->cells[0].note, HasSubstr("drops by 9"));
  EXPECT_EQ(RunRule(NewSurvivalFilter(), file, Builtin("strict"))->outcome, Verdict::kFail);
}

TEST(SurvivalTest, DropAndEventsExactlyAtTheThresholdPass) {
  TestFile file = Survival("time,at_risk,events\n0,50,0\n1,40,10\n2,29,11\n");
  auto f = RunRule(NewSurvivalFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kPass) << f->message;
  file.content = "time,at_risk,events\n0,50,0\n1,41,9\n";
  EXPECT_EQ(RunRule(NewSurvivalFilter(), file)->cells_total, 2u);
}

TEST(SurvivalTest, DropOfOneIsFlagged) {
  TestFile file = Survival("time,at_risk,events\n0,50,0\n1,49,0\n");
  auto f = RunRule(NewSurvivalFilter(), file);
  ASSERT_THAT(CellRefs(*f), ElementsAre("1:at_risk"));
  EXPECT_THAT(f->cells[0].note, HasSubstr("drops by 1"));
}

TEST(SurvivalTest, TimeMustBeNumericAndNonDecreasing) {
  TestFile decreasing = Survival("time,at_risk,events\n0,100,0\n2,80,20\n1,60,20\n");
  auto f = RunRule(NewSurvivalFilter(), decreasing);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  ASSERT_THAT(CellRefs(*f), ElementsAre("2:time"));
  TestFile text = Survival("time,at_risk,events\n0,100,0\nlater,80,20\n");
  f = RunRule(NewSurvivalFilter(), text);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  ASSERT_FALSE(f->cells.empty());
  EXPECT_THAT(f->cells[0].note, HasSubstr("not a number"));
  TestFile suppressed = Survival("time,at_risk,events\n*,100,0\n");
  EXPECT_EQ(RunRule(NewSurvivalFilter(), suppressed)->outcome, Verdict::kFail);
}

TEST(SurvivalTest, StrataAreCheckedSeparately) {
  TestFile file = Survival(
      "arm,time,at_risk,events\nA,0,100,0\nA,3,80,20\nB,0,60,0\nB,2,40,20\nA,5,60,20\n", {"arm"});
  EXPECT_EQ(RunRule(NewSurvivalFilter(), file)->outcome, Verdict::kPass);
}

TEST(SurvivalTest, MissingColumnFails) {
  TestFile file = Survival("time,at_risk\n0,100\n");
  EXPECT_EQ(RunRule(NewSurvivalFilter(), file)->outcome, Verdict::kFail);
}

TEST(SurvivalTest, OnlySurvivalTables) {
  TestFile file = Frequency("time,at_risk,events\n0,1,1\n", {}, {"at_risk"});
  EXPECT_FALSE(RunRule(NewSurvivalFilter(), file).has_value());
}

}  // namespace
}  // namespace safeflow::executor::disclosure
