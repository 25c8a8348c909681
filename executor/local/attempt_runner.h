// executor/local/attempt_runner.h. Runs one TES task attempt on this host, in its own bubblewrap
// sandbox running safeflow-worker (what LocalBackend does for each attempt, and what
// safeflow-node does inside a SLURM job):
//   1. stage inputs outside the sandbox (content, file://, http(s)://, s3:// through
//      executor/transfer/) into <dir>/inbox, owned by the worker user;
//   2. start the sandbox: the approved environment read-only, each input bound read-only at its
//      path, sized tmpfs for /tmp and every top-level directory the task uses, limits from
//      resources (cpu_cores -> CPU affinity, ram_gb -> RLIMIT_AS, disk_gb -> tmpfs size), no
//      network, seccomp, an unprivileged user; the worker's events arrive on a pipe;
//   3. in enclave mode, relay the worker's attestation to config.enclave.authority (in process
//      for the local backend, over HTTP for a SLURM job) and quote with config.enclave.platform;
//   4. after the executors, upload the outputs the worker copied to the outbox;
//   5. report RUNNING, progress and the end through the TaskEventSink.
#ifndef SAFEFLOW_EXECUTOR_LOCAL_ATTEMPT_RUNNER_H_
#define SAFEFLOW_EXECUTOR_LOCAL_ATTEMPT_RUNNER_H_

#include <atomic>
#include <mutex>
#include <string>

#include "executor/backend.h"
#include "executor/local/local_backend.h"
#include "executor/sandbox/sandbox.h"

namespace safeflow::executor {

// Cancellation of one running attempt: RunAttempt publishes its sandbox here, Kill() (from any
// thread) marks the attempt canceled and kills the sandbox if it is up.
struct AttemptControl {
  std::atomic<bool> canceled{false};
  std::mutex mu;
  SandboxProcess* sandbox = nullptr;  // guarded by mu; set by RunAttempt while it runs
  std::string id;                     // for log lines

  void Kill();
};

// Runs `attempt` in the directory `dir` (created; removed afterwards unless
// config.keep_task_dirs) and returns when it has ended. Calls sink.OnRunning / OnProgress while
// it runs and sink.OnFinished once at the end, except when it was canceled through `control`.
void RunAttempt(const LocalBackendConfig& config, const TaskAttempt& attempt,
                const std::string& dir, AttemptControl& control, TaskEventSink& sink);

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_LOCAL_ATTEMPT_RUNNER_H_
