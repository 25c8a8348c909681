#include "executor/worker/protocol.h"

#include <chrono>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::executor::worker {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::HasSubstr;

WorkerSpec FullSpec() {
  WorkerSpec s;
  s.task_id = "task-1";
  s.executors = {
      {.command = {"sh", "-c", "echo hi > /work/a"},
       .workdir = "/work",
       .stdin_path = "/data/in.txt",
       .stdout_path = "/work/out.txt",
       .stderr_path = "/work/err.txt",
       .env = {{"A", "1"}, {"B", "two words"}},
       .ignore_error = true},
      {.command = {"cat", "/work/a"}},
  };
  s.outputs = {{.index = 0, .path = "/work/a"},
               {.index = 1, .path = "/outputs/*.txt", .path_prefix = "/outputs/"},
               {.index = 2, .path = "/outputs/dir", .type = OutputType::kDirectory}};
  s.log_tail_bytes = 1000;
  s.outbox = "/.safeflow/outbox";
  return s;
}

TEST(WorkerSpecTest, RoundTripsThroughJson) {
  const WorkerSpec s = FullSpec();
  absl::StatusOr<WorkerSpec> back = ParseWorkerSpec(SerializeWorkerSpec(s));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, s);
  WorkerSpec with_fd = s;
  with_fd.outbox_fd = 5;
  with_fd.outbox.clear();
  back = ParseWorkerSpec(SerializeWorkerSpec(with_fd));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, with_fd);
}

TEST(WorkerSpecTest, UsesTheDocumentedKeysAndDefaults) {
  const nlohmann::json j = ToJson(FullSpec());
  EXPECT_EQ(j["executors"][0]["stdin"], "/data/in.txt");
  EXPECT_EQ(j["executors"][0]["stdout"], "/work/out.txt");
  EXPECT_EQ(j["executors"][0]["env"]["B"], "two words");
  EXPECT_FALSE(j["executors"][1].contains("workdir"));
  EXPECT_EQ(j["outputs"][2]["type"], "DIRECTORY");
  absl::StatusOr<WorkerSpec> minimal =
      ParseWorkerSpec(R"({"task_id":"t","executors":[{"command":["true"]}],"outbox":"/o"})");
  ASSERT_THAT(minimal, IsOk());
  EXPECT_EQ(minimal->log_tail_bytes, 65536);
  EXPECT_FALSE(minimal->executors[0].ignore_error);
  EXPECT_TRUE(minimal->outputs.empty());
}

TEST(WorkerSpecTest, RejectsBadSpecsWithPaths) {
  EXPECT_THAT(ParseWorkerSpec("not json"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseWorkerSpec("[]"), StatusIs(absl::StatusCode::kInvalidArgument));
  absl::StatusOr<WorkerSpec> s = ParseWorkerSpec(
      R"({"task_id":"t","executors":[{"command":[]},{"command":["x"],"workdir":"rel",
          "stdout":"/a/../b","env":{"A=B":"1"}}],"outputs":[{"index":-1,"path":"/o",
          "type":"LINK"}],"outbox":"/o","colour":"red"})");
  ASSERT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string msg(s.status().message());
  EXPECT_THAT(msg, HasSubstr("colour: unknown key"));
  EXPECT_THAT(msg, HasSubstr("outputs[0].index: out of range"));
  EXPECT_THAT(msg, HasSubstr("outputs[0].type: must be FILE or DIRECTORY"));
  // Structural errors are reported once the JSON shape is right.
  s = ParseWorkerSpec(
      R"({"task_id":"t","executors":[{"command":[]},{"command":["x"],"workdir":"rel",
          "stdout":"/a/../b","env":{"A=B":"1"}}],"outbox":"/o"})");
  ASSERT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  const std::string msg2(s.status().message());
  EXPECT_THAT(msg2, HasSubstr("executors[0].command: required"));
  EXPECT_THAT(msg2, HasSubstr("executors[1].workdir"));
  EXPECT_THAT(msg2, HasSubstr("executors[1].stdout"));
  EXPECT_THAT(msg2, HasSubstr("executors[1].env"));
  EXPECT_THAT(ParseWorkerSpec(R"({"task_id":"t","executors":[]})"),
              StatusIs(absl::StatusCode::kInvalidArgument));  // no outbox
  EXPECT_THAT(ParseWorkerSpec(
                  R"({"task_id":"t","executors":[{"command":["a"]}],"outbox":"/o",
                      "log_tail_bytes":-1})"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      ParseWorkerSpec(R"({"task_id":"t","executors":[{"command":["a\u0000b"]}],"outbox":"/o"})"),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WorkerEventTest, EveryEventRoundTrips) {
  const std::string t = "2026-11-21T10:00:00.123Z";
  const std::vector<WorkerEvent> events = {
      RunningEvent{.time = t},
      ExecutorStartedEvent{.index = 2, .time = t},
      ExecutorFinishedEvent{.index = 2,
                            .exit_code = 137,
                            .start_time = t,
                            .end_time = t,
                            .stdout_tail = "out\n",
                            .stderr_tail = "err \xE2\x9C\x93\n"},
      OutputEvent{.index = 1,
                  .path = "/outputs/a/b.txt",
                  .relative = "a/b.txt",
                  .outbox = "1/0/b.txt",
                  .size_bytes = 1ull << 40},
      FinishedEvent{.state = FinalState::kExecutorError, .system_logs = {"x", "y"}},
      FinishedEvent{.state = FinalState::kComplete},
  };
  for (const WorkerEvent& e : events) {
    const std::string line = EventToLine(e);
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    absl::StatusOr<WorkerEvent> back = ParseEventLine(line);
    ASSERT_THAT(back, IsOk()) << line;
    EXPECT_EQ(*back, e) << line;
  }
}

TEST(WorkerEventTest, WireFormatMatchesTheContract) {
  const nlohmann::json j = ToJson(ExecutorFinishedEvent{.index = 0,
                                                        .exit_code = 1,
                                                        .start_time = "s",
                                                        .end_time = "e",
                                                        .stdout_tail = "o",
                                                        .stderr_tail = "r"});
  EXPECT_EQ(j["type"], "executor_finished");
  EXPECT_EQ(j["stdout"], "o");
  EXPECT_EQ(j["stderr"], "r");
  EXPECT_EQ(ToJson(FinishedEvent{.state = FinalState::kSystemError})["state"], "SYSTEM_ERROR");
  EXPECT_EQ(ToJson(RunningEvent{.time = "t"}).dump(), R"({"time":"t","type":"running"})");
}

TEST(WorkerEventTest, RejectsGarbage) {
  for (const char* bad : {
           "",
           "garbage",
           "{",
           "[1,2]",
           "42",
           R"({})",
           R"({"type":"exploded"})",
           R"({"type":7})",
           R"({"type":"running"})",
           R"({"type":"running","time":"yesterday"})",
           R"({"type":"running","time":"2026-13-01T00:00:00Z"})",
           R"({"type":"executor_started","time":"2026-11-21T10:00:00Z"})",
           R"({"type":"executor_started","index":"0","time":"2026-11-21T10:00:00Z"})",
           R"({"type":"executor_started","index":-1,"time":"2026-11-21T10:00:00Z"})",
           R"({"type":"executor_finished","index":0,"exit_code":0})",
           R"({"type":"output","index":0,"path":"/a","relative":"","outbox":"../x",)"
           R"("size_bytes":1})",
           R"({"type":"output","index":0,"path":"/a","relative":"","outbox":"0/0/a",)"
           R"("size_bytes":-1})",
           R"({"type":"output","index":0,"path":"a","relative":"","outbox":"0/0/a",)"
           R"("size_bytes":1})",
           R"({"type":"finished","state":"DONE","system_logs":[]})",
           R"({"type":"finished","state":"COMPLETE"})",
           R"({"type":"finished","state":"COMPLETE","system_logs":[1]})",
           "{\"type\":\"running\",\"time\":\"2026-11-21T10:00:00Z\"}\n{}",
       }) {
    EXPECT_THAT(ParseEventLine(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
  // Unknown extra keys are tolerated (forward compatibility).
  EXPECT_THAT(ParseEventLine(R"({"type":"running","time":"2026-11-21T10:00:00Z","x":1})"), IsOk());
}

TEST(TimeTest, FormatsRfc3339UtcWithMilliseconds) {
  const auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795255200123));
  EXPECT_EQ(FormatTime(t), "2026-11-21T10:00:00.123Z");
  EXPECT_EQ(FormatTime(std::chrono::system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_TRUE(IsRfc3339Utc("2026-11-21T10:00:00.123Z"));
  EXPECT_TRUE(IsRfc3339Utc("2026-11-21T10:00:00Z"));
  EXPECT_FALSE(IsRfc3339Utc("2026-11-21 10:00:00Z"));
  EXPECT_FALSE(IsRfc3339Utc("2026-11-21T10:00:00.Z"));
  EXPECT_FALSE(IsRfc3339Utc("2026-11-21T10:00:00+01:00"));
  EXPECT_TRUE(IsRfc3339Utc(FormatTime(std::chrono::system_clock::now())));
}

TEST(Utf8Test, SanitizeReplacesBadBytes) {
  EXPECT_EQ(SanitizeUtf8("plain"), "plain");
  EXPECT_EQ(SanitizeUtf8("\xE2\x9C\x93"), "\xE2\x9C\x93");
  EXPECT_EQ(SanitizeUtf8("a\xFF"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong NUL
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");                // surrogate
  EXPECT_EQ(SanitizeUtf8("\xE2\x9C"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated
}

TEST(Utf8Test, TailIsCappedAndStartsOnACharacter) {
  EXPECT_EQ(Utf8Tail("hello world", 5), "world");
  EXPECT_EQ(Utf8Tail("hello", 0), "");
  EXPECT_EQ(Utf8Tail("short", 100), "short");
  // "x✓✓": cutting 4 bytes from the end lands inside the first check mark.
  EXPECT_EQ(Utf8Tail("x\xE2\x9C\x93\xE2\x9C\x93", 4), "\xE2\x9C\x93");
  // Bad bytes grow into 3-byte replacements but the cap still holds.
  const std::string bad(10, '\xFF');
  const std::string tail = Utf8Tail(bad, 10);
  EXPECT_LE(tail.size(), 10u);
  EXPECT_EQ(tail, SanitizeUtf8(tail));
  EXPECT_EQ(tail.size(), 9u);
}

TEST(HasWildcardTest, Detects) {
  EXPECT_TRUE(HasWildcard("/a/*.txt"));
  EXPECT_TRUE(HasWildcard("/a/?"));
  EXPECT_TRUE(HasWildcard("/a/[ab]"));
  EXPECT_FALSE(HasWildcard("/a/b.txt"));
}

}  // namespace
}  // namespace safeflow::executor::worker
