// The evidence rules: dominance_nk, p_percent, negative_contributions.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/disclosure/filter.h"
#include "tests/unit/disclosure/rules_test_util.h"

namespace safeflow::executor::disclosure {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testutil::Builtin;
using testutil::CellRefs;
using testutil::Ev;
using testutil::Frequency;
using testutil::Magnitude;
using testutil::RunRule;
using testutil::TestFile;

constexpr char kFourCells[] = "region,cost\nA,100\nB,100\nC,100\nD,100\n";

TestFile Costs(std::vector<CellEvidence> cells, std::string content = kFourCells) {
  return Magnitude(std::move(content), {"region"}, {"cost"}, std::move(cells));
}

// ---- dominance_nk (acro-default: n = 2, k = 0.9) ----

TEST(DominanceTest, ExactlyKPassesJustAboveFails) {
  TestFile file = Costs({Ev(0, "cost", 20, 100, {50, 40}),       // 0.90: exactly k
                         Ev(1, "cost", 20, 100, {50, 40.001}),   // just above
                         Ev(2, "cost", 20, 100, {50, 39.999}),   // just below
                         Ev(3, "cost", 20, 1000, {450, 450})});  // 0.9 with other numbers
  auto f = RunRule(NewDominanceFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rule, "dominance_nk");
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("1:cost"));
  EXPECT_THAT(f->cells[0].note, HasSubstr("sum of top 2 = 0.9"));
  EXPECT_EQ(f->cells[0].value, "100");
  EXPECT_EQ(f->parameters, (nlohmann::json{{"n", 2}, {"k", 0.9}}));
}

TEST(DominanceTest, StrictUsesItsOwnK) {
  TestFile file = Costs({Ev(0, "cost", 20, 100, {50, 30}), Ev(1, "cost", 20, 100, {50, 31})});
  auto f = RunRule(NewDominanceFilter(), file, Builtin("strict"));  // k = 0.8
  EXPECT_EQ(f->outcome, Verdict::kFail);
  ASSERT_THAT(CellRefs(*f), ElementsAre("1:cost"));
}

TEST(DominanceTest, FewerContributorsThanNIsDominated) {
  TestFile file = Costs(
      {Ev(0, "cost", 1, 100, {100}), Ev(1, "cost", 2, 100, {50, 50}), Ev(2, "cost", 0, 0, {})});
  auto f = RunRule(NewDominanceFilter(), file);
  // One contributor: dominated. Two: their sum is the whole cell (1.0 > 0.9). None: skipped.
  ASSERT_THAT(CellRefs(*f), ElementsAre("0:cost", "1:cost"));
  EXPECT_THAT(f->cells[0].note, HasSubstr("only 1 contributor"));
}

TEST(DominanceTest, SuppressedCellsAreSkipped) {
  TestFile file = Costs({Ev(0, "cost", 1, 100, {100})}, "region,cost\nA,*\n");
  EXPECT_EQ(RunRule(NewDominanceFilter(), file)->outcome, Verdict::kPass);
}

TEST(DominanceTest, EvidenceWithTooFewLargestValuesFails) {
  Profile p = Builtin("acro-default");
  p.dominance_n = 3;
  TestFile file = Costs({Ev(0, "cost", 20, 100, {10, 5})});
  auto f = RunRule(NewDominanceFilter(), file, p);
  EXPECT_EQ(f->outcome, Verdict::kFail);
  EXPECT_THAT(f->message, HasSubstr("does not list the 3 largest"));
}

TEST(DominanceTest, DisabledWhenNIsZeroAndForOtherTypes) {
  TestFile file = Costs({Ev(0, "cost", 1, 100, {100})});
  EXPECT_FALSE(RunRule(NewDominanceFilter(), file, Builtin("datashield")).has_value());
  TestFile counts = Frequency("region,n\nA,1\n", {"region"}, {"n"});
  EXPECT_FALSE(RunRule(NewDominanceFilter(), counts).has_value());
}

TEST(DominanceTest, MeanTablesToo) {
  TestFile file = Magnitude("region,mean\nA,3.5\n", {"region"}, {"mean"},
                            {Ev(0, "mean", 12, 100, {95, 1})}, "", OutputType::kMeanTable);
  EXPECT_EQ(RunRule(NewDominanceFilter(), file)->outcome, Verdict::kReview);
}

TEST(DominanceTest, WithoutEvidenceFails) {
  TestFile file = Costs({});
  file.evidence.reset();
  EXPECT_EQ(RunRule(NewDominanceFilter(), file)->outcome, Verdict::kFail);
}

// ---- p_percent (acro-default: p = 0.1) ----

TEST(PPercentTest, EqualityPassesLessFails) {
  // Remainder = sum - largest - second; the rule needs remainder >= 0.1 * largest.
  TestFile file =
      Costs({Ev(0, "cost", 20, 100, {50, 45}),       // remainder 5 = 0.1 * 50
             Ev(1, "cost", 20, 100, {50, 45.5}),     // remainder 4.5 < 5
             Ev(2, "cost", 20, 100, {50, 44}),       // remainder 6
             Ev(3, "cost", 20, 1.0, {0.5, 0.45})});  // 0.05 = 0.1 * 0.5, in floating point
  auto f = RunRule(NewPPercentFilter(), file);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->rule, "p_percent");
  EXPECT_EQ(f->outcome, Verdict::kReview);
  ASSERT_THAT(CellRefs(*f), ElementsAre("1:cost"));
  EXPECT_EQ(f->parameters, (nlohmann::json{{"p", 0.1}}));
}

TEST(PPercentTest, SingleContributorAndPairsFail) {
  TestFile file = Costs(
      {Ev(0, "cost", 1, 100, {100}), Ev(1, "cost", 2, 100, {60, 40}), Ev(2, "cost", 0, 0, {})});
  auto f = RunRule(NewPPercentFilter(), file);
  ASSERT_THAT(CellRefs(*f), ElementsAre("0:cost", "1:cost"));
  EXPECT_THAT(f->cells[0].note, HasSubstr("single contributor"));
}

TEST(PPercentTest, MissingSecondLargestFails) {
  TestFile file = Costs({Ev(0, "cost", 5, 100, {50})});
  EXPECT_EQ(RunRule(NewPPercentFilter(), file)->outcome, Verdict::kFail);
}

TEST(PPercentTest, NotAppliedWhenPIsZero) {
  TestFile file = Costs({Ev(0, "cost", 1, 100, {100})});
  EXPECT_FALSE(RunRule(NewPPercentFilter(), file, Builtin("datashield")).has_value());
  EXPECT_EQ(RunRule(NewPPercentFilter(), file, Builtin("strict"))->outcome, Verdict::kFail);
}

// ---- negative_contributions ----

TEST(NegativesTest, AnyNegativeIsReviewWhateverTheProfile) {
  TestFile file = Costs({Ev(0, "cost", 20, 100, {20, 10}, 1), Ev(1, "cost", 20, 100, {20, 10})});
  for (const char* profile : {"acro-default", "strict", "datashield"}) {
    auto f = RunRule(NewNegativesFilter(), file, Builtin(profile));
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->rule, "negative_contributions");
    EXPECT_EQ(f->outcome, Verdict::kReview) << profile;
    ASSERT_THAT(CellRefs(*f), ElementsAre("0:cost"));
  }
}

TEST(NegativesTest, NoNegativesPasses) {
  TestFile file = Costs({Ev(0, "cost", 20, 100, {20, 10}, 0)});
  EXPECT_EQ(RunRule(NewNegativesFilter(), file)->outcome, Verdict::kPass);
  TestFile counts = Frequency("region,n\nA,1\n", {"region"}, {"n"});
  EXPECT_FALSE(RunRule(NewNegativesFilter(), counts).has_value());
}

}  // namespace
}  // namespace safeflow::executor::disclosure
