#include "service/scheduler/scheduler.h"

#include <chrono>

#include "absl/strings/match.h"

#include "service/log.h"
#include "service/store/notifier.h"

namespace safeflow::service {
namespace tes = schemas::tes;
using Clock = std::chrono::steady_clock;

Scheduler::Scheduler(store::TaskStore& tasks, std::map<std::string, BackendSlot> backends,
                     const SchedulerConfig& config, std::string instance_id, std::string listen_dsn,
                     std::vector<std::string> dead_instances)
    : tasks_(tasks),
      backends_(std::move(backends)),
      config_(config),
      instance_id_(std::move(instance_id)),
      listen_dsn_(std::move(listen_dsn)),
      dead_instances_(dead_instances),
      dead_for_adoption_(std::move(dead_instances)) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  thread_ = std::thread([this] { Loop(); });
}

int Scheduler::running() const {
  int n = 0;
  for (const auto& [name, b] : backends_) n += static_cast<int>(b.backend->Running().size());
  return n;
}

std::map<std::string, executor::BackendHealth> Scheduler::Health() const {
  std::map<std::string, executor::BackendHealth> out;
  for (const auto& [name, b] : backends_) out[name] = b.backend->Health();
  return out;
}

std::vector<std::string> Scheduler::DurableBackends() const {
  std::vector<std::string> out;
  for (const auto& [name, b] : backends_) {
    if (b.backend->Durable()) out.push_back(name);
  }
  return out;
}

void Scheduler::Loop() {
  store::Notifier notifier(listen_dsn_, "safeflow_tasks");
  const auto maintenance_every = std::chrono::milliseconds(config_.lease_seconds * 1000 / 3);
  Clock::time_point next_maintenance{};
  Clock::time_point next_poll{};
  while (!stopping_.load()) {
    const Clock::time_point now = Clock::now();
    if (now >= next_maintenance) {
      Maintain();
      next_maintenance = now + maintenance_every;
    }
    FlushResults();
    if (wake_.exchange(false) || now >= next_poll) {
      ClaimAndStart();
      next_poll = Clock::now() + std::chrono::milliseconds(config_.poll_interval_ms);
    }
    absl::StatusOr<std::vector<std::string>> notes =
        notifier.Wait(std::chrono::milliseconds(std::min(config_.poll_interval_ms, 250)));
    if (!notes.ok()) {
      Log().warn("scheduler: waiting for notifications: {}", notes.status().message());
      std::this_thread::sleep_for(std::chrono::milliseconds(config_.poll_interval_ms));
      continue;
    }
    for (const std::string& n : *notes) {
      if (absl::StartsWith(n, "queued:")) {
        wake_ = true;
      } else if (absl::StartsWith(n, "cancel:")) {
        CancelLocal(n.substr(7));
      }
    }
  }
}

void Scheduler::Maintain() {
  if (absl::Status s = tasks_.RenewLeases(instance_id_, config_.lease_seconds); !s.ok()) {
    Log().warn("scheduler: renewing leases: {}", s.message());
  }
  Adopt();
  absl::StatusOr<int> reclaimed = tasks_.ReclaimOrphans(dead_instances_, config_.orphan_policy,
                                                        config_.max_attempts, DurableBackends());
  if (!reclaimed.ok()) {
    Log().warn("scheduler: reclaiming orphans: {}", reclaimed.status().message());
  } else {
    if (*reclaimed > 0) {
      Log().warn("scheduler: reclaimed {} orphaned task(s) (policy {})", *reclaimed,
                 config_.orphan_policy);
      wake_ = true;
    }
    dead_instances_.clear();
  }
  // Cancellations whose notification we missed (e.g. while the database was unreachable).
  std::vector<std::string> mine;
  for (const auto& [name, b] : backends_) {
    for (std::string& id : b.backend->Running()) mine.push_back(std::move(id));
  }
  absl::StatusOr<std::vector<std::string>> canceled = tasks_.CanceledAmong(mine);
  if (canceled.ok()) {
    for (const std::string& id : *canceled) CancelLocal(id);
  }
}

void Scheduler::Adopt() {
  const std::vector<std::string> durable = DurableBackends();
  if (durable.empty()) return;
  absl::StatusOr<std::vector<store::TaskStore::Adoption>> found =
      tasks_.AdoptOrphans(instance_id_, durable, dead_for_adoption_, config_.lease_seconds);
  if (!found.ok()) {
    Log().warn("scheduler: adopting jobs: {}", found.status().message());
    return;
  }
  dead_for_adoption_.clear();
  for (store::TaskStore::Adoption& a : *found) {
    const std::string id = a.attempt.task_id;
    const std::string job = a.attempt.backend_job_id;
    auto it = backends_.find(a.attempt.backend);
    if (it == backends_.end()) continue;  // DurableBackends() only names ours
    absl::Status s = it->second.backend->Adopt(std::move(a.attempt), *this);
    if (absl::IsAlreadyExists(s)) continue;  // we track it already
    if (!s.ok()) {
      Log().error("task={} adopting job '{}': {}", id, job, s.message());
      continue;
    }
    Log().warn("task={} adopted (job '{}'{})", id, job, a.canceled ? ", canceled: cancelling" : "");
    if (a.canceled) {
      if (absl::Status c = it->second.backend->Cancel(id); !c.ok()) {
        Log().warn("task={} cancel after adoption: {}", id, c.message());
      }
    }
  }
}

void Scheduler::ClaimAndStart() {
  int pending = 0;
  {
    std::scoped_lock lock(mu_);
    pending = static_cast<int>(results_.size());
  }
  std::map<std::string, int> limits;
  int wanted = 0;
  for (const auto& [name, b] : backends_) {
    // A durable backend that cannot reach its scheduler (slurmctld down) takes nothing new:
    // its tasks stay QUEUED until it answers.
    if (b.backend->Durable() && !b.backend->Health().ok) continue;
    int free = b.capacity - static_cast<int>(b.backend->Running().size());
    if (!b.backend->Durable()) free -= pending;  // finished here, not yet written
    if (free > 0) limits[name] = free;
    wanted += std::max(free, 0);
  }
  if (limits.empty()) return;
  absl::StatusOr<std::vector<executor::TaskAttempt>> claimed =
      tasks_.Claim(instance_id_, limits, config_.lease_seconds);
  if (!claimed.ok()) {
    Log().warn("scheduler: claiming tasks: {}", claimed.status().message());
    return;
  }
  for (executor::TaskAttempt& a : *claimed) {
    const std::string id = a.task_id;
    const int attempt = a.attempt;
    auto it = backends_.find(a.backend);
    absl::Status started =
        it == backends_.end()
            ? absl::FailedPreconditionError("backend '" + a.backend + "' is not available here")
            : it->second.backend->Start(std::move(a), *this);
    if (absl::IsUnavailable(started)) {
      Log().warn("task={} not started ({}); back to the queue", id, started.message());
      if (absl::Status s = tasks_.Requeue(id, instance_id_, std::string(started.message()));
          !s.ok()) {
        Log().warn("task={} requeue: {} (its lease will expire)", id, s.message());
      }
    } else if (!started.ok()) {
      Log().error("task={} could not start: {}", id, started.message());
      tes::TaskLog log;
      log.system_logs.push_back("could not start: " + std::string(started.message()));
      OnFinished(id, tes::State::kSystemError, log);
    } else {
      Log().info("task={} claimed (attempt {})", id, attempt);
    }
  }
  if (static_cast<int>(claimed->size()) == wanted) wake_ = true;  // there may be more
}

void Scheduler::FlushResults() {
  while (true) {
    Result r;
    {
      std::scoped_lock lock(mu_);
      if (results_.empty()) return;
      r = results_.front();
    }
    absl::Status s = tasks_.Finish(r.task_id, instance_id_, r.state, r.log);
    if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) {
      Log().warn("task={} result not yet written ({}); will retry", r.task_id, s.message());
      return;  // keep it queued; the database is down
    }
    if (absl::IsFailedPrecondition(s)) {
      Log().info("task={} ended {} but was canceled or reclaimed meanwhile; result dropped",
                 r.task_id, tes::StateName(r.state));
    } else if (!s.ok()) {
      Log().error("task={} writing result: {}", r.task_id, s.message());
    } else {
      Log().info("task={} {}", r.task_id, tes::StateName(r.state));
    }
    std::scoped_lock lock(mu_);
    results_.pop_front();
    wake_ = true;
  }
}

void Scheduler::CancelLocal(const std::string& task_id) {
  for (const auto& [name, b] : backends_) {
    if (absl::Status s = b.backend->Cancel(task_id); !s.ok()) {
      Log().warn("task={} cancel on backend {}: {}", task_id, name, s.message());
    }
  }
}

void Scheduler::OnRunning(const std::string& task_id) {
  if (absl::Status s = tasks_.MarkRunning(task_id, instance_id_); !s.ok()) {
    Log().warn("task={} marking RUNNING: {}", task_id, s.message());
  }
}

void Scheduler::OnProgress(const std::string& task_id, const tes::TaskLog& log) {
  if (absl::Status s = tasks_.UpdateLog(task_id, instance_id_, log); !s.ok()) {
    Log().warn("task={} writing progress: {}", task_id, s.message());
  }
}

absl::Status Scheduler::OnSubmitted(const std::string& task_id, const std::string& job_id) {
  absl::Status s = tasks_.RecordJob(task_id, instance_id_, job_id);
  if (!s.ok()) Log().warn("task={} recording job {}: {}", task_id, job_id, s.message());
  return s;
}

void Scheduler::OnPaused(const std::string& task_id, const std::string& reason) {
  if (absl::Status s = tasks_.MarkPaused(task_id, instance_id_, reason); !s.ok()) {
    Log().warn("task={} marking PAUSED: {}", task_id, s.message());
  }
}

void Scheduler::OnJobClosed(const std::string& task_id) {
  if (absl::Status s = tasks_.CloseJob(task_id); !s.ok()) {
    Log().warn("task={} closing its job: {} (a restart cancels it again)", task_id, s.message());
  }
}

void Scheduler::OnFinished(const std::string& task_id, tes::State state, const tes::TaskLog& log) {
  {
    std::scoped_lock lock(mu_);
    results_.push_back(Result{task_id, state, log});
  }
  wake_ = true;
}

void Scheduler::Stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  // Attempts of durable backends keep running: the next safeflowd adopts them.
  std::vector<std::string> interrupted;
  for (const auto& [name, b] : backends_) {
    if (!b.backend->Durable()) {
      for (std::string& id : b.backend->Running()) interrupted.push_back(std::move(id));
    }
    b.backend->Shutdown();
  }
  FlushResults();
  for (const std::string& id : interrupted) {
    bool finished = false;
    {
      std::scoped_lock lock(mu_);
      for (const Result& r : results_) finished |= r.task_id == id;
    }
    if (finished) continue;
    if (absl::Status s = tasks_.Requeue(id, instance_id_, "safeflowd stopped; attempt requeued");
        !s.ok()) {
      Log().warn("task={} requeue at shutdown: {} (its lease will expire)", id, s.message());
    } else {
      Log().info("task={} requeued at shutdown", id);
    }
  }
}

}  // namespace safeflow::service
