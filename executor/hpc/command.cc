#include "executor/hpc/command.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string_view>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "executor/sandbox/unique_fd.h"

extern char** environ;

namespace safeflow::executor::hpc {
namespace {

using Clock = std::chrono::steady_clock;

// How long output is still read after argv[0] has exited, for descendants holding the pipes.
constexpr std::chrono::milliseconds kDrainGrace{100};
// PATH when the environment has none (glibc's confstr(_CS_PATH)).
constexpr std::string_view kDefaultPath = "/bin:/usr/bin";

std::string_view EnvKey(std::string_view entry) { return entry.substr(0, entry.find('=')); }

// Ours, minus the keys `extra` sets, plus `extra`.
absl::StatusOr<std::vector<std::string>> MergeEnv(const std::vector<std::string>& extra) {
  for (const std::string& e : extra) {
    const std::size_t eq = e.find('=');
    if (eq == 0 || eq == std::string::npos || e.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("extra_env entry is not K=V: \"", e, "\""));
    }
  }
  std::vector<std::string> env;
  for (char** p = environ; p != nullptr && *p != nullptr; ++p) {
    const std::string_view entry(*p);
    const bool overridden = std::any_of(extra.begin(), extra.end(), [&](const std::string& e) {
      return EnvKey(e) == EnvKey(entry);
    });
    if (!overridden) env.emplace_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

bool IsExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// execvp's search, done here so that the child runs no code of ours: argv[0] itself when it
// has a '/', else the first executable regular file in the child's PATH.
absl::StatusOr<std::string> ResolveProgram(const std::string& program,
                                           const std::vector<std::string>& env) {
  if (program.find('/') != std::string::npos) return program;
  std::string_view path = kDefaultPath;
  for (const std::string& e : env) {
    if (EnvKey(e) == "PATH") path = std::string_view(e).substr(5);
  }
  while (true) {
    const std::size_t colon = path.find(':');
    std::string_view dir = path.substr(0, colon);
    if (dir.empty()) dir = ".";  // an empty PATH element is the current directory
    std::string candidate = absl::StrCat(std::string(dir), "/", program);
    if (IsExecutableFile(candidate)) return candidate;
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return absl::NotFoundError(absl::StrCat(program, ": not found in PATH"));
}

absl::Status MakePipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  read_end = UniqueFd(fds[0]);
  write_end = UniqueFd(fds[1]);
  return absl::OkStatus();
}

// posix_spawn's attributes and file actions, destroyed on every path.
class SpawnSetup {
 public:
  SpawnSetup() {
    attr_ok_ = ::posix_spawnattr_init(&attr_) == 0;
    actions_ok_ = ::posix_spawn_file_actions_init(&actions_) == 0;
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  ~SpawnSetup() {
    if (attr_ok_) ::posix_spawnattr_destroy(&attr_);
    if (actions_ok_) ::posix_spawn_file_actions_destroy(&actions_);
  }

  // New process group, empty signal mask, default dispositions; stdin /dev/null, stdout and
  // stderr the pipes, every other descriptor closed.
  int Configure(int out_fd, int err_fd) {
    if (!attr_ok_ || !actions_ok_) return ENOMEM;
    sigset_t none;
    sigset_t all;
    sigemptyset(&none);
    sigfillset(&all);
    int rc = 0;
    if ((rc = ::posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                     POSIX_SPAWN_SETSIGDEF)) != 0 ||
        (rc = ::posix_spawnattr_setpgroup(&attr_, 0)) != 0 ||
        (rc = ::posix_spawnattr_setsigmask(&attr_, &none)) != 0 ||
        (rc = ::posix_spawnattr_setsigdefault(&attr_, &all)) != 0 ||
        (rc = ::posix_spawn_file_actions_addopen(&actions_, 0, "/dev/null", O_RDONLY, 0)) != 0 ||
        (rc = ::posix_spawn_file_actions_adddup2(&actions_, out_fd, 1)) != 0 ||
        (rc = ::posix_spawn_file_actions_adddup2(&actions_, err_fd, 2)) != 0 ||
        (rc = ::posix_spawn_file_actions_addclosefrom_np(&actions_, 3)) != 0) {
      return rc;
    }
    return 0;
  }

  const posix_spawnattr_t* attr() const { return &attr_; }
  const posix_spawn_file_actions_t* actions() const { return &actions_; }

 private:
  posix_spawnattr_t attr_{};
  posix_spawn_file_actions_t actions_{};
  bool attr_ok_ = false;
  bool actions_ok_ = false;
};

// Exec failures that mean "this program cannot be run" rather than "the system is in trouble".
bool IsCannotExecute(int err) {
  switch (err) {
    case ENOENT:
    case EACCES:
    case EPERM:
    case ENOEXEC:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
    case ENAMETOOLONG:
    case ETXTBSY:
      return true;
    default:
      return false;
  }
}

// Reaps `pid`, retrying on EINTR. Returns the wait status, or -1.
int Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

// Kills `pid`'s group, and `pid` itself in case it left the group, then reaps it. Only called
// before `pid` is reaped, so its id (and so its group id) cannot have been reused.
void KillGroupAndReap(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  Reap(pid);
}

}  // namespace

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         std::chrono::milliseconds timeout,
                                         const std::vector<std::string>& extra_env,
                                         std::size_t max_output_bytes) {
  if (argv.empty() || argv[0].empty()) return absl::InvalidArgumentError("empty command");
  const std::string& program = argv[0];
  absl::StatusOr<std::vector<std::string>> env = MergeEnv(extra_env);
  if (!env.ok()) return env.status();
  absl::StatusOr<std::string> path = ResolveProgram(program, *env);
  if (!path.ok()) return path.status();

  std::vector<char*> c_argv;
  c_argv.reserve(argv.size() + 1);
  for (const std::string& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  std::vector<char*> c_env;
  c_env.reserve(env->size() + 1);
  for (const std::string& e : *env) c_env.push_back(const_cast<char*>(e.c_str()));
  c_env.push_back(nullptr);

  UniqueFd out_r, out_w, err_r, err_w;
  if (absl::Status s = MakePipe(out_r, out_w); !s.ok()) return s;
  if (absl::Status s = MakePipe(err_r, err_w); !s.ok()) return s;
  SpawnSetup setup;
  if (int rc = setup.Configure(out_w.get(), err_w.get()); rc != 0) {
    return absl::InternalError(absl::StrCat("posix_spawn setup: ", std::strerror(rc)));
  }
  pid_t pid = -1;
  // On an exec failure glibc reaps the child and returns the exec's errno.
  if (int rc = ::posix_spawn(&pid, path->c_str(), setup.actions(), setup.attr(), c_argv.data(),
                             c_env.data());
      rc != 0) {
    if (IsCannotExecute(rc)) {
      return absl::NotFoundError(absl::StrCat(program, ": cannot execute: ", std::strerror(rc)));
    }
    return absl::InternalError(absl::StrCat(program, ": posix_spawn: ", std::strerror(rc)));
  }
  out_w.Reset();
  err_w.Reset();

  // From here on `pid` is ours to kill and reap on every path.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) {
    const int saved = errno;
    KillGroupAndReap(pid);
    return absl::InternalError(absl::StrCat("pidfd_open: ", std::strerror(saved)));
  }
  for (int fd : {out_r.get(), err_r.get()}) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }

  CommandResult result;
  const Clock::time_point deadline = Clock::now() + timeout;
  bool exited = false;
  Clock::time_point drain_until{};
  char buf[16384];
  auto drain = [&](UniqueFd& fd, std::string& into) {
    while (true) {
      const ssize_t r = ::read(fd.get(), buf, sizeof buf);
      if (r > 0) {
        const std::size_t room = max_output_bytes - std::min(max_output_bytes, into.size());
        into.append(buf, std::min(room, static_cast<std::size_t>(r)));
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r == 0 || errno != EAGAIN) fd.Reset();  // EOF, or an error we cannot recover from
      return;
    }
  };
  while (true) {
    if (exited && ((!out_r.valid() && !err_r.valid()) || Clock::now() >= drain_until)) break;
    const Clock::time_point until = exited ? drain_until : deadline;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (!exited && left <= 0) {
      KillGroupAndReap(pid);
      return absl::DeadlineExceededError(
          absl::StrCat(program, " did not finish within ", timeout.count(), " ms"));
    }
    pollfd fds[3];
    nfds_t n = 0;
    int idx_out = -1;
    int idx_err = -1;
    int idx_pid = -1;
    if (out_r.valid()) {
      idx_out = static_cast<int>(n);
      fds[n++] = {out_r.get(), POLLIN, 0};
    }
    if (err_r.valid()) {
      idx_err = static_cast<int>(n);
      fds[n++] = {err_r.get(), POLLIN, 0};
    }
    if (!exited) {
      idx_pid = static_cast<int>(n);
      fds[n++] = {pidfd.get(), POLLIN, 0};
    }
    // Round up so that a sub-millisecond remainder does not spin.
    const int wait_ms = static_cast<int>(std::clamp<long long>(left, 1, 1000));
    const int pr = ::poll(fds, n, wait_ms);
    if (pr < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      KillGroupAndReap(pid);
      return absl::InternalError(absl::StrCat("poll: ", std::strerror(saved)));
    }
    if (idx_out >= 0 && fds[idx_out].revents != 0) drain(out_r, result.out);
    if (idx_err >= 0 && fds[idx_err].revents != 0) drain(err_r, result.err);
    if (idx_pid >= 0 && fds[idx_pid].revents != 0) {
      exited = true;
      drain_until = Clock::now() + kDrainGrace;
    }
  }
  // argv[0] is a zombie now: its group id is still reserved, so this reaches only processes we
  // started (and any it left behind).
  ::kill(-pid, SIGKILL);
  const int status = Reap(pid);
  if (status < 0) return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

}  // namespace safeflow::executor::hpc
