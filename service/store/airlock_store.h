// service/store/airlock_store.h. Release requests of the airlock in PostgreSQL (migration
// 0007): one per WES run whose engine ended COMPLETE, and one per TES task with outputs
// addressed outside the zone. Every state change and its audit record are one transaction;
// the row lock of the file serialises its reviews, so that "two independent checkers" is
// exact. Thread-safe.
#ifndef SAFEFLOW_SERVICE_STORE_AIRLOCK_STORE_H_
#define SAFEFLOW_SERVICE_STORE_AIRLOCK_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "service/store/audit_store.h"
#include "service/store/task_store.h"

namespace safeflow::service::store {

class Store;

struct AirlockReview {
  std::string checker, decision, comment, created_at;  // decision: approve | reject
};

struct AirlockFile {
  std::string name, path;
  std::string location;            // file:// URL in the zone
  std::string evidence_location;   // "" none
  nlohmann::json declaration;      // null: undeclared
  std::string sha256;              // "" until checked
  long long size_bytes = -1;       // -1 until checked
  std::string verdict;             // pass | review | fail; "" until checked
  nlohmann::json report;           // null until checked
  std::string status = "pending";  // pending | released | held | escalated | blocked
  std::string basis;               // auto | checkers | override; "" while undecided
  std::string decided_by, decision_reason, decided_at;
  std::vector<AirlockReview> reviews;  // oldest first
};

struct AirlockRequest {
  std::string id, kind;  // kind: run | task
  std::string run_id;    // "" for a task
  std::string task_id, project, requester, profile;
  bool auto_release = false;
  int required_reviews = 2;
  std::string state;  // checking | decided
  std::string created_at, checked_at;
  std::vector<AirlockFile> files;  // by name
};

// A WES run whose engine ended COMPLETE and that has no request yet.
struct RunAwaitingAirlock {
  std::string run_id, task_id, project, owner;
  nlohmann::json outputs;   // the run's outputs: name -> URL
  nlohmann::json manifest;  // the approved workflow's manifest
};

// A TES task that ended COMPLETE with outputs to the airlock and that has no request yet.
struct TaskAwaitingAirlock {
  std::string task_id, project, owner;
  nlohmann::json airlock_outputs;  // the task's airlock outputs (see tes_api.h)
};

// The result of checking one file.
struct CheckedFile {
  std::string name, sha256;
  long long size_bytes = 0;
  std::string verdict;  // pass | review | fail
  nlohmann::json report;
  std::string status;  // released | held | blocked
  std::string basis;   // "auto" for an automatic release, else ""
};

// A released table of a project (for differencing).
struct ReleasedFile {
  std::string request_id, name, path, location, sha256;
  nlohmann::json declaration;
};

struct AirlockFilter {
  ProjectScope scope;
  std::optional<std::string> state;        // checking | decided
  std::optional<std::string> file_status;  // requests with at least one file in this status
  std::optional<std::string> run_id;
  int page_size = 50;
};

struct AirlockPage {
  std::vector<AirlockRequest> requests;  // newest first, with files (no reports)
  std::string next_page_token;
};

class AirlockStore {
 public:
  explicit AirlockStore(Store& store) : store_(store) {}

  [[nodiscard]] absl::StatusOr<std::vector<RunAwaitingAirlock>> RunsAwaiting(int limit);
  [[nodiscard]] absl::StatusOr<std::vector<TaskAwaitingAirlock>> TasksAwaiting(int limit);

  // Inserts a request in state 'checking' with its files 'pending' (ids: new). AlreadyExists
  // when the task already has one (another instance was first).
  [[nodiscard]] absl::StatusOr<std::string> Create(const AirlockRequest& request, AuditEntry audit);
  // Requests still 'checking' (oldest first), with their files.
  [[nodiscard]] absl::StatusOr<std::vector<AirlockRequest>> Checking(int limit);
  // Records the verdicts and marks the request 'decided' (one transaction, one audit record
  // per file). FailedPrecondition when it is not 'checking' any more.
  [[nodiscard]] absl::Status RecordChecks(const std::string& request_id,
                                          const std::vector<CheckedFile>& files,
                                          const std::vector<AuditEntry>& audits);

  // NotFound when missing or outside `scope`.
  [[nodiscard]] absl::StatusOr<AirlockRequest> Get(const std::string& id,
                                                   const ProjectScope& scope);
  // The request of a task (run engine or TES task), if any.
  [[nodiscard]] absl::StatusOr<std::optional<AirlockRequest>> ForTask(const std::string& task_id);
  [[nodiscard]] absl::StatusOr<AirlockPage> List(const AirlockFilter& filter,
                                                 const std::string& page_token);

  // A checker's decision on a held file. PermissionDenied when the checker is the requester;
  // AlreadyExists when this checker already decided; FailedPrecondition when the file is not
  // held. When the required number of checkers have decided: all approve -> released, all
  // reject -> blocked, otherwise escalated. Returns the file after the change.
  [[nodiscard]] absl::StatusOr<AirlockFile> Review(const std::string& id, const std::string& name,
                                                   const ProjectScope& scope,
                                                   const std::string& checker,
                                                   const std::string& decision,
                                                   const std::string& comment, AuditEntry audit);
  // An admin's decision ("release" | "block") with a justification, on a held, escalated or
  // blocked file. PermissionDenied when the admin is the requester; FailedPrecondition when
  // the file is released or still pending.
  [[nodiscard]] absl::StatusOr<AirlockFile> Override(const std::string& id, const std::string& name,
                                                     const ProjectScope& scope,
                                                     const std::string& admin,
                                                     const std::string& decision,
                                                     const std::string& justification,
                                                     AuditEntry audit);

  // Released files of `project` (for differencing), newest first, at most `limit`.
  [[nodiscard]] absl::StatusOr<std::vector<ReleasedFile>> Released(const std::string& project,
                                                                   int limit);

 private:
  Store& store_;
};

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_AIRLOCK_STORE_H_
