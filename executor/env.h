// executor/env.h. Env is the one door to the operating system for running external commands
// (initdb, pg_ctl, useradd; later bwrap, sbatch, squeue). Every command has a timeout.
// Implementations are safe to call from multiple threads. Tests may substitute a fake.
#ifndef SAFEFLOW_EXECUTOR_ENV_H_
#define SAFEFLOW_EXECUTOR_ENV_H_

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace safeflow::executor {

struct UserIds {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
  std::string home;
};

struct Command {
  std::vector<std::string> argv;                // argv[0] is looked up in PATH
  std::optional<std::vector<std::string>> env;  // "K=V" entries; nullopt inherits ours
  std::string cwd;                              // empty: inherit
  std::optional<UserIds> run_as;                // drop to this user (we must be root)
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  std::string stdin_data;                // written to the child's stdin, then closed
  std::size_t output_limit = 64 * 1024;  // bytes kept per stream (the tail)
};

struct CommandResult {
  int exit_code = -1;      // valid when !signaled
  int term_signal = 0;     // non-zero when the child died of a signal
  bool timed_out = false;  // we killed it at the deadline
  std::string out;         // tail of stdout, at most output_limit bytes
  std::string err;         // tail of stderr, at most output_limit bytes
  bool ok() const { return !timed_out && term_signal == 0 && exit_code == 0; }
  // "exit 3", "signal 9", "timed out": for messages.
  std::string Describe() const;
};

class Env {
 public:
  virtual ~Env() = default;
  // Runs `cmd` to completion or until its timeout (then kills its whole process group).
  // Returns an error only when the command could not be started at all (NotFound when the
  // program does not exist, PermissionDenied when it cannot be executed, Internal otherwise).
  [[nodiscard]] virtual absl::StatusOr<CommandResult> Run(const Command& cmd) = 0;
};

// The real operating system. Lives for the whole process.
Env& DefaultEnv();

// Runs `cmd` and turns anything but a clean exit 0 into an error status that names the
// program and carries the tail of its stderr (DeadlineExceeded on timeout, Internal otherwise).
[[nodiscard]] absl::StatusOr<CommandResult> RunChecked(Env& env, const Command& cmd);

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_ENV_H_
