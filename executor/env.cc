#include "executor/env.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <string_view>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

#include "absl/strings/str_cat.h"

#include "executor/sandbox/unique_fd.h"

namespace safeflow::executor {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status MakePipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  read_end = UniqueFd(fds[0]);
  write_end = UniqueFd(fds[1]);
  return absl::OkStatus();
}

void AppendTail(std::string& buf, const char* data, std::size_t n, std::size_t limit) {
  buf.append(data, n);
  // Trim lazily so that a chatty child does not make us copy on every read.
  if (buf.size() > 2 * limit + 4096) buf.erase(0, buf.size() - limit);
}

void FinishTail(std::string& buf, std::size_t limit) {
  if (buf.size() > limit) buf.erase(0, buf.size() - limit);
}

// Reports `err` to the parent through `report_fd` and exits the child.
[[noreturn]] void ChildFail(int report_fd, int err) {
  // A short write to a pipe is atomic; nothing to do if it fails.
  [[maybe_unused]] ssize_t w = ::write(report_fd, &err, sizeof err);
  ::_exit(127);
}

// The child side, after fork(): only async-signal-safe calls until exec.
[[noreturn]] void ExecChild(const Command& cmd, char* const* argv, char* const* envp, int in_fd,
                            int out_fd, int err_fd, int report_fd) {
  auto fail = [report_fd](int err) { ChildFail(report_fd, err); };
  ::setpgid(0, 0);
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) ::sigaction(sig, &dfl, nullptr);
  if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) fail(errno);
  if (!cmd.cwd.empty() && ::chdir(cmd.cwd.c_str()) != 0) fail(errno);
  if (cmd.run_as) {
    if (::setgroups(0, nullptr) != 0) fail(errno);
    if (::setgid(cmd.run_as->gid) != 0) fail(errno);
    if (::setuid(cmd.run_as->uid) != 0) fail(errno);
  }
  // report_fd is O_CLOEXEC: it closes on a successful exec, which tells the parent so.
  ::syscall(SYS_close_range, 3U, ~0U, 0x4U /* CLOSE_RANGE_CLOEXEC */);
  ::execvpe(argv[0], argv, envp);
  ChildFail(report_fd, errno);
}

class RealEnv final : public Env {
 public:
  absl::StatusOr<CommandResult> Run(const Command& cmd) override {
    if (cmd.argv.empty()) return absl::InvalidArgumentError("empty command");
    // Everything the child needs is allocated before fork().
    std::vector<char*> argv;
    argv.reserve(cmd.argv.size() + 1);
    for (const std::string& a : cmd.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    if (cmd.env) {
      for (const std::string& e : *cmd.env) envp.push_back(const_cast<char*>(e.c_str()));
      envp.push_back(nullptr);
    }
    char* const* env_ptr = cmd.env ? envp.data() : environ;

    UniqueFd in_r, in_w, out_r, out_w, err_r, err_w, rep_r, rep_w;
    for (auto [r, w] : {std::pair{&in_r, &in_w}, std::pair{&out_r, &out_w},
                        std::pair{&err_r, &err_w}, std::pair{&rep_r, &rep_w}}) {
      if (absl::Status s = MakePipe(*r, *w); !s.ok()) return s;
    }
    const pid_t pid = ::fork();
    if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
    if (pid == 0) {
      ExecChild(cmd, argv.data(), env_ptr, in_r.get(), out_w.get(), err_w.get(), rep_w.get());
    }
    ::setpgid(pid, pid);  // also done in the child; whichever runs first wins
    in_r.Reset();
    out_w.Reset();
    err_w.Reset();
    rep_w.Reset();

    int exec_errno = 0;
    ssize_t got = ::read(rep_r.get(), &exec_errno, sizeof exec_errno);
    if (got == static_cast<ssize_t>(sizeof exec_errno)) {
      int status = 0;
      ::waitpid(pid, &status, 0);
      const std::string prog = cmd.argv[0];
      if (exec_errno == ENOENT) return absl::NotFoundError(absl::StrCat(prog, ": not found"));
      if (exec_errno == EACCES || exec_errno == EPERM) {
        return absl::PermissionDeniedError(
            absl::StrCat(prog, ": cannot start: ", std::strerror(exec_errno)));
      }
      return absl::InternalError(absl::StrCat(prog, ": cannot start: ", std::strerror(exec_errno)));
    }
    return Supervise(cmd, pid, std::move(in_w), std::move(out_r), std::move(err_r));
  }

 private:
  static absl::StatusOr<CommandResult> Supervise(const Command& cmd, pid_t pid, UniqueFd in_w,
                                                 UniqueFd out_r, UniqueFd err_r) {
    CommandResult result;
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (pidfd.get() < 0) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return absl::InternalError(absl::StrCat("pidfd_open: ", std::strerror(errno)));
    }
    for (int fd : {in_w.get(), out_r.get(), err_r.get()}) {
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    std::string_view to_write = cmd.stdin_data;
    if (to_write.empty()) in_w.Reset();
    const Clock::time_point deadline = Clock::now() + cmd.timeout;
    bool exited = false;
    // Once the child has exited, its descendants may still hold the pipes (a daemon started
    // by pg_ctl, say): drain what is buffered for a short grace period, then stop reading.
    Clock::time_point drain_until{};
    char buf[16384];
    while (true) {
      const bool reading = out_r.get() >= 0 || err_r.get() >= 0;
      if (exited && (!reading || Clock::now() >= drain_until)) break;
      pollfd fds[4];
      int n = 0;
      int idx_out = -1, idx_err = -1, idx_in = -1, idx_pid = -1;
      if (out_r.get() >= 0) {
        idx_out = n;
        fds[n++] = {out_r.get(), POLLIN, 0};
      }
      if (err_r.get() >= 0) {
        idx_err = n;
        fds[n++] = {err_r.get(), POLLIN, 0};
      }
      if (in_w.get() >= 0) {
        idx_in = n;
        fds[n++] = {in_w.get(), POLLOUT, 0};
      }
      if (!exited) {
        idx_pid = n;
        fds[n++] = {pidfd.get(), POLLIN, 0};
      }
      const Clock::time_point until = exited ? drain_until : deadline;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) {
        if (!exited) {
          result.timed_out = true;
          ::kill(-pid, SIGKILL);
          ::kill(pid, SIGKILL);
          exited = true;
          drain_until = Clock::now() + std::chrono::milliseconds(100);
          continue;
        }
        break;
      }
      int pr = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(std::min<long>(left, 1000)));
      if (pr < 0 && errno != EINTR) break;
      if (pr <= 0) continue;
      auto drain = [&](int idx, UniqueFd& fd, std::string& into) {
        if (idx < 0 || fds[idx].revents == 0) return;
        ssize_t r = ::read(fd.get(), buf, sizeof buf);
        if (r > 0) {
          AppendTail(into, buf, static_cast<std::size_t>(r), cmd.output_limit);
        } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          fd.Reset();
        }
      };
      drain(idx_out, out_r, result.out);
      drain(idx_err, err_r, result.err);
      if (idx_in >= 0 && fds[idx_in].revents != 0) {
        ssize_t w = ::write(in_w.get(), to_write.data(), to_write.size());
        if (w > 0) to_write.remove_prefix(static_cast<std::size_t>(w));
        if ((w < 0 && errno != EAGAIN && errno != EINTR) || to_write.empty()) in_w.Reset();
      }
      if (idx_pid >= 0 && fds[idx_pid].revents != 0) {
        exited = true;
        drain_until = Clock::now() + std::chrono::milliseconds(200);
      }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.term_signal = WTERMSIG(status);
    FinishTail(result.out, cmd.output_limit);
    FinishTail(result.err, cmd.output_limit);
    return result;
  }
};

}  // namespace

std::string CommandResult::Describe() const {
  if (timed_out) return "timed out";
  if (term_signal != 0) return absl::StrCat("killed by signal ", term_signal);
  return absl::StrCat("exit ", exit_code);
}

Env& DefaultEnv() {
  static RealEnv env;  // stateless
  return env;
}

absl::StatusOr<CommandResult> RunChecked(Env& env, const Command& cmd) {
  absl::StatusOr<CommandResult> r = env.Run(cmd);
  if (!r.ok()) return r.status();
  if (r->ok()) return r;
  std::string tail = r->err.empty() ? r->out : r->err;
  if (tail.size() > 2000) tail = tail.substr(tail.size() - 2000);
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
  std::string msg =
      absl::StrCat(cmd.argv.empty() ? "" : cmd.argv[0], " failed (", r->Describe(), ")");
  if (!tail.empty()) absl::StrAppend(&msg, ": ", tail);
  if (r->timed_out) return absl::DeadlineExceededError(msg);
  return absl::InternalError(msg);
}

}  // namespace safeflow::executor
