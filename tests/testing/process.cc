#include "tests/testing/process.h"

#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "absl/strings/strip.h"

extern char** environ;

namespace safeflow::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
            int out_fd) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const std::string& e : extra_env) env_strings.push_back(e);
  std::vector<char*> envp, args;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (std::string& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

int Decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

SafeflowdProcess::SafeflowdProcess(std::string data_dir, std::vector<std::string> args,
                                   std::vector<std::string> env)
    : data_dir_(std::move(data_dir)) {
  log_path_ = data_dir_ + ".log";
  ::unlink((data_dir_ + "/safeflowd.addr").c_str());
  int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  std::vector<std::string> argv = {SAFEFLOWD_PATH, "--data-dir", data_dir_};
  bool has_listen = false;
  for (const std::string& a : args) has_listen |= a.rfind("--listen", 0) == 0;
  if (!has_listen) {
    argv.push_back("--listen");
    argv.push_back("127.0.0.1:0");
  }
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = Spawn(argv, env, fd);
  ::close(fd);
}

SafeflowdProcess::~SafeflowdProcess() {
  if (running()) Stop(SIGKILL, std::chrono::seconds(10));
}

bool SafeflowdProcess::running() {
  if (pid_ <= 0 || exit_code_ >= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = Decode(status);
    return false;
  }
  return true;
}

bool SafeflowdProcess::WaitReady(std::chrono::milliseconds timeout) {
  const std::string addr_file = data_dir_ + "/safeflowd.addr";
  bool ok = Eventually(
      [&] {
        if (!running()) return true;
        std::string a(absl::StripAsciiWhitespace(Slurp(addr_file)));
        if (a.empty()) return false;
        address_ = a;
        return true;
      },
      timeout);
  return ok && running() && !address_.empty();
}

int SafeflowdProcess::Wait(std::chrono::milliseconds timeout) {
  Eventually([&] { return !running(); }, timeout);
  return running() ? -1 : exit_code_;
}

int SafeflowdProcess::Stop(int sig, std::chrono::milliseconds timeout) {
  if (running()) ::kill(pid_, sig);
  return Wait(timeout);
}

std::string SafeflowdProcess::log() const { return Slurp(log_path_); }

int RunProgram(const std::vector<std::string>& argv, std::string& output,
               const std::vector<std::string>& env) {
  char path[] = "/tmp/safeflow-run-XXXXXX";
  int fd = ::mkstemp(path);
  pid_t pid = Spawn(argv, env, fd);
  ::close(fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  output = Slurp(path);
  ::unlink(path);
  return Decode(status);
}

}  // namespace safeflow::testing
