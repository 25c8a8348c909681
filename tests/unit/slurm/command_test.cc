// hpc::RunCommand: output and exit status, signals, the timeout killing the whole process
// group, PATH lookup and NotFound, the environment, the output cap, stdin, descriptors.
#include "executor/hpc/command.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::executor::hpc {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::HasSubstr;
using Code = absl::StatusCode;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kGenerous{10000};

// A fresh directory under the test's temp dir, removed by the fixture.
class RunCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/runcmd.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_THAT(RunCommand({"rm", "-rf", dir_}, kGenerous), IsOk()); }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // True once `pid` is gone or a zombie (a zombie is dead; reaping it is its parent's job, and
  // the container's init may never do it). Polls for up to a second: SIGKILL is asynchronous.
  static bool EventuallyDead(pid_t pid) {
    const Clock::time_point until = Clock::now() + std::chrono::seconds(1);
    while (Clock::now() < until) {
      if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
      const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
      // "pid (comm) S ...": the state follows the last ')'.
      const std::size_t paren = stat.rfind(')');
      if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z') {
        return true;
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
    return false;
  }

  std::string dir_;
};

TEST_F(RunCommandTest, CapturesStdoutStderrAndExitCode) {
  absl::StatusOr<CommandResult> r =
      RunCommand({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, kGenerous);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST_F(RunCommandTest, LooksUpProgramInPath) {
  absl::StatusOr<CommandResult> r =
      RunCommand({"sh", "-c", "printf '%s|' \"$0\" \"$1\"", "x", "a b"}, kGenerous);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "x|a b|");  // arguments pass through untouched
}

TEST_F(RunCommandTest, DeathBySignalIs128PlusSignal) {
  absl::StatusOr<CommandResult> term = RunCommand({"sh", "-c", "kill -TERM $$"}, kGenerous);
  ASSERT_THAT(term, IsOk());
  EXPECT_EQ(term->exit_code, 128 + SIGTERM);
  absl::StatusOr<CommandResult> kill9 = RunCommand({"sh", "-c", "kill -KILL $$"}, kGenerous);
  ASSERT_THAT(kill9, IsOk());
  EXPECT_EQ(kill9->exit_code, 128 + SIGKILL);
}

TEST_F(RunCommandTest, TimeoutKillsTheWholeProcessGroup) {
  const std::string child_pid = dir_ + "/child.pid";
  const std::string shell_pid = dir_ + "/shell.pid";
  // The shell and its background child both write their pids, then sleep.
  const std::string script =
      "sleep 30 & echo $! > '" + child_pid + "'; echo $$ > '" + shell_pid + "'; sleep 30";
  const Clock::time_point start = Clock::now();
  absl::StatusOr<CommandResult> r = RunCommand({"sh", "-c", script}, milliseconds(250));
  const auto took = Clock::now() - start;
  EXPECT_THAT(r, StatusIs(Code::kDeadlineExceeded));
  EXPECT_THAT(r.status().message(), HasSubstr("sh did not finish within 250 ms"));
  EXPECT_LT(took, std::chrono::seconds(2));

  const pid_t shell = std::atoi(ReadFile(shell_pid).c_str());
  const pid_t child = std::atoi(ReadFile(child_pid).c_str());
  ASSERT_GT(shell, 0);
  ASSERT_GT(child, 0);
  // The shell led its own group and was reaped by RunCommand; its child was killed with it.
  EXPECT_TRUE(::kill(shell, 0) != 0 && errno == ESRCH);
  EXPECT_TRUE(EventuallyDead(child));
}

TEST_F(RunCommandTest, LeftoverBackgroundProcessesDoNotHoldUsAndAreKilled) {
  const std::string child_pid = dir_ + "/child.pid";
  const Clock::time_point start = Clock::now();
  // The background sleep keeps stdout open; RunCommand stops reading shortly after sh exits.
  absl::StatusOr<CommandResult> r =
      RunCommand({"sh", "-c", "sleep 30 & echo $! > '" + child_pid + "'; echo started"}, kGenerous);
  ASSERT_THAT(r, IsOk());
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "started\n");
  const pid_t child = std::atoi(ReadFile(child_pid).c_str());
  ASSERT_GT(child, 0);
  EXPECT_TRUE(EventuallyDead(child));
}

TEST_F(RunCommandTest, MissingOrUnrunnableProgramIsNotFound) {
  EXPECT_THAT(RunCommand({"safeflow-no-such-program-4d1c"}, kGenerous), StatusIs(Code::kNotFound));
  EXPECT_THAT(RunCommand({"/nonexistent/dir/sbatch"}, kGenerous), StatusIs(Code::kNotFound));
  const std::string not_executable = dir_ + "/script";
  std::ofstream(not_executable) << "#!/bin/sh\nexit 0\n";
  ASSERT_EQ(::chmod(not_executable.c_str(), 0644), 0);
  absl::StatusOr<CommandResult> r = RunCommand({not_executable}, kGenerous);
  EXPECT_THAT(r, StatusIs(Code::kNotFound));
  EXPECT_THAT(r.status().message(), HasSubstr(not_executable));
  EXPECT_THAT(RunCommand({dir_}, kGenerous), StatusIs(Code::kNotFound));  // a directory
}

TEST_F(RunCommandTest, RejectsEmptyArgvAndMalformedEnv) {
  EXPECT_THAT(RunCommand({}, kGenerous), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(RunCommand({""}, kGenerous), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(RunCommand({"true"}, kGenerous, {"NO_EQUALS"}), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(RunCommand({"true"}, kGenerous, {"=value"}), StatusIs(Code::kInvalidArgument));
}

TEST_F(RunCommandTest, ExtraEnvReachesTheChildAndOverridesOurs) {
  ASSERT_NE(std::getenv("PATH"), nullptr);
  absl::StatusOr<CommandResult> r =
      RunCommand({"sh", "-c", "printf '%s|%s|%s' \"$SAFEFLOW_T1\" \"$HOME\" \"${PATH:+set}\""},
                 kGenerous, {"SAFEFLOW_T1=a b=c", "HOME=/override"});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->out, "a b=c|/override|set");  // ours (PATH) is inherited
  absl::StatusOr<CommandResult> count =
      RunCommand({"sh", "-c", "env | grep -c '^HOME='"}, kGenerous, {"HOME=/override"});
  ASSERT_THAT(count, IsOk());
  EXPECT_EQ(count->out, "1\n");  // replaced, not duplicated
}

TEST_F(RunCommandTest, ProgramIsLookedUpInTheChildsPath) {
  EXPECT_THAT(RunCommand({"sh", "-c", "true"}, kGenerous, {"PATH=/nonexistent"}),
              StatusIs(Code::kNotFound));
  const std::string tool = dir_ + "/safeflow-fake-sbatch";
  std::ofstream(tool) << "#!/bin/sh\necho 42\n";
  ASSERT_EQ(::chmod(tool.c_str(), 0755), 0);
  absl::StatusOr<CommandResult> r =
      RunCommand({"safeflow-fake-sbatch"}, kGenerous, {"PATH=/nonexistent:" + dir_});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->out, "42\n");
}

TEST_F(RunCommandTest, OutputBeyondTheCapIsDroppedWithoutBlocking) {
  // 1 MB is far more than a pipe buffer: the command would hang if we stopped reading.
  absl::StatusOr<CommandResult> r = RunCommand(
      {"sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; echo done >&2"}, kGenerous, {}, 1000);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, std::string(1000, 'x'));
  EXPECT_EQ(r->err, "done\n");
}

TEST_F(RunCommandTest, StdinIsDevNull) {
  const Clock::time_point start = Clock::now();
  absl::StatusOr<CommandResult> r = RunCommand({"cat"}, kGenerous);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "");
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  absl::StatusOr<CommandResult> link = RunCommand({"readlink", "/proc/self/fd/0"}, kGenerous);
  ASSERT_THAT(link, IsOk());
  EXPECT_EQ(link->out, "/dev/null\n");
}

TEST_F(RunCommandTest, ChildGetsNoOtherDescriptorsAndDefaultSignals) {
  // A descriptor without O_CLOEXEC, as a careless library might leave one.
  const int leaked = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaked, 3);
  struct sigaction ignore {};
  struct sigaction old {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &old), 0);  // as safeflowd does
  // `test -e` opens nothing, so this lists exactly the shell's descriptors from 3 up.
  std::string list = "for n in";
  for (int fd = 3; fd <= leaked + 8; ++fd) list += " " + std::to_string(fd);
  list += "; do test -e /proc/$$/fd/$n && echo $n; done; echo end";
  absl::StatusOr<CommandResult> fds = RunCommand({"sh", "-c", list}, kGenerous);
  absl::StatusOr<CommandResult> sigign =
      RunCommand({"sh", "-c", "sed -n 's/^SigIgn:\\t//p' /proc/$$/status"}, kGenerous);
  ::sigaction(SIGPIPE, &old, nullptr);
  ::close(leaked);
  ASSERT_THAT(fds, IsOk());
  EXPECT_EQ(fds->out, "end\n");
  ASSERT_THAT(sigign, IsOk());
  // Signals 1..31 at their default; glibc's posix_spawn keeps its internal real-time signals
  // (32, 33) ignored, which exec'd programs do not use.
  const unsigned long long ignored = std::stoull(sigign->out, nullptr, 16);
  EXPECT_EQ(ignored & 0x7fffffffULL, 0u) << sigign->out;
}

TEST_F(RunCommandTest, RunsInItsOwnProcessGroup) {
  absl::StatusOr<CommandResult> r =
      RunCommand({"sh", "-c", "echo $$; cut -d' ' -f5 /proc/$$/stat"}, kGenerous);
  ASSERT_THAT(r, IsOk());
  std::istringstream lines(r->out);
  std::string pid;
  std::string pgid;
  lines >> pid >> pgid;
  EXPECT_EQ(pid, pgid);
  EXPECT_NE(pgid, std::to_string(::getpgrp()));
}

TEST_F(RunCommandTest, ConcurrentCallsAreIndependent) {
  constexpr int kThreads = 6;
  std::vector<std::string> outs(kThreads);
  std::vector<int> codes(kThreads, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([i, &outs, &codes] {
      for (int round = 0; round < 3; ++round) {
        absl::StatusOr<CommandResult> r =
            RunCommand({"sh", "-c", "echo $T; exit $T"}, kGenerous, {"T=" + std::to_string(i)});
        if (!r.ok()) return;
        outs[i] += r->out;
        codes[i] = r->exit_code;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) {
    const std::string line = std::to_string(i) + "\n";
    EXPECT_EQ(outs[i], line + line + line);
    EXPECT_EQ(codes[i], i);
  }
}

}  // namespace
}  // namespace safeflow::executor::hpc
