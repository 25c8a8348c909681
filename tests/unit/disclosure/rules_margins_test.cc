// margin_recovery and differencing.
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
using testutil::Ev;
using testutil::Frequency;
using testutil::Magnitude;
using testutil::RunRule;
using testutil::TestFile;

// ---- margin_recovery ----

TEST(MarginsTest, NotAppliedWithoutSuppressedCells) {
  TestFile file = Frequency("region,n\nA,12\nB,20\nTotal,32\n", {"region"}, {"n"}, "Total");
  EXPECT_FALSE(RunRule(NewMarginsFilter(), file).has_value());
}

TEST(MarginsTest, SuppressedCellsWithoutDeclaredMarginsNeedReview) {
  TestFile file = Frequency("region,n\nA,12\nB,*\n", {"region"}, {"n"});
  auto f = RunRule(NewMarginsFilter(), file, Builtin("strict"));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rule, "margin_recovery");
  EXPECT_EQ(f->outcome, Verdict::kReview);
  EXPECT_THAT(f->message, HasSubstr("no declared margins"));
}

TEST(MarginsTest, SingleSuppressedCellIsRecoverableFromTheTotalRow) {
  TestFile file = Frequency("region,n\nA,12\nB,*\nC,20\nTotal,50\n", {"region"}, {"n"}, "Total");
  auto f = RunRule(NewMarginsFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("1:n"));
  EXPECT_EQ(f->cells[0].value, "*");
  EXPECT_THAT(f->cells[0].note, HasSubstr("recoverable as 18"));
  EXPECT_EQ(f->parameters, (nlohmann::json{{"total_label", "Total"}}));
  EXPECT_EQ(RunRule(NewMarginsFilter(), file, Builtin("strict"))->outcome, Verdict::kFail);
}

TEST(MarginsTest, TwoSuppressedCellsInOneGroupAreSafe) {
  TestFile file = Frequency("region,n\nA,12\nB,*\nC,<5\nTotal,50\n", {"region"}, {"n"}, "Total");
  auto f = RunRule(NewMarginsFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kPass);
  EXPECT_THAT(f->cells, IsEmpty());
}

TEST(MarginsTest, SuppressedMarginDoesNotRevealADetailCell) {
  TestFile file = Frequency("region,n\nA,12\nB,*\nTotal,*\n", {"region"}, {"n"}, "Total");
  EXPECT_EQ(RunRule(NewMarginsFilter(), file)->outcome, Verdict::kPass);
}

TEST(MarginsTest, SuppressedMarginIsRecoverableFromItsDetails) {
  TestFile file = Frequency("region,n\nA,12\nB,3\nTotal,*\n", {"region"}, {"n"}, "Total");
  auto f = RunRule(NewMarginsFilter(), file);
  ASSERT_THAT(CellRefs(*f), ElementsAre("2:n"));
  EXPECT_THAT(f->cells[0].note, HasSubstr("recoverable as 15"));
}

TEST(MarginsTest, WideFormatRowTotalColumn) {
  TestFile file = Frequency("region,male,female,Total\nA,10,*,25\nB,*,*,30\n", {"region"},
                            {"male", "female", "Total"}, "Total");
  auto f = RunRule(NewMarginsFilter(), file);
  ASSERT_THAT(CellRefs(*f), ElementsAre("0:female"));
  EXPECT_THAT(f->cells[0].note, HasSubstr("recoverable as 15 from the Total column"));
}

TEST(MarginsTest, LongFormatTwoKeysPerDimension) {
  // Both keys have margins.
  const std::string content =
      "region,sex,n\n"
      "A,m,10\nA,f,*\nA,Total,25\n"
      "B,m,*\nB,f,*\nB,Total,30\n"
      "Total,m,22\nTotal,f,33\nTotal,Total,55\n";
  TestFile file = Frequency(content, {"region", "sex"}, {"n"}, "Total");
  auto f = RunRule(NewMarginsFilter(), file);
  ASSERT_TRUE(f.has_value());
  // (A,f) = 25 - 10 and (B,m) = 22 - 10 directly; then (B,f) = 30 - 12 = 33 - 15 = 18.
  ASSERT_THAT(CellRefs(*f), ::testing::UnorderedElementsAre("1:n", "3:n", "4:n"));
  bool chained = false;
  for (const Cell& cell : f->cells)
    chained |= cell.note.find("after recovering") != std::string::npos;
  EXPECT_TRUE(chained);
}

TEST(MarginsTest, RowAndColumnMarginsTogether) {
  // Each row has two suppressed cells, but the column totals free one cell per row.
  const std::string content =
      "region,a,b,c,Total\n"
      "X,*,*,5,20\n"
      "Y,7,*,*,30\n"
      "Total,17,25,8,50\n";
  TestFile file = Frequency(content, {"region"}, {"a", "b", "c", "Total"}, "Total");
  auto f = RunRule(NewMarginsFilter(), file);
  EXPECT_EQ(f->outcome, Verdict::kReview);
  // (X,a) = 17 - 7 = 10; (X,b) = 20 - 10 - 5 = 5; (Y,c) = 8 - 5 = 3; (Y,b) = 30 - 7 - 3 = 20.
  EXPECT_EQ(f->cells_total, 4u);
}

TEST(MarginsTest, MagnitudeTablesUseStatistics) {
  TestFile file = Magnitude("region,cost\nA,100.5\nB,*\nTotal,300\n", {"region"}, {"cost"},
                            {Ev(0, "cost", 20, 100.5, {20, 10})}, "Total");
  auto f = RunRule(NewMarginsFilter(), file);
  ASSERT_TRUE(f.has_value());
  ASSERT_FALSE(f->cells.empty());
  EXPECT_THAT(f->cells[0].note, HasSubstr("recoverable as 199.5"));
}

TEST(MarginsTest, NotForMeanTables) {
  TestFile file = Magnitude("region,mean\nA,1\nB,*\nTotal,2\n", {"region"}, {"mean"}, {}, "Total",
                            OutputType::kMeanTable);
  EXPECT_FALSE(RunRule(NewMarginsFilter(), file).has_value());
}

TEST(MarginsTest, RoundedTablesSayTheValueIsApproximate) {
  TestFile file = Frequency("region,n\nA,10\nB,*\nTotal,30\n", {"region"}, {"n"}, "Total");
  file.declaration->table.rounding = 5;
  auto f = RunRule(NewMarginsFilter(), file);
  ASSERT_FALSE(f->cells.empty());
  EXPECT_THAT(f->cells[0].note, HasSubstr("approximately"));
}

// ---- differencing ----

ReleasedTable Release(std::string content, OutputType type = OutputType::kFrequencyTable) {
  ReleasedTable r;
  r.request_id = "req-1";
  r.name = "counts";
  r.path = "counts.csv";
  r.declaration = testutil::Declare(type);
  r.content = std::move(content);
  return r;
}

TEST(DifferencingTest, NoHistoryPasses) {
  TestFile file = Frequency("region,n\nA,12\n", {"region"}, {"n"});
  auto f = RunRule(NewDifferencingFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rule, "differencing");
  EXPECT_EQ(f->outcome, Verdict::kPass);
  EXPECT_THAT(f->message, HasSubstr("No comparable earlier release"));
  EXPECT_EQ(f->parameters, (nlohmann::json{{"threshold", 10}}));
}

TEST(DifferencingTest, OtherTypesAndHeadersAreNotComparable) {
  TestFile file = Frequency("region,n\nA,12\n", {"region"}, {"n"});
  std::vector<ReleasedTable> history = {Release("region,n\nA,13\n", OutputType::kHistogram),
                                        Release("region,count\nA,13\n"),
                                        Release("region,n\nA,\"13\n")};
  auto f = RunRule(NewDifferencingFilter(), file, Builtin("acro-default"), history);
  EXPECT_EQ(f->outcome, Verdict::kPass);
  EXPECT_THAT(f->message, HasSubstr("No comparable"));
}

TEST(DifferencingTest, IdenticalPasses) {
  TestFile file = Frequency("region,n\nA,12\nB,30\n", {"region"}, {"n"});
  auto f = RunRule(NewDifferencingFilter(), file, Builtin("acro-default"),
                   {Release("region,n\nB,30\nA,12\n")});
  EXPECT_EQ(f->outcome, Verdict::kPass);
  EXPECT_THAT(f->message, HasSubstr("Identical to the released req-1/counts"));
}

TEST(DifferencingTest, SmallDifferenceIsFound) {
  // 12 -> 15 and 30 -> 24: D = 9 < 10.
  TestFile file = Frequency("region,n\nA,15\nB,24\n", {"region"}, {"n"});
  auto f = RunRule(NewDifferencingFilter(), file, Builtin("acro-default"),
                   {Release("region,n\nA,12\nB,30\n")});
  EXPECT_EQ(f->outcome, Verdict::kReview);
  EXPECT_THAT(f->message, HasSubstr("req-1/counts by only 9"));
  ASSERT_THAT(CellRefs(*f), ElementsAre("0:n", "1:n"));
  EXPECT_THAT(f->cells[0].note, HasSubstr("released as 12 in req-1/counts"));
  auto strict = RunRule(NewDifferencingFilter(), file, Builtin("strict"),
                        {Release("region,n\nA,12\nB,30\n")});
  EXPECT_EQ(strict->outcome, Verdict::kFail);
}

TEST(DifferencingTest, DifferenceAtTheThresholdPasses) {
  TestFile file = Frequency("region,n\nA,15\nB,23\n", {"region"}, {"n"});  // D = 10
  auto f = RunRule(NewDifferencingFilter(), file, Builtin("acro-default"),
                   {Release("region,n\nA,12\nB,30\n")});
  EXPECT_EQ(f->outcome, Verdict::kPass);
  EXPECT_THAT(f->message, HasSubstr("at least 10"));
  file.content = "region,n\nA,12\nB,31\n";  // D = 1
  EXPECT_EQ(RunRule(NewDifferencingFilter(), file, Builtin("acro-default"),
                    {Release("region,n\nA,12\nB,30\n")})
                ->outcome,
            Verdict::kReview);
}

TEST(DifferencingTest, UnmatchedRowsCountFully) {
  TestFile file = Frequency("region,n\nA,12\nC,4\n", {"region"}, {"n"});
  auto f = RunRule(NewDifferencingFilter(), file, Builtin("acro-default"),
                   {Release("region,n\nA,12\nB,3\n")});
  EXPECT_EQ(f->outcome, Verdict::kReview);  // D = 4 + 3
  EXPECT_THAT(f->message, HasSubstr("by only 7"));
  EXPECT_EQ(f->cells_total, 2u);
}

TEST(DifferencingTest, MarginsAreNotCountedTwice) {
  // One person more in A changes A and the total: D is 1, not 2.
  TestFile file = Frequency("region,n\nA,13\nB,30\nTotal,43\n", {"region"}, {"n"}, "Total");
  auto f = RunRule(NewDifferencingFilter(), file, Builtin("acro-default"),
                   {Release("region,n\nA,12\nB,30\nTotal,42\n")});
  EXPECT_THAT(f->message, HasSubstr("by only 1 "));
}

TEST(DifferencingTest, SuppressedCellsAreSkipped) {
  TestFile file = Frequency("region,n\nA,*\nB,30\n", {"region"}, {"n"});
  auto f = RunRule(NewDifferencingFilter(), file, Builtin("acro-default"),
                   {Release("region,n\nA,12\nB,30\n")});
  EXPECT_EQ(f->outcome, Verdict::kPass);
}

TEST(DifferencingTest, HistogramsMatchByRowOrderWithoutKeys) {
  TestFile file = Frequency("n\n20\n31\n", {}, {"n"});
  file.declaration->type = OutputType::kHistogram;
  auto f = RunRule(NewDifferencingFilter(), file, Builtin("acro-default"),
                   {Release("n\n20\n30\n", OutputType::kHistogram)});
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("1:n"));
}

TEST(DifferencingTest, RowsWithTheSameKeysMatchInOrder) {
  TestFile file = Frequency("region,n\nA,12\nA,30\n", {"region"}, {"n"});
  auto f = RunRule(NewDifferencingFilter(), file, Builtin("acro-default"),
                   {Release("region,n\nA,12\nA,31\n")});
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("1:n"));
}

TEST(DifferencingTest, KeysAreNotConfusedByConcatenation) {
  // ("ab", "c") and ("a", "bc") are different rows: D = 12 + 12 + 3, not 3.
  TestFile file = Frequency("x,y,n\nab,c,12\nq,r,3\n", {"x", "y"}, {"n"});
  auto f = RunRule(NewDifferencingFilter(), file, Builtin("acro-default"),
                   {Release("x,y,n\na,bc,12\nq,r,0\n")});
  EXPECT_EQ(f->outcome, Verdict::kPass);
  EXPECT_THAT(f->message, HasSubstr("at least 10"));
}

TEST(DifferencingTest, NotForMagnitudeTables) {
  TestFile file = Magnitude("region,cost\nA,1\n", {"region"}, {"cost"}, {});
  EXPECT_FALSE(RunRule(NewDifferencingFilter(), file).has_value());
}

}  // namespace
}  // namespace safeflow::executor::disclosure
