// Acknowledged work survives crashes, and two safeflowd processes never run a task twice.
#include <algorithm>
#include <map>
#include <set>
#include <signal.h>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/tes_api/tes_fixture.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

bool Sleeping(const std::string& marker) {
  std::string out;
  return RunProgram({"/usr/bin/pgrep", "-f", marker}, out) == 0;
}

TEST(TesDurabilityTest, TaskOfAKilledSafeflowdIsRequeuedAndFinishes) {
  TesServer server;
  ASSERT_TRUE(
      server.Start("scheduler:\n  lease_seconds: 10\n  orphan_policy: requeue\n"
                   "  max_attempts: 3\n  max_concurrent_tasks: 2\n"
                   "  poll_interval_ms: 200\n"))
      << server.process->log();
  const std::string id =
      server.client->CreateOk(BashTask("sleep 2.4141 && echo finished", "orphan"));
  server.client->WaitFor(id, {"RUNNING"});
  ASSERT_TRUE(Eventually([] { return Sleeping("sleep 2.4141"); }, 10s));
  EXPECT_EQ(server.process->Stop(SIGKILL), 128 + SIGKILL);
  // The sandbox dies with its parent.
  EXPECT_TRUE(Eventually([] { return !Sleeping("sleep 2.4141"); }, 10s));
  ASSERT_TRUE(server.Restart()) << server.process->log();
  json full = server.client->WaitFor(id, {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"}, 60s);
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  ASSERT_EQ(full["logs"].size(), 2u) << full.dump(2);
  EXPECT_THAT(full["logs"][0]["system_logs"].dump(), HasSubstr("requeued"));
  EXPECT_EQ(full["logs"][1]["logs"][0]["stdout"], "finished\n");
  EXPECT_EQ(server.process->Stop(SIGTERM), 0);
}

TEST(TesDurabilityTest, WithPolicyFailTheOrphanEndsAsSystemError) {
  TesServer server;
  ASSERT_TRUE(server.Start("scheduler:\n  orphan_policy: fail\n  poll_interval_ms: 200\n"))
      << server.process->log();
  const std::string id = server.client->CreateOk(BashTask("exec sleep 2.7171"));
  server.client->WaitFor(id, {"RUNNING"});
  EXPECT_EQ(server.process->Stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(server.Restart()) << server.process->log();
  json full = server.client->WaitFor(id, {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"}, 30s);
  EXPECT_EQ(full["state"], "SYSTEM_ERROR") << full.dump(2);
  EXPECT_THAT(full["logs"].back()["system_logs"].dump(), HasSubstr("attempt lost"));
  EXPECT_EQ(server.process->Stop(SIGTERM), 0);
}

TEST(TesDurabilityTest, GracefulStopRequeuesRunningTasks) {
  TesServer server;
  ASSERT_TRUE(server.Start()) << server.process->log();
  const std::string id = server.client->CreateOk(BashTask("sleep 1.9191; echo second try"));
  server.client->WaitFor(id, {"RUNNING"});
  EXPECT_EQ(server.process->Stop(SIGTERM), 0) << server.process->log();
  EXPECT_FALSE(Sleeping("sleep 1.9191"));
  ASSERT_TRUE(server.Restart()) << server.process->log();
  json full = server.client->WaitFor(id, {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"}, 60s);
  EXPECT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_EQ(full["logs"].size(), 2u);
  EXPECT_EQ(server.process->Stop(SIGTERM), 0);
}

TEST(TesSchedulerTest, ConcurrencyLimitIsHonoured) {
  TesServer server;
  ASSERT_TRUE(server.Start("scheduler:\n  max_concurrent_tasks: 1\n  poll_interval_ms: 100\n"))
      << server.process->log();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(server.client->CreateOk(BashTask("sleep 0.4")));
  size_t most_running = 0;
  bool all_done = false;
  const auto end = std::chrono::steady_clock::now() + 60s;
  while (!all_done && std::chrono::steady_clock::now() < end) {
    HttpResult r = server.client->List("state=RUNNING");
    ASSERT_EQ(r.status, 200);
    most_running = std::max(most_running, json::parse(r.body)["tasks"].size());
    HttpResult c = server.client->List("state=COMPLETE");
    all_done = json::parse(c.body)["tasks"].size() == ids.size();
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(all_done);
  EXPECT_EQ(most_running, 1u);
  // The attempts did not overlap: each started after the previous one ended.
  std::vector<std::pair<std::string, std::string>> spans;
  for (const std::string& id : ids) {
    json full = server.client->GetJson(id, "FULL");
    spans.emplace_back(full["logs"][0]["start_time"], full["logs"][0]["end_time"]);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) EXPECT_GE(spans[i].first, spans[i - 1].second);
  EXPECT_EQ(server.process->Stop(SIGTERM), 0);
}

TEST(TesDurabilityTest, TwoReplicasOnOneDatabaseNeverRunATaskTwice) {
  std::optional<std::string> dsn = TestPgDsn();
  if (!dsn) SAFEFLOW_SKIP_OR_FAIL("SAFEFLOW_TEST_PG_DSN is not set");
  absl::StatusOr<std::unique_ptr<TempDatabase>> db = TempDatabase::Create(*dsn);
  ASSERT_THAT(db, IsOk());
  const std::vector<std::string> env = {"SAFEFLOW_DB_DSN=" + (*db)->dsn()};
  // Replicas share the database and therefore the master key that seals keys in it.
  TempDir keys;
  const std::string enclave =
      "enclave:\n  seal_outputs: false\n  master_key_file: " + keys.path() + "/master.key\n";
  TesServer a, b;
  ASSERT_TRUE(a.Start(enclave, env)) << a.process->log();
  ASSERT_TRUE(b.Start(enclave, env)) << b.process->log();
  std::vector<std::string> ids;
  for (int i = 0; i < 16; ++i) {
    ids.push_back(
        (i % 2 ? a : b).client->CreateOk(BashTask("sleep 0.2; echo " + std::to_string(i))));
  }
  for (const std::string& id : ids) {
    json full = a.client->WaitFor(id, {}, 120s);
    EXPECT_EQ(full["state"], "COMPLETE") << full.dump(2);
    EXPECT_EQ(full["logs"].size(), 1u) << "task ran more than once: " << full.dump(2);
  }
  const std::string logs_a = a.process->log(), logs_b = b.process->log();
  int by_a = 0, by_b = 0;
  for (const std::string& id : ids) {
    const std::string claim = "task=" + id + " claimed";
    const bool in_a = logs_a.find(claim) != std::string::npos;
    const bool in_b = logs_b.find(claim) != std::string::npos;
    EXPECT_NE(in_a, in_b) << id << " claimed by " << (in_a ? "both" : "neither");
    by_a += in_a;
    by_b += in_b;
  }
  EXPECT_GT(by_a, 0);
  EXPECT_GT(by_b, 0);
  EXPECT_EQ(a.process->Stop(SIGTERM), 0);
  EXPECT_EQ(b.process->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace safeflow::testing
