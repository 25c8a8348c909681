// service/store/task_store.h. TES tasks in PostgreSQL: create, read in a view, list by keyset
// pages, cancel; and the scheduler's side: claim queued work (FOR UPDATE SKIP LOCKED) under a
// lease, report progress, finish, requeue, reclaim orphans. Every state change of a running
// attempt is guarded by "claimed by me and not yet ended", so a canceled or reclaimed task is
// never overwritten by a late worker. Thread-safe.
#ifndef SAFEFLOW_SERVICE_STORE_TASK_STORE_H_
#define SAFEFLOW_SERVICE_STORE_TASK_STORE_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "executor/backend.h"
#include "schemas/tes/task.h"
#include "service/store/audit_store.h"
#include "service/store/store.h"

namespace safeflow::service::store {

// Which projects a read or write may touch. Never "empty means all": `all` must be explicit.
struct ProjectScope {
  bool all = false;
  std::vector<std::string> projects;
  static ProjectScope All() { return {true, {}}; }
  static ProjectScope Only(std::vector<std::string> p) { return {false, std::move(p)}; }
};

struct NewTask {
  schemas::tes::Task task;  // validated; id/state/logs/creation_time are ignored
  std::string project;
  std::string owner;
  std::string backend;
  // Outputs that leave through the airlock (tasks.airlock_outputs); null: none.
  nlohmann::json airlock_outputs;
};

struct StoredTask {
  schemas::tes::Task task;  // with id, state, creation_time and logs
  std::string project;
  std::string owner;
  std::string backend;
  int attempts = 0;
};

struct ListFilter {
  ProjectScope scope;  // visible projects
  std::optional<std::string> name_prefix;
  std::optional<schemas::tes::State> state;
  // (key, value) pairs; an empty value means "the key is present".
  std::vector<std::pair<std::string, std::string>> tags;
  int page_size = 256;
  std::string page_token;  // from a previous page, or empty
  schemas::tes::View view = schemas::tes::View::kMinimal;
};

struct TaskPage {
  std::vector<schemas::tes::Task> tasks;  // newest first
  std::string next_page_token;            // empty on the last page
};

class TaskStore {
 public:
  explicit TaskStore(Store& store) : store_(store) {}

  // Inserts the task as QUEUED and `audit` (its object id filled in) in one transaction.
  [[nodiscard]] absl::StatusOr<std::string> Create(const NewTask& task, AuditEntry audit);
  // NotFound when the task does not exist or is outside `scope`.
  [[nodiscard]] absl::StatusOr<StoredTask> Get(const std::string& id, const ProjectScope& scope);
  // InvalidArgument for a page token that is malformed or was made with other filters.
  [[nodiscard]] absl::StatusOr<TaskPage> List(const ListFilter& filter);
  // Queued or running tasks become CANCELED at once (the owner kills the work when notified);
  // ended tasks are left as they are. Returns the state after the call.
  // `audit` is written in the same transaction when the task exists in scope.
  [[nodiscard]] absl::StatusOr<schemas::tes::State> Cancel(const std::string& id,
                                                           const ProjectScope& scope,
                                                           AuditEntry audit);

  // --- scheduler side ---
  // Claims QUEUED tasks for `instance` (oldest first), up to limits[backend] for each backend
  // named in `limits` (tasks of other backends stay queued), marks them INITIALIZING, opens a
  // new attempt log, and returns them.
  [[nodiscard]] absl::StatusOr<std::vector<executor::TaskAttempt>> Claim(
      const std::string& instance, const std::map<std::string, int>& limits, int lease_seconds);
  // Records the batch job of a claimed attempt (durable backends) and marks it open.
  [[nodiscard]] absl::Status RecordJob(const std::string& id, const std::string& instance,
                                       const std::string& job_id);
  // The job of a canceled attempt is gone: no longer open.
  [[nodiscard]] absl::Status CloseJob(const std::string& id);
  // RUNNING or INITIALIZING -> PAUSED, noting `reason` in the attempt's system_logs.
  [[nodiscard]] absl::Status MarkPaused(const std::string& id, const std::string& instance,
                                        const std::string& reason);

  // An attempt of a durable backend that this instance now owns (see AdoptOrphans).
  struct Adoption {
    executor::TaskAttempt attempt;  // with backend_job_id
    bool canceled = false;          // the task was canceled; its job may still run
  };
  // Takes over the attempts of `durable_backends` whose owner is gone: live ones whose lease
  // expired or whose owner is in `dead_instances`, stopped or unknown, and canceled ones whose
  // job is still open and whose owner is gone. Claims them for `instance` (lease renewed).
  [[nodiscard]] absl::StatusOr<std::vector<Adoption>> AdoptOrphans(
      const std::string& instance, const std::vector<std::string>& durable_backends,
      const std::vector<std::string>& dead_instances, int lease_seconds);
  [[nodiscard]] absl::Status RenewLeases(const std::string& instance, int lease_seconds);
  [[nodiscard]] absl::Status MarkRunning(const std::string& id, const std::string& instance);
  [[nodiscard]] absl::Status UpdateLog(const std::string& id, const std::string& instance,
                                       const schemas::tes::TaskLog& log);
  // Ends the attempt (COMPLETE / EXECUTOR_ERROR / SYSTEM_ERROR). A task no longer claimed by
  // `instance` (canceled, reclaimed) is left alone: FailedPrecondition.
  [[nodiscard]] absl::Status Finish(const std::string& id, const std::string& instance,
                                    schemas::tes::State state, const schemas::tes::TaskLog& log);
  // Gives a claimed task back to the queue (graceful shutdown), noting `reason` in its log.
  [[nodiscard]] absl::Status Requeue(const std::string& id, const std::string& instance,
                                     const std::string& reason);
  // Tasks whose lease expired, or that are claimed by one of `dead_instances`: requeued (while
  // attempts < max_attempts and policy is "requeue") or failed with SYSTEM_ERROR. Returns how
  // many were handled.
  // Tasks of `durable_backends` are left alone (AdoptOrphans takes them).
  [[nodiscard]] absl::StatusOr<int> ReclaimOrphans(
      const std::vector<std::string>& dead_instances, const std::string& policy, int max_attempts,
      const std::vector<std::string>& durable_backends);
  // Which of `ids` have been canceled (so their work must be killed).
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> CanceledAmong(
      const std::vector<std::string>& ids);
  // Number of tasks per state (for service-info and metrics).
  [[nodiscard]] absl::StatusOr<std::map<std::string, long long>> CountByState();

 private:
  Store& store_;
};

// A new opaque task id (22 characters of URL-safe base64 over 128 random bits).
std::string NewTaskId();

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_TASK_STORE_H_
