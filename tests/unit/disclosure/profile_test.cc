#include "executor/disclosure/profile.h"

#include <ostream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::executor::disclosure {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(BuiltinProfileTest, Names) {
  EXPECT_THAT(BuiltinProfileNames(), ElementsAre("acro-default", "strict", "datashield"));
  for (std::string_view name : BuiltinProfileNames()) {
    auto profile = BuiltinProfile(name);
    ASSERT_THAT(profile, IsOk());
    EXPECT_EQ(profile->name, name);
  }
}

TEST(BuiltinProfileTest, UnknownNameListsKnownOnes) {
  auto profile = BuiltinProfile("lenient");
  EXPECT_THAT(profile, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(profile.status().message(),
              AllOf(HasSubstr("lenient"), HasSubstr("acro-default, strict, datashield")));
}

TEST(BuiltinProfileTest, AcroDefault) {
  Profile p = BuiltinProfile("acro-default").value();
  EXPECT_EQ(p.statistical_outcome, Verdict::kReview);
  EXPECT_EQ(p.threshold, 10);
  EXPECT_EQ(p.residual_dof, 10);
  EXPECT_EQ(p.dominance_n, 2);
  EXPECT_DOUBLE_EQ(p.dominance_k, 0.9);
  EXPECT_DOUBLE_EQ(p.p_percent, 0.1);
  EXPECT_TRUE(p.zeros_disclosive);
  EXPECT_EQ(p.required_rounding, 0);
  EXPECT_FALSE(p.allow_data_extract);
  EXPECT_TRUE(p.check_identifiers);
}

TEST(BuiltinProfileTest, Strict) {
  Profile p = BuiltinProfile("strict").value();
  EXPECT_EQ(p.statistical_outcome, Verdict::kFail);
  EXPECT_EQ(p.threshold, 10);
  EXPECT_EQ(p.residual_dof, 20);
  EXPECT_EQ(p.dominance_n, 2);
  EXPECT_DOUBLE_EQ(p.dominance_k, 0.8);
  EXPECT_DOUBLE_EQ(p.p_percent, 0.15);
  EXPECT_EQ(p.required_rounding, 5);
  EXPECT_TRUE(p.zeros_disclosive);
  EXPECT_FALSE(p.allow_data_extract);
}

TEST(BuiltinProfileTest, DataShield) {
  Profile p = BuiltinProfile("datashield").value();
  EXPECT_EQ(p.statistical_outcome, Verdict::kFail);
  EXPECT_EQ(p.threshold, 3);
  EXPECT_DOUBLE_EQ(p.max_params_ratio, 0.33);
  EXPECT_FALSE(p.zeros_disclosive);
  EXPECT_EQ(p.dominance_n, 0);
  EXPECT_DOUBLE_EQ(p.p_percent, 0);
}

TEST(ProfileFromJsonTest, EmptyObjectIsAcroDefaultUnderTheNewName) {
  auto p = ProfileFromJson("project-x", nlohmann::json::object());
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->name, "project-x");
  Profile expected;
  expected.name = "project-x";
  EXPECT_EQ(ToJson(*p), ToJson(expected));
}

TEST(ProfileFromJsonTest, OverridesMembersOfTheBase) {
  auto p = ProfileFromJson("mine", {{"base", "strict"}, {"threshold", 5}, {"p_percent", 0.2}});
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->name, "mine");
  EXPECT_EQ(p->threshold, 5);
  EXPECT_DOUBLE_EQ(p->p_percent, 0.2);
  EXPECT_EQ(p->residual_dof, 20);  // from strict
  EXPECT_EQ(p->required_rounding, 5);
  EXPECT_EQ(p->statistical_outcome, Verdict::kFail);
}

TEST(ProfileFromJsonTest, EveryMember) {
  nlohmann::json json = {{"base", "datashield"},
                         {"statistical_outcome", "review"},
                         {"threshold", 7},
                         {"residual_dof", 0},
                         {"max_params_ratio", 0.5},
                         {"dominance_n", 3},
                         {"dominance_k", 1},
                         {"p_percent", 0},
                         {"zeros_disclosive", true},
                         {"required_rounding", 10},
                         {"differencing_threshold", 20},
                         {"check_identifiers", false},
                         {"allow_data_extract", true},
                         {"allowed_extensions", {".csv"}},
                         {"max_file_bytes", 1024},
                         {"max_rows", 50}};
  auto p = ProfileFromJson("all", json);
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->statistical_outcome, Verdict::kReview);
  EXPECT_EQ(p->threshold, 7);
  EXPECT_EQ(p->residual_dof, 0);
  EXPECT_DOUBLE_EQ(p->max_params_ratio, 0.5);
  EXPECT_EQ(p->dominance_n, 3);
  EXPECT_DOUBLE_EQ(p->dominance_k, 1);
  EXPECT_DOUBLE_EQ(p->p_percent, 0);
  EXPECT_TRUE(p->zeros_disclosive);
  EXPECT_EQ(p->required_rounding, 10);
  EXPECT_EQ(p->differencing_threshold, 20);
  EXPECT_FALSE(p->check_identifiers);
  EXPECT_TRUE(p->allow_data_extract);
  EXPECT_THAT(p->allowed_extensions, ElementsAre(".csv"));
  EXPECT_EQ(p->max_file_bytes, 1024u);
  EXPECT_EQ(p->max_rows, 50u);
}

TEST(ProfileFromJsonTest, ToJsonRoundTrips) {
  for (std::string_view name : BuiltinProfileNames()) {
    Profile builtin = BuiltinProfile(name).value();
    auto back = ProfileFromJson(name, nlohmann::json::parse(ToJson(builtin).dump()));
    ASSERT_THAT(back, IsOk()) << name;
    EXPECT_EQ(ToJson(*back), ToJson(builtin));
  }
}

TEST(ProfileFromJsonTest, NameMustAgreeWithTheKey) {
  auto p = ProfileFromJson("a", {{"name", "b"}});
  EXPECT_THAT(p, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(p.status().message(), HasSubstr("name: must be \"a\""));
  EXPECT_THAT(ProfileFromJson("", nlohmann::json::object()),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ProfileFromJsonTest, RefusesNonObject) {
  EXPECT_THAT(ProfileFromJson("p", nlohmann::json::array()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ProfileFromJson("p", "strict"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ProfileFromJsonTest, ListsEveryProblem) {
  auto p = ProfileFromJson("bad", {{"base", "nope"},
                                   {"thresold", 5},
                                   {"threshold", 0},
                                   {"statistical_outcome", "pass"},
                                   {"allowed_extensions", {"csv", ".png", 3}},
                                   {"zeros_disclosive", "yes"}});
  EXPECT_THAT(p, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(p.status().message(),
              AllOf(HasSubstr("base: unknown disclosure profile \"nope\""),
                    HasSubstr("thresold: unknown member"), HasSubstr("threshold: 0 is outside"),
                    HasSubstr("statistical_outcome: must be \"review\" or \"fail\""),
                    HasSubstr("allowed_extensions[0]"), HasSubstr("allowed_extensions[2]"),
                    HasSubstr("zeros_disclosive: must be true or false")));
  EXPECT_THAT(p.status().message(), ::testing::Not(HasSubstr("allowed_extensions[1]")));
}

struct RangeCase {
  const char* member;
  nlohmann::json value;
  bool ok;
};

void PrintTo(const RangeCase& c, std::ostream* os) {
  *os << c.member << "=" << c.value.dump() << (c.ok ? " ok" : " refused");
}

class ProfileRangeTest : public ::testing::TestWithParam<RangeCase> {};

TEST_P(ProfileRangeTest, Boundary) {
  const RangeCase& c = GetParam();
  auto p = ProfileFromJson("p", {{c.member, c.value}});
  if (c.ok) {
    EXPECT_THAT(p, IsOk()) << c.member << "=" << c.value.dump();
  } else {
    EXPECT_THAT(p, StatusIs(absl::StatusCode::kInvalidArgument))
        << c.member << "=" << c.value.dump();
    EXPECT_THAT(std::string(p.status().message()), HasSubstr(c.member));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Ranges, ProfileRangeTest,
    ::testing::Values(
        RangeCase{"threshold", 0, false}, RangeCase{"threshold", 1, true},
        RangeCase{"threshold", 2, true}, RangeCase{"threshold", 999, true},
        RangeCase{"threshold", 1000, true}, RangeCase{"threshold", 1001, false},
        RangeCase{"threshold", 5.0, false}, RangeCase{"threshold", "5", false},
        RangeCase{"threshold", nlohmann::json(18446744073709551615ull), false},
        RangeCase{"threshold", -1, false}, RangeCase{"residual_dof", -1, false},
        RangeCase{"residual_dof", 0, true}, RangeCase{"residual_dof", 10000, true},
        RangeCase{"residual_dof", 10001, false}, RangeCase{"dominance_n", -1, false},
        RangeCase{"dominance_n", 0, true}, RangeCase{"dominance_n", 10, true},
        RangeCase{"dominance_n", 11, false}, RangeCase{"dominance_k", 0, false},
        RangeCase{"dominance_k", 0.0001, true}, RangeCase{"dominance_k", 1, true},
        RangeCase{"dominance_k", 1.0001, false}, RangeCase{"dominance_k", "0.9", false},
        RangeCase{"p_percent", -0.0001, false}, RangeCase{"p_percent", 0, true},
        RangeCase{"p_percent", 0.9999, true}, RangeCase{"p_percent", 1, false},
        RangeCase{"max_params_ratio", -0.1, false}, RangeCase{"max_params_ratio", 0, true},
        RangeCase{"max_params_ratio", 1, true}, RangeCase{"max_params_ratio", 1.1, false},
        RangeCase{"required_rounding", -1, false}, RangeCase{"required_rounding", 0, true},
        RangeCase{"required_rounding", 1000, true}, RangeCase{"required_rounding", 1001, false},
        RangeCase{"differencing_threshold", -1, false},
        RangeCase{"differencing_threshold", 0, true},
        RangeCase{"differencing_threshold", 1001, false}, RangeCase{"max_file_bytes", 0, false},
        RangeCase{"max_file_bytes", 1, true}, RangeCase{"max_file_bytes", -5, false},
        RangeCase{"max_file_bytes", 1.5, false}, RangeCase{"max_rows", 0, false},
        RangeCase{"max_rows", 1, true},
        RangeCase{"max_rows", nlohmann::json(18446744073709551615ull), true},
        RangeCase{"allowed_extensions", nlohmann::json::array(), true},
        RangeCase{"allowed_extensions", {"."}, false},
        RangeCase{"allowed_extensions", {"./x"}, false},
        RangeCase{"allowed_extensions", ".csv", false},
        RangeCase{"statistical_outcome", "fail", true},
        RangeCase{"statistical_outcome", "Fail", false}, RangeCase{"check_identifiers", 1, false},
        RangeCase{"allow_data_extract", false, true}, RangeCase{"base", 3, false}));

}  // namespace
}  // namespace safeflow::executor::disclosure
