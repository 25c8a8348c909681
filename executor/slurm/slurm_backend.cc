#include "executor/slurm/slurm_backend.h"

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "executor/env.h"
#include "executor/hpc/node_job.h"
#include "executor/log.h"
#include "executor/sandbox/unique_fd.h"
#include "executor/slurm/slurm.h"
#include "executor/worker/protocol.h"

namespace safeflow::executor {
namespace {

namespace fs = std::filesystem;
namespace tes = schemas::tes;
using Clock = std::chrono::steady_clock;

std::string Now() { return worker::FormatTime(std::chrono::system_clock::now()); }

std::string Bounded(std::string_view s, size_t n = 500) {
  std::string out(s.substr(0, n));
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return worker::SanitizeUtf8(out);
}

std::string TailOfFile(const std::string& path, size_t n) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return "";
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return "";
  const off_t from = st.st_size > static_cast<off_t>(n) ? st.st_size - static_cast<off_t>(n) : 0;
  std::string out(static_cast<size_t>(st.st_size - from), '\0');
  const ssize_t got = ::pread(fd.get(), out.data(), out.size(), from);
  out.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return worker::SanitizeUtf8(out);
}

absl::Status WriteNewFile(const std::string& path, const std::string& data, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd.valid()) {
    return absl::InternalError(absl::StrCat("create ", path, ": ", std::strerror(errno)));
  }
  if (::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size()) ||
      ::fsync(fd.get()) != 0) {
    return absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

struct Job {
  TaskAttempt attempt;
  TaskEventSink* sink = nullptr;
  std::string dir, job_name, job_id;
  std::atomic<bool> canceled{false};
  // --- poll thread only below ---
  bool needs_submit = false;  // no job id: look the name up, else submit
  std::uint64_t events_offset = 0;
  int bad_lines = 0;
  bool running_reported = false, paused = false;
  tes::TaskLog node_log;                    // the newest log safeflow-node reported
  std::vector<std::string> notes;           // this backend's system_logs
  std::map<std::string, std::string> meta;  // this backend's metadata
  std::string last_state, last_reason;
  std::optional<Clock::time_point> missing_since;
  std::string start_time = Now();
};

// The attempt's log as users see it: what the node reported plus this backend's notes.
tes::TaskLog Compose(const Job& job, const tes::TaskLog& node_log,
                     const std::vector<std::string>& end_notes = {}) {
  tes::TaskLog log = node_log;
  if (!log.start_time) log.start_time = job.start_time;
  for (const auto& [k, v] : job.meta) log.metadata[k] = v;
  std::vector<std::string> sys = job.notes;
  sys.insert(sys.end(), log.system_logs.begin(), log.system_logs.end());
  sys.insert(sys.end(), end_notes.begin(), end_notes.end());
  log.system_logs = std::move(sys);
  return log;
}

class SlurmBackend final : public Backend {
 public:
  explicit SlurmBackend(SlurmBackendConfig config)
      : config_(std::move(config)), env_(config_.env != nullptr ? *config_.env : DefaultEnv()) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~SlurmBackend() override { Shutdown(); }

  std::string name() const override { return "slurm"; }
  bool Durable() const override { return true; }

  absl::Status Start(TaskAttempt attempt, TaskEventSink& sink) override {
    auto job = NewJob(std::move(attempt), sink);
    if (absl::Status s = Admit(job->attempt.task_id); !s.ok()) return s;
    if (absl::Status s = PrepareJobDir(*job); !s.ok()) return Release(job->attempt.task_id, s);
    // While slurmctld does not answer, sbatch would only block the caller (MessageTimeout):
    // leave the submission to the poll thread.
    absl::StatusOr<std::string> id =
        Health().ok ? Submit(*job)
                    : absl::StatusOr<std::string>(absl::UnavailableError(Health().detail));
    if (!id.ok()) {
      if (!absl::IsUnavailable(id.status()) && !absl::IsDeadlineExceeded(id.status())) {
        return Release(job->attempt.task_id, id.status());
      }
      // slurmctld does not answer: the sbatch may or may not have reached it. Look the job
      // name up before submitting again, once it answers.
      job->needs_submit = true;
      job->notes.push_back(absl::StrCat("SLURM: cannot submit now (", id.status().message(),
                                        "); will submit when slurmctld answers"));
      SetHealth(false, absl::StrCat("slurmctld does not answer: ", id.status().message()));
    }
    Track(job);
    return absl::OkStatus();
  }

  absl::Status Adopt(TaskAttempt attempt, TaskEventSink& sink) override {
    auto job = NewJob(std::move(attempt), sink);
    if (absl::Status s = Admit(job->attempt.task_id); !s.ok()) return s;
    job->job_id = job->attempt.backend_job_id;
    job->needs_submit = job->job_id.empty();
    job->notes.push_back(absl::StrCat(
        "SLURM: attempt adopted by a restarted safeflowd",
        job->job_id.empty()
            ? std::string(" (job id not recorded: looking it up by name ") + job->job_name + ")"
            : absl::StrCat(" (job ", job->job_id, ")")));
    if (!job->job_id.empty()) job->meta["slurm_job_id"] = job->job_id;
    Log().info("task={} attempt={} adopted (slurm job '{}')", job->attempt.task_id,
               job->attempt.attempt, job->job_id);
    Track(job);
    return absl::OkStatus();
  }

  absl::Status Cancel(const std::string& task_id) override {
    std::scoped_lock lock(mu_);
    auto it = jobs_.find(task_id);
    if (it == jobs_.end()) return absl::OkStatus();
    it->second->canceled = true;
    wake_ = true;
    cv_.notify_all();
    Log().info("task={} cancel requested (slurm job '{}')", task_id, it->second->job_id);
    return absl::OkStatus();
  }

  std::vector<std::string> Running() const override {
    std::scoped_lock lock(mu_);
    std::vector<std::string> ids;
    for (const auto& [id, job] : jobs_) {
      if (!job->canceled) ids.push_back(id);
    }
    return ids;
  }

  void Shutdown() override {
    {
      std::scoped_lock lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      cv_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
    std::scoped_lock lock(mu_);
    if (!jobs_.empty()) {
      Log().info("slurm backend: {} job(s) left running; the next safeflowd adopts them",
                 jobs_.size());
    }
    jobs_.clear();
  }

  BackendHealth Health() const override {
    std::scoped_lock lock(mu_);
    return health_;
  }

 private:
  std::shared_ptr<Job> NewJob(TaskAttempt attempt, TaskEventSink& sink) {
    auto job = std::make_shared<Job>();
    job->attempt = std::move(attempt);
    job->sink = &sink;
    job->dir =
        absl::StrCat(config_.shared_dir, "/", job->attempt.task_id, ".", job->attempt.attempt);
    job->job_name = absl::StrCat("sf-", job->attempt.task_id, "-", job->attempt.attempt);
    job->meta["backend"] = "slurm";
    job->meta["attempt"] = std::to_string(job->attempt.attempt);
    job->meta["slurm_job_name"] = job->job_name;
    return job;
  }

  // Reserves the task id (AlreadyExists when tracked) so that two calls cannot race.
  absl::Status Admit(const std::string& task_id) {
    std::scoped_lock lock(mu_);
    if (stopping_) return absl::UnavailableError("slurm backend is shutting down");
    if (jobs_.contains(task_id) || reserved_.contains(task_id)) {
      return absl::AlreadyExistsError(absl::StrCat("task ", task_id, " is already tracked"));
    }
    reserved_.insert(task_id);
    return absl::OkStatus();
  }
  absl::Status Release(const std::string& task_id, absl::Status s) {
    std::scoped_lock lock(mu_);
    reserved_.erase(task_id);
    return s;
  }
  void Track(const std::shared_ptr<Job>& job) {
    std::scoped_lock lock(mu_);
    reserved_.erase(job->attempt.task_id);
    jobs_[job->attempt.task_id] = job;
    wake_ = true;
    cv_.notify_all();
  }

  std::string Bin(const char* name) const {
    return config_.bin_dir.empty() ? std::string(name) : absl::StrCat(config_.bin_dir, "/", name);
  }

  // Runs a SLURM command through Env (every external command has a timeout there). A timeout
  // is DeadlineExceeded; a non-zero exit is not an error here (exit_code, 128 + signal).
  absl::StatusOr<CommandResult> Command(const std::vector<std::string>& argv) {
    executor::Command c;
    c.argv = argv;
    if (!config_.command_env.empty()) {
      std::vector<std::string> env;
      for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
      env.insert(env.end(), config_.command_env.begin(), config_.command_env.end());
      c.env = std::move(env);
    }
    c.timeout = config_.command_timeout;
    c.output_limit = 8u << 20;  // squeue for every job of this process
    absl::StatusOr<CommandResult> r = env_.Run(c);
    if (!r.ok()) return r.status();
    if (r->timed_out) {
      return absl::DeadlineExceededError(absl::StrCat(argv.front(), " did not finish within ",
                                                      config_.command_timeout.count(), " ms"));
    }
    if (r->term_signal != 0) r->exit_code = 128 + r->term_signal;
    return r;
  }

  void SetHealth(bool ok, std::string detail) {
    std::scoped_lock lock(mu_);
    if (health_.ok != ok) {
      if (ok) {
        Log().info("slurm backend: slurmctld answers again");
      } else {
        Log().warn("slurm backend degraded: {}", detail);
      }
    }
    health_.ok = ok;
    health_.detail = std::move(detail);
  }

  // A command's failure as a status: Unavailable when slurmctld cannot be reached.
  static absl::Status Failure(const std::string& what, const CommandResult& r) {
    const std::string text = r.err.empty() ? r.out : r.err;
    const std::string msg = absl::StrCat(what, " exited with ", r.exit_code, ": ", Bounded(text));
    if (slurm::IsControllerUnreachableMessage(text)) return absl::UnavailableError(msg);
    return absl::FailedPreconditionError(msg);
  }

  struct Resolved {
    slurm::SubmitOptions options;
  };

  absl::StatusOr<slurm::SubmitOptions> Options(const Job& job) const {
    const tes::Task& task = job.attempt.task;
    const tes::Resources res = task.resources.value_or(tes::Resources{});
    slurm::SubmitOptions o;
    o.job_name = job.job_name;
    o.script_path = job.dir + "/job.sh";
    o.work_dir = job.dir;
    o.output_path = job.dir + "/node.log";
    o.cpus_per_task = std::max(1, res.cpu_cores.value_or(1));
    o.mem_mib = slurm::MemMiB(res.ram_gb.value_or(config_.default_ram_gb));
    o.time_minutes = config_.default_time_minutes;
    o.partition = config_.partition;
    o.account = config_.account;
    o.qos = config_.qos;
    for (const auto& [k, v] : res.backend_parameters) {
      if (k == "partition") o.partition = v;
      if (k == "account") o.account = v;
      if (k == "qos") o.qos = v;
      if (k == "time_minutes") {
        int minutes = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), minutes);
        if (ec != std::errc() || p != v.data() + v.size() || minutes < 1 ||
            minutes > config_.max_time_minutes) {
          return absl::InvalidArgumentError(absl::StrCat(
              "backend_parameters.time_minutes: '", v, "' is not 1 to ", config_.max_time_minutes));
        }
        o.time_minutes = minutes;
      }
    }
    return o;
  }

  // Writes job.json and job.sh into a fresh job directory. FailedPrecondition when the
  // attempt already ran on a node (its claim file exists).
  absl::Status PrepareJobDir(Job& job) {
    std::error_code ec;
    fs::create_directories(config_.shared_dir, ec);
    if (ec)
      return absl::InternalError(absl::StrCat("mkdir ", config_.shared_dir, ": ", ec.message()));
    if (fs::exists(job.dir + "/claimed", ec)) {
      return absl::FailedPreconditionError(
          absl::StrCat("attempt ", job.attempt.attempt, " of task ", job.attempt.task_id,
                       " already ran on a node (", job.dir, "/claimed); not submitting it again"));
    }
    fs::remove_all(job.dir, ec);
    if (::mkdir(job.dir.c_str(), 0700) != 0) {
      return absl::InternalError(absl::StrCat("mkdir ", job.dir, ": ", std::strerror(errno)));
    }
    absl::StatusOr<slurm::SubmitOptions> opts = Options(job);
    if (!opts.ok()) return opts.status();

    hpc::NodeJob nj;
    nj.attempt = job.attempt;
    nj.scratch_dir = config_.scratch_dir;
    nj.events_path = job.dir + "/events.jsonl";
    nj.claim_path = job.dir + "/claimed";
    nj.worker_path = config_.worker_path;
    nj.run_as_user = config_.run_as_user;
    nj.images = config_.images;
    // SLURM's --time ends the job first; this is the node's own backstop.
    nj.max_task_seconds = opts->time_minutes * 60 + 300;
    nj.default_disk_gb = config_.default_disk_gb;
    nj.default_ram_gb = config_.default_ram_gb;
    nj.log_tail_bytes = config_.log_tail_bytes;
    nj.keep_task_dirs = config_.keep_task_dirs;
    nj.transfer = config_.transfer;
    nj.extra_env = config_.worker_env;
    if (config_.authority != nullptr) {
      nj.enclave = true;
      nj.platform_key_file = config_.platform_key_file;
      nj.debug_workers = config_.debug_workers;
      nj.seal_outputs = config_.seal_outputs;
      nj.attest_timeout_seconds = config_.attest_timeout_seconds;
      nj.relay.base_url = config_.relay_url ? config_.relay_url() : std::string();
      nj.relay.ca_bundle = config_.relay_ca_bundle;
      nj.relay.timeout_seconds = config_.relay_timeout_seconds;
      absl::StatusOr<std::string> token = config_.authority->IssueRelayToken(
          job.attempt.task_id, job.attempt.attempt, job.attempt.project);
      if (!token.ok()) return token.status();
      nj.relay.relay_token = *token;
      if (config_.seal_outputs && !job.attempt.task.outputs.empty()) {
        absl::StatusOr<attestation::OutputKey> k =
            config_.authority->OutputKeyFor(job.attempt.project);
        if (!k.ok())
          return absl::Status(k.status().code(),
                              absl::StrCat("outputs key: ", k.status().message()));
        nj.relay.output_key_id = k->key_id;
        nj.relay.output_public_key = k->public_key;
        job.meta["outputs_sealed_to"] = k->key_id;
      }
    }
    if (absl::Status s = WriteNewFile(job.dir + "/job.json", hpc::SerializeNodeJob(nj), 0600);
        !s.ok()) {
      return s;
    }
    slurm::JobScript script;
    script.task_id = job.attempt.task_id;
    script.attempt = job.attempt.attempt;
    script.node_program = config_.node_program;
    script.job_file = job.dir + "/job.json";
    script.env = config_.job_env;
    absl::StatusOr<std::string> text = slurm::RenderJobScript(script);
    if (!text.ok()) return text.status();
    return WriteNewFile(job.dir + "/job.sh", *text, 0700);
  }

  // sbatch; records the job id with the task. Unavailable / DeadlineExceeded when slurmctld
  // does not answer; FailedPrecondition when sbatch refuses the job.
  absl::StatusOr<std::string> Submit(Job& job) {
    absl::StatusOr<slurm::SubmitOptions> opts = Options(job);
    if (!opts.ok()) return opts.status();
    absl::StatusOr<std::vector<std::string>> argv = slurm::SbatchArgv(Bin("sbatch"), *opts);
    if (!argv.ok()) return argv.status();
    absl::StatusOr<CommandResult> r = Command(*argv);
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) return Failure("sbatch", *r);
    absl::StatusOr<std::string> id = slurm::ParseJobId(r->out);
    if (!id.ok()) return id.status();
    OnJobId(job, *id);
    job.notes.push_back(
        absl::StrCat("SLURM: submitted as job ", *id, " (",
                     opts->partition.empty() ? "default partition" : "partition " + opts->partition,
                     ", cpus-per-task ", opts->cpus_per_task, ", mem ", opts->mem_mib, "M, time ",
                     opts->time_minutes, " min",
                     opts->account.empty() ? "" : ", account " + opts->account, ")"));
    job.meta["slurm_time_minutes"] = std::to_string(opts->time_minutes);
    job.sink->OnProgress(job.attempt.task_id, Compose(job, job.node_log));
    Log().info("task={} attempt={} submitted as slurm job {}", job.attempt.task_id,
               job.attempt.attempt, *id);
    return *id;
  }

  void OnJobId(Job& job, const std::string& id) {
    job.job_id = id;
    job.needs_submit = false;
    job.meta["slurm_job_id"] = id;
    if (absl::Status s = job.sink->OnSubmitted(job.attempt.task_id, id); !s.ok()) {
      Log().warn("task={} slurm job {} not recorded ({}); a restart finds it by name",
                 job.attempt.task_id, id, s.message());
    }
  }

  // --- the poll thread ----------------------------------------------------------------------
  void Loop() {
    Clock::time_point next_probe{};
    while (true) {
      std::vector<std::shared_ptr<Job>> jobs;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, config_.poll_interval, [this] { return stopping_ || wake_; });
        if (stopping_) return;
        wake_ = false;
        for (const auto& [id, job] : jobs_) jobs.push_back(job);
      }
      if (jobs.empty()) {
        if (Clock::now() >= next_probe) {
          Probe();
          next_probe = Clock::now() + std::chrono::seconds(5);
        }
        continue;
      }
      PollOnce(jobs);
    }
  }

  // Health when nothing is tracked: `scontrol ping`.
  void Probe() {
    absl::StatusOr<CommandResult> r = Command({Bin("scontrol"), "ping"});
    if (!r.ok()) {
      SetHealth(false, absl::StrCat("scontrol ping: ", r.status().message()));
    } else if (r->exit_code != 0 || r->out.find("is UP") == std::string::npos) {
      SetHealth(false, absl::StrCat("slurmctld is not up: ", Bounded(r->out + r->err)));
    } else {
      SetHealth(true, "");
    }
  }

  void Forget(const Job& job) {
    std::scoped_lock lock(mu_);
    auto it = jobs_.find(job.attempt.task_id);
    if (it != jobs_.end() && it->second.get() == &job) jobs_.erase(it);
  }

  void CleanUp(const Job& job) {
    std::error_code ec;
    if (config_.keep_task_dirs) {
      fs::remove(job.dir + "/job.json", ec);  // it holds credentials
      return;
    }
    fs::remove_all(job.dir, ec);
  }

  void Finalize(Job& job, tes::State state, const tes::TaskLog& node_log,
                const std::vector<std::string>& end_notes) {
    tes::TaskLog log = Compose(job, node_log, end_notes);
    if (!log.end_time) log.end_time = Now();
    Log().info("task={} attempt={} slurm job {} ended: {}", job.attempt.task_id,
               job.attempt.attempt, job.job_id, tes::StateName(state));
    job.sink->OnFinished(job.attempt.task_id, state, log);
    Forget(job);
    CleanUp(job);
  }

  std::optional<slurm::JobInfo> FromJobcomp(const std::string& job_id, const std::string& name) {
    if (config_.jobcomp_file.empty()) return std::nullopt;
    std::string content = TailOfFile(config_.jobcomp_file, 64u << 20);
    for (const slurm::JobInfo& j : slurm::ParseJobcomp(content)) {
      if ((!job_id.empty() && j.job_id == job_id) || (job_id.empty() && j.name == name)) return j;
    }
    return std::nullopt;
  }

  void PollOnce(const std::vector<std::shared_ptr<Job>>& jobs) {
    // 1. One squeue for every job with an id.
    std::vector<std::string> ids;
    for (const auto& j : jobs) {
      if (!j->job_id.empty()) ids.push_back(j->job_id);
    }
    bool controller_ok = true;
    std::map<std::string, slurm::JobInfo> states;
    if (!ids.empty()) {
      absl::StatusOr<CommandResult> r = Command(slurm::SqueueArgv(Bin("squeue"), ids));
      if (!r.ok()) {
        controller_ok = false;
        SetHealth(false, absl::StrCat("squeue: ", r.status().message()));
      } else if (r->exit_code != 0) {
        if (slurm::IsInvalidJobIdMessage(r->err + r->out)) {
          SetHealth(true, "");
        } else {
          controller_ok = false;
          SetHealth(false, std::string(Failure("squeue", *r).message()));
        }
      } else {
        absl::StatusOr<std::vector<slurm::JobInfo>> parsed = slurm::ParseSqueue(r->out);
        if (!parsed.ok()) {
          controller_ok = false;
          SetHealth(false, absl::StrCat("squeue output: ", parsed.status().message()));
        } else {
          SetHealth(true, "");
          for (slurm::JobInfo& j : *parsed) states[j.job_id] = std::move(j);
        }
      }
    } else {
      Probe();
      controller_ok = Health().ok;
    }
    // 2. Each job: cancel, submit, events, state.
    for (const auto& j : jobs) {
      if (j->canceled) {
        HandleCancel(*j, controller_ok);
        continue;
      }
      if (j->needs_submit) {
        if (controller_ok) HandleSubmit(*j);
        continue;
      }
      if (ReadEvents(*j)) continue;  // finished
      auto it = states.find(j->job_id);
      HandleState(*j, controller_ok, it == states.end() ? nullptr : &it->second);
    }
  }

  void HandleCancel(Job& job, bool controller_ok) {
    if (!controller_ok) return;
    if (job.job_id.empty()) {
      // Submitted or not? Look for the name before closing.
      absl::StatusOr<CommandResult> r =
          Command(slurm::SqueueByNameArgv(Bin("squeue"), job.job_name));
      if (!r.ok() || r->exit_code != 0) return;
      absl::StatusOr<std::vector<slurm::JobInfo>> found = slurm::ParseSqueue(r->out);
      if (!found.ok()) return;
      if (found->empty()) {
        job.sink->OnJobClosed(job.attempt.task_id);
        Forget(job);
        CleanUp(job);
        return;
      }
      job.job_id = found->front().job_id;
    }
    absl::StatusOr<CommandResult> r = Command(slurm::ScancelArgv(Bin("scancel"), job.job_id));
    if (!r.ok()) {
      Log().warn("task={} scancel {}: {} (will retry)", job.attempt.task_id, job.job_id,
                 r.status().message());
      return;
    }
    if (r->exit_code != 0 && !slurm::IsInvalidJobIdMessage(r->err + r->out)) {
      Log().warn("task={} scancel {}: {} (will retry)", job.attempt.task_id, job.job_id,
                 Failure("scancel", *r).message());
      return;
    }
    Log().info("task={} slurm job {} cancelled", job.attempt.task_id, job.job_id);
    job.sink->OnJobClosed(job.attempt.task_id);
    Forget(job);
    CleanUp(job);
  }

  void HandleSubmit(Job& job) {
    // Did an earlier sbatch (or a dead safeflowd's) reach slurmctld?
    absl::StatusOr<CommandResult> r = Command(slurm::SqueueByNameArgv(Bin("squeue"), job.job_name));
    if (!r.ok() || r->exit_code != 0) return;  // try again next round
    absl::StatusOr<std::vector<slurm::JobInfo>> found = slurm::ParseSqueue(r->out);
    if (!found.ok()) return;
    std::optional<slurm::JobInfo> known;
    if (!found->empty()) known = found->front();
    if (!known) known = FromJobcomp("", job.job_name);
    if (known) {
      job.notes.push_back(absl::StrCat("SLURM: found job ", known->job_id, " by its name ",
                                       job.job_name, "; tracking it"));
      OnJobId(job, known->job_id);
      job.sink->OnProgress(job.attempt.task_id, Compose(job, job.node_log));
      return;
    }
    std::error_code ec;
    if (fs::exists(job.dir + "/claimed", ec)) {
      // It ran on a node, yet SLURM has no record of it: read what it left, else fail.
      if (ReadEvents(job)) return;
      Finalize(
          job, tes::State::kSystemError, job.node_log,
          {absl::StrCat("SLURM has no record of job ", job.job_name, ", which started on a node (",
                        job.dir, "/claimed); not resubmitted")});
      return;
    }
    if (!fs::exists(job.dir + "/job.sh", ec) || !fs::exists(job.dir + "/job.json", ec)) {
      if (absl::Status s = PrepareJobDir(job); !s.ok()) {
        Finalize(job, tes::State::kSystemError, job.node_log,
                 {absl::StrCat("cannot prepare the SLURM job: ", s.message())});
        return;
      }
    }
    absl::StatusOr<std::string> id = Submit(job);
    if (!id.ok()) {
      if (absl::IsUnavailable(id.status()) || absl::IsDeadlineExceeded(id.status())) {
        SetHealth(false, absl::StrCat("sbatch: ", id.status().message()));
        return;
      }
      Finalize(job, tes::State::kSystemError, job.node_log,
               {absl::StrCat("SLURM refused the job: ", id.status().message())});
    }
  }

  // Applies the node's events; true when the attempt finished (and was finalized).
  bool ReadEvents(Job& job) {
    absl::StatusOr<std::vector<hpc::NodeEvent>> events =
        hpc::ReadNodeEvents(job.dir + "/events.jsonl", job.events_offset, job.bad_lines);
    if (!events.ok()) {
      Log().warn("task={} events: {}", job.attempt.task_id, events.status().message());
      return false;
    }
    bool progressed = false;
    for (hpc::NodeEvent& e : *events) {
      if (auto* s = std::get_if<hpc::NodeStarted>(&e)) {
        job.meta["node"] = s->host;
        job.notes.push_back(absl::StrCat("SLURM: safeflow-node started on ", s->host));
        progressed = true;
      } else if (std::holds_alternative<hpc::NodeRunning>(e)) {
        if (!job.running_reported) job.sink->OnRunning(job.attempt.task_id);
        job.running_reported = true;
      } else if (auto* p = std::get_if<hpc::NodeProgress>(&e)) {
        job.node_log = std::move(p->log);
        progressed = true;
      } else if (auto* f = std::get_if<hpc::NodeFinished>(&e)) {
        Finalize(job, f->state, f->log, {});
        return true;
      }
    }
    if (progressed) job.sink->OnProgress(job.attempt.task_id, Compose(job, job.node_log));
    return false;
  }

  void HandleState(Job& job, bool controller_ok, const slurm::JobInfo* info) {
    if (!controller_ok) return;
    std::optional<slurm::JobInfo> ended;
    if (info == nullptr) {
      ended = FromJobcomp(job.job_id, job.job_name);
      if (!ended) {
        if (!job.missing_since) job.missing_since = Clock::now();
        if (Clock::now() - *job.missing_since >= config_.lost_after) {
          if (ReadEvents(job)) return;
          Finalize(job, tes::State::kSystemError, job.node_log,
                   {absl::StrCat("SLURM has no record of job ", job.job_id,
                                 " (not in squeue nor in the job completion log)")});
        }
        return;
      }
      info = &*ended;
    }
    job.missing_since.reset();
    const slurm::StateInfo* st = slurm::LookupState(info->state);
    if (st == nullptr) {
      if (info->state != job.last_state) {
        Log().warn("task={} slurm job {} in unknown state '{}'", job.attempt.task_id, job.job_id,
                   info->state);
      }
      job.last_state = info->state;
      return;
    }
    const bool changed = info->state != job.last_state || info->reason != job.last_reason;
    job.last_state = info->state;
    job.last_reason = info->reason;
    job.meta["slurm_state"] = info->state;
    switch (st->phase) {
      case slurm::Phase::kQueued:
        if (changed) {
          job.notes.push_back(absl::StrCat("SLURM: job ", job.job_id, " ", info->state,
                                           info->reason.empty() || info->reason == "None"
                                               ? std::string()
                                               : " (" + info->reason + ")"));
          job.sink->OnProgress(job.attempt.task_id, Compose(job, job.node_log));
        }
        return;
      case slurm::Phase::kRunning:
        if (job.paused) {
          job.paused = false;
          job.notes.push_back(absl::StrCat("SLURM: job ", job.job_id, " resumed"));
          job.sink->OnRunning(job.attempt.task_id);
          job.sink->OnProgress(job.attempt.task_id, Compose(job, job.node_log));
        }
        return;
      case slurm::Phase::kSuspended:
        if (!job.paused) {
          job.paused = true;
          const std::string why = absl::StrCat("SLURM: job ", job.job_id, " ", info->state, ": ",
                                               std::string(st->meaning));
          job.notes.push_back(why);
          job.sink->OnPaused(job.attempt.task_id, why);
        }
        return;
      case slurm::Phase::kEnded:
        break;
    }
    // The job ended and the node left no result (ReadEvents ran after squeue answered).
    if (ReadEvents(job)) return;
    slurm::JobInfo detail = *info;
    absl::StatusOr<CommandResult> r =
        Command(slurm::ScontrolShowJobArgv(Bin("scontrol"), job.job_id));
    if (r.ok() && r->exit_code == 0) {
      absl::StatusOr<slurm::JobInfo> d = slurm::ParseScontrolShowJob(r->out);
      if (d.ok()) detail = *d;
    }
    std::vector<std::string> notes;
    std::string line = absl::StrCat("SLURM: job ", job.job_id, " ended ", detail.state, ": ",
                                    std::string(st->meaning));
    if (!detail.reason.empty() && detail.reason != "None") {
      absl::StrAppend(&line, " (reason ", detail.reason, ")");
    }
    if (detail.exit_code) absl::StrAppend(&line, "; exit code ", *detail.exit_code);
    if (detail.signal) absl::StrAppend(&line, ", signal ", *detail.signal);
    if (!detail.time_limit.empty()) absl::StrAppend(&line, "; time limit ", detail.time_limit);
    notes.push_back(line);
    tes::State state = st->tes;
    if (st->name == "COMPLETED") {
      state = tes::State::kSystemError;
      notes.push_back("safeflow-node ended without reporting a result");
    }
    if (st->name == "CANCELLED") notes.push_back("the job was cancelled outside SafeFlow");
    const std::string tail = TailOfFile(job.dir + "/node.log", 1500);
    if (!tail.empty()) notes.push_back(absl::StrCat("node log (tail): ", tail));
    job.meta["slurm_state"] = detail.state;
    Finalize(job, state, job.node_log, notes);
  }

  const SlurmBackendConfig config_;
  Env& env_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // guarded by mu_
  std::set<std::string> reserved_;                    // guarded by mu_
  BackendHealth health_;                              // guarded by mu_
  bool stopping_ = false;                             // guarded by mu_
  bool wake_ = false;                                 // guarded by mu_
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Backend>> NewSlurmBackend(SlurmBackendConfig config) {
  std::vector<std::string> problems;
  for (const auto& [name, path] :
       {std::pair{"shared_dir", config.shared_dir}, std::pair{"scratch_dir", config.scratch_dir},
        std::pair{"node_program", config.node_program},
        std::pair{"worker_path", config.worker_path}}) {
    if (path.empty() || path[0] != '/') {
      problems.push_back(absl::StrCat(name, " must be an absolute path"));
    }
  }
  if (config.default_time_minutes < 1 || config.default_time_minutes > config.max_time_minutes) {
    problems.push_back("default_time_minutes must be 1 to max_time_minutes");
  }
  if (config.authority != nullptr && !config.relay_url) {
    problems.push_back("relay_url is required in enclave mode");
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("slurm backend: ", absl::StrJoin(problems, "; ")));
  }
  std::error_code ec;
  fs::create_directories(config.shared_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("mkdir ", config.shared_dir, ": ", ec.message()));
  }
  ::chmod(config.shared_dir.c_str(), 0700);
  return std::unique_ptr<Backend>(std::make_unique<SlurmBackend>(std::move(config)));
}

}  // namespace safeflow::executor
