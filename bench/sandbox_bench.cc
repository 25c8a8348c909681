// What SafeFlow's sandbox costs per task on this host, against bare bubblewrap measured in the
// same run:
//   BM_BareBwrap        bwrap with the usual minimal mounts running /bin/true (the reference)
//   BM_SafeflowSandbox  SafeFlow's full policy (tmpfs mounts, synthesised /etc, seccomp,
//                       rlimits, user drop) running /bin/true
//   BM_WorkerTask       the full policy running safeflow-worker with one executor (`true`),
//                       events read back over the pipe: a whole local task minus staging
// Run as root: build/<dir>/bench/bench_sandbox. Prints the ratios to the reference at the end.
#include <cstdio>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchmark/benchmark.h"

#include "executor/env.h"
#include "executor/sandbox/sandbox.h"
#include "executor/users.h"
#include "executor/worker/protocol.h"

#include "bench/ratio_reporter.h"

namespace {

using safeflow::executor::SandboxPolicy;
using safeflow::executor::SandboxProcess;
using safeflow::executor::UserIds;

std::optional<UserIds> SandboxUser() {
  if (!safeflow::executor::RunningAsRoot()) return std::nullopt;
  auto u =
      safeflow::executor::EnsureSystemUser(safeflow::executor::DefaultEnv(), "safeflow-worker");
  if (!u.ok()) return std::nullopt;
  return *u;
}

void BM_BareBwrap(benchmark::State& state) {
  const std::optional<UserIds> user = SandboxUser();
  for (auto _ : state) {
    pid_t pid = ::fork();
    if (pid == 0) {
      if (user && (::setgid(user->gid) != 0 || ::setuid(user->uid) != 0)) ::_exit(126);
      ::execl("/usr/bin/bwrap", "bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/usr",
              "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink",
              "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "/bin/true",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) state.SkipWithError("bwrap failed");
  }
}
BENCHMARK(BM_BareBwrap)->Unit(benchmark::kMillisecond)->UseRealTime();

SandboxPolicy Policy() {
  SandboxPolicy p;
  p.writable_dirs = {"/work"};
  p.tmpfs_bytes = 64ull << 20;
  p.memory_bytes = 1ull << 30;
  p.run_as = SandboxUser();
  return p;
}

void BM_SafeflowSandbox(benchmark::State& state) {
  const SandboxPolicy policy = Policy();
  for (auto _ : state) {
    auto p = SandboxProcess::Start(policy, {"/bin/true"}, {}, "/dev/null");
    if (!p.ok()) {
      state.SkipWithError(std::string(p.status().message()).c_str());
      break;
    }
    if ((*p)->Wait() != 0) state.SkipWithError("sandbox failed");
  }
}
BENCHMARK(BM_SafeflowSandbox)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_WorkerTask(benchmark::State& state) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("safeflow-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir / "outbox");
  ::chmod(dir.c_str(), 0755);
  SandboxPolicy policy = Policy();
  if (policy.run_as) {
    for (const fs::path& d : {dir, dir / "outbox"}) {
      if (::chown(d.c_str(), policy.run_as->uid, policy.run_as->gid) != 0) {
        state.SkipWithError("chown");
      }
    }
  }
  safeflow::executor::worker::WorkerSpec spec;
  spec.task_id = "bench";
  spec.executors.push_back({.command = {"true"}});
  spec.outbox = "/.safeflow/outbox";
  std::ofstream(dir / "spec.json") << safeflow::executor::worker::SerializeWorkerSpec(spec);
  policy.binds = {{(dir / "spec.json").string(), "/.safeflow/spec.json", false},
                  {SAFEFLOW_WORKER_PATH, "/.safeflow/worker", false},
                  {(dir / "outbox").string(), "/.safeflow/outbox", true}};
  for (auto _ : state) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) break;
    auto p = SandboxProcess::Start(policy,
                                   {"/.safeflow/worker", "run", "--spec", "/.safeflow/spec.json",
                                    "--events-fd", std::to_string(fds[1])},
                                   {fds[1]}, "/dev/null");
    ::close(fds[1]);
    if (!p.ok()) {
      ::close(fds[0]);
      state.SkipWithError(std::string(p.status().message()).c_str());
      break;
    }
    std::string events;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) events.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    (*p)->Wait();
    if (events.find("\"COMPLETE\"") == std::string::npos) state.SkipWithError("task failed");
  }
  fs::remove_all(dir);
}
BENCHMARK(BM_WorkerTask)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  safeflow::bench::RatioReporter reporter("BM_BareBwrap/real_time", "bare bwrap");
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
