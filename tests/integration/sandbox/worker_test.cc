// safeflow-worker inside a real bwrap sandbox: executors, logs, outputs.
#include <fcntl.h>
#include <set>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <variant>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/sandbox/harness.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

using executor::worker::ExecutorFinishedEvent;
using executor::worker::ExecutorSpec;
using executor::worker::FinalState;
using executor::worker::OutputEvent;
using executor::worker::OutputSpec;
using executor::worker::OutputType;
using executor::worker::RunningEvent;
using executor::worker::WorkerSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!SandboxHarness::Available(&why)) SAFEFLOW_SKIP_OR_FAIL(why);
    h_ = std::make_unique<SandboxHarness>();
  }
  std::unique_ptr<SandboxHarness> h_;
};

#define EXPECT_FINISHED(run, st)                                              \
  do {                                                                        \
    ASSERT_TRUE((run).problem.empty()) << (run).problem << "\n" << (run).log; \
    ASSERT_TRUE((run).finished().has_value()) << (run).log;                   \
    EXPECT_EQ((run).finished()->state, (st))                                  \
        << ::testing::PrintToString((run).finished()->system_logs);           \
    EXPECT_EQ((run).exit_status, 0) << (run).log;                             \
  } while (0)

TEST_F(WorkerTest, SecondExecutorReadsTheFirstOnesFile) {
  WorkerSpec spec;
  spec.task_id = "t";
  spec.executors = {
      {.command = {"/bin/sh", "-c", "echo hello > /work/a.txt"}},
      {.command = {"cat", "/work/a.txt"}, .stdout_path = "/outputs/copy.txt"},
  };
  spec.outputs = {{.index = 0, .path = "/outputs/copy.txt"}};
  const TaskRun run = h_->Run(spec);
  EXPECT_FINISHED(run, FinalState::kComplete);
  ASSERT_GE(run.events.size(), 7u);
  EXPECT_TRUE(std::holds_alternative<RunningEvent>(run.events[0]));
  const std::vector<ExecutorFinishedEvent> ex = run.executors();
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].exit_code, 0);
  EXPECT_EQ(ex[1].exit_code, 0);
  EXPECT_EQ(ex[1].stdout_tail, "hello\n");
  EXPECT_TRUE(executor::worker::IsRfc3339Utc(ex[1].start_time));
  EXPECT_LE(ex[0].end_time, ex[1].start_time);
  const std::vector<OutputEvent> out = run.outputs();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].index, 0);
  EXPECT_EQ(out[0].path, "/outputs/copy.txt");
  EXPECT_EQ(out[0].relative, "");
  EXPECT_EQ(out[0].size_bytes, 6u);
  EXPECT_EQ(ReadFile(h_->outbox() + "/" + out[0].outbox), "hello\n");
}

TEST_F(WorkerTest, StdinStdoutStderrPaths) {
  const std::string input = h_->WriteHostFile("in.txt", "abc\nxyz\n");
  executor::SandboxPolicy policy = h_->Policy();
  policy.binds.push_back({.host = input, .container = "/data/in.txt"});
  WorkerSpec spec;
  spec.task_id = "t";
  spec.executors = {
      {.command = {"tr", "a-z", "A-Z"},
       .stdin_path = "/data/in.txt",
       .stdout_path = "/outputs/deep/up.txt"},
      {.command = {"/bin/sh", "-c", "echo to-out; echo to-err >&2"},
       .stdout_path = "/work/o.txt",
       .stderr_path = "/outputs/e.txt"},
      {.command = {"/bin/sh", "-c", "read line; echo \"[$line]\""}},  // stdin is /dev/null
  };
  spec.outputs = {{.index = 0, .path = "/outputs/deep/up.txt"},
                  {.index = 1, .path = "/outputs/e.txt"}};
  const TaskRun run = h_->Run(spec, policy);
  EXPECT_FINISHED(run, FinalState::kComplete);
  const std::vector<ExecutorFinishedEvent> ex = run.executors();
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[0].stdout_tail, "ABC\nXYZ\n");
  EXPECT_EQ(ex[1].stdout_tail, "to-out\n");
  EXPECT_EQ(ex[1].stderr_tail, "to-err\n");
  EXPECT_EQ(ex[2].stdout_tail, "[]\n");
  const std::vector<OutputEvent> out = run.outputs();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(ReadFile(h_->outbox() + "/" + out[0].outbox), "ABC\nXYZ\n");
  EXPECT_EQ(ReadFile(h_->outbox() + "/" + out[1].outbox), "to-err\n");
}

TEST_F(WorkerTest, EnvironmentAndWorkdir) {
  WorkerSpec spec;
  spec.task_id = "t";
  spec.executors = {
      {.command = {"/bin/sh", "-c", "echo \"$FOO|$HOME|$LANG|$PATH|$BAR\"; pwd"},
       .workdir = "/work/deep/dir",
       .env = {{"FOO", "bar baz"}}},
      {.command = {"pwd"}},
      {.command = {"/bin/sh", "-c", "env | sort | cut -d= -f1 | tr '\\n' ' '"}},
  };
  const TaskRun run = h_->Run(spec);
  EXPECT_FINISHED(run, FinalState::kComplete);
  const std::vector<ExecutorFinishedEvent> ex = run.executors();
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[0].stdout_tail,
            "bar baz|/tmp|C.UTF-8|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|\n"
            "/work/deep/dir\n");
  EXPECT_EQ(ex[1].stdout_tail, "/\n");
  // Nothing from the host's or bwrap's environment leaks in (sh adds PWD).
  EXPECT_EQ(ex[2].stdout_tail, "HOME LANG PATH PWD ");
}

TEST_F(WorkerTest, IgnoreErrorContinuesOtherwiseExecutorError) {
  WorkerSpec spec;
  spec.task_id = "t";
  spec.executors = {
      {.command = {"/bin/sh", "-c", "exit 3"}, .ignore_error = true},
      {.command = {"/bin/sh", "-c", "echo second; exit 4"}},
      {.command = {"/bin/sh", "-c", "echo never"}},
  };
  spec.outputs = {{.index = 0, .path = "/outputs/none.txt"}};
  const TaskRun run = h_->Run(spec);
  EXPECT_FINISHED(run, FinalState::kExecutorError);
  const std::vector<ExecutorFinishedEvent> ex = run.executors();
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].exit_code, 3);
  EXPECT_EQ(ex[1].exit_code, 4);
  EXPECT_EQ(ex[1].stdout_tail, "second\n");
  EXPECT_EQ(run.started_count(), 2);
  EXPECT_TRUE(run.outputs().empty());
}

TEST_F(WorkerTest, SignalledExecutorReports128PlusSignal) {
  const TaskRun run = h_->Run(ShellSpec("echo before; kill -KILL $$"));
  EXPECT_FINISHED(run, FinalState::kExecutorError);
  ASSERT_EQ(run.executors().size(), 1u);
  EXPECT_EQ(run.executors()[0].exit_code, 128 + 9);
  EXPECT_EQ(run.executors()[0].stdout_tail, "before\n");
}

TEST_F(WorkerTest, MissingCommandIs127) {
  WorkerSpec spec;
  spec.task_id = "t";
  spec.executors = {{.command = {"no-such-program-xyz"}}};
  const TaskRun run = h_->Run(spec);
  EXPECT_FINISHED(run, FinalState::kExecutorError);
  ASSERT_EQ(run.executors().size(), 1u);
  EXPECT_EQ(run.executors()[0].exit_code, 127);
  EXPECT_THAT(run.executors()[0].stderr_tail, HasSubstr("no-such-program-xyz"));
}

TEST_F(WorkerTest, WildcardAndDirectoryOutputsArriveInTheOutbox) {
  WorkerSpec spec;
  spec.task_id = "t";
  spec.executors = {{.command = {"/bin/sh", "-c",
                                 "mkdir -p /outputs/res/sub /outputs/csv/part && "
                                 "printf 12345 > /outputs/res/a.txt && "
                                 "printf abc > /outputs/res/sub/b.txt && "
                                 "printf x > /outputs/csv/x.csv && "
                                 "printf yy > /outputs/csv/part/y.csv && "
                                 "printf zzz > /work/z.log && "
                                 "echo planted > /.safeflow/outbox/evil"}}};
  spec.outputs = {
      {.index = 0, .path = "/outputs/res", .type = OutputType::kDirectory},
      {.index = 1, .path = "/outputs/csv/*.csv", .path_prefix = "/outputs/csv/"},
      {.index = 2, .path = "/outputs/csv/*/*.csv", .path_prefix = "/outputs/"},
      {.index = 3, .path = "/work/*.log"},   // no prefix: the file name
      {.index = 4, .path = "/work/*.none"},  // matches nothing: fine
  };
  const TaskRun run = h_->Run(spec);
  EXPECT_FINISHED(run, FinalState::kComplete);
  const std::vector<OutputEvent> out = run.outputs();
  ASSERT_EQ(out.size(), 5u);
  struct Want {
    int index;
    std::string path, relative, content;
  };
  const std::vector<Want> want = {{0, "/outputs/res/a.txt", "a.txt", "12345"},
                                  {0, "/outputs/res/sub/b.txt", "sub/b.txt", "abc"},
                                  {1, "/outputs/csv/x.csv", "x.csv", "x"},
                                  {2, "/outputs/csv/part/y.csv", "csv/part/y.csv", "yy"},
                                  {3, "/work/z.log", "z.log", "zzz"}};
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].path);
    EXPECT_EQ(out[i].index, want[i].index);
    EXPECT_EQ(out[i].path, want[i].path);
    EXPECT_EQ(out[i].relative, want[i].relative);
    EXPECT_EQ(out[i].size_bytes, want[i].content.size());
    EXPECT_THAT(out[i].outbox, StartsWith(std::to_string(want[i].index) + "/"));
    EXPECT_EQ(ReadFile(h_->outbox() + "/" + out[i].outbox), want[i].content);
  }
  // What the task wrote into the outbox itself is no output.
  for (const OutputEvent& e : out) EXPECT_THAT(e.outbox, Not(HasSubstr("evil")));
}

TEST_F(WorkerTest, TrapsPlantedInTheOutboxFailTheTaskInsteadOfBeingFollowed) {
  WorkerSpec spec = ShellSpec("ln -s /etc /.safeflow/outbox/0 && printf x > /outputs/o");
  spec.outputs = {{.index = 0, .path = "/outputs/o"}};
  TaskRun run = h_->Run(spec);
  EXPECT_FINISHED(run, FinalState::kSystemError);
  EXPECT_TRUE(run.outputs().empty());
  ASSERT_EQ(::unlink((h_->outbox() + "/0").c_str()), 0);  // the symlink, not /etc
  spec = ShellSpec(
      "mkdir -p /.safeflow/outbox/0/0 && echo fake > /.safeflow/outbox/0/0/o && "
      "printf x > /outputs/o");
  spec.outputs = {{.index = 0, .path = "/outputs/o"}};
  run = h_->Run(spec);
  EXPECT_FINISHED(run, FinalState::kSystemError);
  EXPECT_TRUE(run.outputs().empty());
}

TEST_F(WorkerTest, MissingOutputIsSystemErrorNamingThePath) {
  WorkerSpec spec = ShellSpec("true");
  spec.outputs = {{.index = 0, .path = "/outputs/not-there.txt"}};
  const TaskRun run = h_->Run(spec);
  EXPECT_FINISHED(run, FinalState::kSystemError);
  EXPECT_THAT(::testing::PrintToString(run.finished()->system_logs),
              HasSubstr("/outputs/not-there.txt"));
}

TEST_F(WorkerTest, SymlinkOutputsAreRefused) {
  for (const auto& [script, output] : std::vector<std::pair<std::string, OutputSpec>>{
           {"ln -s /etc/passwd /outputs/p.txt", {.index = 0, .path = "/outputs/p.txt"}},
           {"mkdir /outputs/d && ln -s /etc /outputs/d/etc",
            {.index = 0, .path = "/outputs/d", .type = OutputType::kDirectory}},
           {"ln -s /etc /outputs/e", {.index = 0, .path = "/outputs/e/passwd"}},
       }) {
    SCOPED_TRACE(script);
    WorkerSpec spec = ShellSpec(script);
    spec.outputs = {output};
    const TaskRun run = h_->Run(spec);
    EXPECT_FINISHED(run, FinalState::kSystemError);
    EXPECT_THAT(::testing::PrintToString(run.finished()->system_logs),
                HasSubstr("output is a symlink"));
    EXPECT_TRUE(run.outputs().empty());
  }
}

TEST_F(WorkerTest, WildcardsSkipSymlinksAndMatchDotFiles) {
  WorkerSpec spec = ShellSpec(
      "ln -s /etc/passwd /outputs/w.txt && echo x > /outputs/real.txt && "
      "echo 0 > /outputs/.exitcode");
  spec.outputs = {{.index = 0, .path = "/outputs/*", .path_prefix = "/outputs"}};
  const TaskRun run = h_->Run(spec);
  EXPECT_FINISHED(run, FinalState::kComplete);
  std::set<std::string> names;
  for (const auto& o : run.outputs()) names.insert(o.relative);
  EXPECT_EQ(names, (std::set<std::string>{"real.txt", ".exitcode"}));
}

TEST_F(WorkerTest, OutboxDescriptorInsteadOfABind) {
  executor::SandboxPolicy policy = h_->Policy();
  policy.binds.pop_back();  // no outbox bind: the executors cannot see it at all
  executor::UniqueFd outbox(::open(h_->outbox().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(outbox.valid());
  WorkerSpec spec = ShellSpec("ls /.safeflow; printf data > /outputs/r.txt");
  spec.outbox_fd = outbox.get();
  spec.outputs = {{.index = 7, .path = "/outputs/r.txt"}};
  absl::StatusOr<SandboxHarness::Started> s = h_->Start(spec, policy, {outbox.get()});
  ASSERT_THAT(s, IsOk());
  TaskRun run;
  while (auto e = s->events->Next(std::chrono::seconds(20))) run.events.push_back(*e);
  run.exit_status = s->process->Wait();
  EXPECT_FINISHED(run, FinalState::kComplete);
  ASSERT_EQ(run.executors().size(), 1u);
  EXPECT_EQ(run.executors()[0].stdout_tail, "spec.json\nworker\n");
  ASSERT_EQ(run.outputs().size(), 1u);
  EXPECT_EQ(ReadFile(h_->outbox() + "/" + run.outputs()[0].outbox), "data");
}

TEST_F(WorkerTest, LogTailsAreCappedValidUtf8) {
  WorkerSpec spec = ShellSpec(
      "i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done; printf 'end\\377\\n'");
  spec.log_tail_bytes = 100;
  const TaskRun run = h_->Run(spec);
  EXPECT_FINISHED(run, FinalState::kComplete);
  ASSERT_EQ(run.executors().size(), 1u);
  const std::string tail = run.executors()[0].stdout_tail;
  EXPECT_LE(tail.size(), 100u);
  EXPECT_THAT(tail, ::testing::EndsWith("line-1999\nend\xEF\xBF\xBD\n"));
}

TEST_F(WorkerTest, BackgroundProcessesDoNotHoldTheTaskAndAreKilled) {
  const auto start = std::chrono::steady_clock::now();
  WorkerSpec spec = ShellSpec("sleep 1000.25 & echo started");
  spec.executors.push_back({.command = {"/bin/sh", "-c", "echo next"}});
  const TaskRun run = h_->Run(spec);
  EXPECT_FINISHED(run, FinalState::kComplete);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ASSERT_EQ(run.executors().size(), 2u);
  EXPECT_EQ(run.executors()[0].stdout_tail, "started\n");
}

TEST_F(WorkerTest, BadSpecIsReportedAsSystemError) {
  executor::SandboxPolicy policy = h_->Policy();
  h_->WriteHostFile("bad.json", R"({"task_id": 5})");
  policy.binds[1].host = h_->task_dir() + "/bad.json";
  // Start() rewrites spec.json, but the sandbox sees bad.json.
  const TaskRun run = h_->Run(ShellSpec("true"), policy);
  EXPECT_FINISHED(run, FinalState::kSystemError);
  EXPECT_THAT(::testing::PrintToString(run.finished()->system_logs), HasSubstr("task_id"));
  EXPECT_EQ(run.started_count(), 0);
}

}  // namespace
}  // namespace safeflow::testing
