// service/scheduler/scheduler.h. Claims QUEUED tasks from PostgreSQL (FOR UPDATE SKIP LOCKED,
// with a lease), woken by LISTEN/NOTIFY and a poll interval, up to a concurrency limit; hands
// each attempt to its backend; writes the attempt's progress and result back; renews leases;
// reclaims orphans of dead instances; kills the work of canceled tasks. Two safeflowd
// processes on one database never run a task twice: a claim is a row lock plus a lease, and
// every write of a result is guarded by "claimed by me and still running".
// Durable backends (SLURM): their attempts outlive safeflowd. Stop leaves them running; at start
// (and whenever an owner's lease expires) their attempts are adopted by job id instead of being
// requeued, and canceled ones whose job may still run are cancelled again.
// Thread-safe; one loop thread.
#ifndef SAFEFLOW_SERVICE_SCHEDULER_SCHEDULER_H_
#define SAFEFLOW_SERVICE_SCHEDULER_SCHEDULER_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "executor/backend.h"
#include "service/config/config.h"
#include "service/store/task_store.h"

namespace safeflow::service {

// A backend and how many attempts this process runs on it at once.
struct BackendSlot {
  executor::Backend* backend = nullptr;
  int capacity = 1;
};

class Scheduler final : public executor::TaskEventSink {
 public:
  // `backends` by name ("local", "slurm"); `dead_instances` are earlier instances of this data
  // directory, whose claimed tasks are reclaimed (or adopted) at once instead of after their
  // lease.
  Scheduler(store::TaskStore& tasks, std::map<std::string, BackendSlot> backends,
            const SchedulerConfig& config, std::string instance_id, std::string listen_dsn,
            std::vector<std::string> dead_instances);
  ~Scheduler() override;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void Start();
  // Stops claiming, kills the running attempts and gives them back to the queue. Idempotent.
  void Stop();

  int running() const;  // attempts running in our backends
  // Each backend's health, by name.
  std::map<std::string, executor::BackendHealth> Health() const;

  // executor::TaskEventSink
  void OnRunning(const std::string& task_id) override;
  void OnProgress(const std::string& task_id, const schemas::tes::TaskLog& log) override;
  void OnFinished(const std::string& task_id, schemas::tes::State state,
                  const schemas::tes::TaskLog& log) override;
  absl::Status OnSubmitted(const std::string& task_id, const std::string& job_id) override;
  void OnPaused(const std::string& task_id, const std::string& reason) override;
  void OnJobClosed(const std::string& task_id) override;

 private:
  struct Result {
    std::string task_id;
    schemas::tes::State state;
    schemas::tes::TaskLog log;
  };
  void Loop();
  void Maintain();
  void ClaimAndStart();
  void FlushResults();
  void CancelLocal(const std::string& task_id);
  void Adopt();
  std::vector<std::string> DurableBackends() const;

  store::TaskStore& tasks_;
  const std::map<std::string, BackendSlot> backends_;
  const SchedulerConfig config_;
  const std::string instance_id_;
  const std::string listen_dsn_;
  std::vector<std::string> dead_instances_;  // loop thread only; cleared once reclaimed

  mutable std::mutex mu_;
  std::deque<Result> results_;                  // guarded by mu_: finished attempts not yet written
  std::vector<std::string> dead_for_adoption_;  // loop thread only; cleared once adopted
  std::atomic<bool> stopping_{false};
  std::atomic<bool> wake_{true};
  std::thread thread_;
};

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_SCHEDULER_SCHEDULER_H_
