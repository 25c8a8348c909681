// The engine task of a WES run: what is staged where, what leaves, how it runs.
#include "service/wes/run_task.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace safeflow::service::wes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace tes = schemas::tes;

class RunTaskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manifest_.name = "cohort-counts";
    manifest_.version = "1.0.0";
    manifest_.workflow_type = "SMK";
    manifest_.workflow_type_version = "7.21";
    manifest_.engine = "snakemake";
    manifest_.entry_point = "Snakefile";
    manifest_.environment = "host";
    manifest_.inputs = {{"cohort", "cohort.csv"}};
    executor::disclosure::Declaration counts;
    counts.name = "counts";
    counts.path = "counts.csv";
    counts.type = executor::disclosure::OutputType::kFrequencyTable;
    counts.table.counts = {"count"};
    manifest_.outputs = {counts};
    manifest_.ram_gb = 2;
    files_ = {{"Snakefile", "rule all:\n"}, {"scripts/count.py", "print(1)\n"}};
    engine_ = {"snakemake", "SMK", "7.21.0", "/usr/bin/snakemake", {"7.21"}};
    in_.run_id = "RUN1";
    in_.workflow_ref = "cohort-counts@1.0.0";
    in_.manifest = &manifest_;
    in_.files = &files_;
    in_.workflow_params = {{"cohort", "file:///zone/in/cohort.csv"}, {"min_age", 18}};
    in_.engine_parameters = {{"cores", "2"}};
    in_.engine = &engine_;
    in_.tags = {{"project", "demo"}, {"study", "x"}};
    in_.outputs_url = "file:///zone/out/wes-runs/demo/RUN1";
    in_.backend = "local";
  }

  registry::WorkflowManifest manifest_;
  std::vector<registry::BundleFile> files_;
  EngineInfo engine_;
  RunTaskInput in_;
};

TEST_F(RunTaskTest, StagesTheBundleTheDataAndTheParams) {
  absl::StatusOr<RunTask> r = BuildRunTask(in_);
  ASSERT_TRUE(r.ok()) << r.status();
  const tes::Task& t = r->task;
  ASSERT_EQ(t.inputs.size(), 4u);
  EXPECT_EQ(t.inputs[0].path, "/wes/wf/Snakefile");
  EXPECT_EQ(t.inputs[0].content, "rule all:\n");
  EXPECT_EQ(t.inputs[1].path, "/wes/wf/scripts/count.py");
  EXPECT_EQ(t.inputs[2].path, "/wes/data/cohort.csv");
  EXPECT_EQ(t.inputs[2].url, "file:///zone/in/cohort.csv");
  EXPECT_FALSE(t.inputs[2].content);
  EXPECT_EQ(t.inputs[3].path, "/wes/params.json");
  nlohmann::json params = nlohmann::json::parse(*t.inputs[3].content);
  EXPECT_EQ(params["cohort"], "/wes/data/cohort.csv");  // the engine sees the staged path
  EXPECT_EQ(params["min_age"], 18);
}

TEST_F(RunTaskTest, OnlyDeclaredOutputsLeaveToTheRunsDirectory) {
  absl::StatusOr<RunTask> r = BuildRunTask(in_);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->task.outputs.size(), 1u);
  EXPECT_EQ(r->task.outputs[0].path, "/wes/out/counts.csv");
  EXPECT_EQ(r->task.outputs[0].url, "file:///zone/out/wes-runs/demo/RUN1/counts.csv");
  EXPECT_EQ(r->task.outputs[0].description.value_or(""), "disclosure: frequency_table");
  EXPECT_FALSE(IsEvidenceOutput(r->task.outputs[0]));
  EXPECT_EQ(r->outputs,
            (nlohmann::json{{"counts", "file:///zone/out/wes-runs/demo/RUN1/counts.csv"}}));
  EXPECT_EQ(r->evidence, nlohmann::json::object());
}

// Evidence sidecars are written beside the outputs, where the airlock reads them, but they are
// not outputs of the run.
TEST_F(RunTaskTest, EvidenceSidecarsAreWrittenBesideTheOutputsButAreNotOutputs) {
  executor::disclosure::Declaration summary;
  summary.name = "summary";
  summary.path = "summary_statistics.csv";
  summary.type = executor::disclosure::OutputType::kMeanTable;
  summary.table.keys = {"variable"};
  summary.table.statistics = {"mean", "sd"};
  summary.evidence = "evidence/summary_statistics.json";
  manifest_.outputs.push_back(summary);
  absl::StatusOr<RunTask> r = BuildRunTask(in_);
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string base = "file:///zone/out/wes-runs/demo/RUN1/";
  ASSERT_EQ(r->task.outputs.size(), 3u);
  EXPECT_EQ(r->task.outputs[1].name, "summary");
  EXPECT_EQ(r->task.outputs[1].description.value_or(""), "disclosure: mean_table");
  EXPECT_FALSE(IsEvidenceOutput(r->task.outputs[1]));
  const tes::Output& sidecar = r->task.outputs[2];
  EXPECT_EQ(sidecar.name, "summary.evidence");
  EXPECT_EQ(sidecar.description.value_or(""), "disclosure evidence: summary");
  EXPECT_EQ(sidecar.path, "/wes/out/evidence/summary_statistics.json");
  EXPECT_EQ(sidecar.url, base + "evidence/summary_statistics.json");
  EXPECT_TRUE(IsEvidenceOutput(sidecar));
  EXPECT_EQ(r->outputs, (nlohmann::json{{"counts", base + "counts.csv"},
                                        {"summary", base + "summary_statistics.csv"}}));
  EXPECT_EQ(r->evidence,
            (nlohmann::json{{"summary.evidence", base + "evidence/summary_statistics.json"}}));
}

TEST_F(RunTaskTest, RunsTheEngineInTheApprovedEnvironmentWithItsResources) {
  absl::StatusOr<RunTask> r = BuildRunTask(in_);
  ASSERT_TRUE(r.ok()) << r.status();
  const tes::Task& t = r->task;
  ASSERT_EQ(t.executors.size(), 1u);
  EXPECT_EQ(t.executors[0].image, "host");
  EXPECT_EQ(t.executors[0].command.front(), "snakemake");
  EXPECT_EQ(t.executors[0].workdir, "/wes/out");
  EXPECT_EQ(t.executors[0].env.at("HOME"), "/tmp");
  ASSERT_TRUE(t.resources);
  EXPECT_EQ(t.resources->cpu_cores, 2);  // from the cores engine parameter
  EXPECT_EQ(t.resources->ram_gb, 2);
  EXPECT_EQ(t.resources->backend_parameters.at("backend"), "local");
  EXPECT_FALSE(t.resources->backend_parameters.contains("time_minutes"));
  EXPECT_EQ(t.tags.at("wes_run"), "RUN1");
  EXPECT_EQ(t.tags.at("workflow"), "cohort-counts@1.0.0");
  EXPECT_EQ(t.tags.at("study"), "x");
  EXPECT_EQ(t.name, "wes cohort-counts@1.0.0");
}

TEST_F(RunTaskTest, SlurmRunsGetTheWorkflowsTimeLimit) {
  in_.backend = "slurm";
  manifest_.max_run_minutes = 30;
  absl::StatusOr<RunTask> r = BuildRunTask(in_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->task.resources->backend_parameters.at("time_minutes"), "30");
}

TEST_F(RunTaskTest, RefusesMissingDataUrlsAndBinaryBundleFiles) {
  in_.workflow_params = {{"cohort", "/not/a/url"}};
  absl::StatusOr<RunTask> r = BuildRunTask(in_);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("workflow_params.cohort"));
  in_.workflow_params = {{"cohort", "file:///x"}};
  files_.push_back({"model.bin", std::string("\xff\xfe\x00", 3)});
  r = BuildRunTask(in_);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("model.bin"));
}

}  // namespace
}  // namespace safeflow::service::wes
