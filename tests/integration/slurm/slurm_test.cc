// The SLURM backend against a real one-host SLURM cluster (deploy/slurm/cluster.sh, started by
// deploy/test.sh: SLURM_CONF, SAFEFLOW_TEST_SLURM_DIR, SAFEFLOW_TEST_SLURM_SCRIPT). Real jobs
// run safeflow-node, which runs the attested worker in bubblewrap and relays its attestation to
// the real safeflowd over loopback HTTP. These tests share the cluster: ctest runs them one at
// a time (RESOURCE_LOCK slurm_cluster).
#include <cstdlib>
#include <filesystem>
#include <set>
#include <signal.h>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/tes_api/tes_fixture.h"
#include "tests/testing/http_client.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const std::set<std::string> kEnded = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED",
                                      "PREEMPTED"};

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

std::string Slurm(const std::vector<std::string>& argv) {
  std::string out;
  RunProgram(argv, out);
  return out;
}

// The cluster script's commands (ctld-stop, ctld-start).
int Cluster(const std::string& command) {
  std::string out;
  const int rc =
      RunProgram({Env("SAFEFLOW_TEST_SLURM_SCRIPT"), command, Env("SAFEFLOW_TEST_SLURM_DIR")}, out);
  if (rc != 0) ADD_FAILURE() << "cluster.sh " << command << ": " << out;
  return rc;
}

// The job's state as scontrol (or the completion log) tells it.
std::string JobState(const std::string& job_id) {
  const std::string out = Slurm({"/usr/bin/scontrol", "--oneliner", "show", "job", job_id});
  const size_t at = out.find("JobState=");
  if (at != std::string::npos) return out.substr(at + 9, out.find(' ', at) - at - 9);
  return "";
}

// How many jobs SLURM knows under `name` (squeue, plus the completion log for aged-out jobs).
int JobsNamed(const std::string& name) {
  const std::string q =
      Slurm({"/usr/bin/squeue", "--noheader", "--states=all", "--name=" + name, "--format=%i"});
  std::set<std::string> ids;
  std::istringstream lines(q);
  for (std::string l; std::getline(lines, l);) {
    if (!l.empty()) ids.insert(l);
  }
  return static_cast<int>(ids.size());
}

class SlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("SLURM_CONF").empty() || Env("SAFEFLOW_TEST_SLURM_DIR").empty()) {
      SAFEFLOW_SKIP_OR_FAIL("no test SLURM cluster (SLURM_CONF, SAFEFLOW_TEST_SLURM_DIR)");
    }
    if (::geteuid() != 0) SAFEFLOW_SKIP_OR_FAIL("the SLURM tests run as root");
  }

  // A safeflowd whose default backend is SLURM (unless `backends` says otherwise).
  void StartServer(const std::string& extra = "",
                   const std::string& backends = "backends:\n  default: slurm\n") {
    ASSERT_TRUE(server_.Start(
        backends + "slurm:\n  enabled: true\n  slurm_conf: " + Env("SLURM_CONF") +
        "\n  jobcomp_file: " + Env("SAFEFLOW_TEST_SLURM_DIR") +
        "/jobcomp.log\n  poll_interval_ms: 250\n  command_timeout_seconds: 10\n"
        "  partitions: [debug, batch]\n  default_time_minutes: 10\n  max_time_minutes: 60\n" +
        extra))
        << server_.process->log();
  }

  static std::string JobIdOf(const json& task) {
    if (!task.contains("logs") || task["logs"].empty()) return "";
    const json& meta = task["logs"].back()["metadata"];
    return meta.contains("slurm_job_id") ? meta["slurm_job_id"].get<std::string>() : "";
  }

  std::string WaitForJobId(const std::string& id) {
    std::string job;
    EXPECT_TRUE(Eventually(
        [&] {
          job = JobIdOf(server_.client->GetJson(id, "FULL"));
          return !job.empty();
        },
        30s));
    return job;
  }

  TesServer server_;
};

TEST_F(SlurmTest, TaskRunsAsAnAttestedSlurmJob) {
  StartServer();
  WriteAll(server_.in_root + "/cohort.csv", "age,sex\n34,F\n51,M\n");
  json task = BashTask("wc -l < /data/cohort.csv > /out/count.txt; echo counted", "slurm-ok");
  task["inputs"] = {
      {{"url", "file://" + server_.in_root + "/cohort.csv"}, {"path", "/data/cohort.csv"}}};
  task["outputs"] = {
      {{"url", "file://" + server_.out_root + "/count.txt"}, {"path", "/out/count.txt"}}};
  task["resources"] = {{"cpu_cores", 1}, {"ram_gb", 0.5}};
  const std::string id = server_.client->CreateOk(task);
  const json full = server_.client->WaitFor(id, kEnded, 120s);
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  const json& log = full["logs"].back();
  EXPECT_EQ(log["metadata"]["backend"], "slurm");
  EXPECT_EQ(log["metadata"]["attestation"], "verified") << log.dump(2);
  EXPECT_EQ(log["logs"][0]["stdout"], "counted\n");
  EXPECT_THAT(log["system_logs"].dump(), HasSubstr("mem 512M"));
  EXPECT_THAT(log["system_logs"].dump(), HasSubstr("enclave: attested"));
  EXPECT_EQ(ReadAll(server_.out_root + "/count.txt"), "3\n");
  const std::string job = JobIdOf(full);
  ASSERT_FALSE(job.empty()) << full.dump(2);
  // SLURM ran it: its record says so.
  EXPECT_TRUE(Eventually([&] { return JobState(job) == "COMPLETED"; }, 20s)) << JobState(job);
  // service-info names the backends and the parameters a task may set.
  const json info = json::parse(server_.client->ServiceInfo().body);
  std::set<std::string> names;
  for (const json& b : info["safeflow_backends"]) names.insert(b["name"].get<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"local", "slurm"})) << info.dump(2);
  EXPECT_THAT(info["tesResources_backend_parameters"].dump(), HasSubstr("time_minutes"));
  EXPECT_EQ(server_.process->Stop(SIGTERM), 0);
}

TEST_F(SlurmTest, NonZeroExitIsAnExecutorError) {
  StartServer();
  const std::string id = server_.client->CreateOk(BashTask("echo oops >&2; exit 3"));
  const json full = server_.client->WaitFor(id, kEnded, 120s);
  ASSERT_EQ(full["state"], "EXECUTOR_ERROR") << full.dump(2);
  EXPECT_EQ(full["logs"].back()["logs"][0]["exit_code"], 3);
  EXPECT_EQ(full["logs"].back()["logs"][0]["stderr"], "oops\n");
}

TEST_F(SlurmTest, BackendParametersAreCheckedAndChooseTheJob) {
  StartServer();
  json bad = BashTask("true");
  bad["resources"] = {{"backend_parameters", {{"partition", "gpu-huge"}, {"time_minutes", "0"}}}};
  const HttpResult r = server_.client->Create(bad);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_THAT(r.body, HasSubstr("partition 'gpu-huge' is not allowed"));
  EXPECT_THAT(r.body, HasSubstr("time_minutes"));

  json local = BashTask("echo here");
  local["resources"] = {{"backend_parameters", {{"backend", "local"}}}};
  const std::string local_id = server_.client->CreateOk(local);

  json task = BashTask("echo on batch");
  task["resources"] = {{"backend_parameters", {{"partition", "batch"}, {"time_minutes", "3"}}}};
  const std::string id = server_.client->CreateOk(task);
  const json full = server_.client->WaitFor(id, kEnded, 120s);
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_THAT(full["logs"].back()["system_logs"].dump(), HasSubstr("partition batch"));
  const std::string job = JobIdOf(full);
  EXPECT_THAT(Slurm({"/usr/bin/scontrol", "--oneliner", "show", "job", job}),
              HasSubstr("Partition=batch"));
  const json l = server_.client->WaitFor(local_id, kEnded, 60s);
  EXPECT_EQ(l["state"], "COMPLETE");
  EXPECT_EQ(l["logs"].back()["metadata"]["backend"], "local");
}

TEST_F(SlurmTest, AProjectsDefaultBackendIsUsedWhenTheTaskNamesNone) {
  StartServer("", "backends:\n  default: local\n  projects:\n    hpc: slurm\n");
  json on_hpc = BashTask("echo hpc");
  on_hpc["tags"] = {{"project", "hpc"}};
  json elsewhere = BashTask("echo elsewhere");
  elsewhere["tags"] = {{"project", "other"}};
  const std::string a = server_.client->CreateOk(on_hpc);
  const std::string b = server_.client->CreateOk(elsewhere);
  const json fa = server_.client->WaitFor(a, kEnded, 120s);
  const json fb = server_.client->WaitFor(b, kEnded, 120s);
  ASSERT_EQ(fa["state"], "COMPLETE") << fa.dump(2);
  ASSERT_EQ(fb["state"], "COMPLETE") << fb.dump(2);
  EXPECT_EQ(fa["logs"].back()["metadata"]["backend"], "slurm");
  EXPECT_FALSE(JobIdOf(fa).empty());
  EXPECT_EQ(fb["logs"].back()["metadata"]["backend"], "local");
  const json info = json::parse(server_.client->ServiceInfo().body);
  for (const json& backend : info["safeflow_backends"]) {
    if (backend["name"] == "slurm") {
      EXPECT_EQ(backend["default_for_projects"], json::array({"hpc"})) << info.dump(2);
      EXPECT_EQ(backend["default"], false);
    }
  }
}

TEST_F(SlurmTest, TimeLimitEndsTheTaskWithTheReason) {
  StartServer();
  json task = BashTask("sleep 600");
  task["resources"] = {{"backend_parameters", {{"time_minutes", "1"}}}};
  const std::string id = server_.client->CreateOk(task);
  const json full = server_.client->WaitFor(id, kEnded, 240s);
  ASSERT_EQ(full["state"], "EXECUTOR_ERROR") << full.dump(2);
  EXPECT_THAT(full["logs"].back()["system_logs"].dump(), HasSubstr("TIMEOUT"));
  EXPECT_THAT(full["logs"].back()["system_logs"].dump(), HasSubstr("time limit"));
}

TEST_F(SlurmTest, CancelWhileRunningCancelsTheJob) {
  StartServer();
  const std::string id = server_.client->CreateOk(BashTask("sleep 600.123"));
  server_.client->WaitFor(id, {"RUNNING"}, 120s);
  const std::string job = WaitForJobId(id);
  ASSERT_FALSE(job.empty());
  EXPECT_EQ(server_.client->Cancel(id).status, 200);
  EXPECT_TRUE(Eventually([&] { return JobState(job) == "CANCELLED"; }, 60s)) << JobState(job);
  std::string out;
  EXPECT_TRUE(Eventually(
      [&] {
        return RunProgram({"/usr/bin/pgrep", "-f", "sleep 600.123"}, out) != 0;
      },
      30s));
  EXPECT_EQ(server_.client->GetJson(id)["state"], "CANCELED");
}

TEST_F(SlurmTest, JobSurvivesAKilledSafeflowdAndIsAdoptedNotResubmitted) {
  StartServer();
  const std::string id =
      server_.client->CreateOk(BashTask("sleep 6.5432; echo after the crash", "adopt-me"));
  server_.client->WaitFor(id, {"RUNNING"}, 120s);
  const std::string job = WaitForJobId(id);
  ASSERT_FALSE(job.empty());
  EXPECT_EQ(server_.process->Stop(SIGKILL), 128 + SIGKILL);
  // The job keeps running without safeflowd.
  EXPECT_EQ(JobState(job), "RUNNING");
  ASSERT_TRUE(server_.Restart()) << server_.process->log();
  const json full = server_.client->WaitFor(id, kEnded, 120s);
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  EXPECT_EQ(full["logs"].size(), 1u) << "one attempt only: " << full.dump(2);
  EXPECT_EQ(JobIdOf(full), job);
  EXPECT_THAT(full["logs"].back()["system_logs"].dump(), HasSubstr("adopted"));
  EXPECT_EQ(full["logs"].back()["logs"][0]["stdout"], "after the crash\n");
  // Exactly one job of that attempt was ever submitted.
  EXPECT_EQ(JobsNamed("sf-" + id + "-1"), 1);
  EXPECT_EQ(server_.process->Stop(SIGTERM), 0);
}

TEST_F(SlurmTest, GracefulStopLeavesJobsRunningForTheNextSafeflowd) {
  StartServer();
  const std::string id = server_.client->CreateOk(BashTask("sleep 5.4321; echo kept"));
  server_.client->WaitFor(id, {"RUNNING"}, 120s);
  const std::string job = WaitForJobId(id);
  ASSERT_FALSE(job.empty());
  EXPECT_EQ(server_.process->Stop(SIGTERM), 0) << server_.process->log();
  EXPECT_EQ(JobState(job), "RUNNING");
  const auto restarted = std::chrono::steady_clock::now();
  ASSERT_TRUE(server_.Restart()) << server_.process->log();
  const json full = server_.client->WaitFor(id, kEnded, 120s);
  ASSERT_EQ(full["state"], "COMPLETE") << full.dump(2);
  // Adopted at once (its owner stopped cleanly), not after the 30 s lease.
  EXPECT_LT(std::chrono::steady_clock::now() - restarted, 25s);
  EXPECT_EQ(full["logs"].size(), 1u) << full.dump(2);
  EXPECT_EQ(JobIdOf(full), job);
  EXPECT_EQ(full["logs"].back()["logs"][0]["stdout"], "kept\n");
  EXPECT_EQ(JobsNamed("sf-" + id + "-1"), 1);
}

TEST_F(SlurmTest, SlurmctldOutageDegradesAndTasksResume) {
  StartServer();
  const std::string running = server_.client->CreateOk(BashTask("sleep 12.3456; echo survived"));
  server_.client->WaitFor(running, {"RUNNING"}, 120s);
  ASSERT_EQ(Cluster("ctld-stop"), 0);
  // Degraded, not down: /readyz and service-info name the backend.
  json ready;
  EXPECT_TRUE(Eventually(
      [&] {
        HttpResult r = HttpGet(server_.process->url() + "/readyz");
        ready = json::parse(r.body, nullptr, false);
        return r.status == 200 && ready.is_object() && ready["status"] == "degraded";
      },
      60s))
      << ready.dump();
  EXPECT_EQ(ready["backends"]["slurm"]["status"], "degraded");
  EXPECT_EQ(ready["backends"]["local"]["status"], "ok");
  const json info = json::parse(server_.client->ServiceInfo().body);
  bool slurm_degraded = false;
  for (const json& b : info["safeflow_backends"]) {
    if (b["name"] == "slurm") slurm_degraded = b["status"] == "degraded";
  }
  EXPECT_TRUE(slurm_degraded) << info.dump(2);
  // A task submitted now waits for slurmctld.
  const std::string queued = server_.client->CreateOk(BashTask("echo submitted later"));
  std::this_thread::sleep_for(2s);
  EXPECT_NE(server_.client->GetJson(running)["state"], "SYSTEM_ERROR");
  ASSERT_EQ(Cluster("ctld-start"), 0);
  const json a = server_.client->WaitFor(running, kEnded, 120s);
  EXPECT_EQ(a["state"], "COMPLETE") << a.dump(2);
  EXPECT_EQ(a["logs"].back()["logs"][0]["stdout"], "survived\n");
  const json b = server_.client->WaitFor(queued, kEnded, 120s);
  EXPECT_EQ(b["state"], "COMPLETE") << b.dump(2);
  EXPECT_EQ(b["logs"].size(), 1u);
  EXPECT_TRUE(Eventually(
      [&] {
        HttpResult r = HttpGet(server_.process->url() + "/readyz");
        return r.status == 200 && json::parse(r.body, nullptr, false)["status"] == "ready";
      },
      30s));
}

}  // namespace
}  // namespace safeflow::testing
