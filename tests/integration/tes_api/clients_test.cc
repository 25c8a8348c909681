// Real TES clients against safeflowd: Snakemake 7.21 (Debian) with --tes, through a small
// stand-in for the py-tes module that Debian lacks (tests/tools/py-tes-shim, real HTTP).
#include <filesystem>
#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/tes_api/tes_fixture.h"

namespace safeflow::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(TesClientsTest, SnakemakeRunsATwoRuleWorkflowThroughTes) {
  TempDir wf_tmp;
  const std::string wf = wf_tmp.path() + "/workflow";
  WriteAll(wf + "/Snakefile",
           "rule all:\n"
           "    input: \"results/shout.txt\"\n\n"
           "rule greet:\n"
           "    output: \"results/greeting.txt\"\n"
           "    shell: \"echo hello from a sandbox > {output}\"\n\n"
           "rule shout:\n"
           "    input: \"results/greeting.txt\"\n"
           "    output: \"results/shout.txt\"\n"
           "    shell: \"tr a-z A-Z < {input} > {output}\"\n");
  TesServer server;
  // Snakemake sends file:// URLs of the workflow directory for inputs and outputs.
  server.more_input_roots = {wf};
  server.more_output_roots = {wf};
  ASSERT_TRUE(server.Start()) << server.process->log();
  std::string out;
  const int rc =
      RunProgram({"/usr/bin/env", "snakemake", "--tes", server.process->url(), "--jobs", "2",
                  "--directory", wf, "--snakefile", wf + "/Snakefile", "--latency-wait", "5",
                  "--max-status-checks-per-second", "5"},
                 out,
                 {"PYTHONPATH=" + std::string(SAFEFLOW_SOURCE_DIR) + "/tests/tools/py-tes-shim",
                  "CI=true", "HOME=" + wf_tmp.path()});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(ReadAll(wf + "/results/shout.txt"), "HELLO FROM A SANDBOX\n") << out;
  HttpResult list = server.client->List("view=FULL");
  ASSERT_EQ(list.status, 200);
  json tasks = json::parse(list.body)["tasks"];
  ASSERT_EQ(tasks.size(), 2u) << list.body;
  for (const json& t : tasks) {
    EXPECT_EQ(t["state"], "COMPLETE") << t.dump(2) << "\n" << server.process->log();
    EXPECT_EQ(t["executors"][0]["image"], "snakemake/snakemake:v7.21.0");
  }
  EXPECT_EQ(server.process->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace safeflow::testing
