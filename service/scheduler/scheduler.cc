#include "service/scheduler/scheduler.h"

#include <chrono>

#include "absl/strings/match.h"

#include "service/log.h"
#include "service/store/notifier.h"

namespace safeflow::service {
namespace tes = schemas::tes;
using Clock = std::chrono::steady_clock;

Scheduler::Scheduler(store::TaskStore& tasks, std::map<std::string, executor::Backend*> backends,
                     const SchedulerConfig& config, std::string instance_id, std::string listen_dsn,
                     std::vector<std::string> dead_instances)
    : tasks_(tasks),
      backends_(std::move(backends)),
      config_(config),
      instance_id_(std::move(instance_id)),
      listen_dsn_(std::move(listen_dsn)),
      dead_instances_(std::move(dead_instances)) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start() {
  thread_ = std::thread([this] { Loop(); });
}

int Scheduler::running() const {
  int n = 0;
  for (const auto& [name, b] : backends_) n += static_cast<int>(b->Running().size());
  return n;
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
  absl::StatusOr<int> reclaimed =
      tasks_.ReclaimOrphans(dead_instances_, config_.orphan_policy, config_.max_attempts);
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
    for (std::string& id : b->Running()) mine.push_back(std::move(id));
  }
  absl::StatusOr<std::vector<std::string>> canceled = tasks_.CanceledAmong(mine);
  if (canceled.ok()) {
    for (const std::string& id : *canceled) CancelLocal(id);
  }
}

void Scheduler::ClaimAndStart() {
  int pending = 0;
  {
    std::scoped_lock lock(mu_);
    pending = static_cast<int>(results_.size());
  }
  const int free = config_.max_concurrent_tasks - running() - pending;
  if (free <= 0) return;
  absl::StatusOr<std::vector<executor::TaskAttempt>> claimed =
      tasks_.Claim(instance_id_, free, config_.lease_seconds);
  if (!claimed.ok()) {
    Log().warn("scheduler: claiming tasks: {}", claimed.status().message());
    return;
  }
  for (executor::TaskAttempt& a : *claimed) {
    const std::string id = a.task_id;
    auto it = backends_.find(a.backend);
    absl::Status started =
        it == backends_.end()
            ? absl::FailedPreconditionError("backend '" + a.backend + "' is not available here")
            : it->second->Start(std::move(a), *this);
    if (!started.ok()) {
      Log().error("task={} could not start: {}", id, started.message());
      tes::TaskLog log;
      log.system_logs.push_back("could not start: " + std::string(started.message()));
      OnFinished(id, tes::State::kSystemError, log);
    } else {
      Log().info("task={} claimed (attempt {})", id, a.attempt);
    }
  }
  if (static_cast<int>(claimed->size()) == free) wake_ = true;  // there may be more
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
    if (absl::Status s = b->Cancel(task_id); !s.ok()) {
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
  std::vector<std::string> interrupted;
  for (const auto& [name, b] : backends_) {
    for (std::string& id : b->Running()) interrupted.push_back(std::move(id));
    b->Shutdown();
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
