// The development issuer: init writes a P-256 key pair (private.pem 0600, jwks.json with the
// RFC 7638 kid), refuses to replace it without force; tokens verify against DIR/jwks.json
// through the file source and carry the requested claims; the attack helpers' tokens do not.
#include "service/auth/dev_issuer.h"

#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "service/auth/jwks.h"
#include "service/auth/jwt.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::service::auth {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Code = absl::StatusCode;
using json = nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

JwtPolicy DevPolicy() {
  JwtPolicy p;
  p.issuer = kDevIssuer;
  p.audiences = {kDevAudience};
  return p;
}

class DevIssuerTest : public ::testing::Test {
 protected:
  std::string Dir() const { return tmp_.path() + "/issuer"; }
  absl::StatusOr<VerifiedToken> Verify(const std::string& token) {
    std::unique_ptr<JwksSource> keys = NewFileJwksSource(Dir() + "/jwks.json");
    return VerifyJwt(token, DevPolicy(), *keys, std::chrono::system_clock::now());
  }
  TempDir tmp_;
};

TEST_F(DevIssuerTest, InitWritesAKeyPair) {
  const mode_t old_umask = ::umask(0);  // the modes must not depend on the umask
  absl::Status s = DevIssuerInit(Dir(), false);
  ::umask(old_umask);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(ModeOf(Dir()), 0700u);
  EXPECT_EQ(ModeOf(Dir() + "/private.pem"), 0600u);
  EXPECT_EQ(ModeOf(Dir() + "/jwks.json"), 0644u);
  EXPECT_THAT(ReadFile(Dir() + "/private.pem"), HasSubstr("-----BEGIN PRIVATE KEY-----"));

  const json jwks = json::parse(ReadFile(Dir() + "/jwks.json"));
  ASSERT_EQ(jwks["keys"].size(), 1u);
  const json& k = jwks["keys"][0];
  EXPECT_EQ(k["kty"], "EC");
  EXPECT_EQ(k["crv"], "P-256");
  EXPECT_EQ(k["alg"], "ES256");
  EXPECT_EQ(k["use"], "sig");
  EXPECT_FALSE(k.contains("d"));
  EXPECT_EQ(k["kid"], JwkThumbprint(k).value());
  absl::StatusOr<std::vector<Jwk>> parsed = ParseJwks(jwks.dump());
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ((*parsed)[0].kid, k["kid"]);
}

TEST_F(DevIssuerTest, TokenRoundTrip) {
  ASSERT_THAT(DevIssuerInit(Dir(), false), IsOk());
  DevTokenRequest req;
  req.subject = "alice";
  req.roles = {"researcher", "auditor"};
  req.projects = {"p1", "p2"};
  req.ttl = std::chrono::seconds(600);
  const auto before = std::chrono::system_clock::now();
  absl::StatusOr<std::string> token = DevIssuerToken(Dir(), req);
  ASSERT_THAT(token, IsOk());
  absl::StatusOr<VerifiedToken> v = Verify(*token);
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(v->alg, "ES256");
  EXPECT_EQ(v->header["typ"], "JWT");
  const json jwks = json::parse(ReadFile(Dir() + "/jwks.json"));
  EXPECT_EQ(v->kid, jwks["keys"][0]["kid"]);
  const json& c = v->claims;
  EXPECT_EQ(c["iss"], "safeflow-dev");
  EXPECT_EQ(c["aud"], "safeflow");
  EXPECT_EQ(c["sub"], "alice");
  EXPECT_THAT(c["roles"].get<std::vector<std::string>>(), ElementsAre("researcher", "auditor"));
  EXPECT_THAT(c["projects"].get<std::vector<std::string>>(), ElementsAre("p1", "p2"));
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count();
  EXPECT_NEAR(c["iat"].get<double>(), static_cast<double>(now), 2);
  EXPECT_EQ(c["nbf"], c["iat"]);
  EXPECT_EQ(c["exp"].get<std::int64_t>(), c["iat"].get<std::int64_t>() + 600);
  ASSERT_TRUE(c["jti"].is_string());
  EXPECT_GE(c["jti"].get<std::string>().size(), 22u);
  // A fresh jti per token.
  EXPECT_NE(Verify(DevIssuerToken(Dir(), req).value()).value().claims["jti"], c["jti"]);
}

TEST_F(DevIssuerTest, AudienceIssuerTtlAndExtraClaims) {
  ASSERT_THAT(DevIssuerInit(Dir(), false), IsOk());
  DevTokenRequest req;
  req.subject = "bob";
  req.audience = "other-service";
  req.issuer = "https://elsewhere";
  req.extra_claims = {{"email", "bob@example.org"}, {"roles", {"admin"}}};
  const std::string token = DevIssuerToken(Dir(), req).value();
  EXPECT_THAT(Verify(token), StatusIs(Code::kUnauthenticated));  // wrong iss for the dev policy
  JwtPolicy policy;
  policy.issuer = "https://elsewhere";
  policy.audiences = {"other-service"};
  std::unique_ptr<JwksSource> keys = NewFileJwksSource(Dir() + "/jwks.json");
  absl::StatusOr<VerifiedToken> v =
      VerifyJwt(token, policy, *keys, std::chrono::system_clock::now());
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(v->claims["email"], "bob@example.org");
  EXPECT_EQ(v->claims["roles"], json::array({"admin"}));
  EXPECT_EQ(v->claims["projects"], json::array());

  // An expired dev token (via extra claims) is refused.
  req = DevTokenRequest{};
  req.subject = "carol";
  req.extra_claims = {{"exp", 1000}};
  absl::StatusOr<VerifiedToken> expired = Verify(DevIssuerToken(Dir(), req).value());
  ASSERT_THAT(expired, StatusIs(Code::kUnauthenticated));
  EXPECT_THAT(expired.status().message(), HasSubstr("expired"));
}

TEST_F(DevIssuerTest, BadRequests) {
  DevTokenRequest req;
  req.subject = "alice";
  absl::StatusOr<std::string> no_key = DevIssuerToken(Dir(), req);
  ASSERT_THAT(no_key, StatusIs(Code::kNotFound));
  EXPECT_THAT(no_key.status().message(), HasSubstr("dev-issuer init"));
  ASSERT_THAT(DevIssuerInit(Dir(), false), IsOk());
  req.subject = "";
  EXPECT_THAT(DevIssuerToken(Dir(), req), StatusIs(Code::kInvalidArgument));
  req.subject = "alice";
  req.ttl = std::chrono::seconds(0);
  EXPECT_THAT(DevIssuerToken(Dir(), req), StatusIs(Code::kInvalidArgument));
  req.ttl = std::chrono::seconds(60);
  req.extra_claims = json::array();
  EXPECT_THAT(DevIssuerToken(Dir(), req), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(DevIssuerInit("", false), StatusIs(Code::kInvalidArgument));
}

TEST_F(DevIssuerTest, InitRefusesToReplaceAKeyUnlessForced) {
  ASSERT_THAT(DevIssuerInit(Dir(), false), IsOk());
  const std::string pem = ReadFile(Dir() + "/private.pem");
  const std::string jwks = ReadFile(Dir() + "/jwks.json");
  DevTokenRequest req;
  req.subject = "alice";
  const std::string old_token = DevIssuerToken(Dir(), req).value();

  absl::Status again = DevIssuerInit(Dir(), false);
  ASSERT_THAT(again, StatusIs(Code::kAlreadyExists));
  EXPECT_THAT(again.message(), HasSubstr("--force"));
  EXPECT_EQ(ReadFile(Dir() + "/private.pem"), pem);
  EXPECT_EQ(ReadFile(Dir() + "/jwks.json"), jwks);
  EXPECT_THAT(Verify(old_token), IsOk());

  ASSERT_THAT(DevIssuerInit(Dir(), true), IsOk());
  EXPECT_NE(ReadFile(Dir() + "/private.pem"), pem);
  EXPECT_NE(ReadFile(Dir() + "/jwks.json"), jwks);
  EXPECT_EQ(ModeOf(Dir() + "/private.pem"), 0600u);
  absl::StatusOr<VerifiedToken> old = Verify(old_token);
  ASSERT_THAT(old, StatusIs(Code::kUnauthenticated));
  EXPECT_THAT(old.status().message(), HasSubstr("no key with kid"));
  EXPECT_THAT(Verify(DevIssuerToken(Dir(), req).value()), IsOk());
}

TEST_F(DevIssuerTest, AttackHelpersMakeTokensThatAreRefused) {
  ASSERT_THAT(DevIssuerInit(Dir(), false), IsOk());
  const json jwks = json::parse(ReadFile(Dir() + "/jwks.json"));
  const std::string kid = jwks["keys"][0]["kid"];
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const json claims = {{"iss", kDevIssuer},
                       {"aud", kDevAudience},
                       {"sub", "mallory"},
                       {"exp", now + 600},
                       {"roles", {"admin"}}};
  // DevIssuerSign with an honest header verifies...
  EXPECT_THAT(Verify(DevIssuerSign(Dir(), {{"alg", "ES256"}, {"kid", kid}}, claims).value()),
              IsOk());
  EXPECT_THAT(Verify(DevIssuerSign(Dir(), json::object(), claims).value()), IsOk());
  // ... a lying one does not.
  EXPECT_THAT(Verify(DevIssuerSign(Dir(), {{"alg", "RS256"}, {"kid", kid}}, claims).value()),
              StatusIs(Code::kUnauthenticated));
  EXPECT_THAT(
      Verify(
          DevIssuerSign(Dir(), {{"alg", "ES256"}, {"kid", kid}, {"crit", {"x"}}}, claims).value()),
      StatusIs(Code::kUnauthenticated));
  // HS256 keyed with the published JWKS or the key's JWK.
  for (const std::string& secret :
       {jwks.dump(), ReadFile(Dir() + "/jwks.json"), jwks["keys"][0].dump(),
        jwks["keys"][0]["x"].get<std::string>()}) {
    absl::StatusOr<VerifiedToken> v =
        Verify(SignHs256ForTest({{"alg", "HS256"}, {"kid", kid}}, claims, secret));
    ASSERT_THAT(v, StatusIs(Code::kUnauthenticated));
    EXPECT_THAT(v.status().message(), HasSubstr("HS256"));
  }
  // SignHs256ForTest sets alg when missing.
  const std::string hs = SignHs256ForTest(json::object(), claims, "k");
  EXPECT_EQ(json::parse(Base64UrlDecode(hs.substr(0, hs.find('.'))).value())["alg"], "HS256");
}

}  // namespace
}  // namespace safeflow::service::auth
