// `safeflow wes ...` (the real CLI binary) against a real safeflowd: submit an approved workflow
// and wait for it, then status, tasks, logs and list; a refusal prints the server's message;
// params that are not a JSON object are refused before anything is sent; an attached copy of
// an approved bundle runs.
#include <future>
#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/integration/wes/wes_fixture.h"
#include "tests/testing/process.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class WesCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    env_ = new WesServer();
    ok_ = env_->Start() && !env_->RegisterAndApprove("cohort-counts").empty();
    if (ok_) {
      json p = json::parse(ReadAll(WorkflowDir("cohort-counts") + "/example-params.json"));
      p["cohort"] = env_->cohort_url;
      params_file_ = env_->server.tmp->path() + "/params.json";
      WriteAll(params_file_, p.dump(2));
    }
  }
  static void TearDownTestSuite() {
    if (env_->server.process) env_->server.process->Stop(SIGTERM);
    delete env_;
  }
  void SetUp() override {
    ASSERT_TRUE(ok_) << (env_->server.process ? env_->server.process->log() : "no safeflowd");
  }

  // Runs `safeflow --server URL wes ARGS...` as alice; returns the exit code, fills `out`.
  static int Wes(const std::vector<std::string>& args, std::string& out,
                 const std::string& server = "") {
    std::vector<std::string> argv = {SAFEFLOW_CLI_PATH, "--server",
                                     server.empty() ? env_->server.process->url() : server, "wes"};
    argv.insert(argv.end(), args.begin(), args.end());
    out.clear();
    return RunProgram(argv, out, {"SAFEFLOW_TOKEN=" + env_->tokens["alice"]});
  }

  static WesServer* env_;
  static bool ok_;
  static std::string params_file_;
};

WesServer* WesCliTest::env_ = nullptr;
bool WesCliTest::ok_ = false;
std::string WesCliTest::params_file_;

TEST_F(WesCliTest, SubmitWaitsThenStatusTasksLogsAndList) {
  // The attached copy runs at the same time (keeps the suite short).
  auto attached = std::async(std::launch::async, [] {
    std::string out;
    const int rc =
        Wes({"submit", "Snakefile", "--type", "SMK", "--type-version", "7.21", "--params",
             params_file_, "--attach", WorkflowDir("cohort-counts"), "--wait", "--timeout", "240"},
            out);
    return std::make_pair(rc, out);
  });
  std::string out;
  ASSERT_EQ(
      Wes({"submit", "safeflow:cohort-counts@1.0.0", "--type", "SMK", "--type-version", "7.21",
           "--params", params_file_, "--tag", "project=demo", "--wait", "--timeout", "240"},
          out),
      0)
      << out;
  EXPECT_THAT(out, HasSubstr("COMPLETE"));
  const std::string id = out.substr(0, out.find('\n'));
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(env_->GetRun(id).value("state", ""), "COMPLETE");

  ASSERT_EQ(Wes({"status", id}, out), 0) << out;
  EXPECT_EQ(out, "COMPLETE\n");
  ASSERT_EQ(Wes({"tasks", id}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("select_cohort"));
  EXPECT_THAT(out, HasSubstr("cohort-counts@1.0.0"));
  ASSERT_EQ(Wes({"logs", id, "--stderr"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("Finished job"));
  ASSERT_EQ(Wes({"show", id}, out), 0) << out;
  const json run = json::parse(out, nullptr, false);
  ASSERT_TRUE(run.is_object()) << out;
  EXPECT_EQ(run["run_id"], id);
  EXPECT_EQ(run["request"]["tags"]["project"], "demo");
  ASSERT_EQ(Wes({"list", "--page-size", "1"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr(id + "  COMPLETE  "));
  EXPECT_THAT(out, HasSubstr("project=demo"));

  const auto [rc, attached_out] = attached.get();
  EXPECT_EQ(rc, 0) << attached_out;
  EXPECT_THAT(attached_out, HasSubstr("COMPLETE"));
  // Both runs are listed, one page at a time.
  ASSERT_EQ(Wes({"list", "--page-size", "1"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr(attached_out.substr(0, attached_out.find('\n'))));
}

TEST_F(WesCliTest, AnUnapprovedWorkflowFailsWithTheServersMessage) {
  std::string out;
  EXPECT_EQ(Wes({"submit", "safeflow:cohort-counts@99.0.0", "--type", "SMK", "--type-version",
                 "7.21", "--params", params_file_},
                out),
            1)
      << out;
  EXPECT_THAT(out, HasSubstr("HTTP 403: "));
  EXPECT_THAT(out, HasSubstr("'cohort-counts@99.0.0' is not an approved workflow"));
}

TEST_F(WesCliTest, BadArgumentsAreRefusedBeforeSending) {
  const std::string array = env_->server.tmp->path() + "/array.json";
  WriteAll(array, "[1, 2]");
  // Nothing listens on port 1: a request would fail with 1, not 2.
  const std::string nowhere = "http://127.0.0.1:1";
  std::string out;
  EXPECT_EQ(Wes({"submit", "safeflow:cohort-counts@1.0.0", "--type", "SMK", "--type-version",
                 "7.21", "--params", array},
                out, nowhere),
            2)
      << out;
  EXPECT_THAT(out, HasSubstr("must be a JSON object, not array"));
  EXPECT_EQ(Wes({"submit", "safeflow:cohort-counts@1.0.0", "--type", "SMK", "--type-version",
                 "7.21", "--tag", "project"},
                out, nowhere),
            2)
      << out;
  EXPECT_THAT(out, HasSubstr("expected KEY=VALUE"));
  EXPECT_EQ(Wes({"submit", "safeflow:cohort-counts@1.0.0", "--type", "SMK"}, out, nowhere), 2);
  EXPECT_THAT(out, HasSubstr("--type-version"));
  EXPECT_EQ(Wes({"status"}, out, nowhere), 2);
  EXPECT_EQ(Wes({"frobnicate"}, out, nowhere), 2);
  // A symbolic link in the attached directory is refused.
  const std::string dir = env_->server.tmp->path() + "/linked";
  std::filesystem::create_directories(dir);
  std::filesystem::create_symlink("/etc/passwd", dir + "/passwd");
  EXPECT_EQ(Wes({"submit", "Snakefile", "--type", "SMK", "--type-version", "7.21", "--attach", dir},
                out, nowhere),
            1);
  EXPECT_THAT(out, HasSubstr("passwd: not a regular file"));
  EXPECT_THAT(out, Not(HasSubstr("Couldn't connect")));
}

}  // namespace
}  // namespace safeflow::testing
