// executor/worker/worker.h. The task runner inside the sandbox (safeflow-worker run).
//
// Reads the WorkerSpec at spec_path, reports protocol events (executor/worker/protocol.h) to
// events_fd, and:
//  - makes itself non-dumpable with RLIMIT_CORE 0 (no core files, and the sandboxed code,
//    which runs as the same user, cannot open /proc/<worker>/fd or ptrace it), marks every
//    inherited descriptor above 2 close-on-exec (the executors never see the events pipe or
//    the outbox descriptor), and becomes a child subreaper;
//  - runs the executors strictly in order: argv exec'd directly (PATH lookup in the executor's
//    environment), cwd = workdir (created) or "/", environment = PATH, HOME=/tmp,
//    LANG=C.UTF-8 plus the executor's env, stdin from its path or /dev/null, stdout/stderr
//    through pipes into a tail for the log and into their files when given (parents created);
//    a non-zero exit (128 + signal for a signal) ends the task with EXECUTOR_ERROR unless
//    ignore_error; a command that cannot be started counts as exit 127 (not found) / 126;
//  - kills whatever the executors left running, then copies the outputs into the outbox as
//    "<index>/<n>/<safe name>" (O_EXCL, never through a symlink) without following symlinks
//    in the task's filesystem (a symlink anywhere in an output path is a SYSTEM_ERROR "output
//    is a symlink"; a missing non-wildcard output is a SYSTEM_ERROR naming it);
//  - ends with a "finished" event; any unexpected failure becomes SYSTEM_ERROR.
// Returns the process exit code: 0 when the finished event was written, 1 otherwise.
// Single-threaded by design (it forks). Not for use inside another program.
#ifndef SAFEFLOW_EXECUTOR_WORKER_WORKER_H_
#define SAFEFLOW_EXECUTOR_WORKER_WORKER_H_

#include <string>

namespace safeflow::executor::worker {

int RunWorker(const std::string& spec_path, int events_fd);

}  // namespace safeflow::executor::worker

#endif  // SAFEFLOW_EXECUTOR_WORKER_WORKER_H_
