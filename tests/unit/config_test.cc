#include "service/config/config.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::service {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::HasSubstr;

TEST(ConfigTest, EmptyDocumentGivesDefaults) {
  absl::StatusOr<Config> c = ParseConfig("");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server.listen, "127.0.0.1:8080");
  EXPECT_TRUE(c->embedded_database());
  EXPECT_THAT(ValidateConfig(*c), IsOk());
}

TEST(ConfigTest, ReadsEveryKeyOfTheExampleFile) {
  const std::string path =
      std::string(SAFEFLOW_SOURCE_DIR) + "/deploy/config/safeflowd.example.yaml";
  absl::StatusOr<Config> c = LoadConfigFile(path);
  ASSERT_THAT(c, IsOk());
  EXPECT_THAT(ValidateConfig(*c), IsOk());
}

TEST(ConfigTest, UnknownKeysAndBadValuesAreAllReportedAtOnce) {
  absl::StatusOr<Config> c = ParseConfig(R"(
data_dirr: /x
server:
  listen: 127.0.0.1:80
  io_threads: many
  handler_threads: 0
database:
  pool_size: 8
  colour: blue
log: [1, 2]
)");
  ASSERT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string msg(c.status().message());
  EXPECT_THAT(msg, HasSubstr("data_dirr: unknown key"));
  EXPECT_THAT(msg, HasSubstr("server.io_threads: expected an integer, got 'many'"));
  EXPECT_THAT(msg, HasSubstr("server.handler_threads: must be between 1 and 256"));
  EXPECT_THAT(msg, HasSubstr("database.colour: unknown key"));
  EXPECT_THAT(msg, HasSubstr("log: expected a mapping"));
}

TEST(ConfigTest, SyntaxErrorNamesTheLine) {
  absl::StatusOr<Config> c = ParseConfig("server:\n  listen: [unclosed\n");
  ASSERT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("line "));
}

TEST(ConfigTest, ValidationReportsEveryProblem) {
  Config c;
  c.data_dir = "relative/dir";
  c.server.listen = "no-port";
  c.log.level = "loud";
  c.log.format = "xml";
  c.embedded.system_user = "root";
  absl::Status s = ValidateConfig(c);
  ASSERT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string msg(s.message());
  EXPECT_THAT(msg, HasSubstr("data_dir: must be an absolute path"));
  EXPECT_THAT(msg, HasSubstr("server.listen"));
  EXPECT_THAT(msg, HasSubstr("log.level"));
  EXPECT_THAT(msg, HasSubstr("log.format"));
  EXPECT_THAT(msg, HasSubstr("embedded.system_user: must not be root"));
}

TEST(ConfigTest, EnvironmentOverridesTheDsnOnly) {
  Config c;
  ApplyEnvOverrides(c, [](const char* name) -> std::optional<std::string> {
    if (std::string(name) == "SAFEFLOW_DB_DSN") return "host=db dbname=x";
    return std::nullopt;
  });
  EXPECT_EQ(c.database.url, "host=db dbname=x");
  EXPECT_FALSE(c.embedded_database());
}

TEST(ConfigTest, EmptyEnvironmentValueDoesNotOverride) {
  Config c;
  c.database.url = "host=a";
  ApplyEnvOverrides(c, [](const char*) -> std::optional<std::string> { return ""; });
  EXPECT_EQ(c.database.url, "host=a");
}

TEST(ConfigTest, ParseHostPort) {
  EXPECT_THAT(ParseHostPort("127.0.0.1:0"), IsOk());
  EXPECT_EQ(ParseHostPort("[::1]:8080")->host, "::1");
  EXPECT_EQ(ParseHostPort("localhost:8443")->port, 8443);
  EXPECT_THAT(ParseHostPort("localhost"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHostPort("h:70000"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHostPort(":80"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHostPort("::1:80"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ConfigTest, RedactsPasswordsInEveryDsnForm) {
  EXPECT_EQ(RedactDsn("host=db password=s3cret user=u"), "host=db password=*** user=u");
  EXPECT_EQ(RedactDsn("host=db password='a b\\'c' user=u"), "host=db password=*** user=u");
  EXPECT_EQ(RedactDsn("postgresql://u:s3cret@db:5432/x"), "postgresql://u:***@db:5432/x");
  EXPECT_EQ(RedactDsn("postgresql://db/x?user=u&password=s3cret"),
            "postgresql://db/x?user=u&password=***");
  Config c;
  c.database.url = "postgresql://u:s3cret@db/x";
  EXPECT_THAT(c.Redacted(), ::testing::Not(HasSubstr("s3cret")));
}

TEST(ConfigTest, DownloadsNeedAFreeHandlerThreadAndStallsAreBounded) {
  absl::StatusOr<Config> c = ParseConfig(
      "server:\n  handler_threads: 4\n  stream_stall_seconds: 5\n"
      "airlock:\n  max_downloads: 3\n");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server.stream_stall_seconds, 5);
  EXPECT_EQ(c->airlock.max_downloads, 3);
  EXPECT_THAT(ValidateConfig(*c), IsOk());
  // Every handler thread busy with downloads would starve the API.
  c->airlock.max_downloads = 4;
  absl::Status s = ValidateConfig(*c);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("airlock.max_downloads: 4 must be below server.handler_threads (4)"));
  absl::StatusOr<Config> bad =
      ParseConfig("server:\n  stream_stall_seconds: 0\nairlock:\n  max_downloads: 0\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("server.stream_stall_seconds"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("airlock.max_downloads"));
}

TEST(ConfigTest, AirlockProfilesAndProjectsAreCheckedAtLoad) {
  absl::StatusOr<Config> c = ParseConfig(R"(
airlock:
  default_profile: cautious
  auto_release: true
  checkers: 3
  profiles:
    cautious: {base: acro-default, threshold: 20, residual_dof: 25}
  projects:
    demo: {profile: strict, auto_release: false, checkers: 2}
    other: {}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->airlock.default_profile, "cautious");
  EXPECT_TRUE(c->airlock.auto_release);
  EXPECT_EQ(c->airlock.checkers, 3);
  ASSERT_TRUE(c->airlock.profiles.contains("cautious"));
  EXPECT_EQ(c->airlock.profiles.at("cautious")["threshold"], 20);
  EXPECT_EQ(c->airlock.projects.at("demo").profile, "strict");
  EXPECT_EQ(c->airlock.projects.at("demo").auto_release, std::optional<bool>(false));
  EXPECT_FALSE(c->airlock.projects.at("other").auto_release.has_value());

  absl::StatusOr<Config> bad = ParseConfig(R"(
airlock:
  default_profile: nope
  checkers: 9
  profiles:
    broken: {base: acro-default, threshold: -1}
  projects:
    demo: {profile: missing, colour: red}
)");
  ASSERT_FALSE(bad.ok());
  const std::string msg(bad.status().message());
  EXPECT_NE(msg.find("airlock.default_profile"), std::string::npos) << msg;
  EXPECT_NE(msg.find("airlock.checkers"), std::string::npos) << msg;
  EXPECT_NE(msg.find("airlock.profiles.broken"), std::string::npos) << msg;
  EXPECT_NE(msg.find("airlock.projects.demo.profile"), std::string::npos) << msg;
  EXPECT_NE(msg.find("airlock.projects.demo.colour"), std::string::npos) << msg;
}

}  // namespace
}  // namespace safeflow::service
