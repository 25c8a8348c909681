#include "executor/sandbox/sandbox.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <string_view>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utility>

#include "fmt/format.h"

#include "executor/paths.h"
#include "executor/sandbox/memfd.h"
#include "executor/sandbox/seccomp.h"

namespace safeflow::executor {
namespace {

constexpr std::array kTopLevelDirs =
    std::to_array<std::string_view>({"bin", "sbin", "lib", "lib32", "lib64", "libx32"});
// Container paths that the sandbox itself owns: binds and writable dirs may not touch them.
constexpr std::array kReservedPaths = std::to_array<std::string_view>(
    {"/proc", "/dev", "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"});
constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool IsUnder(std::string_view path, std::string_view dir) {
  return path == dir ||
         (path.size() > dir.size() && path.substr(0, dir.size()) == dir && path[dir.size()] == '/');
}

absl::Status CheckContainerPath(std::string_view what, const std::string& p) {
  if (!IsNormalizedAbsolute(p) || p == "/") {
    return absl::InvalidArgumentError(
        fmt::format("{} \"{}\": must be an absolute, normalised path other than /", what, p));
  }
  for (std::string_view reserved : kReservedPaths) {
    if (IsUnder(p, reserved)) {
      return absl::InvalidArgumentError(
          fmt::format("{} \"{}\": {} belongs to the sandbox", what, p, reserved));
    }
  }
  return absl::OkStatus();
}

std::string JoinPath(std::string_view root, std::string_view rel_abs) {
  // rel_abs starts with '/'.
  if (root == "/") return std::string(rel_abs);
  std::string r(root);
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return r + std::string(rel_abs);
}

// lstat-based description of env_root + container.
enum class Kind { kMissing, kSymlink, kDirectory, kOther };
Kind Inspect(const std::string& host, std::string& target) {
  struct stat st {};
  if (::lstat(host.c_str(), &st) != 0) return Kind::kMissing;
  if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    const ssize_t n = ::readlink(host.c_str(), buf, sizeof buf);
    if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) return Kind::kMissing;
    target.assign(buf, static_cast<std::size_t>(n));
    return Kind::kSymlink;
  }
  if (S_ISDIR(st.st_mode)) return Kind::kDirectory;
  return Kind::kOther;
}

int ExitStatusFromWait(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

// Reports `err` to the parent through `report_fd` and exits the child.
[[noreturn]] void ChildFail(int report_fd, int step, int err) {
  const int msg[2] = {step, err};
  [[maybe_unused]] ssize_t w = ::write(report_fd, msg, sizeof msg);
  ::_exit(127);
}

struct ChildPlan {
  char* const* argv;
  char* const* envp;
  const char* bwrap;
  int devnull;
  int log;
  int report;
  std::vector<std::pair<int, rlim_t>> rlimits;
  std::optional<cpu_set_t> cpus;
  std::vector<int> pass_fds;
  std::optional<UserIds> drop_to;
  pid_t parent = 0;
};

constexpr std::array<const char*, 7> kChildSteps = {"redirect stdio",   "set rlimit",
                                                    "set CPU affinity", "pass descriptors",
                                                    "drop privileges",  "set process attributes",
                                                    "execute bwrap"};

// After fork(): only async-signal-safe calls until exec (the parent may have threads).
[[noreturn]] void RunChild(const ChildPlan& plan) {
  const int rep = plan.report;
  ::setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  }
  if (::dup2(plan.devnull, 0) < 0 || ::dup2(plan.log, 1) < 0 || ::dup2(plan.log, 2) < 0) {
    ChildFail(rep, 0, errno);
  }
  for (const auto& [resource, value] : plan.rlimits) {
    const rlimit lim{value, value};
    if (::setrlimit(static_cast<__rlimit_resource>(resource), &lim) != 0) ChildFail(rep, 1, errno);
  }
  if (plan.cpus && ::sched_setaffinity(0, sizeof(cpu_set_t), &*plan.cpus) != 0) {
    ChildFail(rep, 2, errno);
  }
  // Everything above 2 closes on exec except the descriptors we pass on.
  if (::syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0) {
    ChildFail(rep, 3, errno);
  }
  for (int fd : plan.pass_fds) {
    if (::fcntl(fd, F_SETFD, 0) != 0) ChildFail(rep, 3, errno);
  }
  if (plan.drop_to) {
    if (::setgroups(0, nullptr) != 0) ChildFail(rep, 4, errno);
    if (::setgid(plan.drop_to->gid) != 0) ChildFail(rep, 4, errno);
    if (::setuid(plan.drop_to->uid) != 0) ChildFail(rep, 4, errno);
    if (::setuid(0) == 0) ChildFail(rep, 4, EPERM);  // must be irreversible
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ChildFail(rep, 5, errno);
  // bwrap --die-with-parent does the same once it runs; this closes the window before that.
  // After setuid, which clears it.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) ChildFail(rep, 5, errno);
  if (::getppid() != plan.parent) ::_exit(127);  // the parent died before prctl
  ::execve(plan.bwrap, plan.argv, plan.envp);
  ChildFail(rep, 6, errno);
}

}  // namespace

std::vector<std::string> DefaultSandboxEtcFiles() {
  return {"ld.so.cache", "ld.so.conf", "ld.so.conf.d",    "alternatives", "localtime",
          "timezone",    "ssl/certs",  "ssl/openssl.cnf", "protocols",    "services"};
}

absl::StatusOr<EnvRootLayout> ProbeEnvRoot(const SandboxPolicy& policy) {
  const std::string& root = policy.env_root;
  if (!IsNormalizedAbsolute(root)) {
    return absl::InvalidArgumentError(
        fmt::format("env_root \"{}\": must be an absolute, normalised path", root));
  }
  EnvRootLayout layout;
  std::string target;
  const std::string usr = JoinPath(root, "/usr");
  if (Inspect(usr, target) != Kind::kDirectory) {
    return absl::InvalidArgumentError(
        fmt::format("env_root \"{}\": {} is not a directory", root, usr));
  }
  layout.entries.push_back({.container = "/usr", .host = usr});
  for (std::string_view name : kTopLevelDirs) {
    const std::string container = fmt::format("/{}", name);
    const std::string host = JoinPath(root, container);
    switch (Inspect(host, target)) {
      case Kind::kSymlink:
        layout.entries.push_back({.container = container, .host = host, .symlink_target = target});
        break;
      case Kind::kDirectory:
        layout.entries.push_back({.container = container, .host = host});
        break;
      case Kind::kMissing:
      case Kind::kOther:
        break;
    }
  }
  for (const std::string& name : policy.etc_files) {
    const std::string container = "/etc/" + name;
    if (!IsNormalizedAbsolute(container)) {
      return absl::InvalidArgumentError(fmt::format("etc_files: bad name \"{}\"", name));
    }
    if (container == "/etc/passwd" || container == "/etc/group" || container == "/etc/hosts" ||
        container == "/etc/nsswitch.conf") {
      continue;  // synthesised
    }
    const std::string host = JoinPath(root, container);
    switch (Inspect(host, target)) {
      case Kind::kSymlink:
        layout.entries.push_back({.container = container, .host = host, .symlink_target = target});
        break;
      case Kind::kDirectory:
      case Kind::kOther:
        layout.entries.push_back({.container = container, .host = host});
        break;
      case Kind::kMissing:
        break;
    }
  }
  return layout;
}

std::vector<SandboxDataFile> SynthesizedEtcFiles(uid_t uid, gid_t gid, const std::string& name,
                                                 const std::string& hostname) {
  std::string passwd = fmt::format("{}:x:{}:{}:SafeFlow sandbox:/tmp:/bin/sh\n", name, uid, gid);
  if (uid != 65534) passwd += "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
  std::string group = fmt::format("{}:x:{}:\n", name, gid);
  if (gid != 65534) group += "nogroup:x:65534:\n";
  return {
      {"/etc/passwd", std::move(passwd)},
      {"/etc/group", std::move(group)},
      {"/etc/hosts", fmt::format("127.0.0.1\tlocalhost\n127.0.1.1\t{}\n"
                                 "::1\tlocalhost ip6-localhost ip6-loopback\n",
                                 hostname)},
      {"/etc/nsswitch.conf",
       "passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\n"
       "protocols: files\nservices: files\n"},
  };
}

absl::StatusOr<std::vector<std::string>> BuildBwrapArgv(
    const SandboxPolicy& policy, const EnvRootLayout& layout,
    const std::vector<SandboxDataFd>& data_files, int seccomp_fd,
    const std::vector<std::string>& inner_argv) {
  if (inner_argv.empty()) return absl::InvalidArgumentError("empty inner command");
  if (policy.bwrap_path.empty()) return absl::InvalidArgumentError("bwrap_path is empty");
  if (policy.tmpfs_bytes == 0) return absl::InvalidArgumentError("tmpfs_bytes must be > 0");
  if (policy.shm_bytes == 0) return absl::InvalidArgumentError("shm_bytes must be > 0");
  if (policy.hostname.empty() || policy.hostname.size() > 64 ||
      policy.hostname.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
          std::string::npos) {
    return absl::InvalidArgumentError(fmt::format("bad hostname \"{}\"", policy.hostname));
  }
  if (layout.entries.empty() || layout.entries.front().container != "/usr") {
    return absl::InvalidArgumentError("env root layout must start with /usr");
  }

  std::vector<std::string> a = {policy.bwrap_path};
  auto add = [&a](std::initializer_list<std::string> args) {
    for (const std::string& s : args) a.push_back(s);
  };
  // Namespaces: all of them (user, ipc, pid, net, uts, cgroup); user and net spelled out so
  // that a missing one is an error rather than a silent "try".
  add({"--unshare-all", "--unshare-user", "--unshare-net", "--disable-userns"});
  // --as-pid-1: the inner command is the namespace's init, without a bwrap reaper in front.
  // bwrap's reaper would hold our log descriptors while being dumpable, so sandboxed code
  // could open /proc/1/fd/1 and write to the host's log file; the worker is non-dumpable and
  // reaps its descendants itself. When it exits, the kernel kills everything left inside.
  add({"--as-pid-1", "--die-with-parent", "--new-session", "--hostname", policy.hostname});
  add({"--clearenv", "--setenv", "PATH", std::string(kDefaultPath), "--setenv", "HOME", "/tmp",
       "--setenv", "LANG", "C.UTF-8"});
  for (const std::string& kv : policy.extra_env) {
    const std::size_t eq = kv.find('=');
    if (eq == 0 || eq == std::string::npos || kv.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(fmt::format("extra_env \"{}\": want K=V", kv));
    }
    add({"--setenv", kv.substr(0, eq), kv.substr(eq + 1)});
  }
  add({"--proc", "/proc", "--dev", "/dev"});
  add({"--perms", "1777", "--size", std::to_string(policy.shm_bytes), "--tmpfs", "/dev/shm",
       "--remount-ro", "/dev"});

  for (const EnvRootEntry& e : layout.entries) {
    if (!IsNormalizedAbsolute(e.container) || e.container == "/") {
      return absl::InvalidArgumentError(fmt::format("env root entry \"{}\"", e.container));
    }
    if (!e.symlink_target.empty()) {
      add({"--symlink", e.symlink_target, e.container});
    } else {
      add({"--ro-bind", e.host, e.container});
    }
  }
  for (const SandboxDataFd& d : data_files) {
    if (d.fd < 0 || !IsNormalizedAbsolute(d.container) || d.container == "/") {
      return absl::InvalidArgumentError(fmt::format("data file \"{}\"", d.container));
    }
    // --perms must come right before the data option it modifies.
    add({"--perms", "0444", "--ro-bind-data", std::to_string(d.fd), d.container});
  }

  const std::string size = std::to_string(policy.tmpfs_bytes);
  add({"--perms", "1777", "--size", size, "--tmpfs", "/tmp"});
  std::vector<std::string> seen = {"/tmp"};
  for (const std::string& dir : policy.writable_dirs) {
    if (dir == "/tmp") continue;  // always there
    if (absl::Status s = CheckContainerPath("writable dir", dir); !s.ok()) return s;
    for (const std::string& other : seen) {
      if (other == dir) {
        return absl::InvalidArgumentError(fmt::format("writable dir \"{}\" given twice", dir));
      }
    }
    seen.push_back(dir);
    add({"--perms", "0755", "--size", size, "--tmpfs", dir});
  }
  for (const Bind& b : policy.binds) {
    if (absl::Status s = CheckContainerPath("bind", b.container); !s.ok()) return s;
    if (b.host.empty() || b.host[0] != '/' || b.host.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(fmt::format("bind host path \"{}\"", b.host));
    }
    add({b.writable ? "--bind" : "--ro-bind", b.host, b.container});
  }
  std::vector<std::string_view> executables;
  for (const SandboxExecutable& e : policy.executables) {
    if (absl::Status s = CheckContainerPath("executable", e.container); !s.ok()) return s;
    if (e.fd < 0) {
      return absl::InvalidArgumentError(fmt::format("executable \"{}\": no fd", e.container));
    }
    if (std::find(executables.begin(), executables.end(), e.container) != executables.end()) {
      return absl::InvalidArgumentError(fmt::format("executable \"{}\" given twice", e.container));
    }
    executables.push_back(e.container);
    // --perms must come right before; without 0555 the copy is not executable.
    add({"--perms", "0555", "--ro-bind-data", std::to_string(e.fd), e.container});
  }
  add({"--remount-ro", "/"});
  if (seccomp_fd >= 0) add({"--seccomp", std::to_string(seccomp_fd)});
  add({"--chdir", "/", "--"});
  a.insert(a.end(), inner_argv.begin(), inner_argv.end());
  return a;
}

SandboxProcess::SandboxProcess(pid_t pid, UniqueFd pidfd, std::vector<std::string> argv)
    : pid_(pid), pidfd_(std::move(pidfd)), argv_(std::move(argv)) {}

absl::StatusOr<std::unique_ptr<SandboxProcess>> SandboxProcess::Start(
    const SandboxPolicy& policy, const std::vector<std::string>& inner_argv,
    const std::vector<int>& keep_fds, const std::string& log_path) {
  for (int fd : keep_fds) {
    if (fd < 3) return absl::InvalidArgumentError(fmt::format("keep_fds: {} is < 3", fd));
    if (::fcntl(fd, F_GETFD) < 0) {
      return absl::InvalidArgumentError(fmt::format("keep_fds: {} is not open", fd));
    }
  }
  const bool root = ::geteuid() == 0;
  if (root && !policy.run_as) {
    return absl::FailedPreconditionError(
        "running as root: the sandbox needs an unprivileged run_as user");
  }
  if (policy.run_as && policy.run_as->uid == 0) {
    return absl::InvalidArgumentError("run_as must not be root");
  }
  if (policy.run_as && !root && policy.run_as->uid != ::geteuid()) {
    return absl::FailedPreconditionError("only root can run the sandbox as another user");
  }
  const uid_t uid = policy.run_as ? policy.run_as->uid : ::geteuid();
  const gid_t gid = policy.run_as ? policy.run_as->gid : ::getegid();
  const std::string user_name =
      policy.run_as && !policy.run_as->name.empty() ? policy.run_as->name : "sandbox";

  absl::StatusOr<EnvRootLayout> layout = ProbeEnvRoot(policy);
  if (!layout.ok()) return layout.status();
  // bwrap reads each executable's descriptor to EOF from its current offset, and an offset is
  // shared by every duplicate of a descriptor. A fresh open file description (reopening
  // /proc/self/fd/N; for a memfd that is the same sealed inode) starts at 0 and is ours alone,
  // so concurrent starts from one memfd cannot disturb each other or the caller.
  SandboxPolicy bwrap_policy = policy;
  std::vector<UniqueFd> executables_owned;
  for (SandboxExecutable& e : bwrap_policy.executables) {
    struct stat st {};
    if (e.fd < 0 || ::fstat(e.fd, &st) != 0) {
      return absl::InvalidArgumentError(
          fmt::format("executable \"{}\": fd {} is not open", e.container, e.fd));
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(
          fmt::format("executable \"{}\": fd {} is not a regular file", e.container, e.fd));
    }
    const std::string proc_path = fmt::format("/proc/self/fd/{}", e.fd);
    UniqueFd reopened(::open(proc_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!reopened.valid()) {
      return absl::InternalError(fmt::format("executable \"{}\": reopen {}: {}", e.container,
                                             proc_path, std::strerror(errno)));
    }
    struct stat again {};
    if (::fstat(reopened.get(), &again) != 0 || again.st_dev != st.st_dev ||
        again.st_ino != st.st_ino) {
      return absl::InternalError(
          fmt::format("executable \"{}\": reopened fd {} is another file", e.container, e.fd));
    }
    e.fd = reopened.get();
    executables_owned.push_back(std::move(reopened));
  }
  absl::StatusOr<UniqueFd> seccomp = CompileSeccompFilter();
  if (!seccomp.ok()) return seccomp.status();
  std::vector<UniqueFd> data_owned;
  std::vector<SandboxDataFd> data_fds;
  for (const SandboxDataFile& f : SynthesizedEtcFiles(uid, gid, user_name, policy.hostname)) {
    absl::StatusOr<UniqueFd> fd = MakeSealedMemfd(f.container, f.content);
    if (!fd.ok()) return fd.status();
    data_fds.push_back({.container = f.container, .fd = fd->get()});
    data_owned.push_back(*std::move(fd));
  }
  absl::StatusOr<std::vector<std::string>> argv =
      BuildBwrapArgv(bwrap_policy, *layout, data_fds, seccomp->get(), inner_argv);
  if (!argv.ok()) return argv.status();
  if (::access(policy.bwrap_path.c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        fmt::format("bwrap {}: {}", policy.bwrap_path, std::strerror(errno)));
  }

  UniqueFd log(
      ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!log.valid()) {
    return absl::InternalError(fmt::format("open {}: {}", log_path, std::strerror(errno)));
  }
  UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) {
    return absl::InternalError(fmt::format("open /dev/null: {}", std::strerror(errno)));
  }
  int report_fds[2];
  if (::pipe2(report_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(fmt::format("pipe2: {}", std::strerror(errno)));
  }
  UniqueFd report_r(report_fds[0]);
  UniqueFd report_w(report_fds[1]);

  // Everything the child needs is prepared before fork().
  ChildPlan plan;
  std::vector<char*> c_argv;
  for (const std::string& s : *argv) c_argv.push_back(const_cast<char*>(s.c_str()));
  c_argv.push_back(nullptr);
  std::vector<char*> c_envp = {nullptr};
  plan.argv = c_argv.data();
  plan.envp = c_envp.data();
  plan.bwrap = policy.bwrap_path.c_str();
  plan.devnull = devnull.get();
  plan.log = log.get();
  plan.report = report_w.get();
  const rlim_t fsize = policy.max_file_bytes != 0 ? policy.max_file_bytes : policy.tmpfs_bytes;
  plan.rlimits = {{RLIMIT_CORE, 0},
                  {RLIMIT_FSIZE, fsize},
                  {RLIMIT_NPROC, static_cast<rlim_t>(std::max(policy.max_processes, 1))},
                  {RLIMIT_NOFILE, static_cast<rlim_t>(std::max(policy.max_open_files, 16))}};
  if (policy.memory_bytes != 0) plan.rlimits.push_back({RLIMIT_AS, policy.memory_bytes});
  if (policy.cpu_cores > 0) {
    cpu_set_t have;
    CPU_ZERO(&have);
    if (::sched_getaffinity(0, sizeof have, &have) != 0) {
      return absl::InternalError(fmt::format("sched_getaffinity: {}", std::strerror(errno)));
    }
    cpu_set_t want;
    CPU_ZERO(&want);
    int picked = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && picked < policy.cpu_cores; ++cpu) {
      if (CPU_ISSET(cpu, &have)) {
        CPU_SET(cpu, &want);
        ++picked;
      }
    }
    plan.cpus = want;
  }
  plan.pass_fds = keep_fds;
  plan.pass_fds.push_back(seccomp->get());
  for (const SandboxDataFd& d : data_fds) plan.pass_fds.push_back(d.fd);
  for (const UniqueFd& fd : executables_owned) plan.pass_fds.push_back(fd.get());
  if (root) plan.drop_to = policy.run_as;
  plan.parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) RunChild(plan);
  ::setpgid(pid, pid);  // also done in the child; whichever runs first wins
  report_w.Reset();
  int msg[2] = {0, 0};
  ssize_t got;
  do {
    got = ::read(report_r.get(), msg, sizeof msg);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof msg)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    const char* step = msg[0] >= 0 && msg[0] < static_cast<int>(kChildSteps.size())
                           ? kChildSteps[static_cast<std::size_t>(msg[0])]
                           : "start";
    const std::string text = fmt::format("sandbox: cannot {}: {}", step, std::strerror(msg[1]));
    if (msg[0] == 6 && msg[1] == ENOENT) return absl::NotFoundError(text);
    return absl::InternalError(text);
  }
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd.valid()) {
    const int err = errno;
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return absl::InternalError(fmt::format("pidfd_open: {}", std::strerror(err)));
  }
  return std::unique_ptr<SandboxProcess>(
      new SandboxProcess(pid, std::move(pidfd), *std::move(argv)));
}

SandboxProcess::~SandboxProcess() {
  bool running;
  {
    std::scoped_lock lock(mu_);
    running = !exit_status_.has_value();
  }
  if (running) {
    [[maybe_unused]] absl::Status s = Kill();
    Wait();
  }
}

absl::Status SandboxProcess::Kill() {
  std::scoped_lock lock(mu_);
  // While we have not reaped it, the pid (and so the process group id) cannot be reused.
  if (exit_status_) return absl::OkStatus();
  if (::kill(-pid_, SIGKILL) != 0 && ::kill(pid_, SIGKILL) != 0 && errno != ESRCH) {
    return absl::InternalError(fmt::format("kill sandbox {}: {}", pid_, std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::optional<int> SandboxProcess::TryWait() {
  std::scoped_lock lock(mu_);
  if (exit_status_) return exit_status_;
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    exit_status_ = 255;  // ECHILD: somebody else reaped it
    return exit_status_;
  }
  if (info.si_pid == 0) return std::nullopt;
  // bwrap has exited but is not reaped yet, so its process group id is still ours. A bwrap
  // killed during start-up can leave its child blocked forever (waiting for the dead parent,
  // before it sets its own PR_SET_PDEATHSIG or leaves our group with setsid): kill the group.
  ::kill(-pid_, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  exit_status_ = r == pid_ ? ExitStatusFromWait(status) : 255;
  return exit_status_;
}

std::optional<int> SandboxProcess::WaitFor(std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (std::optional<int> s = TryWait()) return s;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          end - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return std::nullopt;
    pollfd p{pidfd_.get(), POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
  }
}

int SandboxProcess::Wait() {
  while (true) {
    if (std::optional<int> s = TryWait()) return *s;
    pollfd p{pidfd_.get(), POLLIN, 0};
    ::poll(&p, 1, -1);
  }
}

}  // namespace safeflow::executor
