#include "service/api/router.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::service {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using Kind = RouteMatch::Kind;

Handler Ok() {
  return [](HttpRequest&) { return HttpResponse{}; };
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(r_.Add({"GET", "/v1/tasks/{id}", Ok()}), IsOk());
    ASSERT_THAT(r_.Add({"POST", "/v1/tasks/{id}:cancel", Ok()}), IsOk());
    ASSERT_THAT(r_.Add({"GET", "/v1/tasks", Ok()}), IsOk());
    ASSERT_THAT(r_.Add({"POST", "/v1/tasks", Ok()}), IsOk());
    ASSERT_THAT(r_.Add({"GET", "/v1/service-info", Ok()}), IsOk());
  }
  Router r_;
};

TEST_F(RouterTest, MatchesLiteralAndParameterSegments) {
  RouteMatch m = r_.Match("GET", "/v1/tasks/abc");
  ASSERT_EQ(m.kind, Kind::kFound);
  EXPECT_EQ(m.route->pattern, "/v1/tasks/{id}");
  EXPECT_EQ(m.params.at("id"), "abc");
}

TEST_F(RouterTest, VerbSuffixWinsOverPlainParameter) {
  RouteMatch m = r_.Match("POST", "/v1/tasks/abc:cancel");
  ASSERT_EQ(m.kind, Kind::kFound);
  EXPECT_EQ(m.route->pattern, "/v1/tasks/{id}:cancel");
  EXPECT_EQ(m.params.at("id"), "abc");
}

TEST_F(RouterTest, WrongMethodListsAllowedOnes) {
  RouteMatch m = r_.Match("DELETE", "/v1/tasks");
  ASSERT_EQ(m.kind, Kind::kMethodNotAllowed);
  EXPECT_THAT(m.allowed, ::testing::ElementsAre("GET", "POST"));
}

TEST_F(RouterTest, UnknownPathsAndSlashVariantsAreNotFound) {
  EXPECT_EQ(r_.Match("GET", "/v1/nope").kind, Kind::kNotFound);
  EXPECT_EQ(r_.Match("GET", "/v1/tasks/").kind, Kind::kNotFound);
  EXPECT_EQ(r_.Match("GET", "/v1//tasks").kind, Kind::kNotFound);
  EXPECT_EQ(r_.Match("GET", "").kind, Kind::kNotFound);
  EXPECT_NE(r_.Match("POST", "/v1/tasks/:cancel").kind, Kind::kFound);  // empty id
}

TEST_F(RouterTest, ParametersArePercentDecodedAndBadEscapesRejected) {
  RouteMatch m = r_.Match("GET", "/v1/tasks/a%2Fb");
  ASSERT_EQ(m.kind, Kind::kFound);
  EXPECT_EQ(m.params.at("id"), "a/b");
  EXPECT_EQ(r_.Match("GET", "/v1/tasks/a%zz").kind, Kind::kNotFound);
  EXPECT_EQ(r_.Match("GET", "/v1/tasks/a%2").kind, Kind::kNotFound);
}

TEST(RouterAddTest, RejectsDuplicatesAndMalformedPatterns) {
  Router r;
  ASSERT_THAT(r.Add({"GET", "/a", Ok()}), IsOk());
  EXPECT_THAT(r.Add({"GET", "/a", Ok()}), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(r.Add({"GET", "a", Ok()}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.Add({"GET", "/a/{", Ok()}), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.Add({"GET", "/a/{id}x", Ok()}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(PercentDecodeTest, PlusIsSpaceOnlyWhenAsked) {
  std::string out;
  ASSERT_TRUE(PercentDecode("a+b%20c", true, out));
  EXPECT_EQ(out, "a b c");
  ASSERT_TRUE(PercentDecode("a+b", false, out));
  EXPECT_EQ(out, "a+b");
}

}  // namespace
}  // namespace safeflow::service
