// executor/sandbox/sandbox.h. The local sandbox: bubblewrap (bwrap) with every namespace
// unshared (no network), a read-only view of an approved execution environment, sized tmpfs
// mounts as the only writable places, explicit binds, rlimits, CPU affinity, a seccomp filter,
// and an unprivileged user.
//
// Filesystem inside (see BuildBwrapArgv):
//   /usr                 env_root/usr, read-only; /bin /sbin /lib /lib32 /lib64 /libx32 as the
//                        env root has them (symlinks recreated, real directories bound ro)
//   /etc                 read-only: passwd/group (the sandbox user and nobody), hosts,
//                        nsswitch.conf (synthesised), plus policy.etc_files found in env_root/etc
//   /proc /dev           the sandbox's own procfs; bwrap's minimal /dev (null, zero, full,
//                        random, urandom, tty, pts), remounted read-only
//   /dev/shm             tmpfs of shm_bytes, writable
//   /tmp                 tmpfs of tmpfs_bytes, writable (mode 1777)
//   each writable_dirs   tmpfs of tmpfs_bytes, writable
//   binds                in the given order, after the tmpfs mounts (so they may land inside
//                        them), read-only unless writable
//   executables          after the binds: a read-only copy (mode 0555) of each descriptor's
//                        content, e.g. a measured image (executor/attestation/measurement.h)
//   /                    a tmpfs remounted read-only once everything is in place
// Processes: the inner command is pid 1 of a new pid namespace (bwrap --as-pid-1: no bwrap
// reaper in front, so it must reap its children, as safeflow-worker does); when it exits, the
// kernel kills whatever is left inside. It runs with no capabilities, no_new_privs, in a new
// session, as run_as (or our own uid), with only PATH, HOME=/tmp, LANG=C.UTF-8 and extra_env.
// Limits (no cgroup controllers here, so per process, inherited by every descendant):
//   RLIMIT_AS = memory_bytes, RLIMIT_FSIZE = max_file_bytes, RLIMIT_NPROC = max_processes,
//   RLIMIT_NOFILE = max_open_files, RLIMIT_CORE = 0, sched_setaffinity to cpu_cores CPUs.
#ifndef SAFEFLOW_EXECUTOR_SANDBOX_SANDBOX_H_
#define SAFEFLOW_EXECUTOR_SANDBOX_SANDBOX_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "executor/env.h"
#include "executor/sandbox/unique_fd.h"

namespace safeflow::executor {

struct Bind {
  std::string host;       // absolute host path (file or directory); must exist
  std::string container;  // absolute, normalised path inside the sandbox
  bool writable = false;
};

// A program the sandbox executes from a descriptor rather than from a host path, so that what
// runs is exactly the bytes behind `fd` (bwrap copies them at start-up; --ro-bind-data), not
// whatever the path holds by then. For measured execution pass a sealed memfd
// (attestation::LoadMeasuredImage): then nobody can change the bytes after measuring them.
// SandboxProcess::Start reads `fd` through a fresh open file description (/proc/self/fd/N,
// O_RDONLY) from offset 0, so the caller's offset neither matters nor moves, and one memfd can
// serve any number of sandboxes, also concurrently. The caller keeps ownership; it must stay
// open until Start returns. Each sandbox holds its own copy in its tmpfs root (RAM).
struct SandboxExecutable {
  std::string container;  // absolute, normalised path inside the sandbox (checked like a bind)
  int fd = -1;            // a regular file or memfd
};

// Files of env_root/etc that the sandbox sees read-only when they exist (relative to /etc).
std::vector<std::string> DefaultSandboxEtcFiles();

struct SandboxPolicy {
  // Approved execution environment root: its usr/ (and the pieces of etc/ in etc_files) are
  // bound read-only.
  std::string env_root = "/";
  std::vector<std::string> etc_files = DefaultSandboxEtcFiles();
  // E.g. staged inputs (read-only), the outbox (writable), the worker binary and spec (ro).
  std::vector<Bind> binds;
  // Programs mapped in from descriptors (mode 0555, read-only), after the binds.
  std::vector<SandboxExecutable> executables;
  // Container dirs that get a tmpfs of tmpfs_bytes each (e.g. "/work", "/outputs"). /tmp
  // always gets one.
  std::vector<std::string> writable_dirs;
  // Per tmpfs (the task's disk_gb). tmpfs lives in RAM/swap, and with no memory cgroup the
  // kernel does not charge it to the task: budget (1 + writable_dirs) * tmpfs_bytes + shm_bytes
  // per sandbox on the host.
  std::uint64_t tmpfs_bytes = 1ull << 30;
  std::uint64_t shm_bytes = 64ull << 20;  // /dev/shm
  // 0 = no limit; else RLIMIT_AS. Not RLIMIT_DATA: DATA leaves out shared anonymous mappings
  // (memfd, MAP_SHARED|MAP_ANONYMOUS, SysV shm) and stacks, so a process can exceed it at
  // will; AS bounds everything mapped. The price: AS also counts reserved but untouched
  // address space (glibc's per-thread malloc arenas reserve 64 MiB each, JVMs and Go reserve
  // more), so leave head room. It is per process, not per sandbox.
  std::uint64_t memory_bytes = 0;
  int cpu_cores = 0;                 // 0 = all; else sched_setaffinity to that many CPUs
  std::uint64_t max_file_bytes = 0;  // RLIMIT_FSIZE; 0 = tmpfs_bytes
  // RLIMIT_NPROC. The kernel counts it per real uid across all user namespaces, i.e. over
  // every sandbox that runs as the same run_as user.
  int max_processes = 512;
  int max_open_files = 4096;           // RLIMIT_NOFILE
  std::optional<UserIds> run_as;       // bwrap's unprivileged user (required when we are root)
  std::vector<std::string> extra_env;  // "K=V" for the inner command, on top of PATH/HOME/LANG
  std::string hostname = "safeflow";
  std::string bwrap_path = "/usr/bin/bwrap";
};

// One piece of the environment root as it appears in the sandbox.
struct EnvRootEntry {
  std::string container;       // "/usr", "/bin", "/etc/ld.so.cache", ...
  std::string host;            // env_root + container
  std::string symlink_target;  // non-empty: recreate as this symlink instead of binding
};
struct EnvRootLayout {
  std::vector<EnvRootEntry> entries;  // "/usr" first
};

// Looks at policy.env_root on disk (lstat/readlink only). InvalidArgument when the root or its
// usr/ is missing or not a real directory.
[[nodiscard]] absl::StatusOr<EnvRootLayout> ProbeEnvRoot(const SandboxPolicy& policy);

// A file synthesised for the sandbox and handed to bwrap through a descriptor.
struct SandboxDataFile {
  std::string container;  // e.g. "/etc/passwd"
  std::string content;
};
// /etc/passwd, /etc/group (the sandbox user `name` with uid/gid, plus nobody/nogroup),
// /etc/hosts (localhost and `hostname`) and /etc/nsswitch.conf (files only).
std::vector<SandboxDataFile> SynthesizedEtcFiles(uid_t uid, gid_t gid, const std::string& name,
                                                 const std::string& hostname);

struct SandboxDataFd {
  std::string container;
  int fd = -1;  // readable from offset 0; bwrap reads it to EOF
};

// The full bwrap argv (argv[0] = policy.bwrap_path), in this order: namespaces and process
// options, environment, /proc, /dev (+ /dev/shm tmpfs, /dev read-only), the env root entries,
// the data files (mode 0444), the /tmp and writable_dirs tmpfs mounts, the binds in order,
// the executables ("--perms 0555 --ro-bind-data FD CONTAINER", with policy.executables' fds as
// given), --remount-ro /, --seccomp FD (when seccomp_fd >= 0), --chdir /, "--", inner_argv.
// Pure: no I/O. InvalidArgument for paths that are relative, not normalised, "/", or inside
// /proc, /dev, /usr, /etc or the top-level library/binary dirs (binds, writable dirs and
// executables), for executables with a negative fd or a container given twice, and for bad
// env entries.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> BuildBwrapArgv(
    const SandboxPolicy& policy, const EnvRootLayout& layout,
    const std::vector<SandboxDataFd>& data_files, int seccomp_fd,
    const std::vector<std::string>& inner_argv);

// A running sandbox (the bwrap process and everything inside it). It dies (SIGKILL) with the
// *thread* that called Start: bwrap's --die-with-parent uses PR_SET_PDEATHSIG, which Linux
// ties to the creating thread, not the process. So a crashed or killed host leaves no orphaned
// sandboxes, but Start must run on a thread that lives as long as the sandbox (e.g. the one
// that then waits for it), never on a short-lived helper thread. Kill() may be called from
// any thread, also while another thread is in Wait(); the other methods are for one thread.
// The destructor SIGKILLs the sandbox if it still runs and reaps it.
class SandboxProcess {
 public:
  // Starts bwrap as a child in its own process group: in the child, applies the rlimits and
  // CPU affinity, drops to policy.run_as (setgroups/setgid/setuid) when we are root, points
  // stdin at /dev/null and stdout/stderr at `log_path` (created 0600, appended), and passes on
  // exactly `keep_fds` (plus the seccomp, data and executable descriptors it makes itself)
  // under their numbers, which must be >= 3. For policy.executables it reopens each fd (see
  // SandboxExecutable) and hands bwrap the new descriptor. The caller keeps ownership of
  // keep_fds; create them O_CLOEXEC (Start clears the flag in its child only) and close your
  // copy of a pipe's write end after Start, or you will never see EOF.
  // FailedPrecondition when we are root and run_as is missing, InvalidArgument for a bad
  // policy (also an executable fd that is not open or not a regular file), NotFound when
  // bwrap is missing, Internal for other failures.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SandboxProcess>> Start(
      const SandboxPolicy& policy, const std::vector<std::string>& inner_argv,
      const std::vector<int>& keep_fds, const std::string& log_path);

  ~SandboxProcess();
  SandboxProcess(const SandboxProcess&) = delete;
  SandboxProcess& operator=(const SandboxProcess&) = delete;

  pid_t pid() const { return pid_; }
  // Becomes readable (poll POLLIN) when bwrap has exited; for the caller's event loop.
  int pidfd() const { return pidfd_.get(); }
  const std::vector<std::string>& argv() const { return argv_; }

  // SIGKILLs the whole sandbox (bwrap's process group; bwrap's --die-with-parent and the pid
  // namespace take everything inside with it). OK when it already ended.
  [[nodiscard]] absl::Status Kill();
  // The exit status once bwrap has ended (then reaped): its exit code, or 128 + signal.
  std::optional<int> TryWait();
  // Blocks until bwrap ends; exit status as above.
  int Wait();
  // Waits at most `timeout`; nullopt when still running.
  std::optional<int> WaitFor(std::chrono::milliseconds timeout);

 private:
  SandboxProcess(pid_t pid, UniqueFd pidfd, std::vector<std::string> argv);

  const pid_t pid_;
  const UniqueFd pidfd_;
  const std::vector<std::string> argv_;
  std::mutex mu_;
  std::optional<int> exit_status_;  // guarded by mu_; set once reaped
};

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_SANDBOX_SANDBOX_H_
