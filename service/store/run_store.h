// service/store/run_store.h. GA4GH WES runs in PostgreSQL (migration 0006). A run is a row of
// wes_runs plus its engine task, a TES task in `tasks` that the scheduler runs like any other:
// the run's state, times, logs and durability are its task's. Creating a run inserts both in
// one transaction with its audit record. Thread-safe.
#ifndef SAFEFLOW_SERVICE_STORE_RUN_STORE_H_
#define SAFEFLOW_SERVICE_STORE_RUN_STORE_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "schemas/tes/task.h"
#include "service/store/audit_store.h"
#include "service/store/task_store.h"

namespace safeflow::service::store {

class Store;

struct NewRun {
  std::string id;  // empty: a new one
  NewTask task;    // the engine task (its project and owner are the run's)
  std::string workflow_digest, workflow_name, workflow_version;
  nlohmann::json request;  // the RunRequest as the client sent it (JSON fields decoded)
  nlohmann::json outputs;  // declared outputs: name -> URL they are written to
};

struct StoredRun {
  std::string id, project, owner;
  std::string workflow_digest, workflow_name, workflow_version;
  std::string created_at;  // RFC 3339 UTC
  nlohmann::json request, outputs;
  StoredTask task;  // the engine task, with state and logs
  // The run's release request: null when there is none yet, else {"id", "state" (checking |
  // decided), "files": [{"name", "path", "type", "status", "verdict"?, "sha256"?,
  // "size_bytes"?}]}.
  nlohmann::json airlock;
};

struct RunSummaryRow {
  std::string id;
  schemas::tes::State state = schemas::tes::State::kUnknown;
  std::optional<std::string> start_time, end_time;
  std::map<std::string, std::string> tags;
};

struct RunPage {
  std::vector<RunSummaryRow> runs;  // newest first
  std::string next_page_token;      // empty on the last page
};

class RunStore {
 public:
  RunStore(Store& store, TaskStore& tasks) : store_(store), tasks_(tasks) {}

  // Inserts the engine task (QUEUED) and the run; returns the run id.
  [[nodiscard]] absl::StatusOr<std::string> Create(const NewRun& run, AuditEntry audit);
  // NotFound when the run does not exist or is outside `scope`.
  [[nodiscard]] absl::StatusOr<StoredRun> Get(const std::string& id, const ProjectScope& scope);
  // InvalidArgument for a malformed page token or one made with another scope.
  [[nodiscard]] absl::StatusOr<RunPage> List(const ProjectScope& scope, int page_size,
                                             const std::string& page_token);
  // Cancels the engine task (see TaskStore::Cancel); returns the state after the call.
  [[nodiscard]] absl::StatusOr<schemas::tes::State> Cancel(const std::string& id,
                                                           const ProjectScope& scope,
                                                           AuditEntry audit);
  // Runs per state (service-info system_state_counts).
  [[nodiscard]] absl::StatusOr<std::map<std::string, long long>> CountByState();

 private:
  Store& store_;
  TaskStore& tasks_;
};

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_RUN_STORE_H_
