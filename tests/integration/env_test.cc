// Env runs real child processes: exit codes, output, stdin, timeouts, privilege drop.
#include "executor/env.h"

#include <chrono>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/users.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using Clock = std::chrono::steady_clock;

TEST(EnvTest, CapturesOutputAndExitCode) {
  absl::StatusOr<CommandResult> r =
      DefaultEnv().Run({.argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_FALSE(r->ok());
  EXPECT_EQ(r->Describe(), "exit 3");
}

TEST(EnvTest, FeedsStdin) {
  absl::StatusOr<CommandResult> r = DefaultEnv().Run({.argv = {"cat"}, .stdin_data = "hello"});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->out, "hello");
  EXPECT_TRUE(r->ok());
}

TEST(EnvTest, KillsTheProcessGroupAtTheDeadline) {
  const auto start = Clock::now();
  Command cmd{.argv = {"sh", "-c", "sleep 30 & sleep 30"}};
  cmd.timeout = std::chrono::milliseconds(300);
  absl::StatusOr<CommandResult> r = DefaultEnv().Run(cmd);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->timed_out);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  EXPECT_THAT(RunChecked(DefaultEnv(), cmd), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST(EnvTest, DoesNotWaitForDaemonsThatKeepThePipesOpen) {
  const auto start = Clock::now();
  absl::StatusOr<CommandResult> r =
      DefaultEnv().Run({.argv = {"sh", "-c", "(sleep 5 &) ; echo started"}});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->out, "started\n");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
}

TEST(EnvTest, MissingProgramIsNotFound) {
  EXPECT_THAT(DefaultEnv().Run({.argv = {"/nonexistent/program"}}),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(DefaultEnv().Run({.argv = {}}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(EnvTest, KeepsOnlyTheTailOfLongOutput) {
  Command cmd{.argv = {"sh", "-c", "seq 1 100000"}};
  cmd.output_limit = 100;
  absl::StatusOr<CommandResult> r = DefaultEnv().Run(cmd);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->out.size(), 100u);
  EXPECT_TRUE(r->out.ends_with("99999\n100000\n"));
}

TEST(EnvTest, FailureMessageCarriesStderrTail) {
  absl::StatusOr<CommandResult> r =
      RunChecked(DefaultEnv(), {.argv = {"sh", "-c", "echo boom >&2; exit 1"}});
  ASSERT_THAT(r, StatusIs(absl::StatusCode::kInternal));
  EXPECT_EQ(std::string(r.status().message()), "sh failed (exit 1): boom");
}

TEST(EnvTest, DropsToAnUnprivilegedUser) {
  if (!RunningAsRoot()) SAFEFLOW_SKIP_OR_FAIL("needs root to switch users");
  absl::StatusOr<UserIds> user = EnsureSystemUser(DefaultEnv(), "safeflow-pg");
  ASSERT_THAT(user, IsOk());
  EXPECT_NE(user->uid, 0u);
  Command cmd{.argv = {"id", "-u"}, .cwd = "/"};
  cmd.run_as = *user;
  absl::StatusOr<CommandResult> r = DefaultEnv().Run(cmd);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->out, std::to_string(user->uid) + "\n");
  // Idempotent.
  absl::StatusOr<UserIds> again = EnsureSystemUser(DefaultEnv(), "safeflow-pg");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->uid, user->uid);
}

}  // namespace
}  // namespace safeflow::executor
