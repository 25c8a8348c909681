// Approved execution environments from the registry, through a real safeflowd: an approved
// environment becomes a TES image ("<name>:<version>") at the next start and runs tasks; its
// revocation refuses new tasks at once, without a restart.
#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/integration/wes/wes_fixture.h"
#include "tests/testing/integration.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

json TaskWithImage(const std::string& image) {
  return {{"executors", {{{"image", image}, {"command", {"echo", "from the environment"}}}}},
          {"tags", {{"project", "demo"}}}};
}

TEST(RegistryEnvironmentTest, ApprovedAtTheNextStartRevokedAtOnce) {
  WesServer env;
  ASSERT_TRUE(env.Start()) << (env.server.process ? env.server.process->log() : "");
  HttpResult reg = env.Call("author", "POST", "/admin/v1/environments",
                            json{{"name", "sci-python"},
                                 {"version", "3.11"},
                                 {"description", "the host's Python, approved for analyses"},
                                 {"root", "/"}}
                                .dump());
  ASSERT_EQ(reg.status, 201) << reg.body;
  ASSERT_EQ(env.Call("approver", "POST", "/admin/v1/environments/sci-python@3.11:approve").status,
            200);
  // Not an image of this process yet: its root is measured when safeflowd starts.
  HttpResult before =
      env.Call("alice", "POST", "/ga4gh/tes/v1/tasks", TaskWithImage("sci-python:3.11").dump());
  EXPECT_EQ(before.status, 400) << before.body;
  EXPECT_THAT(before.body, HasSubstr("not an approved execution environment"));

  env.server.process->Stop(SIGTERM);
  ASSERT_TRUE(env.server.Restart()) << env.server.process->log();
  HttpResult created =
      env.Call("alice", "POST", "/ga4gh/tes/v1/tasks", TaskWithImage("sci-python:3.11").dump());
  ASSERT_EQ(created.status, 200) << created.body;
  const std::string id = json::parse(created.body)["id"];
  json task;
  ASSERT_TRUE(Eventually(
      [&] {
        task = json::parse(env.Call("alice", "GET", "/ga4gh/tes/v1/tasks/" + id).body);
        return task.value("state", "") == "COMPLETE" || task.value("state", "") == "SYSTEM_ERROR" ||
               task.value("state", "") == "EXECUTOR_ERROR";
      },
      60s));
  EXPECT_EQ(task["state"], "COMPLETE") << task.dump(2);

  HttpResult revoked = env.Call("approver", "POST", "/admin/v1/environments/sci-python@3.11:revoke",
                                json{{"reason", "replaced"}}.dump());
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  HttpResult after =
      env.Call("alice", "POST", "/ga4gh/tes/v1/tasks", TaskWithImage("sci-python:3.11").dump());
  EXPECT_EQ(after.status, 403) << after.body;
  EXPECT_THAT(after.body, HasSubstr("'sci-python:3.11' is no longer an approved execution"));
  env.server.process->Stop(SIGTERM);
}

}  // namespace
}  // namespace safeflow::testing
