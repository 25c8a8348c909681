// Measured execution: the sandbox runs exactly the bytes measured into a sealed memfd
// (attestation::LoadMeasuredImage + SandboxPolicy::executables), however often, concurrently,
// and whatever happens to the file on disk afterwards.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/attestation/measurement.h"
#include "executor/sandbox/sandbox.h"
#include "tests/integration/sandbox/harness.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

using executor::SandboxPolicy;
using executor::attestation::LoadMeasuredImage;
using executor::attestation::MeasuredImage;
using executor::attestation::Sha256Hex;
using executor::worker::ExecutorFinishedEvent;
using executor::worker::WorkerEvent;
using ::testing::HasSubstr;
using ::testing::Not;

class MeasuredExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!SandboxHarness::Available(&why)) SAFEFLOW_SKIP_OR_FAIL(why);
    h_ = std::make_unique<SandboxHarness>();
  }
  std::unique_ptr<SandboxHarness> h_;
};

// The harness policy with the worker taken from `worker_fd` instead of a bind.
SandboxPolicy WorkerFromFd(const SandboxHarness& h, int worker_fd) {
  SandboxPolicy p = h.Policy();
  std::erase_if(p.binds, [](const executor::Bind& b) { return b.container == kWorkerInSandbox; });
  p.executables = {{.container = kWorkerInSandbox, .fd = worker_fd}};
  return p;
}

// Reads all events of a started sandbox and waits for it.
TaskRun Finish(SandboxHarness::Started& s) {
  TaskRun run;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    std::string error;
    std::optional<WorkerEvent> e =
        s.events->Next(std::max(left, std::chrono::milliseconds(1)), &error);
    if (!e) {
      run.problem = error;
      break;
    }
    run.events.push_back(*e);
  }
  if (!run.problem.empty()) {
    [[maybe_unused]] absl::Status k = s.process->Kill();
  }
  run.exit_status = s.process->Wait();
  return run;
}

TEST_F(MeasuredExecTest, WorkerRunsFromOneMemfdInTwoSandboxesAtOnce) {
  absl::StatusOr<MeasuredImage> worker = LoadMeasuredImage(SAFEFLOW_WORKER_PATH);
  ASSERT_THAT(worker, IsOk());
  // The caller's offset does not matter (bwrap reads a fresh description from 0) ...
  ASSERT_EQ(::lseek(worker->fd.get(), 12345, SEEK_SET), 12345);
  const SandboxPolicy policy = WorkerFromFd(*h_, worker->fd.get());
  SandboxHarness other;  // its own task dir, spec and log
  const SandboxPolicy other_policy = WorkerFromFd(other, worker->fd.get());

  const std::string script = "sha256sum /.safeflow/worker; stat -c %a /.safeflow/worker";
  absl::StatusOr<SandboxHarness::Started> a = h_->Start(ShellSpec(script), policy);
  ASSERT_THAT(a, IsOk());
  absl::StatusOr<SandboxHarness::Started> b = other.Start(ShellSpec(script), other_policy);
  ASSERT_THAT(b, IsOk());
  const TaskRun ra = Finish(*a);
  const TaskRun rb = Finish(*b);
  for (const TaskRun* r : {&ra, &rb}) {
    EXPECT_EQ(r->exit_status, 0) << r->problem << h_->ReadLog() << other.ReadLog();
    const std::vector<ExecutorFinishedEvent> ex = r->executors();
    ASSERT_EQ(ex.size(), 1u) << r->problem << h_->ReadLog() << other.ReadLog();
    EXPECT_EQ(ex[0].exit_code, 0) << ex[0].stderr_tail;
    EXPECT_EQ(ex[0].stdout_tail, worker->sha256_hex + "  /.safeflow/worker\n555\n");
  }
  // ... and does not move.
  EXPECT_EQ(::lseek(worker->fd.get(), 0, SEEK_CUR), 12345);

  // Once more, sequentially, from the same memfd.
  const SandboxHarness::Shell again = h_->RunShell("sha256sum /.safeflow/worker", policy);
  EXPECT_EQ(again.exit_code, 0) << again.run.log;
  EXPECT_THAT(again.out, HasSubstr(worker->sha256_hex));
}

TEST_F(MeasuredExecTest, SwappingTheFileAfterMeasuringDoesNotChangeWhatRuns) {
  const std::string path = h_->WriteHostFile("prog", "#!/bin/sh\necho measured-A\n");
  ASSERT_EQ(::chmod(path.c_str(), 0755), 0);
  absl::StatusOr<MeasuredImage> image = LoadMeasuredImage(path);
  ASSERT_THAT(image, IsOk());
  EXPECT_EQ(image->sha256_hex, Sha256Hex("#!/bin/sh\necho measured-A\n"));

  // Measure-then-swap: the path now holds B.
  const std::string swapped = h_->WriteHostFile("prog.new", "#!/bin/sh\necho swapped-B\n");
  ASSERT_EQ(::chmod(swapped.c_str(), 0755), 0);
  ASSERT_EQ(std::rename(swapped.c_str(), path.c_str()), 0);

  SandboxPolicy policy = h_->Policy();
  policy.executables = {{.container = "/opt/measured/prog", .fd = image->fd.get()}};
  policy.binds.push_back({.host = path, .container = "/data/prog"});  // by path: B
  const SandboxHarness::Shell sh = h_->RunShell(
      "/opt/measured/prog; /data/prog; sha256sum /opt/measured/prog; "
      "(echo x > /opt/measured/prog) 2>/dev/null && echo WRITABLE; true",
      policy);
  ASSERT_EQ(sh.exit_code, 0) << sh.err << sh.run.log;
  EXPECT_EQ(sh.out, "measured-A\nswapped-B\n" + image->sha256_hex + "  /opt/measured/prog\n");
  EXPECT_THAT(sh.out, Not(HasSubstr("WRITABLE")));
}

TEST_F(MeasuredExecTest, RewritingTheFileInPlaceDoesNotChangeWhatRuns) {
  const std::string path = h_->WriteHostFile("prog", "#!/bin/sh\necho measured-A\n");
  absl::StatusOr<MeasuredImage> image = LoadMeasuredImage(path);
  ASSERT_THAT(image, IsOk());
  h_->WriteHostFile("prog", "#!/bin/sh\necho rewritten-B\n");  // same inode, truncated

  SandboxPolicy policy = h_->Policy();
  policy.executables = {{.container = "/opt/prog", .fd = image->fd.get()}};
  const SandboxHarness::Shell sh = h_->RunShell("/opt/prog", policy);
  ASSERT_EQ(sh.exit_code, 0) << sh.err << sh.run.log;
  EXPECT_EQ(sh.out, "measured-A\n");
}

}  // namespace
}  // namespace safeflow::testing
