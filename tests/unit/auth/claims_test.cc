// Roles and projects from token claims, certificate fingerprints, the audit hash chain's
// canonical form, and auth configuration checks.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "service/auth/authenticator.h"
#include "service/config/config.h"
#include "service/store/audit_store.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::service {
namespace {

using nlohmann::json;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ClaimsTest, RolesByNameUrnAndExplicitMapping) {
  OidcConfig c;
  c.roles_claim = "eduperson_entitlement";
  c.role_values = {{"urn:example:staff", "auditor"}};
  json claims = {{"eduperson_entitlement",
                  {"urn:geant:lifescience-ri.eu:group:safeflow:researcher#aai.lifescience-ri.eu",
                   "urn:example:staff", "urn:example:something-else", "workflow-admin-ish"}}};
  std::set<Role> roles = RolesFromClaims(claims, c);
  EXPECT_EQ(roles, (std::set<Role>{Role::kResearcher, Role::kAuditor}));
}

TEST(ClaimsTest, NestedClaimPathAndSingleString) {
  OidcConfig c;
  c.roles_claim = "realm_access.roles";
  EXPECT_EQ(RolesFromClaims({{"realm_access", {{"roles", {"output-checker"}}}}}, c),
            std::set<Role>{Role::kOutputChecker});
  c.roles_claim = "role";
  EXPECT_EQ(RolesFromClaims({{"role", "researcher"}}, c), std::set<Role>{Role::kResearcher});
  EXPECT_TRUE(RolesFromClaims({{"role", 7}}, c).empty());
  EXPECT_TRUE(RolesFromClaims(json::object(), c).empty());
}

TEST(ClaimsTest, ProjectsWithPrefixAndDuplicates) {
  OidcConfig c;
  c.projects_claim = "groups";
  c.project_prefix = "urn:tre:project:";
  json claims = {{"groups",
                  {"urn:tre:project:cohort-a#idp", "urn:tre:project:cohort-b", "other",
                   "urn:tre:project:cohort-a"}}};
  EXPECT_THAT(ProjectsFromClaims(claims, c), ElementsAre("cohort-a", "cohort-b"));
  c.project_prefix.clear();
  EXPECT_THAT(ProjectsFromClaims({{"groups", {"p1", "p2", "p1"}}}, c), ElementsAre("p1", "p2"));
}

TEST(CertificateTest, FingerprintOfGarbageIsRefused) {
  EXPECT_THAT(CertificateFingerprint("not a certificate"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AuditChainTest, CanonicalFormIsSortedCompactJsonAndHashChains) {
  store::AuditRecord r;
  r.seq = 7;
  r.time = "2026-11-21T10:00:00.000001Z";
  r.entry.actor = "alice";
  r.entry.action = "task.create";
  r.entry.outcome = "success";
  r.entry.details = {{"z", 1}, {"a", "x"}};
  const std::string canonical = store::AuditCanonical(r);
  EXPECT_EQ(canonical.find("{\"action\":\"task.create\",\"actor\":\"alice\""), 0u) << canonical;
  EXPECT_THAT(canonical, HasSubstr("\"details\":{\"a\":\"x\",\"z\":1}"));
  const std::string h1 = store::AuditHash(store::kAuditGenesis, canonical);
  EXPECT_EQ(h1.size(), 64u);
  r.entry.actor = "mallory";
  EXPECT_NE(store::AuditHash(store::kAuditGenesis, store::AuditCanonical(r)), h1);
  EXPECT_NE(store::AuditHash(std::string(64, '1'), canonical), h1);
}

TEST(AuthConfigTest, ModesAreCheckedTogether) {
  absl::StatusOr<Config> c = ParseConfig(
      "auth:\n  mode: [none, oidc, kerberos]\n  oidc:\n    role_values: {x: superuser}\n"
      "  mtls:\n    identities:\n      - fingerprint_sha256: ABC\n        roles: [root]\n");
  ASSERT_THAT(c, IsOk());
  absl::Status s = ValidateConfig(*c);
  ASSERT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string msg(s.message());
  EXPECT_THAT(msg, HasSubstr("'kerberos' is not one of"));
  EXPECT_THAT(msg, HasSubstr("none cannot be combined"));
  EXPECT_THAT(msg, HasSubstr("auth.oidc.issuer: required"));
  EXPECT_THAT(msg, HasSubstr("set exactly one of jwks_file and jwks_url"));
  EXPECT_THAT(msg, HasSubstr("'superuser' (for 'x') is not a role"));
  EXPECT_THAT(msg, HasSubstr("fingerprint_sha256: must be 64"));
  EXPECT_THAT(msg, HasSubstr("'root' is not a role"));
  EXPECT_THAT(msg, HasSubstr("subject: required"));
}

TEST(AuthConfigTest, JwksUrlMustBeHttps) {
  absl::StatusOr<Config> c = ParseConfig(
      "auth:\n  mode: [oidc]\n  oidc:\n    issuer: https://login\n    audiences: [sf]\n"
      "    jwks_url: http://login/jwks\n");
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(std::string(ValidateConfig(*c).message()), HasSubstr("must be https://"));
}

}  // namespace
}  // namespace safeflow::service
