// The bwrap sandbox itself: network, filesystem view, limits, seccomp, killing.
#include "executor/sandbox/sandbox.h"

#include <arpa/inet.h>
#include <climits>
#include <csignal>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <netinet/in.h>
#include <poll.h>
#include <set>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/users.h"
#include "tests/integration/sandbox/harness.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

using executor::SandboxPolicy;
using executor::UniqueFd;
using executor::worker::FinalState;
using executor::worker::WorkerSpec;
using ::testing::HasSubstr;
using ::testing::Not;

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!SandboxHarness::Available(&why)) SAFEFLOW_SKIP_OR_FAIL(why);
    h_ = std::make_unique<SandboxHarness>();
  }
  std::unique_ptr<SandboxHarness> h_;
};

// True when some process on the host has a command line (NULs as spaces) that contains
// `part`.
bool ProcessWithCmdlineContaining(const std::string& part) {
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string cmd = ReadFile(std::string("/proc/") + e->d_name + "/cmdline");
    for (char& c : cmd) c = c == '\0' ? ' ' : c;
    if (cmd.find(part) != std::string::npos) found = true;
  }
  ::closedir(d);
  return found;
}

// True when some process on the host has exactly this command line (NULs as spaces).
bool ProcessWithCmdlineExists(const std::string& wanted) {
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return false;
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string cmd = ReadFile(std::string("/proc/") + e->d_name + "/cmdline");
    for (char& c : cmd) c = c == '\0' ? ' ' : c;
    while (!cmd.empty() && cmd.back() == ' ') cmd.pop_back();
    if (cmd == wanted) found = true;
  }
  ::closedir(d);
  return found;
}

TEST_F(SandboxTest, CannotReachALoopbackServerOutside) {
  UniqueFd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(server.valid());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(server.get(), 8), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(server.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  // The server works from here.
  {
    UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    UniqueFd accepted(::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(accepted.valid());
  }
  const SandboxHarness::Shell sh = h_->RunShell(
      "python3 -c \"import socket; socket.create_connection(('127.0.0.1', " + std::to_string(port) +
      "), timeout=2); print('connected')\"; ip -o link 2>/dev/null; "
      "cat /proc/net/dev | tail -n +3 | cut -d: -f1");
  EXPECT_THAT(sh.out, Not(HasSubstr("connected")));
  EXPECT_THAT(sh.err, HasSubstr("Connection refused"));
  EXPECT_THAT(sh.out, HasSubstr("lo"));
  EXPECT_THAT(sh.out, Not(HasSubstr("eth")));
  pollfd p{server.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "the sandbox reached the server";
}

TEST_F(SandboxTest, SeesOnlyItsOwnFilesystem) {
  // Another task's directory on the host, readable by anyone there.
  const std::string other = h_->task_dir() + "/../other-task";
  ::mkdir(other.c_str(), 0755);
  const std::string secret = other + "/secret.txt";
  { std::ofstream(secret) << "other task's data"; }
  ::chmod(secret.c_str(), 0644);
  char real[PATH_MAX];
  ASSERT_NE(::realpath(secret.c_str(), real), nullptr);

  const std::string input = h_->WriteHostFile("mine.txt", "my input");
  SandboxPolicy policy = h_->Policy();
  policy.binds.push_back({.host = input, .container = "/data/mine.txt"});
  const SandboxHarness::Shell sh = h_->RunShell(
      std::string("ls -A / | tr '\\n' ' '; echo; ls -A /.safeflow | tr '\\n' ' '; echo; "
                  "ls -A /data | tr '\\n' ' '; echo; "
                  "cat /data/mine.txt; echo; ls /etc | tr '\\n' ' '; echo; cat /etc/passwd; ") +
          "for f in " + real +
          " /root /etc/shadow /home /var /sys/kernel /proc/1/root/etc/shadow; do "
          "  if cat $f >/dev/null 2>&1 || ls $f >/dev/null 2>&1; then echo LEAK $f; fi; "
          "done; id -un",
      policy);
  ASSERT_EQ(sh.exit_code, 0) << sh.err << sh.run.log;
  const std::vector<std::string> lines = [&] {
    std::vector<std::string> v;
    std::stringstream ss(sh.out);
    for (std::string l; std::getline(ss, l);) v.push_back(l);
    return v;
  }();
  ASSERT_GE(lines.size(), 6u) << sh.out;
  // Only the env root pieces, the sandbox's own mounts and our binds.
  std::set<std::string> root_entries;
  {
    std::stringstream ss(lines[0]);
    for (std::string e; ss >> e;) root_entries.insert(e);
  }
  for (const std::string& e : root_entries) {
    EXPECT_TRUE(
        (std::set<std::string>{".safeflow", "bin", "data", "dev", "etc", "lib", "lib32", "lib64",
                               "libx32", "outputs", "proc", "sbin", "tmp", "usr", "work"})
            .count(e))
        << "unexpected /" << e;
  }
  EXPECT_TRUE(root_entries.count("usr"));
  EXPECT_EQ(lines[1], "outbox spec.json worker ");
  EXPECT_EQ(lines[2], "mine.txt ");
  EXPECT_EQ(lines[3], "my input");
  {
    const std::set<std::string> allowed = {
        "alternatives", "group",     "hosts",         "ld.so.cache", "ld.so.conf",
        "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd",      "protocols",
        "services",     "ssl",       "timezone"};
    std::stringstream ss(lines[4]);
    int n = 0;
    for (std::string e; ss >> e; ++n) EXPECT_TRUE(allowed.count(e)) << "unexpected /etc/" << e;
    EXPECT_GE(n, 4);
  }
  EXPECT_THAT(sh.out, HasSubstr("nobody:x:65534"));
  EXPECT_THAT(sh.out, Not(HasSubstr("root:")));
  EXPECT_THAT(sh.out, Not(HasSubstr("LEAK")));
  if (h_->user()) {
    EXPECT_THAT(sh.out, HasSubstr(h_->user()->name + "\n"));
  }
}

TEST_F(SandboxTest, WritesOnlyInsideWritableDirs) {
  const SandboxHarness::Shell sh = h_->RunShell(
      "for f in /usr/x /x /etc/x /etc/passwd /dev/x /proc/x /data-x /.safeflow/x "
      "/.safeflow/worker /bin/x; do"
      "  if (echo hi > $f) 2>/dev/null; then echo WROTE $f; fi; "
      "done; "
      "for f in /work/x /outputs/x /tmp/x /dev/shm/x; do"
      "  if (echo hi > $f) 2>/dev/null; then echo ok $f; fi; "
      "done; mkdir /newdir 2>/dev/null && echo WROTE /newdir; true");
  EXPECT_EQ(sh.exit_code, 0) << sh.err;
  EXPECT_THAT(sh.out, Not(HasSubstr("WROTE")));
  EXPECT_EQ(sh.out, "ok /work/x\nok /outputs/x\nok /tmp/x\nok /dev/shm/x\n");
}

// The worker applies the memory limit (RLIMIT_AS) to each executor, not to itself, so this
// holds for a sanitizer build of the worker too (ASan cannot start under RLIMIT_AS).
TEST_F(SandboxTest, MemoryLimitStopsABigAllocation) {
  WorkerSpec big_spec =
      ShellSpec("python3 -c \"b = bytearray(512 * 1024 * 1024); print('allocated')\"");
  big_spec.executor_memory_bytes = 256ll << 20;
  const TaskRun big = h_->Run(big_spec);
  ASSERT_EQ(big.executors().size(), 1u) << big.log;
  EXPECT_NE(big.executors()[0].exit_code, 0);
  EXPECT_THAT(big.executors()[0].stdout_tail, Not(HasSubstr("allocated")));
  EXPECT_THAT(big.executors()[0].stderr_tail, HasSubstr("MemoryError"));
  WorkerSpec small_spec =
      ShellSpec("python3 -c \"b = bytearray(64 * 1024 * 1024); print('allocated')\"");
  small_spec.executor_memory_bytes = 256ll << 20;
  const TaskRun small = h_->Run(small_spec);
  ASSERT_EQ(small.executors().size(), 1u) << small.log;
  EXPECT_EQ(small.executors()[0].exit_code, 0) << small.executors()[0].stderr_tail;
  EXPECT_EQ(small.executors()[0].stdout_tail, "allocated\n");
}

TEST_F(SandboxTest, TmpfsSizeStopsWritesWithEnospc) {
  SandboxPolicy policy = h_->Policy();
  policy.tmpfs_bytes = 8ull << 20;
  policy.max_file_bytes = 1ull << 30;  // so that the tmpfs, not RLIMIT_FSIZE, is what stops us
  const SandboxHarness::Shell sh = h_->RunShell(
      "head -c 16777216 /dev/zero > /work/big; echo rc=$?; "
      "head -c 16777216 /dev/zero > /tmp/big; echo rc=$?; "
      "df -k /work | tail -1",
      policy);
  EXPECT_THAT(sh.err, HasSubstr("No space left on device"));
  EXPECT_THAT(sh.out, HasSubstr("rc=1\nrc=1\n"));
  EXPECT_THAT(sh.out, HasSubstr(" 8192 "));  // df: an 8 MiB file system
}

TEST_F(SandboxTest, FileSizeLimit) {
  SandboxPolicy policy = h_->Policy();
  policy.max_file_bytes = 1 << 20;
  const SandboxHarness::Shell sh = h_->RunShell(
      "python3 -c \"open('/work/f', 'wb').write(b'x' * (2 << 20))\" 2>&1 | tail -1; "
      "stat -c %s /work/f",
      policy);
  EXPECT_THAT(sh.out, HasSubstr("File too large"));
  EXPECT_THAT(sh.out, HasSubstr("1048576"));
}

TEST_F(SandboxTest, SeccompMakesDangerousCallsFailWithEperm) {
  // Without the filter, ptrace(TRACEME), keyctl and personality(ADDR_NO_RANDOMIZE) would
  // succeed and unshare(CLONE_NEWUSER) would fail with ENOSPC (--disable-userns): EPERM
  // everywhere shows the filter at work.
  const std::string script = R"PY(
import ctypes, errno, os, platform, subprocess, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
nr = {'x86_64': {'keyctl': 250, 'clone3': 435, 'bpf': 321, 'io_uring_setup': 425},
      'aarch64': {'keyctl': 219, 'clone3': 435, 'bpf': 280, 'io_uring_setup': 425}}[platform.machine()]
def show(name, rc):
    e = ctypes.get_errno() if rc == -1 else 0
    print(name, rc, errno.errorcode.get(e, e))
show('ptrace', libc.ptrace(0, 0, None, None))
show('mount', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))
show('unshare', libc.unshare(0x10000000))
show('keyctl', libc.syscall(nr['keyctl'], 0, -3, 0))
show('bpf', libc.syscall(nr['bpf'], 0, None, 0))
show('io_uring_setup', libc.syscall(nr['io_uring_setup'], 1, None))
show('personality', libc.personality(0x0040000))
print('query', libc.personality(0xffffffff))
show('clone3', libc.syscall(nr['clone3'], None, 0))
t = threading.Thread(target=lambda: None); t.start(); t.join()
subprocess.run(['true'], check=True)
print('threads and subprocesses work')
)PY";
  h_->WriteHostFile("probe.py", script);
  SandboxPolicy policy = h_->Policy();
  policy.binds.push_back({.host = h_->task_dir() + "/probe.py", .container = "/data/probe.py"});
  const SandboxHarness::Shell sh = h_->RunShell("python3 /data/probe.py", policy);
  EXPECT_EQ(sh.exit_code, 0) << sh.err;
  for (const char* line :
       {"ptrace -1 EPERM", "mount -1 EPERM", "unshare -1 EPERM", "keyctl -1 EPERM", "bpf -1 EPERM",
        "io_uring_setup -1 EPERM", "personality -1 EPERM", "query 0", "clone3 -1 ENOSYS",
        "threads and subprocesses work"}) {
    EXPECT_THAT(sh.out, HasSubstr(std::string(line) + "\n"));
  }
}

TEST_F(SandboxTest, KillTakesEverythingInsideWithIt) {
  const std::string marker = "sleep 1000.123";
  absl::StatusOr<SandboxHarness::Started> s =
      h_->Start(ShellSpec("sleep 1000.123 & sleep 1000.123"), h_->Policy());
  ASSERT_THAT(s, IsOk());
  // running, executor_started
  ASSERT_TRUE(s->events->Next(std::chrono::seconds(10)).has_value()) << h_->ReadLog();
  ASSERT_TRUE(s->events->Next(std::chrono::seconds(10)).has_value()) << h_->ReadLog();
  ASSERT_TRUE(
      Eventually([&] { return ProcessWithCmdlineExists(marker); }, std::chrono::seconds(5)));
  EXPECT_FALSE(s->process->TryWait().has_value());
  ASSERT_THAT(s->process->Kill(), IsOk());
  EXPECT_EQ(s->process->Wait(), 128 + SIGKILL);
  EXPECT_TRUE(
      Eventually([&] { return !ProcessWithCmdlineExists(marker); }, std::chrono::seconds(5)));
  // No finished event: the host must treat that as a failure.
  EXPECT_FALSE(s->events->Next(std::chrono::seconds(1)).has_value());
  EXPECT_THAT(s->process->Kill(), IsOk());  // again: harmless
}

TEST_F(SandboxTest, DestructorKillsARunningSandbox) {
  const std::string marker = "sleep 1000.456";
  {
    absl::StatusOr<SandboxHarness::Started> s = h_->Start(ShellSpec(marker), h_->Policy());
    ASSERT_THAT(s, IsOk());
    ASSERT_TRUE(
        Eventually([&] { return ProcessWithCmdlineExists(marker); }, std::chrono::seconds(5)));
  }
  EXPECT_TRUE(
      Eventually([&] { return !ProcessWithCmdlineExists(marker); }, std::chrono::seconds(5)));
}

TEST_F(SandboxTest, DiesWithTheThreadThatStartedIt) {
  // PR_SET_PDEATHSIG follows the creating thread: start sandboxes from long-lived threads.
  std::optional<SandboxHarness::Started> started;
  std::thread starter([&] {
    absl::StatusOr<SandboxHarness::Started> s = h_->Start(ShellSpec("sleep 5"), h_->Policy());
    if (s.ok()) started = *std::move(s);
  });
  starter.join();
  ASSERT_TRUE(started.has_value());
  const std::optional<int> status = started->process->WaitFor(std::chrono::seconds(4));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 128 + SIGKILL);
  // Nothing of it is left, even when bwrap died half-way through its start-up.
  EXPECT_FALSE(ProcessWithCmdlineContaining(h_->task_dir()));
}

TEST_F(SandboxTest, KillDuringStartUpLeavesNothingBehind) {
  // Regression: bwrap killed before its child set PR_SET_PDEATHSIG left that child blocked
  // forever on an eventfd, re-parented to init.
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<SandboxHarness::Started> s = h_->Start(ShellSpec("sleep 5"), h_->Policy());
    ASSERT_THAT(s, IsOk());
    if (i % 2 == 1) ::usleep(static_cast<useconds_t>(i * 200));
    ASSERT_THAT(s->process->Kill(), IsOk());
    EXPECT_EQ(s->process->Wait(), 128 + SIGKILL);
  }
  EXPECT_TRUE(Eventually([&] { return !ProcessWithCmdlineContaining(h_->task_dir()); },
                         std::chrono::seconds(2)));
}

TEST_F(SandboxTest, ExecutorsCannotForgeEventsOrKillTheWorker) {
  // The worker is pid 1, non-dumpable, and its events descriptor is close-on-exec.
  const SandboxHarness::Shell sh = h_->RunShell(
      "ls /proc/1/fd >/dev/null 2>&1 && echo LEAK fd; "
      "for fd in 3 4 5 6 7 8 9; do "
      "  (echo '{\"type\":\"finished\",\"state\":\"COMPLETE\",\"system_logs\":[]}' >&$fd)"
      "  2>/dev/null && echo LEAK $fd; "
      "done; kill -KILL 1 2>/dev/null; kill -TERM 1 2>/dev/null; kill -USR1 1 2>/dev/null; "
      "echo alive; exit 5");
  EXPECT_EQ(sh.exit_code, 5);
  EXPECT_EQ(sh.out, "alive\n");
  ASSERT_TRUE(sh.run.finished().has_value()) << sh.run.log;
  EXPECT_EQ(sh.run.finished()->state, FinalState::kExecutorError);
  EXPECT_EQ(sh.run.exit_status, 0);
}

TEST_F(SandboxTest, CpuAffinityAndProcessLimits) {
  SandboxPolicy policy = h_->Policy();
  policy.cpu_cores = 1;
  policy.max_open_files = 64;
  const SandboxHarness::Shell sh =
      h_->RunShell("nproc; ulimit -n; ulimit -c; cat /proc/self/status | grep -i seccomp:", policy);
  EXPECT_EQ(sh.exit_code, 0) << sh.err;
  EXPECT_THAT(sh.out, HasSubstr("1\n64\n0\n"));
  EXPECT_THAT(sh.out, HasSubstr("Seccomp:\t2"));
}

TEST_F(SandboxTest, StartRefusesRootWithoutRunAs) {
  if (!executor::RunningAsRoot()) SAFEFLOW_SKIP_OR_FAIL("needs root");
  SandboxPolicy policy = h_->Policy();
  policy.run_as.reset();
  EXPECT_THAT(executor::SandboxProcess::Start(policy, {"/bin/true"}, {}, "/dev/null"),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  policy = h_->Policy();
  policy.bwrap_path = "/nonexistent/bwrap";
  EXPECT_THAT(executor::SandboxProcess::Start(policy, {"/bin/true"}, {}, "/dev/null"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(executor::SandboxProcess::Start(h_->Policy(), {"/bin/true"}, {1}, "/dev/null"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(SandboxTest, OutboxFilesBelongToTheSandboxUser) {
  if (!h_->user()) SAFEFLOW_SKIP_OR_FAIL("needs root");
  executor::worker::WorkerSpec spec = ShellSpec("printf x > /outputs/o");
  spec.outputs = {{.index = 0, .path = "/outputs/o"}};
  const TaskRun run = h_->Run(spec);
  ASSERT_TRUE(run.finished().has_value()) << run.log;
  EXPECT_EQ(run.finished()->state, FinalState::kComplete);
  ASSERT_EQ(run.outputs().size(), 1u);
  struct stat st {};
  ASSERT_EQ(::lstat((h_->outbox() + "/" + run.outputs()[0].outbox).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, h_->user()->uid);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

}  // namespace
}  // namespace safeflow::testing
