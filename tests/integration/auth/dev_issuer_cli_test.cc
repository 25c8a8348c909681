// `safeflow dev-issuer` end to end: init, token, and VerifyJwt of the printed token against
// DIR/jwks.json through the file source; --force; usage errors exit 2.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "service/auth/dev_issuer.h"
#include "service/auth/jwks.h"
#include "service/auth/jwt.h"
#include "tests/testing/integration.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::service::auth {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::RunProgram;
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

struct Result {
  int code;
  std::string output;
};

Result Cli(std::vector<std::string> args) {
  args.insert(args.begin(), SAFEFLOW_CLI_PATH);
  Result r;
  r.code = RunProgram(args, r.output);
  return r;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

absl::StatusOr<VerifiedToken> Verify(const std::string& dir, const std::string& token,
                                     const std::string& issuer = kDevIssuer,
                                     const std::string& audience = kDevAudience) {
  JwtPolicy policy;
  policy.issuer = issuer;
  policy.audiences = {audience};
  std::unique_ptr<JwksSource> keys = NewFileJwksSource(dir + "/jwks.json");
  return VerifyJwt(token, policy, *keys, std::chrono::system_clock::now());
}

TEST(DevIssuerCliTest, InitTokenVerify) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/dev-issuer";
  Result init = Cli({"dev-issuer", "init", dir});
  ASSERT_EQ(init.code, 0) << init.output;
  EXPECT_THAT(init.output, HasSubstr("private.pem"));
  struct stat st {};
  ASSERT_EQ(::stat((dir + "/private.pem").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_THAT(ParseJwks(ReadFile(dir + "/jwks.json")), IsOk());

  Result token = Cli({"dev-issuer", "token", dir, "--sub", "alice", "--roles", "researcher,auditor",
                      "--projects", "p1,p2", "--ttl", "900"});
  ASSERT_EQ(token.code, 0) << token.output;
  const std::string jwt = Trim(token.output);
  EXPECT_EQ(std::count(jwt.begin(), jwt.end(), '.'), 2) << jwt;
  EXPECT_EQ(jwt.find_first_of(" \n\t"), std::string::npos) << "only the token is printed";
  absl::StatusOr<VerifiedToken> v = Verify(dir, jwt);
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(v->alg, "ES256");
  EXPECT_EQ(v->claims["iss"], "safeflow-dev");
  EXPECT_EQ(v->claims["aud"], "safeflow");
  EXPECT_EQ(v->claims["sub"], "alice");
  EXPECT_THAT(v->claims["roles"].get<std::vector<std::string>>(),
              ElementsAre("researcher", "auditor"));
  EXPECT_THAT(v->claims["projects"].get<std::vector<std::string>>(), ElementsAre("p1", "p2"));
  EXPECT_EQ(v->claims["exp"].get<std::int64_t>() - v->claims["iat"].get<std::int64_t>(), 900);
  EXPECT_TRUE(v->claims["jti"].is_string());

  // --aud/--iss (also as --flag=value), empty lists, default ttl.
  Result custom = Cli({"dev-issuer", "token", dir, "--sub=bob", "--roles", "",
                       "--projects=", "--aud", "other", "--iss=https://elsewhere"});
  ASSERT_EQ(custom.code, 0) << custom.output;
  EXPECT_THAT(Verify(dir, Trim(custom.output)), StatusIs(Code::kUnauthenticated));
  absl::StatusOr<VerifiedToken> c = Verify(dir, Trim(custom.output), "https://elsewhere", "other");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->claims["roles"], json::array());
  EXPECT_EQ(c->claims["projects"], json::array());
  EXPECT_EQ(c->claims["exp"].get<std::int64_t>() - c->claims["iat"].get<std::int64_t>(), 3600);
}

TEST(DevIssuerCliTest, InitRefusesToOverwriteWithoutForce) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/dev-issuer";
  ASSERT_EQ(Cli({"dev-issuer", "init", dir}).code, 0);
  const std::string pem = ReadFile(dir + "/private.pem");
  const std::string old_token = Trim(Cli({"dev-issuer", "token", dir, "--sub", "alice"}).output);
  ASSERT_THAT(Verify(dir, old_token), IsOk());

  Result again = Cli({"dev-issuer", "init", dir});
  EXPECT_EQ(again.code, 1);
  EXPECT_THAT(again.output, HasSubstr("already exists"));
  EXPECT_THAT(again.output, HasSubstr("--force"));
  EXPECT_EQ(ReadFile(dir + "/private.pem"), pem);

  Result forced = Cli({"dev-issuer", "init", dir, "--force"});
  ASSERT_EQ(forced.code, 0) << forced.output;
  EXPECT_NE(ReadFile(dir + "/private.pem"), pem);
  EXPECT_THAT(Verify(dir, old_token), StatusIs(Code::kUnauthenticated));
  const std::string new_token = Trim(Cli({"dev-issuer", "token", dir, "--sub", "alice"}).output);
  EXPECT_THAT(Verify(dir, new_token), IsOk());
}

TEST(DevIssuerCliTest, UsageErrorsExit2) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/dev-issuer";
  ASSERT_EQ(Cli({"dev-issuer", "init", dir}).code, 0);
  const std::vector<std::vector<std::string>> bad = {
      {"dev-issuer"},
      {"dev-issuer", "rotate", dir},
      {"dev-issuer", "init"},
      {"dev-issuer", "init", dir, "--forse"},
      {"dev-issuer", "init", dir, "other-dir"},
      {"dev-issuer", "token", dir},
      {"dev-issuer", "token", "--sub", "alice"},
      {"dev-issuer", "token", dir, "--sub"},
      {"dev-issuer", "token", dir, "--sub", ""},
      {"dev-issuer", "token", dir, "--sub", "a", "--sub", "b"},
      {"dev-issuer", "token", dir, "--sub", "alice", "--ttl", "abc"},
      {"dev-issuer", "token", dir, "--sub", "alice", "--ttl", "0"},
      {"dev-issuer", "token", dir, "--sub", "alice", "--ttl", "-5"},
      {"dev-issuer", "token", dir, "--sub", "alice", "--ttl", "10s"},
      {"dev-issuer", "token", dir, "--sub", "alice", "--roles", "a,,b"},
      {"dev-issuer", "token", dir, "--sub", "alice", "--projects", "p1,"},
      {"dev-issuer", "token", dir, "--sub", "alice", "--force"},
      {"dev-issuer", "token", dir, "--sub", "alice", "--aud", ""},
      {"dev-issuer", "token", dir, "--sub", "alice", "--scope", "x"},
  };
  for (const std::vector<std::string>& args : bad) {
    Result r = Cli(args);
    std::string joined;
    for (const std::string& a : args) joined += a + " ";
    EXPECT_EQ(r.code, 2) << joined << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr("usage: safeflow dev-issuer")) << joined;
  }
  Result help = Cli({"dev-issuer", "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.output, HasSubstr("dev-issuer token DIR --sub NAME"));
  // The top-level usage lists the command; the other commands still work.
  EXPECT_THAT(Cli({"--help"}).output, HasSubstr("dev-issuer init DIR"));
  Result version = Cli({"version"});
  EXPECT_EQ(version.code, 0);
  EXPECT_THAT(version.output, HasSubstr("safeflow "));
}

TEST(DevIssuerCliTest, TokenWithoutInitFails) {
  TempDir tmp;
  Result r = Cli({"dev-issuer", "token", tmp.path() + "/nothing", "--sub", "alice"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("dev-issuer init"));
}

}  // namespace
}  // namespace safeflow::service::auth
