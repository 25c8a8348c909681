// tests/integration/sandbox/harness.h. Runs safeflow-worker tasks in a real bwrap sandbox for
// the integration tests: a task directory (owned by the sandbox user) with the spec and the
// outbox, the worker binary bound read-only, and the events read back and parsed.
#ifndef SAFEFLOW_TESTS_INTEGRATION_SANDBOX_HARNESS_H_
#define SAFEFLOW_TESTS_INTEGRATION_SANDBOX_HARNESS_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "executor/sandbox/sandbox.h"
#include "executor/sandbox/unique_fd.h"
#include "executor/worker/protocol.h"
#include "tests/testing/integration.h"

namespace safeflow::testing {

inline constexpr char kWorkerInSandbox[] = "/.safeflow/worker";
inline constexpr char kSpecInSandbox[] = "/.safeflow/spec.json";
inline constexpr char kOutboxInSandbox[] = "/.safeflow/outbox";

// Reads newline-delimited events from a pipe.
class EventReader {
 public:
  explicit EventReader(executor::UniqueFd fd) : fd_(std::move(fd)) {}
  // The next event; nullopt at EOF or timeout (then `error` says which); parse errors too.
  std::optional<executor::worker::WorkerEvent> Next(std::chrono::milliseconds timeout,
                                                    std::string* error = nullptr);

 private:
  executor::UniqueFd fd_;
  std::string buffer_;
};

struct TaskRun {
  int exit_status = -1;  // bwrap's
  std::vector<executor::worker::WorkerEvent> events;
  std::string problem;  // a parse error or timeout, empty when fine
  std::string log;      // bwrap's and the worker's stdout/stderr

  // Helpers over `events`.
  std::optional<executor::worker::FinishedEvent> finished() const;
  std::vector<executor::worker::ExecutorFinishedEvent> executors() const;
  std::vector<executor::worker::OutputEvent> outputs() const;
  int started_count() const;
};

class SandboxHarness {
 public:
  // Skips (or fails under SAFEFLOW_REQUIRE_INTEGRATION=1) when bwrap is missing; as root,
  // creates the "safeflow-worker" system user to run as.
  static bool Available(std::string* why);

  SandboxHarness();
  const std::string& task_dir() const { return task_dir_; }
  const std::string& outbox() const { return outbox_; }
  const std::optional<executor::UserIds>& user() const { return user_; }

  // A policy for one task: writable /work and /outputs (64 MiB each), the worker, the spec and
  // the outbox bound; tests adjust it.
  executor::SandboxPolicy Policy() const;

  // Writes `content` as a file the sandbox user can read (for binds).
  std::string WriteHostFile(const std::string& name, const std::string& content) const;

  // Runs `spec` with `policy` to completion (at most `timeout`).
  TaskRun Run(executor::worker::WorkerSpec spec, const executor::SandboxPolicy& policy,
              std::chrono::milliseconds timeout = std::chrono::seconds(20));
  TaskRun Run(executor::worker::WorkerSpec spec) { return Run(std::move(spec), Policy()); }

  // Starts `spec` and returns the running sandbox and the reader of its events.
  struct Started {
    std::unique_ptr<executor::SandboxProcess> process;
    std::unique_ptr<EventReader> events;
  };
  absl::StatusOr<Started> Start(executor::worker::WorkerSpec spec,
                                const executor::SandboxPolicy& policy,
                                const std::vector<int>& extra_fds = {});

  std::string ReadLog() const;
  // Runs one shell command as the only executor; returns its exit code (or -1) and output.
  struct Shell {
    int exit_code = -1;
    std::string out;
    std::string err;
    TaskRun run;
  };
  Shell RunShell(const std::string& script, const executor::SandboxPolicy& policy);
  Shell RunShell(const std::string& script) { return RunShell(script, Policy()); }

 private:
  TempDir tmp_;
  std::string task_dir_;
  std::string outbox_;
  std::string log_path_;
  std::optional<executor::UserIds> user_;
};

// A one-executor spec.
executor::worker::WorkerSpec ShellSpec(const std::string& script);
// Reads a whole host file ("" when missing).
std::string ReadFile(const std::string& path);

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_INTEGRATION_SANDBOX_HARNESS_H_
