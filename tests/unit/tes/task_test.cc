#include "schemas/tes/task.h"

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "schemas/tes/validate.h"
#include "tests/testing/spec_validator.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::schemas::tes {
namespace {

using ::nlohmann::json;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::SpecValidationOptions;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::ValidateAgainstSpec;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;

constexpr char kTesSpec[] = "tes.openapi.resolved.json";

// Every field of every struct set, with two log attempts.
Task RichTask() {
  Task t;
  t.id = "task-0001";
  t.state = State::kExecutorError;
  t.name = "align sample 1";
  t.description = "bwa mem, then samtools sort";
  t.inputs = {
      Input{.name = "reads",
            .description = "paired reads",
            .url = "s3://bucket/reads.fq.gz",
            .path = "/data/reads.fq.gz",
            .type = FileType::kFile,
            .streamable = true},
      Input{.name = "script",
            .path = "/work/run.sh",
            .content = "#!/bin/sh\necho hi\n",
            .streamable = false},
      Input{.url = "file:///refs/hg38", .path = "/refs", .type = FileType::kDirectory},
  };
  t.outputs = {
      Output{.name = "bam",
             .description = "sorted",
             .url = "s3://bucket/out.bam",
             .path = "/work/out.bam"},
      Output{.url = "s3://bucket/logs/",
             .path = "/work/*.log",
             .path_prefix = "/work",
             .type = FileType::kDirectory},
  };
  t.resources = Resources{.cpu_cores = 4,
                          .preemptible = true,
                          .ram_gb = 7.5,
                          .disk_gb = 0.25,
                          .zones = {"us-west-1", "us-west-2"},
                          .backend_parameters = {{"VmSize", "Standard_D64_v3"}},
                          .backend_parameters_strict = false};
  t.executors = {
      Executor{.image = "ubuntu:20.04",
               .command = {"/bin/md5", "/data/file1"},
               .workdir = "/data",
               .stdin_path = "/data/file1",
               .stdout_path = "/tmp/stdout.log",
               .stderr_path = "/tmp/stderr.log",
               .env = {{"BLASTDB", "/data/GRC38"}, {"EMPTY", ""}},
               .ignore_error = true},
      Executor{.image = "alpine", .command = {"true"}},
  };
  t.volumes = {"/vol/A", "/scratch"};
  t.tags = {{"WORKFLOW_ID", "cwl-01234"}, {"PROJECT_GROUP", "alice-lab"}};
  t.logs = {
      TaskLog{.logs = {ExecutorLog{.start_time = "2020-10-02T10:00:00-05:00",
                                   .end_time = "2020-10-02T11:00:00-05:00",
                                   .stdout_text = "out",
                                   .stderr_text = "err",
                                   .exit_code = 137}},
              .metadata = {{"host", "worker-001"}},
              .start_time = "2020-10-02T10:00:00-05:00",
              .end_time = "2020-10-02T11:00:00-05:00",
              .outputs = {OutputFileLog{
                  .url = "s3://bucket/out.bam", .path = "/work/out.bam", .size_bytes = "1024"}},
              .system_logs = {"preempted on worker-001"}},
      TaskLog{.logs = {ExecutorLog{}, ExecutorLog{.stderr_text = "", .exit_code = -1}}},
  };
  t.creation_time = "2020-10-02T09:59:00-05:00";
  return t;
}

// Collects the JSON paths of every null value.
void FindNulls(const json& j, const std::string& path, std::vector<std::string>& out) {
  if (j.is_null()) out.push_back(path);
  if (j.is_object()) {
    for (const auto& item : j.items()) FindNulls(item.value(), path + "/" + item.key(), out);
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) FindNulls(j[i], path + "/" + std::to_string(i), out);
  }
}

TEST(StateTest, NamesAreTheSpecsAndRoundTrip) {
  ASSERT_EQ(AllStates().size(), 11u);
  const std::vector<std::string> spec_names = {
      "UNKNOWN",        "QUEUED",       "INITIALIZING", "RUNNING",   "PAUSED",   "COMPLETE",
      "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED",     "CANCELING", "PREEMPTED"};
  std::set<std::string> names;
  for (State s : AllStates()) {
    names.insert(std::string(StateName(s)));
    EXPECT_EQ(ParseState(StateName(s)), s);
  }
  EXPECT_EQ(names, std::set<std::string>(spec_names.begin(), spec_names.end()));
  EXPECT_EQ(StateName(State::kExecutorError), "EXECUTOR_ERROR");
  EXPECT_EQ(StateName(State::kCanceling), "CANCELING");
}

TEST(StateTest, ParseAcceptsExactSpecNamesOnly) {
  EXPECT_EQ(ParseState("QUEUED"), State::kQueued);
  EXPECT_EQ(ParseState("queued"), std::nullopt);
  EXPECT_EQ(ParseState(" QUEUED"), std::nullopt);
  EXPECT_EQ(ParseState("CANCELLED"), std::nullopt);
  EXPECT_EQ(ParseState(""), std::nullopt);
}

TEST(StateTest, TerminalStates) {
  std::set<State> terminal;
  for (State s : AllStates()) {
    if (IsTerminal(s)) terminal.insert(s);
  }
  EXPECT_EQ(terminal, (std::set<State>{State::kComplete, State::kExecutorError, State::kSystemError,
                                       State::kCanceled, State::kPreempted}));
  EXPECT_FALSE(IsTerminal(State::kCanceling));
  EXPECT_FALSE(IsTerminal(State::kUnknown));
}

TEST(ViewTest, ParseAndName) {
  EXPECT_EQ(ParseView("MINIMAL"), View::kMinimal);
  EXPECT_EQ(ParseView("BASIC"), View::kBasic);
  EXPECT_EQ(ParseView("FULL"), View::kFull);
  EXPECT_EQ(ParseView("full"), std::nullopt);
  EXPECT_EQ(ParseView(""), std::nullopt);
  for (View v : {View::kMinimal, View::kBasic, View::kFull}) EXPECT_EQ(ParseView(ViewName(v)), v);
}

TEST(FileTypeTest, ParseAndName) {
  EXPECT_EQ(ParseFileType("FILE"), FileType::kFile);
  EXPECT_EQ(ParseFileType("DIRECTORY"), FileType::kDirectory);
  EXPECT_EQ(ParseFileType("file"), std::nullopt);
  EXPECT_EQ(FileTypeName(FileType::kDirectory), "DIRECTORY");
}

TEST(ToJsonTest, FullViewHasEveryFieldWithTheSpecsNames) {
  const json expected = json::parse(R"({
    "id": "task-0001",
    "state": "EXECUTOR_ERROR",
    "name": "align sample 1",
    "description": "bwa mem, then samtools sort",
    "inputs": [
      {"name": "reads", "description": "paired reads", "url": "s3://bucket/reads.fq.gz",
       "path": "/data/reads.fq.gz", "type": "FILE", "streamable": true},
      {"name": "script", "path": "/work/run.sh", "type": "FILE",
       "content": "#!/bin/sh\necho hi\n", "streamable": false},
      {"url": "file:///refs/hg38", "path": "/refs", "type": "DIRECTORY"}
    ],
    "outputs": [
      {"name": "bam", "description": "sorted", "url": "s3://bucket/out.bam",
       "path": "/work/out.bam", "type": "FILE"},
      {"url": "s3://bucket/logs/", "path": "/work/*.log", "path_prefix": "/work",
       "type": "DIRECTORY"}
    ],
    "resources": {"cpu_cores": 4, "preemptible": true, "ram_gb": 7.5, "disk_gb": 0.25,
                  "zones": ["us-west-1", "us-west-2"],
                  "backend_parameters": {"VmSize": "Standard_D64_v3"},
                  "backend_parameters_strict": false},
    "executors": [
      {"image": "ubuntu:20.04", "command": ["/bin/md5", "/data/file1"], "workdir": "/data",
       "stdin": "/data/file1", "stdout": "/tmp/stdout.log", "stderr": "/tmp/stderr.log",
       "env": {"BLASTDB": "/data/GRC38", "EMPTY": ""}, "ignore_error": true},
      {"image": "alpine", "command": ["true"]}
    ],
    "volumes": ["/vol/A", "/scratch"],
    "tags": {"WORKFLOW_ID": "cwl-01234", "PROJECT_GROUP": "alice-lab"},
    "logs": [
      {"logs": [{"start_time": "2020-10-02T10:00:00-05:00", "end_time": "2020-10-02T11:00:00-05:00",
                 "stdout": "out", "stderr": "err", "exit_code": 137}],
       "metadata": {"host": "worker-001"},
       "start_time": "2020-10-02T10:00:00-05:00", "end_time": "2020-10-02T11:00:00-05:00",
       "outputs": [{"url": "s3://bucket/out.bam", "path": "/work/out.bam", "size_bytes": "1024"}],
       "system_logs": ["preempted on worker-001"]},
      {"logs": [{"exit_code": 0}, {"stderr": "", "exit_code": -1}], "outputs": []}
    ],
    "creation_time": "2020-10-02T09:59:00-05:00"
  })");
  EXPECT_EQ(ToJson(RichTask(), View::kFull), expected);
}

TEST(ToJsonTest, BasicViewOmitsExactlyTheFourFields) {
  json expected = ToJson(RichTask(), View::kFull);
  // The spec: all fields EXCEPT ExecutorLog.stdout, ExecutorLog.stderr, tesInput.content and
  // tesTaskLog.system_logs.
  for (json& log : expected["logs"]) {
    for (json& executor_log : log["logs"]) {
      executor_log.erase("stdout");
      executor_log.erase("stderr");
    }
    log.erase("system_logs");
  }
  for (json& input : expected["inputs"]) input.erase("content");
  const json basic = ToJson(RichTask(), View::kBasic);
  EXPECT_EQ(basic, expected);
  EXPECT_NE(basic, ToJson(RichTask(), View::kFull));             // the rich task has all four
  EXPECT_FALSE(basic["logs"][1]["logs"][1].contains("stderr"));  // even when empty
}

TEST(ToJsonTest, MinimalViewHasOnlyIdAndState) {
  EXPECT_EQ(ToJson(RichTask(), View::kMinimal),
            (json{{"id", "task-0001"}, {"state", "EXECUTOR_ERROR"}}));
  EXPECT_EQ(ToJson(Task{}, View::kMinimal), (json{{"id", ""}, {"state", "UNKNOWN"}}));
}

TEST(ToJsonTest, AbsentOptionalsAndEmptyCollectionsAreOmittedNeverNull) {
  Task t;
  t.id = "t1";
  t.state = State::kQueued;
  t.executors = {Executor{.image = "alpine", .command = {"echo", "hi"}}};
  t.inputs = {Input{.url = "s3://b/k", .path = "/in"}};
  t.outputs = {Output{.url = "s3://b/o", .path = "/out"}};
  t.resources = Resources{};
  t.logs = {TaskLog{.logs = {ExecutorLog{}}}};
  const json expected = json::parse(R"({
    "id": "t1", "state": "QUEUED",
    "inputs": [{"url": "s3://b/k", "path": "/in", "type": "FILE"}],
    "outputs": [{"url": "s3://b/o", "path": "/out", "type": "FILE"}],
    "resources": {},
    "executors": [{"image": "alpine", "command": ["echo", "hi"]}],
    "logs": [{"logs": [{"exit_code": 0}], "outputs": []}]
  })");
  EXPECT_EQ(ToJson(t, View::kFull), expected);
  EXPECT_EQ(ToJson(t, View::kBasic), expected);

  for (View view : {View::kMinimal, View::kBasic, View::kFull}) {
    std::vector<std::string> nulls;
    FindNulls(ToJson(RichTask(), view), "", nulls);
    FindNulls(ToJson(t, view), "", nulls);
    FindNulls(ToJson(Task{}, view), "", nulls);
    EXPECT_THAT(nulls, ElementsAre()) << ViewName(view);
  }
}

TEST(ToJsonTest, ExecutorsAreAlwaysPresentOutsideMinimal) {
  EXPECT_EQ(ToJson(Task{}, View::kBasic),
            (json{{"id", ""}, {"state", "UNKNOWN"}, {"executors", json::array()}}));
}

TEST(ToJsonTest, LogPartsCarryTheirRequiredFields) {
  EXPECT_EQ(ToJson(TaskLog{}), (json{{"logs", json::array()}, {"outputs", json::array()}}));
  EXPECT_EQ(ToJson(ExecutorLog{}), (json{{"exit_code", 0}}));
  EXPECT_EQ(ToJson(OutputFileLog{.url = "u", .path = "/p", .size_bytes = "12"}),
            (json{{"url", "u"}, {"path", "/p"}, {"size_bytes", "12"}}));
  EXPECT_EQ(ToJson(ExecutorLog{.stdout_text = "o", .stderr_text = "e", .exit_code = 3}),
            (json{{"stdout", "o"}, {"stderr", "e"}, {"exit_code", 3}}));
  EXPECT_EQ(ToJson(RichTask().logs[0]), ToJson(RichTask(), View::kFull)["logs"][0]);
}

TEST(StoredJsonTest, RoundTripIsLossless) {
  const Task rich = RichTask();
  EXPECT_THAT(FromStoredJson(ToStoredJson(rich)), IsOkAndHolds(Eq(rich)));
  // Through text too, as the store keeps it.
  EXPECT_THAT(FromStoredJson(json::parse(ToStoredJson(rich).dump())), IsOkAndHolds(Eq(rich)));
  EXPECT_EQ(ToStoredJson(rich), ToJson(rich, View::kFull));

  Task awkward;
  awkward.resources = Resources{.ram_gb = 0.1, .disk_gb = 1e-9};  // fractions survive exactly
  awkward.inputs = {Input{.path = "/a", .content = ""}};          // empty but present
  awkward.logs = {TaskLog{}};
  awkward.executors = {Executor{.command = {""}, .env = {{"", ""}}}};
  EXPECT_THAT(FromStoredJson(json::parse(ToStoredJson(awkward).dump())), IsOkAndHolds(Eq(awkward)));
  EXPECT_THAT(FromStoredJson(ToStoredJson(Task{})), IsOkAndHolds(Eq(Task{})));

  for (State s : AllStates()) {
    Task t;
    t.state = s;
    EXPECT_THAT(FromStoredJson(ToStoredJson(t)), IsOkAndHolds(Eq(t)));
  }
}

TEST(StoredJsonTest, ToleratesMissingFieldsAndDoesNotValidate) {
  EXPECT_THAT(FromStoredJson(json::object()), IsOkAndHolds(Eq(Task{})));
  auto t = FromStoredJson(json::parse(R"({
    "id": "x", "inputs": [{"path": "relative/../path"}], "executors": [{}],
    "outputs": [{}], "logs": [{"logs": [{}]}], "resources": {"cpu_cores": -3}, "state": null})"));
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(t->id, "x");
  EXPECT_EQ(t->state, State::kUnknown);
  EXPECT_EQ(t->inputs.at(0).path, "relative/../path");
  EXPECT_EQ(t->executors.at(0).image, "");
  EXPECT_EQ(t->logs.at(0).logs.at(0).exit_code, 0);
  EXPECT_EQ(t->resources->cpu_cores, -3);
}

TEST(StoredJsonTest, WrongTypesAreInvalidArgumentNamingTheField) {
  EXPECT_THAT(FromStoredJson(json::array()), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FromStoredJson(json(nullptr)), StatusIs(absl::StatusCode::kInvalidArgument));

  auto bad_exit = FromStoredJson(json::parse(R"({"logs": [{"logs": [{"exit_code": "1"}]}]})"));
  EXPECT_THAT(bad_exit, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bad_exit.status().message(), HasSubstr("logs[0].logs[0].exit_code: must be"));

  auto big_exit =
      FromStoredJson(json::parse(R"({"logs": [{"logs": [{"exit_code": 4294967296}]}]})"));
  EXPECT_THAT(big_exit.status().message(), HasSubstr("logs[0].logs[0].exit_code: must be a 32"));

  auto bad_state = FromStoredJson(json::parse(R"({"state": "DONE"})"));
  EXPECT_THAT(bad_state, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(bad_state.status().message(), HasSubstr("state"));

  auto bad_type = FromStoredJson(json::parse(R"({"inputs": [{"path": "/a", "type": "file"}]})"));
  EXPECT_THAT(bad_type.status().message(), HasSubstr("inputs[0].type"));

  auto bad_size = FromStoredJson(
      json::parse(R"({"logs": [{"outputs": [{"url": "u", "path": "/p", "size_bytes": 12}]}]})"));
  EXPECT_THAT(bad_size.status().message(), HasSubstr("logs[0].outputs[0].size_bytes"));

  auto bad_tags = FromStoredJson(json::parse(R"({"tags": ["a"]})"));
  EXPECT_THAT(bad_tags.status().message(), HasSubstr("tags"));
}

TEST(ToJsonTest, ParsedRequestSurvivesFullViewAndReparse) {
  const json body = json::parse(R"({
    "name": "n", "inputs": [{"url": "s3://b/k", "path": "/in", "streamable": false},
                            {"content": "x", "path": "/c"}],
    "outputs": [{"url": "s3://b/", "path": "/out/*", "path_prefix": "/out"}],
    "resources": {"cpu_cores": 2, "ram_gb": 0.5},
    "executors": [{"image": "alpine", "command": ["sh", "-c", "echo hi"], "env": {"A": "1"}}],
    "volumes": ["/v"], "tags": {"k": "v"}})");
  ParseResult first = ParseCreateTask(body);
  ASSERT_TRUE(first.task) << FormatErrors(first.errors);
  first.task->id = "assigned";
  first.task->state = State::kRunning;
  ParseResult second = ParseCreateTask(ToJson(*first.task, View::kFull));
  ASSERT_TRUE(second.task) << FormatErrors(second.errors);
  second.task->id = "assigned";
  second.task->state = State::kRunning;
  EXPECT_EQ(*second.task, *first.task);
}

// ---- conformance with the spec's schemas (valijson) -----------------------------------------

TEST(SpecConformanceTest, FullAndBasicViewsOfARichTaskConformToTesTask) {
  for (View view : {View::kFull, View::kBasic}) {
    const json doc = ToJson(RichTask(), view);
    EXPECT_THAT(ValidateAgainstSpec(doc, kTesSpec, "tesTask"), IsOk()) << ViewName(view);
    // Nothing the spec does not define.
    EXPECT_THAT(ValidateAgainstSpec(doc, kTesSpec, "tesTask",
                                    SpecValidationOptions{.forbid_unknown_properties = true}),
                IsOk())
        << ViewName(view);
  }
}

TEST(SpecConformanceTest, PartsConformToTheirSchemas) {
  const SpecValidationOptions strict{.forbid_unknown_properties = true};
  const Task rich = RichTask();
  EXPECT_THAT(ValidateAgainstSpec(ToJson(rich.logs[0]), kTesSpec, "tesTaskLog", strict), IsOk());
  EXPECT_THAT(ValidateAgainstSpec(ToJson(TaskLog{}), kTesSpec, "tesTaskLog", strict), IsOk());
  EXPECT_THAT(ValidateAgainstSpec(ToJson(ExecutorLog{}), kTesSpec, "tesExecutorLog", strict),
              IsOk());
  EXPECT_THAT(ValidateAgainstSpec(ToJson(OutputFileLog{}), kTesSpec, "tesOutputFileLog", strict),
              IsOk());
  EXPECT_THAT(ValidateAgainstSpec(ToJson(rich.inputs[1]), kTesSpec, "tesInput", strict), IsOk());
  EXPECT_THAT(ValidateAgainstSpec(ToJson(rich.outputs[1]), kTesSpec, "tesOutput", strict), IsOk());
  EXPECT_THAT(ValidateAgainstSpec(ToJson(rich.executors[0]), kTesSpec, "tesExecutor", strict),
              IsOk());
  EXPECT_THAT(ValidateAgainstSpec(ToJson(*rich.resources), kTesSpec, "tesResources", strict),
              IsOk());
  for (State s : AllStates()) {
    EXPECT_THAT(ValidateAgainstSpec(json(std::string(StateName(s))), kTesSpec, "tesState"), IsOk());
  }
  for (FileType f : {FileType::kFile, FileType::kDirectory}) {
    EXPECT_THAT(ValidateAgainstSpec(json(std::string(FileTypeName(f))), kTesSpec, "tesFileType"),
                IsOk());
  }
}

// A spec quirk worth pinning down: tesTask requires `executors`, but the MINIMAL view the spec
// defines for GetTask/ListTasks contains only id and state, so a MINIMAL task never validates
// against tesTask. Response tests must not validate MINIMAL tasks against tesTask.
TEST(SpecConformanceTest, MinimalViewCannotConformToTesTaskBecauseExecutorsIsRequired) {
  absl::Status s = ValidateAgainstSpec(ToJson(RichTask(), View::kMinimal), kTesSpec, "tesTask");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.message(), HasSubstr("executors"));
}

}  // namespace
}  // namespace safeflow::schemas::tes
