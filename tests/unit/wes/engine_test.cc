// The workflow engines: version parsing, command lines, the params the engine sees, and the
// step parsers on real engine logs (tests/unit/wes/testdata/README.md says how each was made).
#include "service/wes/engine.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "service/registry/json_schema.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::service::wes {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;
using Code = absl::StatusCode;
using nlohmann::json;

std::string Testdata(const std::string& name) {
  const std::string path = SAFEFLOW_SOURCE_DIR "/tests/unit/wes/testdata/" + name;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "missing " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

registry::WorkflowManifest SmkManifest() {
  registry::WorkflowManifest m;
  m.name = "cohort-counts";
  m.version = "1.0.0";
  m.workflow_type = "SMK";
  m.workflow_type_version = "7.21";
  m.engine = "snakemake";
  m.entry_point = "Snakefile";
  m.inputs = {{"cohort", "cohort.csv"}};
  return m;
}

registry::WorkflowManifest CwlManifest() {
  registry::WorkflowManifest m;
  m.name = "cohort-regression";
  m.version = "1.0.0";
  m.workflow_type = "CWL";
  m.workflow_type_version = "v1.2";
  m.engine = "cwltool";
  m.entry_point = "workflow.cwl";
  m.inputs = {{"cohort", "cohort.csv"}};
  return m;
}

EngineInfo Engine(const std::string& name) {
  EngineInfo e;
  e.engine = name;
  e.program = "/usr/bin/" + name;
  return e;
}

// --- versions ------------------------------------------------------------------------------

TEST(ParseEngineVersion, RealOutputs) {
  EXPECT_THAT(ParseEngineVersion("snakemake", Testdata("snakemake_version.txt")),
              Optional(std::string("7.21.0")));
  EXPECT_THAT(ParseEngineVersion("cwltool", Testdata("cwltool_version.txt")),
              Optional(std::string("3.1.20230209161050")));
}

TEST(ParseEngineVersion, NextflowBannerAndShortForm) {
  const std::string banner =
      "\n      N E X T F L O W\n      version 23.04.1 build 5866\n"
      "      created 15-04-2023 16:05 UTC \n      cite doi:10.1038/nbt.3820\n"
      "      http://nextflow.io\n\n";
  EXPECT_THAT(ParseEngineVersion("nextflow", banner), Optional(std::string("23.04.1")));
  EXPECT_THAT(ParseEngineVersion("nextflow", "nextflow version 23.04.1.5866\n"),
              Optional(std::string("23.04.1.5866")));
}

TEST(ParseEngineVersion, PathWithDigitsIsNoVersion) {
  EXPECT_THAT(ParseEngineVersion("cwltool", "/opt/cwl-3.1/bin/cwltool 3.1.20230209161050\n"),
              Optional(std::string("3.1.20230209161050")));
  EXPECT_THAT(ParseEngineVersion("snakemake", "v7.32.4"), Optional(std::string("7.32.4")));
}

TEST(ParseEngineVersion, NoneFound) {
  EXPECT_EQ(ParseEngineVersion("snakemake", ""), std::nullopt);
  EXPECT_EQ(ParseEngineVersion("snakemake", "command not found\n"), std::nullopt);
  EXPECT_EQ(ParseEngineVersion("cwltool", "/usr/bin/cwltool\n"), std::nullopt);
  EXPECT_EQ(ParseEngineVersion("nextflow", "N E X T F L O W\n"), std::nullopt);
  EXPECT_EQ(ParseEngineVersion("snakemake", "7\n"), std::nullopt);
}

// --- detection -----------------------------------------------------------------------------

// Programs by absolute path: the output of "--version", or absent (NotFound).
class FakeEnv final : public executor::Env {
 public:
  std::map<std::string, executor::CommandResult> programs;
  std::vector<std::vector<std::string>> calls;
  absl::StatusOr<executor::CommandResult> Run(const executor::Command& cmd) override {
    calls.push_back(cmd.argv);
    auto it = programs.find(cmd.argv.at(0));
    if (it == programs.end()) return absl::NotFoundError(cmd.argv.at(0));
    return it->second;
  }
};

executor::CommandResult Exited(int code, std::string out, std::string err = "") {
  executor::CommandResult r;
  r.exit_code = code;
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

TEST(DetectEngines, FindsEachOnThePathInOrder) {
  FakeEnv env;
  env.programs["/usr/bin/snakemake"] = Exited(0, "7.21.0\n");
  env.programs["/opt/cwl/bin/cwltool"] = Exited(0, "/opt/cwl/bin/cwltool 3.1.20230209161050\n");
  env.programs["/usr/bin/cwltool"] = Exited(0, "/usr/bin/cwltool 3.0.1\n");
  std::vector<EngineInfo> got =
      DetectEngines(env, "/opt/cwl/bin:/usr/bin/:relative", std::chrono::seconds(5));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].engine, "snakemake");
  EXPECT_EQ(got[0].workflow_type, "SMK");
  EXPECT_EQ(got[0].version, "7.21.0");
  EXPECT_EQ(got[0].program, "/usr/bin/snakemake");
  EXPECT_THAT(got[0].workflow_type_versions, ElementsAre("7.21"));
  EXPECT_EQ(got[1].engine, "cwltool");
  EXPECT_EQ(got[1].workflow_type, "CWL");
  EXPECT_EQ(got[1].version, "3.1.20230209161050");
  EXPECT_EQ(got[1].program, "/opt/cwl/bin/cwltool");
  EXPECT_THAT(got[1].workflow_type_versions, ElementsAre("v1.0", "v1.1", "v1.2"));
  // Relative PATH entries are skipped; nextflow is asked with its own flag.
  for (const auto& argv : env.calls) EXPECT_EQ(argv.at(0).front(), '/');
  EXPECT_THAT(env.calls.back(), ElementsAre("/usr/bin/nextflow", "-version"));
  EXPECT_THAT(env.calls.front(), ElementsAre("/opt/cwl/bin/snakemake", "--version"));
}

TEST(DetectEngines, LeavesOutFailingAndUnparseable) {
  FakeEnv env;
  env.programs["/usr/bin/snakemake"] = Exited(1, "", "Traceback ...\n");
  env.programs["/usr/bin/cwltool"] = Exited(0, "something else\n");
  executor::CommandResult slow;
  slow.timed_out = true;
  env.programs["/usr/bin/nextflow"] = slow;
  EXPECT_THAT(DetectEngines(env, "/usr/bin", std::chrono::seconds(5)), IsEmpty());
}

TEST(DetectEngines, RealHost) {
  // Whatever this host has; each engine found must answer with a version.
  for (const EngineInfo& e :
       DetectEngines(executor::DefaultEnv(), "/usr/bin:/usr/local/bin", std::chrono::seconds(60))) {
    EXPECT_FALSE(e.version.empty()) << e.engine;
    EXPECT_FALSE(e.workflow_type_versions.empty()) << e.engine;
  }
}

// --- command lines -------------------------------------------------------------------------

TEST(EngineCommand, SnakemakeDefaults) {
  EXPECT_THAT(
      EngineCommand(SmkManifest(), Engine("snakemake"), {}),
      IsOkAndHolds(ElementsAre("snakemake", "--snakefile", "/wes/wf/Snakefile", "--directory",
                               "/wes/out", "--configfile", "/wes/params.json", "--cores", "1",
                               "--nocolor", "--printshellcmds")));
}

TEST(EngineCommand, SnakemakeParameters) {
  registry::WorkflowManifest m = SmkManifest();
  m.entry_point = "workflow/Snakefile";
  EXPECT_THAT(
      EngineCommand(m, Engine("snakemake"), {{"cores", "2"}, {"keep-going", "true"}}),
      IsOkAndHolds(ElementsAre("snakemake", "--snakefile", "/wes/wf/workflow/Snakefile",
                               "--directory", "/wes/out", "--configfile", "/wes/params.json",
                               "--cores", "2", "--nocolor", "--printshellcmds", "--keep-going")));
  EXPECT_THAT(
      EngineCommand(m, Engine("snakemake"), {{"keep-going", "false"}}),
      IsOkAndHolds(ElementsAre("snakemake", "--snakefile", "/wes/wf/workflow/Snakefile",
                               "--directory", "/wes/out", "--configfile", "/wes/params.json",
                               "--cores", "1", "--nocolor", "--printshellcmds")));
}

TEST(EngineCommand, SnakemakeBadParameters) {
  const EngineInfo e = Engine("snakemake");
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{{"cores", "0"},
                                                        {"cores", "-1"},
                                                        {"cores", "two"},
                                                        {"cores", "1025"},
                                                        {"cores", "1 --forceall"},
                                                        {"keep-going", "yes"},
                                                        {"parallel", "true"},
                                                        {"--forceall", "true"}}) {
    EXPECT_THAT(EngineCommand(SmkManifest(), e, {{name, value}}), StatusIs(Code::kInvalidArgument))
        << name << "=" << value;
  }
  absl::StatusOr<std::vector<std::string>> r =
      EngineCommand(SmkManifest(), e, {{"latency-wait", "5"}});
  EXPECT_THAT(r.status().message(), HasSubstr("latency-wait"));
}

TEST(EngineCommand, Cwltool) {
  EXPECT_THAT(EngineCommand(CwlManifest(), Engine("cwltool"), {}),
              IsOkAndHolds(ElementsAre("cwltool", "--disable-color", "--timestamps",
                                       "--no-container", "--outdir", "/wes/out", "--tmpdir-prefix",
                                       "/tmp/cwl-tmp/", "--tmp-outdir-prefix", "/tmp/cwl-out/",
                                       "/wes/wf/workflow.cwl", "/wes/params.json")));
  EXPECT_THAT(EngineCommand(CwlManifest(), Engine("cwltool"), {{"parallel", "true"}}),
              IsOkAndHolds(ElementsAre("cwltool", "--disable-color", "--timestamps",
                                       "--no-container", "--outdir", "/wes/out", "--tmpdir-prefix",
                                       "/tmp/cwl-tmp/", "--tmp-outdir-prefix", "/tmp/cwl-out/",
                                       "--parallel", "/wes/wf/workflow.cwl", "/wes/params.json")));
  EXPECT_THAT(EngineCommand(CwlManifest(), Engine("cwltool"), {{"parallel", "1"}}),
              StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(EngineCommand(CwlManifest(), Engine("cwltool"), {{"cores", "2"}}),
              StatusIs(Code::kInvalidArgument));
}

TEST(EngineCommand, NextflowAndUnknown) {
  registry::WorkflowManifest m = SmkManifest();
  m.workflow_type = "NFL";
  m.engine = "nextflow";
  m.entry_point = "main.nf";
  EXPECT_THAT(EngineCommand(m, Engine("nextflow"), {}),
              IsOkAndHolds(ElementsAre("nextflow", "-log", "/tmp/nextflow.log", "run",
                                       "/wes/wf/main.nf", "-params-file", "/wes/params.json",
                                       "-work-dir", "/tmp/nf-work", "-ansi-log", "false")));
  EXPECT_THAT(EngineCommand(m, Engine("nextflow"), {{"cores", "1"}}),
              StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(EngineCommand(m, Engine("toil"), {}), StatusIs(Code::kInvalidArgument));
}

// Every parameter the registry accepts in a manifest (with its default) is one the command
// line knows.
TEST(EngineCommand, KnowsEveryRegistryParameter) {
  for (const auto& [engine, manifest] :
       std::vector<std::pair<std::string, registry::WorkflowManifest>>{
           {"snakemake", SmkManifest()}, {"cwltool", CwlManifest()}}) {
    std::map<std::string, std::string> all;
    for (const registry::EngineParameter& p : registry::EngineParameters(engine)) {
      EXPECT_THAT(EngineCommand(manifest, Engine(engine), {{p.name, p.default_value}}), IsOk())
          << engine << " " << p.name;
      all[p.name] = p.default_value;
    }
    EXPECT_THAT(EngineCommand(manifest, Engine(engine), all), IsOk()) << engine;
  }
}

// --- params --------------------------------------------------------------------------------

TEST(EngineParams, SnakemakeGetsThePath) {
  const json params = {
      {"cohort", "file:///zone/p1/cohort.csv"}, {"age_bands", {18, 30, 45}}, {"min_age", 18}};
  EXPECT_EQ(
      EngineParams(SmkManifest(), params),
      (json{{"cohort", "/wes/data/cohort.csv"}, {"age_bands", {18, 30, 45}}, {"min_age", 18}}));
}

TEST(EngineParams, CwlGetsAFileObject) {
  const json params = {{"cohort", "s3://bucket/cohort.csv"}, {"outcome", "systolic_bp"}};
  EXPECT_EQ(EngineParams(CwlManifest(), params),
            (json{{"cohort", {{"class", "File"}, {"path", "/wes/data/cohort.csv"}}},
                  {"outcome", "systolic_bp"}}));
}

TEST(EngineParams, SeveralInputsAndNoParams) {
  registry::WorkflowManifest m = SmkManifest();
  m.inputs = {{"cohort", "cohort.csv"}, {"lookup", "ref/regions.tsv"}};
  EXPECT_EQ(EngineParams(m, json{{"cohort", "file:///a"}, {"lookup", "file:///b"}}),
            (json{{"cohort", "/wes/data/cohort.csv"}, {"lookup", "/wes/data/ref/regions.tsv"}}));
  m.inputs.clear();
  EXPECT_EQ(EngineParams(m, json(nullptr)), json::object());
  EXPECT_EQ(EngineParams(m, json{{"x", 1}}), (json{{"x", 1}}));
}

// --- Snakemake logs ------------------------------------------------------------------------

std::vector<std::string> Bash(const std::string& cmd) { return {"/usr/bin/bash", "-c", cmd}; }

TEST(ParseSnakemake, Success) {
  std::vector<EngineStep> steps = ParseEngineSteps("snakemake", Testdata("snakemake_success.log"));
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].id, "2");
  EXPECT_EQ(steps[0].name, "select_cohort");
  EXPECT_EQ(steps[0].cmd, Bash("python3 /wes/wf/scripts/select_cohort.py --in "
                               "/wes/data/cohort.csv --out work/cohort_selected.csv "
                               "--min-age 18 --max-age 200"));
  EXPECT_EQ(steps[0].start_time, "2026-11-21T16:38:48Z");
  EXPECT_EQ(steps[0].end_time, "2026-11-21T16:38:48Z");
  EXPECT_EQ(steps[0].exit_code, 0);
  EXPECT_EQ(steps[0].state, "COMPLETE");
  EXPECT_EQ(steps[1].id, "1");
  EXPECT_EQ(steps[1].name, "count_by_age_sex");
  EXPECT_EQ(steps[1].cmd, Bash("python3 /wes/wf/scripts/count_by_age_sex.py --in "
                               "work/cohort_selected.csv --out counts_by_age_sex.csv "
                               "--bands 18,30,45,60,75"));
  EXPECT_EQ(steps[2].id, "3");
  EXPECT_EQ(steps[2].name, "summary_statistics");
  EXPECT_EQ(steps[2].cmd, Bash("python3 /wes/wf/scripts/summary_statistics.py --in "
                               "work/cohort_selected.csv --out summary_statistics.csv"));
  EXPECT_EQ(steps[3].id, "0");
  EXPECT_EQ(steps[3].name, "all");  // "localrule all:", no command
  EXPECT_THAT(steps[3].cmd, IsEmpty());
  for (const EngineStep& s : steps) {
    EXPECT_EQ(s.state, "COMPLETE") << s.name;
    EXPECT_EQ(s.exit_code, 0) << s.name;
    EXPECT_TRUE(s.start_time && s.end_time) << s.name;
  }
}

TEST(ParseSnakemake, TwoCoresInterleaved) {
  std::vector<EngineStep> steps = ParseEngineSteps("snakemake", Testdata("snakemake_cores2.log"));
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[1].name, "count_by_age_sex");
  EXPECT_EQ(steps[1].cmd, Bash("python3 /wes/wf/scripts/count_by_age_sex.py --in "
                               "work/cohort_selected.csv --out counts_by_age_sex.csv "
                               "--bands 18,30,45,60,75"));
  EXPECT_EQ(steps[2].name, "summary_statistics");
  EXPECT_EQ(steps[2].cmd, Bash("python3 /wes/wf/scripts/summary_statistics.py --in "
                               "work/cohort_selected.csv --out summary_statistics.csv"));
  for (const EngineStep& s : steps) EXPECT_EQ(s.state, "COMPLETE") << s.name;
}

TEST(ParseSnakemake, Failure) {
  std::vector<EngineStep> steps = ParseEngineSteps("snakemake", Testdata("snakemake_fail.log"));
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].name, "select_cohort");
  EXPECT_EQ(steps[0].state, "COMPLETE");
  EXPECT_EQ(steps[1].id, "1");
  EXPECT_EQ(steps[1].name, "count_by_age_sex");
  EXPECT_EQ(steps[1].state, "EXECUTOR_ERROR");
  EXPECT_EQ(steps[1].exit_code, std::nullopt);  // Snakemake 7.21 does not print it
  EXPECT_EQ(steps[1].start_time, "2026-11-21T16:39:02Z");
  EXPECT_EQ(steps[1].end_time, "2026-11-21T16:39:02Z");
  EXPECT_EQ(steps[1].cmd, Bash("python3 /wes/wf/scripts/count_by_age_sex.py --in "
                               "work/cohort_selected.csv --out counts_by_age_sex.csv "
                               "--bands 18,45,30"));
}

TEST(ParseSnakemake, FailureKeepGoing) {
  std::vector<EngineStep> steps =
      ParseEngineSteps("snakemake", Testdata("snakemake_fail_keep_going.log"));
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[1].name, "count_by_age_sex");
  EXPECT_EQ(steps[1].state, "EXECUTOR_ERROR");
  EXPECT_EQ(steps[1].start_time, "2026-11-21T16:39:03Z");
  EXPECT_EQ(steps[1].end_time, "2026-11-21T16:39:04Z");
  EXPECT_EQ(steps[2].name, "summary_statistics");
  EXPECT_EQ(steps[2].state, "COMPLETE");
  EXPECT_EQ(steps[2].exit_code, 0);
}

TEST(ParseSnakemake, TailCutAtTheStart) {
  const std::string log = Testdata("snakemake_fail.log");
  // From inside the failing job's rule block: the job is known from its error only, and the
  // command from the error's shell: section.
  const std::string tail = log.substr(log.find("    reason: Missing output files: counts"));
  std::vector<EngineStep> steps = ParseEngineSteps("snakemake", tail);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].id, "1");
  EXPECT_EQ(steps[0].name, "count_by_age_sex");
  EXPECT_EQ(steps[0].state, "EXECUTOR_ERROR");
  EXPECT_EQ(steps[0].start_time, std::nullopt);
  // "Using shell: /usr/bin/bash" was cut off too.
  EXPECT_THAT(steps[0].cmd,
              ElementsAre("bash", "-c",
                          "python3 /wes/wf/scripts/count_by_age_sex.py --in "
                          "work/cohort_selected.csv --out counts_by_age_sex.csv --bands 18,45,30"));
  // Only "Finished job N." seen: the name is unknown.
  steps = ParseEngineSteps("snakemake", "[Sat Nov  1 09:05:07 2025]\nFinished job 7.\n");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].id, "7");
  EXPECT_EQ(steps[0].name, "");
  EXPECT_EQ(steps[0].end_time, "2025-11-01T09:05:07Z");
  EXPECT_EQ(steps[0].state, "COMPLETE");
}

TEST(ParseSnakemake, RunningAndGarbage) {
  std::vector<EngineStep> steps = ParseEngineSteps(
      "snakemake",
      "[Mon Jan  5 23:59:60 2026]\nrule a:\n    jobid: 4\n\n[not a date]\nFinished job x.\n"
      "rule b c:\nError in rule :\n");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].name, "a");
  EXPECT_EQ(steps[0].state, "RUNNING");
  EXPECT_EQ(steps[0].start_time, "2026-01-05T23:59:60Z");
  EXPECT_THAT(steps[0].cmd, IsEmpty());
  EXPECT_THAT(ParseEngineSteps("snakemake", ""), IsEmpty());
  EXPECT_THAT(ParseEngineSteps("nextflow", Testdata("snakemake_success.log")), IsEmpty());
}

// --- cwltool logs --------------------------------------------------------------------------

void ExpectCwlSuccess(const std::vector<EngineStep>& steps, bool times) {
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].id, "select");
  EXPECT_EQ(steps[0].name, "select");
  ASSERT_EQ(steps[0].cmd.size(), 14u);
  EXPECT_EQ(steps[0].cmd[0], "python3");
  EXPECT_THAT(steps[0].cmd[1], ::testing::EndsWith("/select_rows.py"));
  EXPECT_EQ(steps[0].cmd[2], "--in");
  EXPECT_THAT(steps[0].cmd[3], ::testing::EndsWith("/cohort.csv"));
  EXPECT_THAT(std::vector<std::string>(steps[0].cmd.begin() + 4, steps[0].cmd.end()),
              ElementsAre("--min-age", "18", "--max-age", "200", "--outcome", "systolic_bp",
                          "--covariates", "age,bmi,smoker,sex", "--out", "selected.csv"));
  EXPECT_EQ(steps[1].id, "regress");
  ASSERT_EQ(steps[1].cmd.size(), 12u);
  EXPECT_EQ(steps[1].cmd.back(), "coefficients.csv");
  for (const EngineStep& s : steps) {
    EXPECT_EQ(s.state, "COMPLETE") << s.name;
    EXPECT_EQ(s.exit_code, 0) << s.name;
    EXPECT_EQ(s.start_time.has_value(), times) << s.name;
    EXPECT_EQ(s.end_time.has_value(), times) << s.name;
  }
}

TEST(ParseCwltool, Success) {
  std::vector<EngineStep> steps = ParseEngineSteps("cwltool", Testdata("cwltool_success.log"));
  ExpectCwlSuccess(steps, true);
  EXPECT_EQ(steps[0].start_time, "2026-11-21T16:38:53Z");
  EXPECT_EQ(steps[1].end_time, "2026-11-21T16:38:53Z");
}

TEST(ParseCwltool, Parallel) {
  ExpectCwlSuccess(ParseEngineSteps("cwltool", Testdata("cwltool_parallel.log")), true);
}

TEST(ParseCwltool, DefaultColouredLogWithoutTimes) {
  ExpectCwlSuccess(ParseEngineSteps("cwltool", Testdata("cwltool_color.log")), false);
}

TEST(ParseCwltool, Failure) {
  std::vector<EngineStep> steps = ParseEngineSteps("cwltool", Testdata("cwltool_fail.log"));
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].name, "select");
  EXPECT_EQ(steps[0].state, "COMPLETE");
  EXPECT_EQ(steps[1].name, "regress");
  EXPECT_EQ(steps[1].state, "EXECUTOR_ERROR");
  EXPECT_EQ(steps[1].exit_code, 1);
  EXPECT_EQ(steps[1].end_time, "2026-11-21T16:39:07Z");
  ASSERT_FALSE(steps[1].cmd.empty());
  EXPECT_EQ(steps[1].cmd[0], "python3");
}

TEST(ParseCwltool, TailCutAtTheStart) {
  const std::string log = Testdata("cwltool_fail.log");
  std::vector<EngineStep> steps =
      ParseEngineSteps("cwltool", log.substr(log.find("[2026-11-21 16:39:07] WARNING [job")));
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].id, "regress");
  EXPECT_EQ(steps[0].state, "EXECUTOR_ERROR");
  EXPECT_EQ(steps[0].exit_code, 1);
  EXPECT_EQ(steps[0].start_time, std::nullopt);
}

TEST(ParseCwltool, CommandLineToolQuotingScatterAndRedirections) {
  // A CommandLineTool run on its own has jobs but no steps; quoted words as shellescape
  // writes them; redirections end the command.
  const std::string tool =
      "INFO [job tool] /tmp/out/abc$ echo \\\n"
      "    'two words' \\\n"
      "    'it'\"'\"'s' \\\n"
      "    plain > /tmp/out/abc/out.txt 2> /tmp/out/abc/err.txt\n"
      "INFO [job tool] completed success\n";
  std::vector<EngineStep> steps = ParseEngineSteps("cwltool", tool);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].id, "tool");
  EXPECT_THAT(steps[0].cmd, ElementsAre("echo", "two words", "it's", "plain"));
  EXPECT_EQ(steps[0].state, "COMPLETE");
  EXPECT_EQ(steps[0].exit_code, 0);

  const std::string scatter =
      "INFO [step s] start\n"
      "INFO [job s] /tmp/o/1$ echo \\\n    1\n"
      "INFO [job s_2] /tmp/o/2$ echo \\\n    2\n"
      "WARNING [job s_2] exited with status: 3\n"
      "WARNING [job s_2] completed permanentFail\n"
      "INFO [job s] completed success\n"
      "WARNING [step s] completed permanentFail\n";
  steps = ParseEngineSteps("cwltool", scatter);
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_EQ(steps[0].id, "s");
  EXPECT_THAT(steps[0].cmd, ElementsAre("echo", "1"));
  EXPECT_EQ(steps[0].exit_code, 3);
  EXPECT_EQ(steps[0].state, "EXECUTOR_ERROR");
}

// --- the example workflows (workflows/) -----------------------------------------------------

// The shipped bundles register (the real manifest parser), their example params validate
// against their schemas, and the engine command and params come out as the README says.
TEST(ExampleWorkflows, ManifestsParamsAndCommands) {
  namespace fs = std::filesystem;
  const fs::path root = SAFEFLOW_SOURCE_DIR "/workflows";
  const std::map<std::string, std::string> engines = {{"cohort-counts", "snakemake"},
                                                      {"cohort-regression", "cwltool"}};
  for (const auto& [name, engine] : engines) {
    SCOPED_TRACE(name);
    std::vector<std::string> paths;
    for (const fs::directory_entry& e : fs::recursive_directory_iterator(root / name)) {
      if (e.is_regular_file()) paths.push_back(fs::relative(e.path(), root / name).string());
    }
    absl::StatusOr<registry::WorkflowManifest> m = registry::ParseWorkflowManifest(
        json::parse(Testdata("../../../../workflows/" + name + "/safeflow-manifest.json")), paths);
    ASSERT_THAT(m, IsOk());
    EXPECT_EQ(m->name, name);
    EXPECT_EQ(m->engine, engine);
    const json params =
        json::parse(Testdata("../../../../workflows/" + name + "/example-params.json"));
    absl::StatusOr<std::shared_ptr<const registry::CompiledSchema>> schema =
        registry::CompiledSchema::Compile(m->params_schema);
    ASSERT_THAT(schema, IsOk());
    EXPECT_THAT((*schema)->Validate(params), IsEmpty());
    EXPECT_THAT((*schema)->Validate(json{{"cohort", "file:///x"}, {"unknown", 1}}),
                ::testing::Not(IsEmpty()));
    EXPECT_THAT(EngineCommand(*m, Engine(engine), m->engine_parameters), IsOk());
    const json seen = EngineParams(*m, params);
    if (engine == "cwltool") {
      EXPECT_EQ(seen["cohort"], (json{{"class", "File"}, {"path", "/wes/data/cohort.csv"}}));
    } else {
      EXPECT_EQ(seen["cohort"], "/wes/data/cohort.csv");
    }
  }
}

}  // namespace
}  // namespace safeflow::service::wes
