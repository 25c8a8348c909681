#include "executor/worker/worker.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <exception>
#include <fcntl.h>
#include <glob.h>
#include <linux/openat2.h>
#include <map>
#include <optional>
#include <poll.h>
#include <string_view>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "fmt/format.h"

#include "executor/attestation/authority.h"
#include "executor/attestation/quote.h"
#include "executor/crypto/key_wrap.h"
#include "executor/crypto/sealed_file.h"
#include "executor/crypto/secure_memory.h"
#include "executor/crypto/x25519.h"
#include "executor/log_format.h"
#include "executor/sandbox/unique_fd.h"
#include "executor/worker/protocol.h"

namespace safeflow::executor::worker {
namespace {

using Clock = std::chrono::steady_clock;
using SysClock = std::chrono::system_clock;

constexpr std::size_t kMaxSpecBytes = 64u << 20;
constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// After an executor exits, how long its descendants may keep its output pipes busy.
constexpr std::chrono::milliseconds kDrainGrace{200};

std::string Errno(int err) { return std::strerror(err); }

std::string Now() { return FormatTime(SysClock::now()); }

// Writes whole event lines to the events descriptor.
class EventWriter {
 public:
  explicit EventWriter(int fd) : fd_(fd) {}
  // False once the descriptor is broken (the host is gone).
  bool Emit(const WorkerEvent& event) {
    if (broken_) return false;
    const std::string line = EventToLine(event);
    std::string_view rest = line;
    while (!rest.empty()) {
      const ssize_t w = ::write(fd_, rest.data(), rest.size());
      if (w < 0) {
        if (errno == EINTR) continue;
        broken_ = true;
        return false;
      }
      rest.remove_prefix(static_cast<std::size_t>(w));
    }
    return true;
  }

 private:
  const int fd_;
  bool broken_ = false;
};

// A failure that ends the task with SYSTEM_ERROR.
struct SystemError {
  std::string message;
};

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(w));
  }
  return true;
}

// mkdir -p (mode 0755).
absl::Status MakeDirs(const std::string& path) {
  if (path.empty() || path == "/") return absl::OkStatus();
  std::size_t pos = 1;
  while (true) {
    const std::size_t slash = path.find('/', pos);
    const std::string part = path.substr(0, slash);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(fmt::format("mkdir {}: {}", part, Errno(errno)));
    }
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InternalError(fmt::format("{} is not a directory", path));
  }
  return absl::OkStatus();
}

std::string Dirname(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return "/";
  return path.substr(0, slash);
}

std::string Basename(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A file name safe anywhere: [A-Za-z0-9._-], at most 128 bytes, never "", "." or "..".
std::string SafeName(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
    if (out.size() >= 128) break;
  }
  if (out.empty() || out == "." || out == "..") out = "file";
  return out;
}

bool IsValidUtf8(const std::string& s) { return SanitizeUtf8(s) == s; }

// Opens `path` refusing symlinks in any component (openat2 RESOLVE_NO_SYMLINKS; falls back to
// O_NOFOLLOW on the last component on kernels without openat2).
int OpenNoSymlinks(const std::string& path, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const long fd = ::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
  return ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW);
}

// The pids whose parent is us (zombies included), from /proc.
std::vector<pid_t> OurChildren() {
  std::vector<pid_t> out;
  const pid_t self = ::getpid();
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || pid <= 0) continue;
    const std::string stat_path = fmt::format("/proc/{}/stat", pid);
    UniqueFd fd(::open(stat_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) continue;
    char buf[1024];
    const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "pid (comm) S ppid ...": comm may hold anything, so parse after the last ')'.
    const char* close = std::strrchr(buf, ')');
    if (close == nullptr) continue;
    char state = 0;
    long ppid = 0;
    if (std::sscanf(close + 1, " %c %ld", &state, &ppid) == 2 && ppid == self) {
      out.push_back(static_cast<pid_t>(pid));
    }
  }
  ::closedir(d);
  return out;
}

// SIGKILLs and reaps every descendant (as a subreaper, orphans become our children).
void KillDescendants() {
  for (int round = 0; round < 1000; ++round) {
    const std::vector<pid_t> kids = OurChildren();
    if (kids.empty()) break;
    for (pid_t kid : kids) ::kill(kid, SIGKILL);
    for (pid_t kid : kids) {
      while (::waitpid(kid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

// Keeps the last `limit` bytes of a stream, trimming lazily.
void AppendTail(std::string& buf, const char* data, std::size_t n, std::size_t limit) {
  if (limit == 0) return;
  buf.append(data, n);
  if (buf.size() > 2 * limit + 65536) buf.erase(0, buf.size() - limit);
}

struct ExecutorResult {
  int exit_code = 0;
  std::string start_time;
  std::string end_time;
  std::string out_tail;
  std::string err_tail;
  std::vector<std::string> problems;  // redirection failures etc. (for system_logs)
  bool redirect_failed = false;
};

class Worker {
 public:
  Worker(WorkerSpec spec, EventWriter& events) : spec_(std::move(spec)), events_(events) {}

  FinalState Run() {
    if (spec_.enclave) {
      if (std::optional<SystemError> err = EnterEnclave()) {
        Log(err->message);
        return FinalState::kSystemError;
      }
    }
    events_.Emit(RunningEvent{.time = Now()});
    const std::size_t tail_limit = static_cast<std::size_t>(spec_.log_tail_bytes);
    for (std::size_t i = 0; i < spec_.executors.size(); ++i) {
      const ExecutorSpec& e = spec_.executors[i];
      const int index = static_cast<int>(i);
      ExecutorResult r = RunExecutor(e, index, tail_limit);
      for (std::string& p : r.problems) Log(fmt::format("executor {}: {}", i, p));
      events_.Emit(ExecutorFinishedEvent{.index = index,
                                         .exit_code = r.exit_code,
                                         .start_time = r.start_time,
                                         .end_time = r.end_time,
                                         .stdout_tail = Utf8Tail(r.out_tail, tail_limit),
                                         .stderr_tail = Utf8Tail(r.err_tail, tail_limit)});
      const bool failed = r.exit_code != 0 || r.redirect_failed;
      if (failed && !e.ignore_error) {
        Log(fmt::format("executor {} failed (exit code {}); later executors were not run", i,
                        r.exit_code));
        KillDescendants();
        return FinalState::kExecutorError;
      }
      if (failed) Log(fmt::format("executor {} failed (exit code {}), ignored", i, r.exit_code));
    }
    // Nothing the executors started may run on while we collect (or write to the outbox).
    KillDescendants();
    if (std::optional<SystemError> err = CollectOutputs()) {
      Log(err->message);
      return FinalState::kSystemError;
    }
    return FinalState::kComplete;
  }

  void Log(std::string line) { system_logs_.push_back(std::move(line)); }
  std::vector<std::string>& system_logs() { return system_logs_; }

 private:
  // ---- enclave -----------------------------------------------------------------------------

  // Reads one control line from the host, waiting until `deadline`.
  absl::StatusOr<ControlMessage> ReadControl(Clock::time_point deadline) {
    const int fd = spec_.enclave->control_fd;
    while (true) {
      const std::size_t nl = control_buf_.find('\n');
      if (nl != std::string::npos) {
        const std::string line = control_buf_.substr(0, nl);
        control_buf_.erase(0, nl + 1);
        return ParseControlLine(line);
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0)
        return absl::DeadlineExceededError("no answer from the verifier in time");
      pollfd p{fd, POLLIN, 0};
      const int pr = ::poll(&p, 1, static_cast<int>(left.count()));
      if (pr < 0 && errno != EINTR)
        return absl::InternalError(fmt::format("poll: {}", Errno(errno)));
      if (pr <= 0) continue;
      char buf[4096];
      const ssize_t got = ::read(fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return absl::UnavailableError("the host closed the control channel");
      control_buf_.append(buf, static_cast<std::size_t>(got));
      if (control_buf_.size() > (1u << 20))
        return absl::InvalidArgumentError("oversized control message");
    }
  }

  // Attests, receives the dataset keys, decrypts the sealed inputs onto the tmpfs and forgets
  // the keys before any executor runs. Output sealing needs only the project's public key.
  std::optional<SystemError> EnterEnclave() {
    const EnclaveSpec& e = *spec_.enclave;
    // Debug enclaves may be inspected (like SGX debug enclaves); production ones are not
    // dumpable: no ptrace by the executors (same uid), no core dumps.
    if (e.debug) ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    const Clock::time_point deadline =
        Clock::now() + std::chrono::seconds(e.attest_timeout_seconds);
    absl::StatusOr<crypto::X25519KeyPair> pair = crypto::X25519KeyPair::Generate();
    if (!pair.ok())
      return SystemError{fmt::format("enclave: key generation: {}", pair.status().message())};
    std::string pub_b64;
    absl::WebSafeBase64Escape(absl::string_view(pair->public_key), &pub_b64);
    events_.Emit(AttestHelloEvent{pub_b64});
    absl::StatusOr<ControlMessage> m = ReadControl(deadline);
    if (!m.ok()) return SystemError{fmt::format("enclave: {}", m.status().message())};
    if (m->type == "refused") return SystemError{m->msg};
    if (m->type != "challenge") return SystemError{"enclave: expected a challenge from the host"};
    events_.Emit(AttestReportEvent{attestation::ReportData(pair->public_key, m->nonce)});
    m = ReadControl(deadline);
    if (!m.ok()) return SystemError{fmt::format("enclave: {}", m.status().message())};
    if (m->type == "refused") return SystemError{m->msg};
    if (m->type != "keys") return SystemError{"enclave: expected keys from the host"};
    std::map<std::string, crypto::SecretBytes> keys;
    for (const ControlKey& k : m->keys) {
      absl::StatusOr<crypto::SecretBytes> key = crypto::UnwrapWithPrivateKey(
          pair->private_key, crypto::WrappedSecret{k.ephemeral_public_key, k.ciphertext},
          attestation::kKeyReleaseInfo, k.key_id + "\n" + m->token_id);
      if (!key.ok()) {
        return SystemError{fmt::format("enclave: key {}: {}", k.key_id, key.status().message())};
      }
      keys.emplace(k.key_id, std::move(*key));
    }
    for (const SealedInputSpec& in : e.sealed_inputs) {
      auto it = keys.find(in.key_id);
      if (it == keys.end()) {
        return SystemError{fmt::format("input {}: key {} was not released", in.path, in.key_id)};
      }
      if (std::optional<SystemError> err = Unseal(in, it->second)) return err;
    }
    if (!e.sealed_inputs.empty()) {
      Log(fmt::format("enclave: {} sealed input(s) decrypted inside the sandbox",
                      e.sealed_inputs.size()));
    }
    return std::nullopt;  // `keys` and the ephemeral private key are wiped here
  }

  std::optional<SystemError> Unseal(const SealedInputSpec& in, const crypto::SecretBytes& key) {
    UniqueFd src(::open(in.sealed.c_str(), O_RDONLY | O_CLOEXEC));
    if (!src.valid()) return SystemError{fmt::format("input {}: {}", in.path, Errno(errno))};
    absl::StatusOr<crypto::SealedHeader> header = crypto::ReadSealedHeader(src.get());
    if (!header.ok())
      return SystemError{fmt::format("input {}: {}", in.path, header.status().message())};
    if (header->key_id != in.key_id) {
      return SystemError{fmt::format("input {}: sealed with key {}, expected {}", in.path,
                                     header->key_id, in.key_id)};
    }
    if (absl::Status s = MakeDirs(Dirname(in.path)); !s.ok()) {
      return SystemError{fmt::format("input {}: {}", in.path, s.message())};
    }
    UniqueFd dst(
        ::open(in.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!dst.valid()) return SystemError{fmt::format("input {}: {}", in.path, Errno(errno))};
    absl::StatusOr<crypto::SealStats> st = crypto::UnsealStream(src.get(), *header, key, dst.get());
    if (!st.ok()) {
      dst.Reset();
      ::unlink(in.path.c_str());
      return SystemError{fmt::format("input {}: {}", in.path, st.status().message())};
    }
    return std::nullopt;
  }

  // ---- executors ---------------------------------------------------------------------------

  ExecutorResult RunExecutor(const ExecutorSpec& e, int index, std::size_t tail_limit) {
    ExecutorResult r;
    r.start_time = Now();
    events_.Emit(ExecutorStartedEvent{.index = index, .time = r.start_time});
    auto setup_failed = [&](int code, const std::string& why) {
      r.exit_code = code;
      r.err_tail = fmt::format("safeflow-worker: {}\n", why);
      r.problems.push_back(why);
      r.end_time = Now();
      return r;
    };

    // Environment: the minimal default, then the executor's own.
    std::map<std::string, std::string> env = {
        {"PATH", std::string(kDefaultPath)}, {"HOME", "/tmp"}, {"LANG", "C.UTF-8"}};
    for (const auto& [k, v] : e.env) env[k] = v;
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);

    const std::string workdir = e.workdir.value_or("/");
    if (absl::Status s = MakeDirs(workdir); !s.ok()) {
      return setup_failed(126, fmt::format("workdir: {}", s.message()));
    }
    UniqueFd in(::open(e.stdin_path ? e.stdin_path->c_str() : "/dev/null", O_RDONLY | O_CLOEXEC));
    if (!in.valid()) {
      return setup_failed(
          126, fmt::format("stdin {}: {}", e.stdin_path.value_or("/dev/null"), Errno(errno)));
    }
    auto open_out = [&](const std::optional<std::string>& path, UniqueFd& fd) -> absl::Status {
      if (!path) return absl::OkStatus();
      if (absl::Status s = MakeDirs(Dirname(*path)); !s.ok()) return s;
      fd.Reset(::open(path->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!fd.valid()) return absl::InternalError(fmt::format("{}: {}", *path, Errno(errno)));
      return absl::OkStatus();
    };
    UniqueFd out_file, err_file;
    if (absl::Status s = open_out(e.stdout_path, out_file); !s.ok()) {
      return setup_failed(126, fmt::format("stdout {}", s.message()));
    }
    const bool same_file = e.stdout_path && e.stderr_path && *e.stdout_path == *e.stderr_path;
    if (!same_file) {
      if (absl::Status s = open_out(e.stderr_path, err_file); !s.ok()) {
        return setup_failed(126, fmt::format("stderr {}", s.message()));
      }
    }
    const int err_file_fd = same_file ? out_file.get() : err_file.get();

    int p_out[2], p_err[2], p_rep[2];
    if (::pipe2(p_out, O_CLOEXEC) != 0) return setup_failed(126, "pipe: " + Errno(errno));
    UniqueFd out_r(p_out[0]), out_w(p_out[1]);
    if (::pipe2(p_err, O_CLOEXEC) != 0) return setup_failed(126, "pipe: " + Errno(errno));
    UniqueFd err_r(p_err[0]), err_w(p_err[1]);
    if (::pipe2(p_rep, O_CLOEXEC) != 0) return setup_failed(126, "pipe: " + Errno(errno));
    UniqueFd rep_r(p_rep[0]), rep_w(p_rep[1]);

    std::vector<char*> argv;
    for (const std::string& a : e.command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const std::string& s : env_strings) envp.push_back(const_cast<char*>(s.c_str()));
    envp.push_back(nullptr);

    rlimit memory_limit{RLIM_INFINITY, RLIM_INFINITY};
    if (spec_.executor_memory_bytes > 0) {
      memory_limit.rlim_cur = memory_limit.rlim_max =
          static_cast<rlim_t>(spec_.executor_memory_bytes);
    }
    const pid_t pid = ::fork();
    if (pid < 0) return setup_failed(126, "fork: " + Errno(errno));
    if (pid == 0) {
      // The worker is single-threaded, so the child may use ordinary calls until exec.
      struct sigaction dfl {};
      dfl.sa_handler = SIG_DFL;
      for (int sig : {SIGPIPE, SIGXFSZ, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) {
        ::sigaction(sig, &dfl, nullptr);
      }
      int err = 0;
      if (::dup2(in.get(), 0) < 0 || ::dup2(out_w.get(), 1) < 0 || ::dup2(err_w.get(), 2) < 0) {
        err = errno;
      } else if (::chdir(workdir.c_str()) != 0) {
        err = errno;
      } else if (memory_limit.rlim_cur != RLIM_INFINITY &&
                 ::setrlimit(RLIMIT_AS, &memory_limit) != 0) {
        err = errno;
      } else {
        environ = envp.data();  // execvp looks argv[0] up in the executor's PATH
        ::execvp(argv[0], argv.data());
        err = errno;
      }
      [[maybe_unused]] ssize_t w = ::write(rep_w.get(), &err, sizeof err);
      ::_exit(127);
    }
    in.Reset();
    out_w.Reset();
    err_w.Reset();
    rep_w.Reset();

    int exec_errno = 0;
    ssize_t got;
    do {
      got = ::read(rep_r.get(), &exec_errno, sizeof exec_errno);
    } while (got < 0 && errno == EINTR);
    if (got == static_cast<ssize_t>(sizeof exec_errno)) {
      while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      return setup_failed(exec_errno == ENOENT ? 127 : 126,
                          fmt::format("cannot execute {}: {}", e.command[0], Errno(exec_errno)));
    }

    // Supervise: copy both pipes into the tails and files until the child is gone and the
    // pipes are closed (or the grace period after its exit is over).
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    std::optional<int> status;
    std::optional<Clock::time_point> drain_until;
    bool out_file_ok = true, err_file_ok = true;
    char buf[65536];
    while (true) {
      if (!status) {
        int st = 0;
        const pid_t w = ::waitpid(pid, &st, WNOHANG);
        if (w == pid) {
          status = st;
          drain_until = Clock::now() + kDrainGrace;
        }
      }
      // Orphans of the executor are re-parented to us (subreaper): reap the zombies.
      while (true) {
        siginfo_t info{};
        if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) {
          break;
        }
        if (info.si_pid == pid) break;  // ours: collected above
        ::waitpid(info.si_pid, nullptr, WNOHANG);
      }
      const bool reading = out_r.valid() || err_r.valid();
      if (status && (!reading || Clock::now() >= *drain_until)) break;
      pollfd fds[3];
      nfds_t n = 0;
      int i_out = -1, i_err = -1;
      if (out_r.valid()) {
        i_out = static_cast<int>(n);
        fds[n++] = {out_r.get(), POLLIN, 0};
      }
      if (err_r.valid()) {
        i_err = static_cast<int>(n);
        fds[n++] = {err_r.get(), POLLIN, 0};
      }
      if (!status && pidfd.valid()) fds[n++] = {pidfd.get(), POLLIN, 0};
      int timeout_ms = 200;  // also bounds the wait when pidfd_open failed
      if (status) {
        timeout_ms = static_cast<int>(std::max<long long>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(*drain_until - Clock::now())
                   .count()));
      }
      const int pr = ::poll(fds, n, timeout_ms);
      if (pr < 0 && errno != EINTR) break;
      if (pr <= 0) continue;
      auto drain = [&](int idx, UniqueFd& fd, std::string& tail, int file_fd, bool& file_ok,
                       const char* name) {
        if (idx < 0 || fds[idx].revents == 0) return;
        const ssize_t got_bytes = ::read(fd.get(), buf, sizeof buf);
        if (got_bytes > 0) {
          const auto len = static_cast<std::size_t>(got_bytes);
          AppendTail(tail, buf, len, tail_limit);
          if (file_fd >= 0 && file_ok && !WriteAll(file_fd, std::string_view(buf, len))) {
            file_ok = false;
            r.redirect_failed = true;
            r.problems.push_back(
                fmt::format("writing {} to its file failed: {}", name, Errno(errno)));
          }
        } else if (got_bytes == 0 || (errno != EAGAIN && errno != EINTR)) {
          fd.Reset();
        }
      };
      drain(i_out, out_r, r.out_tail, out_file.get(), out_file_ok, "stdout");
      drain(i_err, err_r, r.err_tail, err_file_fd, same_file ? out_file_ok : err_file_ok, "stderr");
    }
    if (!status) {
      int st = 0;
      while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      status = st;
    }
    if (WIFEXITED(*status)) {
      r.exit_code = WEXITSTATUS(*status);
    } else if (WIFSIGNALED(*status)) {
      r.exit_code = 128 + WTERMSIG(*status);
    } else {
      r.exit_code = 255;
    }
    r.end_time = Now();
    return r;
  }

  // ---- outputs -----------------------------------------------------------------------------

  std::optional<SystemError> OpenOutbox() {
    if (spec_.outbox_fd) {
      struct stat st {};
      if (::fstat(*spec_.outbox_fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return SystemError{fmt::format("outbox_fd {} is not an open directory", *spec_.outbox_fd)};
      }
      outbox_.Reset(::fcntl(*spec_.outbox_fd, F_DUPFD_CLOEXEC, 3));
    } else {
      outbox_.Reset(OpenNoSymlinks(spec_.outbox, O_RDONLY | O_DIRECTORY));
    }
    if (!outbox_.valid()) {
      return SystemError{fmt::format("outbox {}: {}", spec_.outbox, Errno(errno))};
    }
    // When the outbox is a bind, the executors may have put things there: those are not
    // outputs (only files named by output events are), and anything in the way of our own
    // names (a symlink, an existing file) makes the copy fail instead of being followed.
    return std::nullopt;
  }

  // Opens (creating) directory `name` below `parent`, refusing symlinks.
  static absl::StatusOr<UniqueFd> SubDir(int parent, const std::string& name) {
    if (::mkdirat(parent, name.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(fmt::format("outbox mkdir {}: {}", name, Errno(errno)));
    }
    UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
      return absl::InternalError(fmt::format("outbox open {}: {}", name, Errno(errno)));
    }
    return fd;
  }

  // Copies the open regular file `src` (path `path`) as output `index` and reports it.
  std::optional<SystemError> Deliver(int src, const std::string& path, const OutputSpec& o,
                                     const std::string& relative) {
    if (!IsValidUtf8(path) || !IsValidUtf8(relative)) {
      return SystemError{
          fmt::format("output {}: file name is not valid UTF-8", SanitizeUtf8(path))};
    }
    const int n = counters_[o.index]++;
    const std::string k = std::to_string(o.index);
    const std::string sub = std::to_string(n);
    const std::string name = SafeName(Basename(path));
    absl::StatusOr<UniqueFd> dk = SubDir(outbox_.get(), k);
    if (!dk.ok()) return SystemError{std::string(dk.status().message())};
    absl::StatusOr<UniqueFd> dn = SubDir(dk->get(), sub);
    if (!dn.ok()) return SystemError{std::string(dn.status().message())};
    UniqueFd dst(::openat(dn->get(), name.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!dst.valid()) {
      return SystemError{fmt::format("outbox create for {}: {}", path, Errno(errno))};
    }
    std::uint64_t size = 0;
    const bool seal = spec_.enclave && !spec_.enclave->output_key_id.empty();
    if (seal) {
      std::string pub;
      absl::WebSafeBase64Unescape(absl::string_view(spec_.enclave->output_public_key), &pub);
      absl::StatusOr<crypto::SealStats> st =
          crypto::SealStream(src, dst.get(), spec_.enclave->output_key_id, pub);
      if (!st.ok()) {
        return SystemError{fmt::format("seal output {}: {}", path, st.status().message())};
      }
      size = st->sealed_bytes;
    }
    char buf[65536];
    while (!seal) {
      const ssize_t got = ::read(src, buf, sizeof buf);
      if (got < 0) {
        if (errno == EINTR) continue;
        return SystemError{fmt::format("read output {}: {}", path, Errno(errno))};
      }
      if (got == 0) break;
      if (!WriteAll(dst.get(), std::string_view(buf, static_cast<std::size_t>(got)))) {
        return SystemError{fmt::format("copy output {}: {}", path, Errno(errno))};
      }
      size += static_cast<std::uint64_t>(got);
    }
    events_.Emit(OutputEvent{.index = o.index,
                             .path = path,
                             .relative = relative,
                             .outbox = fmt::format("{}/{}/{}", k, sub, name),
                             .size_bytes = size,
                             .sealed = seal});
    return std::nullopt;
  }

  static SystemError OpenError(const std::string& path, int err) {
    if (err == ELOOP) return SystemError{fmt::format("output is a symlink: {}", path)};
    if (err == ENOENT) return SystemError{fmt::format("output not found: {}", path)};
    return SystemError{fmt::format("output {}: {}", path, Errno(err))};
  }

  // Opens a regular file for reading; nullopt error means `fd` is set.
  static std::optional<SystemError> OpenRegular(const std::string& path, UniqueFd& fd,
                                                bool& not_regular) {
    not_regular = false;
    fd.Reset(OpenNoSymlinks(path, O_RDONLY | O_NONBLOCK));
    if (!fd.valid()) return OpenError(path, errno);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return OpenError(path, errno);
    if (!S_ISREG(st.st_mode)) {
      not_regular = true;
      fd.Reset();
      return std::nullopt;
    }
    // Back to blocking reads.
    ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
    return std::nullopt;
  }

  // Recursively delivers the regular files below the open directory `dir` (path `path`).
  std::optional<SystemError> DeliverTree(int dir, const std::string& path, const std::string& rel,
                                         const OutputSpec& o, int depth) {
    if (depth > 256) return SystemError{fmt::format("output {}: too deep", path)};
    const int dup = ::fcntl(dir, F_DUPFD_CLOEXEC, 3);
    DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
    if (d == nullptr) {
      if (dup >= 0) ::close(dup);
      return SystemError{fmt::format("output {}: {}", path, Errno(errno))};
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      const std::string child = path + "/" + n;
      const std::string child_rel = rel.empty() ? n : rel + "/" + n;
      struct stat st {};
      if (::fstatat(dir, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return SystemError{fmt::format("output {}: {}", child, Errno(errno))};
      }
      if (S_ISLNK(st.st_mode)) {
        return SystemError{fmt::format("output is a symlink: {}", child)};
      }
      if (S_ISDIR(st.st_mode)) {
        UniqueFd sub(::openat(dir, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) return OpenError(child, errno);
        if (auto err = DeliverTree(sub.get(), child, child_rel, o, depth + 1)) return err;
        continue;
      }
      if (!S_ISREG(st.st_mode)) {
        Log(fmt::format("output {}: skipped {} (not a regular file)", o.index, child));
        continue;
      }
      UniqueFd f(::openat(dir, n.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
      if (!f.valid()) return OpenError(child, errno);
      ::fcntl(f.get(), F_SETFL, ::fcntl(f.get(), F_GETFL) & ~O_NONBLOCK);
      if (auto err = Deliver(f.get(), child, o, child_rel)) return err;
    }
    return std::nullopt;
  }

  // "relative" for a wildcard match: strip path_prefix (and a leading "/"), or the basename.
  std::string WildcardRelative(const OutputSpec& o, const std::string& match) {
    if (!o.path_prefix) return Basename(match);
    std::string prefix = *o.path_prefix;
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    std::string rel;
    if (prefix.empty()) {
      rel = match;
    } else if (match.size() > prefix.size() && match.compare(0, prefix.size(), prefix) == 0 &&
               match[prefix.size()] == '/') {
      rel = match.substr(prefix.size());
    } else if (match.compare(0, prefix.size(), prefix) == 0) {
      rel = match.substr(prefix.size());  // prefix ends inside a name, as TES allows
    } else {
      Log(fmt::format("output {}: path_prefix {} does not match {}", o.index, *o.path_prefix,
                      match));
      rel = match;
    }
    while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
    return rel;
  }

  std::optional<SystemError> CollectOne(const OutputSpec& o) {
    if (HasWildcard(o.path)) {
      glob_t g{};
      // GLOB_PERIOD: "*" also matches names that start with a dot (Nextflow's .exitcode and
      // .command.* files come back through an "/work/*" output).
      const int rc = ::glob(o.path.c_str(), GLOB_ERR | GLOB_PERIOD, nullptr, &g);
      std::vector<std::string> matches;
      if (rc == 0) {
        for (std::size_t i = 0; i < g.gl_pathc; ++i) matches.emplace_back(g.gl_pathv[i]);
      }
      ::globfree(&g);
      if (rc != 0 && rc != GLOB_NOMATCH) {
        return SystemError{fmt::format("output {}: glob failed", o.path)};
      }
      for (const std::string& m : matches) {
        struct stat st {};
        if (::lstat(m.c_str(), &st) != 0) return OpenError(m, errno);
        if (S_ISLNK(st.st_mode)) {
          // A named output that is a symlink is an error; a wildcard just does not follow it.
          Log(fmt::format("output {}: skipped {} (a symlink)", o.index, m));
          continue;
        }
        if (S_ISDIR(st.st_mode)) continue;  // wildcards match files only (and skip . and ..)
        UniqueFd fd;
        bool not_regular = false;
        if (auto err = OpenRegular(m, fd, not_regular)) return err;
        if (not_regular) {
          Log(fmt::format("output {}: skipped {} (not a regular file)", o.index, m));
          continue;
        }
        if (auto err = Deliver(fd.get(), m, o, WildcardRelative(o, m))) return err;
      }
      return std::nullopt;
    }
    if (o.type == OutputType::kDirectory) {
      UniqueFd dir(OpenNoSymlinks(o.path, O_RDONLY | O_DIRECTORY));
      if (!dir.valid()) {
        if (errno == ENOTDIR) return SystemError{fmt::format("output {}: not a directory", o.path)};
        return OpenError(o.path, errno);
      }
      return DeliverTree(dir.get(), o.path, "", o, 0);
    }
    UniqueFd fd;
    bool not_regular = false;
    if (auto err = OpenRegular(o.path, fd, not_regular)) return err;
    if (not_regular) return SystemError{fmt::format("output {}: not a regular file", o.path)};
    return Deliver(fd.get(), o.path, o, "");
  }

  std::optional<SystemError> CollectOutputs() {
    if (spec_.outputs.empty()) return std::nullopt;
    if (auto err = OpenOutbox()) return err;
    for (const OutputSpec& o : spec_.outputs) {
      if (auto err = CollectOne(o)) return err;
    }
    return std::nullopt;
  }

  const WorkerSpec spec_;
  EventWriter& events_;
  std::vector<std::string> system_logs_;
  UniqueFd outbox_;
  std::map<int, int> counters_;  // per output index: files delivered so far
  std::string control_buf_;      // control bytes read but not yet parsed
};

absl::StatusOr<std::string> ReadSpecFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return absl::NotFoundError(fmt::format("spec {}: {}", path, Errno(errno)));
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t got = ::read(fd.get(), buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(fmt::format("read spec {}: {}", path, Errno(errno)));
    }
    if (got == 0) break;
    text.append(buf, static_cast<std::size_t>(got));
    if (text.size() > kMaxSpecBytes) {
      return absl::InvalidArgumentError(fmt::format("spec {}: larger than 64 MiB", path));
    }
  }
  return text;
}

// Process-wide hardening; failures are reported but do not stop the task.
std::vector<std::string> Harden() {
  std::vector<std::string> problems;
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) problems.push_back("PR_SET_DUMPABLE failed");
  const rlimit no_core{0, 0};
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0) problems.push_back("RLIMIT_CORE failed");
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    problems.push_back("PR_SET_CHILD_SUBREAPER failed");
  }
  // Write errors come back as EPIPE / EFBIG instead of killing us.
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGXFSZ, SIG_IGN);
  // No inherited descriptor (events pipe, outbox) reaches the executors.
  if (::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0) {
    for (int fd = 3; fd < 1024; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  return problems;
}

}  // namespace

int RunWorker(const std::string& spec_path, int events_fd) {
  std::vector<std::string> startup_problems = Harden();
  if (events_fd < 0 || ::fcntl(events_fd, F_GETFD) < 0) {
    std::fprintf(stderr, "safeflow-worker: events fd %d is not open\n", events_fd);
    return 1;
  }
  EventWriter events(events_fd);
  FinishedEvent finished;
  try {
    absl::StatusOr<std::string> text = ReadSpecFile(spec_path);
    absl::StatusOr<WorkerSpec> spec =
        text.ok() ? ParseWorkerSpec(*text) : absl::StatusOr<WorkerSpec>(text.status());
    if (!spec.ok()) {
      finished.state = FinalState::kSystemError;
      finished.system_logs.push_back(fmt::format("bad worker spec: {}", spec.status().message()));
    } else {
      Worker worker(*std::move(spec), events);
      for (std::string& p : startup_problems) worker.Log(std::move(p));
      finished.state = worker.Run();
      finished.system_logs = std::move(worker.system_logs());
    }
  } catch (const std::exception& e) {
    KillDescendants();
    finished.state = FinalState::kSystemError;
    finished.system_logs.push_back(fmt::format("worker failure: {}", e.what()));
  } catch (...) {
    KillDescendants();
    finished.state = FinalState::kSystemError;
    finished.system_logs.push_back("worker failure");
  }
  return events.Emit(finished) ? 0 : 1;
}

}  // namespace safeflow::executor::worker
