#include "tests/integration/sandbox/harness.h"

#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>
#include <variant>

#include "executor/env.h"
#include "executor/users.h"

namespace safeflow::testing {

using executor::UniqueFd;
using namespace executor::worker;  // NOLINT: the protocol vocabulary

std::optional<WorkerEvent> EventReader::Next(std::chrono::milliseconds timeout,
                                             std::string* error) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const std::size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      const std::string line = buffer_.substr(0, nl + 1);
      buffer_.erase(0, nl + 1);
      absl::StatusOr<WorkerEvent> e = ParseEventLine(line);
      if (!e.ok()) {
        if (error != nullptr) *error = "bad event line: " + line;
        return std::nullopt;
      }
      return *e;
    }
    if (!fd_.valid()) {
      if (error != nullptr) *error = buffer_.empty() ? "" : "partial line at EOF: " + buffer_;
      return std::nullopt;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          end - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      if (error != nullptr) *error = "timed out waiting for an event";
      return std::nullopt;
    }
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[65536];
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n > 0) {
      buffer_.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      fd_.Reset();
    }
  }
}

std::optional<FinishedEvent> TaskRun::finished() const {
  for (const WorkerEvent& e : events) {
    if (const auto* f = std::get_if<FinishedEvent>(&e)) return *f;
  }
  return std::nullopt;
}

std::vector<ExecutorFinishedEvent> TaskRun::executors() const {
  std::vector<ExecutorFinishedEvent> out;
  for (const WorkerEvent& e : events) {
    if (const auto* f = std::get_if<ExecutorFinishedEvent>(&e)) out.push_back(*f);
  }
  return out;
}

std::vector<OutputEvent> TaskRun::outputs() const {
  std::vector<OutputEvent> out;
  for (const WorkerEvent& e : events) {
    if (const auto* f = std::get_if<OutputEvent>(&e)) out.push_back(*f);
  }
  return out;
}

int TaskRun::started_count() const {
  int n = 0;
  for (const WorkerEvent& e : events) n += std::holds_alternative<ExecutorStartedEvent>(e);
  return n;
}

bool SandboxHarness::Available(std::string* why) {
  if (::access("/usr/bin/bwrap", X_OK) != 0) {
    *why = "bwrap is not installed";
    return false;
  }
  if (::access(SAFEFLOW_WORKER_PATH, X_OK) != 0) {
    *why = "safeflow-worker is not built";
    return false;
  }
  if (executor::RunningAsRoot()) {
    absl::StatusOr<executor::UserIds> u =
        executor::EnsureSystemUser(executor::DefaultEnv(), "safeflow-worker");
    if (!u.ok()) {
      *why = "cannot create the safeflow-worker user: " + u.status().ToString();
      return false;
    }
  }
  return true;
}

SandboxHarness::SandboxHarness() {
  task_dir_ = tmp_.path() + "/task";
  outbox_ = task_dir_ + "/outbox";
  log_path_ = tmp_.path() + "/sandbox.log";
  ::mkdir(task_dir_.c_str(), 0700);
  ::mkdir(outbox_.c_str(), 0700);
  if (executor::RunningAsRoot()) {
    absl::StatusOr<executor::UserIds> u = executor::LookupUser("safeflow-worker");
    if (u.ok()) {
      user_ = *u;
      if (::chown(task_dir_.c_str(), u->uid, u->gid) != 0 ||
          ::chown(outbox_.c_str(), u->uid, u->gid) != 0) {
        std::abort();
      }
    }
  }
}

executor::SandboxPolicy SandboxHarness::Policy() const {
  executor::SandboxPolicy p;
  p.writable_dirs = {"/work", "/outputs"};
  p.tmpfs_bytes = 64ull << 20;
  p.run_as = user_;
  p.binds = {{.host = SAFEFLOW_WORKER_PATH, .container = kWorkerInSandbox},
             {.host = task_dir_ + "/spec.json", .container = kSpecInSandbox},
             {.host = outbox_, .container = kOutboxInSandbox, .writable = true}};
  return p;
}

std::string SandboxHarness::WriteHostFile(const std::string& name,
                                          const std::string& content) const {
  const std::string path = task_dir_ + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  ::chmod(path.c_str(), 0644);
  return path;
}

absl::StatusOr<SandboxHarness::Started> SandboxHarness::Start(WorkerSpec spec,
                                                              const executor::SandboxPolicy& policy,
                                                              const std::vector<int>& extra_fds) {
  if (spec.outbox.empty() && !spec.outbox_fd) spec.outbox = kOutboxInSandbox;
  WriteHostFile("spec.json", SerializeWorkerSpec(spec));
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe2");
  UniqueFd r(fds[0]);
  UniqueFd w(fds[1]);
  std::vector<int> keep = extra_fds;
  keep.push_back(w.get());
  absl::StatusOr<std::unique_ptr<executor::SandboxProcess>> p = executor::SandboxProcess::Start(
      policy,
      {kWorkerInSandbox, "run", "--spec", kSpecInSandbox, "--events-fd", std::to_string(w.get())},
      keep, log_path_);
  if (!p.ok()) return p.status();
  w.Reset();  // the sandbox holds the only write end now
  return Started{.process = *std::move(p), .events = std::make_unique<EventReader>(std::move(r))};
}

TaskRun SandboxHarness::Run(WorkerSpec spec, const executor::SandboxPolicy& policy,
                            std::chrono::milliseconds timeout) {
  TaskRun run;
  absl::StatusOr<Started> s = Start(std::move(spec), policy);
  if (!s.ok()) {
    run.problem = "start: " + s.status().ToString();
    return run;
  }
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    std::string error;
    std::optional<WorkerEvent> e =
        s->events->Next(std::max(left, std::chrono::milliseconds(1)), &error);
    if (!e) {
      run.problem = error;
      break;
    }
    run.events.push_back(*e);
  }
  if (!run.problem.empty()) {
    [[maybe_unused]] absl::Status k = s->process->Kill();
  }
  std::optional<int> st = s->process->WaitFor(std::chrono::seconds(5));
  if (!st) {
    [[maybe_unused]] absl::Status k = s->process->Kill();
    st = s->process->Wait();
  }
  run.exit_status = *st;
  run.log = ReadLog();
  return run;
}

std::string SandboxHarness::ReadLog() const { return ReadFile(log_path_); }

SandboxHarness::Shell SandboxHarness::RunShell(const std::string& script,
                                               const executor::SandboxPolicy& policy) {
  Shell sh;
  sh.run = Run(ShellSpec(script), policy);
  const std::vector<ExecutorFinishedEvent> ex = sh.run.executors();
  if (!ex.empty()) {
    sh.exit_code = ex[0].exit_code;
    sh.out = ex[0].stdout_tail;
    sh.err = ex[0].stderr_tail;
  }
  return sh;
}

WorkerSpec ShellSpec(const std::string& script) {
  WorkerSpec spec;
  spec.task_id = "test-task";
  spec.executors = {{.command = {"/bin/sh", "-c", script}}};
  return spec;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace safeflow::testing
