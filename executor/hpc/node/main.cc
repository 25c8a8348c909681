// safeflow-node: the host agent a batch job (a SLURM job script, executor/slurm/) runs on a
// compute node, as
//   safeflow-node run --job <job dir>/job.json
// It runs one task attempt exactly as the local backend does (executor/local/attempt_runner.h):
// inputs staged on the node, safeflow-worker in a bubblewrap sandbox without network, loaded
// and measured from a sealed memfd, attested through safeflowd's relay endpoints with the
// attempt's relay token, outputs uploaded; and it reports to <job dir>/events.jsonl
// (executor/hpc/node_job.h), which safeflowd reads. SIGTERM (scancel, the time limit) kills
// the sandbox and ends the agent without a result; safeflowd then reads the job's end from
// SLURM. The agent refuses to run an attempt twice (the job directory's claim file).
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "absl/strings/str_cat.h"

#include "executor/attestation/http_authority.h"
#include "executor/attestation/platform.h"
#include "executor/hpc/node_job.h"
#include "executor/local/attempt_runner.h"
#include "executor/log.h"
#include "executor/users.h"

namespace {

namespace ex = safeflow::executor;
namespace hpc = safeflow::executor::hpc;
namespace tes = safeflow::schemas::tes;

constexpr const char* kVersion = "0.1.0";

void Usage(std::FILE* to) {
  std::fprintf(to,
               "usage: safeflow-node run --job FILE\n"
               "       safeflow-node --version | --help\n"
               "SafeFlow's compute-node agent; SafeFlow's batch jobs start it, people do not.\n"
               "  run   run the task attempt described by the job FILE (JSON), reporting to\n"
               "        the job's events file\n");
}

// Writes each event to the job's events file.
class FileSink final : public ex::TaskEventSink {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {}
  void OnRunning(const std::string&) override { Write(hpc::NodeRunning{}, false); }
  void OnProgress(const std::string&, const tes::TaskLog& log) override {
    Write(hpc::NodeProgress{log}, false);
  }
  void OnFinished(const std::string&, tes::State state, const tes::TaskLog& log) override {
    Write(hpc::NodeFinished{state, log}, true);
    finished_ = true;
  }
  absl::Status OnSubmitted(const std::string&, const std::string&) override {
    return absl::OkStatus();
  }
  void OnPaused(const std::string&, const std::string&) override {}
  void OnJobClosed(const std::string&) override {}
  bool finished() const { return finished_; }
  bool failed() const { return failed_; }

  void Write(const hpc::NodeEvent& e, bool sync) {
    if (absl::Status s = hpc::AppendNodeEvent(path_, e, sync); !s.ok()) {
      ex::Log().error("cannot report to safeflowd: {}", s.message());
      failed_ = true;
    }
  }

 private:
  const std::string path_;
  std::atomic<bool> finished_{false}, failed_{false};
};

std::string Hostname() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) return "unknown";
  return host;
}

absl::StatusOr<std::string> ReadPrivateFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(path, " is not a regular file"));
  }
  if ((st.st_mode & 0077) != 0 || st.st_uid != ::geteuid()) {
    ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat(path, " holds secrets: it must be ours and mode 0600"));
  }
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (n < 0) return absl::InternalError(absl::StrCat("read ", path, ": ", std::strerror(errno)));
  return out;
}

int Run(const std::string& job_path) {
  // SIGTERM / SIGINT / SIGHUP are taken by one thread (sigwait), which kills the sandbox. They
  // are blocked before any thread starts; the sandbox resets its mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::string> text = ReadPrivateFile(job_path);
  if (!text.ok()) {
    ex::Log().error("job file: {}", text.status().message());
    return 1;
  }
  absl::StatusOr<hpc::NodeJob> job = hpc::ParseNodeJob(*text);
  if (!job.ok()) {
    ex::Log().error("{}", job.status().message());
    return 1;
  }
  FileSink sink(job->events_path);
  const ex::TaskAttempt& attempt = job->attempt;
  auto fail = [&](const std::string& msg) {
    ex::Log().error("task={} attempt={}: {}", attempt.task_id, attempt.attempt, msg);
    tes::TaskLog log;
    log.system_logs.push_back(msg);
    sink.OnFinished(attempt.task_id, tes::State::kSystemError, log);
    return 1;
  };

  // One run per attempt, whatever the batch system does.
  const int claim =
      ::open(job->claim_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (claim < 0) {
    ex::Log().error("task={} attempt={}: {} exists: this attempt already ran; not running it again",
                    attempt.task_id, attempt.attempt, job->claim_path);
    return 3;
  }
  const std::string who = absl::StrCat(Hostname(), " ", ::getpid(), "\n");
  (void)!::write(claim, who.data(), who.size());
  ::close(claim);
  sink.Write(hpc::NodeStarted{Hostname(), static_cast<long>(::getpid())}, true);

  ex::LocalBackendConfig config;
  config.work_dir = job->scratch_dir;
  config.worker_path = job->worker_path;
  if (!job->run_as_user.empty()) {
    absl::StatusOr<ex::UserIds> user = ex::LookupUser(job->run_as_user);
    if (!user.ok()) {
      return fail(absl::StrCat("sandbox user '", job->run_as_user, "' on node ", Hostname(), ": ",
                               user.status().message()));
    }
    config.run_as = *user;
  }
  config.images = job->images;
  config.max_task_seconds = job->max_task_seconds;
  config.default_disk_gb = job->default_disk_gb;
  config.default_ram_gb = job->default_ram_gb;
  config.log_tail_bytes = job->log_tail_bytes;
  config.keep_task_dirs = job->keep_task_dirs;
  config.transfer = job->transfer;
  config.extra_env = job->extra_env;
  if (::mkdir(config.work_dir.c_str(), 0711) != 0 && errno != EEXIST) {
    return fail(absl::StrCat("cannot create ", config.work_dir, ": ", std::strerror(errno)));
  }

  std::unique_ptr<ex::attestation::Platform> platform;
  std::unique_ptr<ex::attestation::Authority> authority;
  if (job->enclave) {
    absl::StatusOr<std::unique_ptr<ex::attestation::Platform>> p =
        ex::attestation::Platform::LoadOrCreate(job->platform_key_file);
    if (!p.ok()) return fail(absl::StrCat("platform key: ", p.status().message()));
    platform = *std::move(p);
    ex::attestation::RelayConfig relay;
    relay.base_url = job->relay.base_url;
    relay.relay_token = job->relay.relay_token;
    relay.ca_bundle = job->relay.ca_bundle;
    relay.timeout_seconds = job->relay.timeout_seconds;
    relay.project = attempt.project;
    if (!job->relay.output_key_id.empty()) {
      relay.output_key =
          ex::attestation::OutputKey{job->relay.output_key_id, job->relay.output_public_key};
    }
    absl::StatusOr<std::unique_ptr<ex::attestation::Authority>> a =
        ex::attestation::NewHttpAuthority(std::move(relay));
    if (!a.ok()) return fail(absl::StrCat("attestation relay: ", a.status().message()));
    authority = *std::move(a);
    config.enclave.platform = platform.get();
    config.enclave.authority = authority.get();
    config.enclave.debug_workers = job->debug_workers;
    config.enclave.seal_outputs = job->seal_outputs;
    config.enclave.attest_timeout_seconds = job->attest_timeout_seconds;
  }

  ex::AttemptControl control;
  control.id = attempt.task_id;
  std::atomic<int> got_signal{0};
  std::thread([&control, &got_signal, stop_signals] {
    int sig = 0;
    if (sigwait(&stop_signals, &sig) == 0) {
      got_signal = sig;
      ex::Log().warn("task={} signal {}: killing the sandbox", control.id, sig);
      control.Kill();
    }
  }).detach();

  ex::Log().info("task={} attempt={} running on {}", attempt.task_id, attempt.attempt, Hostname());
  const std::string dir = absl::StrCat(config.work_dir, "/", attempt.task_id, ".", attempt.attempt);
  ex::RunAttempt(config, attempt, dir, control, sink);
  if (got_signal != 0) {
    ex::Log().warn("task={} ended by signal {}", attempt.task_id, got_signal.load());
    std::fflush(nullptr);
    ::_exit(128 + got_signal);
  }
  // The result is in the events file; a failure to write it is the agent's failure.
  std::fflush(nullptr);
  ::_exit(sink.finished() && !sink.failed() ? 0 : 1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("safeflow-node %s\n", kVersion);
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--help") == 0) {
    Usage(stdout);
    return 0;
  }
  if (argc == 4 && std::strcmp(argv[1], "run") == 0 && std::strcmp(argv[2], "--job") == 0) {
    return Run(argv[3]);
  }
  Usage(stderr);
  return 2;
}
