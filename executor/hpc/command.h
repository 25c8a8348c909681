// executor/hpc/command.h. Runs one short external command (sbatch, squeue, scontrol, scancel)
// to completion with a hard timeout, capturing its output. This is the batch backends' door to
// their scheduler's CLI; it has no global state and is safe to call from multiple threads.
//
// The command runs with stdin from /dev/null, in a new process group, with our signal mask
// cleared and every signal at its default disposition (a SIGPIPE we ignore is not inherited),
// and with no descriptor of ours but its stdout and stderr pipes. It is started with
// posix_spawn (no code of ours runs in the child).
#ifndef SAFEFLOW_EXECUTOR_HPC_COMMAND_H_
#define SAFEFLOW_EXECUTOR_HPC_COMMAND_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace safeflow::executor::hpc {

struct CommandResult {
  int exit_code = 0;  // the exit status, or 128 + n when the command died of signal n
  std::string out;    // stdout, at most max_output_bytes (the head; the rest is dropped)
  std::string err;    // stderr, likewise
};

// Runs `argv` and waits for it. argv[0] is looked up in the child's PATH (ours, or the one in
// `extra_env`) when it has no '/'. The environment is ours plus the "K=V" entries of
// `extra_env`, which override ours. Output beyond `max_output_bytes` per stream is read and
// dropped, so the command is never blocked on a full pipe.
//
// When argv[0] exits, whatever it wrote is read (processes it left behind holding the pipes are
// given 100 ms), then every process left in its group is killed and it is reaped. At the
// timeout the whole group is killed with SIGKILL and argv[0] is reaped (the killed descendants
// are reaped by their new parent, init or a subreaper).
//
// A non-zero exit is not an error: it is in exit_code. Errors:
//   InvalidArgument   empty argv or argv[0], or an extra_env entry that is not "K=V"
//   NotFound          argv[0] is not in PATH or cannot be executed ("sbatch: not found")
//   DeadlineExceeded  "<argv[0]> did not finish within N ms"
//   Internal          pipe, spawn or wait failures
// Reads `environ`: do not call setenv() concurrently (no code in this project does).
[[nodiscard]] absl::StatusOr<CommandResult> RunCommand(
    const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
    const std::vector<std::string>& extra_env = {}, std::size_t max_output_bytes = 8u << 20);

}  // namespace safeflow::executor::hpc

#endif  // SAFEFLOW_EXECUTOR_HPC_COMMAND_H_
