// NewHttpAuthority without a network: its configuration checks, and OutputKeyFor and
// CheckInput, which answer for the relay's own project only, without HTTP (the base URL here
// would refuse every connection).
#include "executor/attestation/http_authority.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::executor::attestation {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::HasSubstr;
using Code = absl::StatusCode;

RelayConfig Good() {
  RelayConfig c;
  c.base_url = "http://127.0.0.1:1/";
  c.relay_token = "sfr1.payload.mac";
  c.project = "cohort-a";
  c.output_key = OutputKey{"ds_outputs", std::string(32, 'k')};
  return c;
}

TEST(HttpAuthorityTest, RefusesBadConfigurations) {
  EXPECT_THAT(NewHttpAuthority(Good()), IsOk());
  std::vector<std::pair<std::string, std::function<void(RelayConfig&)>>> cases = {
      {"base_url", [](RelayConfig& c) { c.base_url = "ftp://example.org"; }},
      {"base_url", [](RelayConfig& c) { c.base_url = ""; }},
      {"relay_token", [](RelayConfig& c) { c.relay_token = ""; }},
      {"relay_token", [](RelayConfig& c) { c.relay_token = "sfr1.a\r\nX-Evil: 1"; }},
      {"project", [](RelayConfig& c) { c.project = ""; }},
      {"timeout_seconds", [](RelayConfig& c) { c.timeout_seconds = 0; }},
      {"output_key", [](RelayConfig& c) { c.output_key->public_key = "short"; }},
  };
  for (auto& [field, change] : cases) {
    RelayConfig c = Good();
    change(c);
    absl::StatusOr<std::unique_ptr<Authority>> a = NewHttpAuthority(c);
    ASSERT_THAT(a, StatusIs(Code::kInvalidArgument)) << field;
    EXPECT_THAT(std::string(a.status().message()), HasSubstr(field));
    EXPECT_THAT(std::string(a.status().message()), ::testing::Not(HasSubstr("X-Evil")));
  }
}

TEST(HttpAuthorityTest, OutputKeyIsTheConfiguredOneForTheConfiguredProjectOnly) {
  std::unique_ptr<Authority> a = NewHttpAuthority(Good()).value();
  absl::StatusOr<OutputKey> k = a->OutputKeyFor("cohort-a");
  ASSERT_THAT(k, IsOk());
  EXPECT_EQ(k->key_id, "ds_outputs");
  EXPECT_EQ(k->public_key, std::string(32, 'k'));
  absl::StatusOr<OutputKey> other = a->OutputKeyFor("cohort-b");
  ASSERT_THAT(other, StatusIs(Code::kFailedPrecondition));
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("cohort-b"));
  RelayConfig none = Good();
  none.output_key.reset();
  EXPECT_THAT(NewHttpAuthority(none).value()->OutputKeyFor("cohort-a"),
              StatusIs(Code::kFailedPrecondition));
}

TEST(HttpAuthorityTest, InputsOfAnotherProjectAreRefusedWithoutAsking) {
  std::unique_ptr<Authority> a = NewHttpAuthority(Good()).value();
  EXPECT_THAT(a->CheckInput("cohort-b", "file:///x", std::nullopt),
              StatusIs(Code::kPermissionDenied));
}

TEST(HttpAuthorityTest, TheRelayCannotIssueRelayTokens) {
  std::unique_ptr<Authority> a = NewHttpAuthority(Good()).value();
  EXPECT_THAT(a->IssueRelayToken("t", 1, "cohort-a"), StatusIs(Code::kUnimplemented));
  EXPECT_THAT(a->ReleaseKeys("token", {}), IsOk());  // nothing asked: no request
}

}  // namespace
}  // namespace safeflow::executor::attestation
