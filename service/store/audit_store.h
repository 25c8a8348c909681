// service/store/audit_store.h. The tamper-evident audit log: who (actor, how authenticated,
// role), where (project), what (action, object), the outcome, when, and the request id. Each
// record's hash is SHA-256(previous hash || canonical record); appends take an advisory lock so
// the chain never forks; records are written in the same transaction as the change they record
// (see TaskStore). Thread-safe.
#ifndef SAFEFLOW_SERVICE_STORE_AUDIT_STORE_H_
#define SAFEFLOW_SERVICE_STORE_AUDIT_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace safeflow::service::store {

class Store;

struct AuditEntry {
  std::string request_id;
  std::string actor;        // principal subject
  std::string auth_method;  // oidc, mtls, access-key, none
  std::string role;         // the roles the actor acted with
  std::string project;
  std::string action;       // e.g. "task.create", "access_key.revoke"
  std::string object_type;  // e.g. "task"
  std::string object_id;
  std::string outcome;  // "success", "denied", "invalid", "not_found", "error"
  nlohmann::json details = nlohmann::json::object();  // strings and integers only
};

struct AuditRecord {
  long long seq = 0;
  std::string time;  // RFC 3339, microseconds, UTC
  AuditEntry entry;
  std::string prev_hash;
  std::string hash;
};

// The exact bytes that are hashed: a compact JSON object of every field but the hashes, keys
// sorted. Exposed for tests and for third-party verifiers.
std::string AuditCanonical(const AuditRecord& record);
// hex(SHA-256(prev_hash || canonical)).
std::string AuditHash(const std::string& prev_hash, const std::string& canonical);
// The previous hash of the first record.
inline const std::string kAuditGenesis(64, '0');

struct AuditQuery {
  std::optional<std::string> actor, action, project, object_id, outcome;
  std::optional<std::string> since, until;  // RFC 3339
  int page_size = 100;
  std::optional<long long> before_seq;  // from a page token
};

struct AuditPage {
  std::vector<AuditRecord> records;  // newest first
  std::optional<long long> next_before_seq;
};

struct AuditVerification {
  bool ok = true;
  long long records = 0;   // records checked
  long long last_seq = 0;  // of the last good record
  std::string last_hash;
  std::optional<long long> first_broken_seq;
  std::string reason;
};

class AuditStore {
 public:
  explicit AuditStore(Store& store) : store_(store) {}
  // Appends one record in its own transaction (for events without another change).
  [[nodiscard]] absl::Status Append(const AuditEntry& entry);
  [[nodiscard]] absl::StatusOr<AuditPage> Query(const AuditQuery& query);
  // Walks the whole chain in seq order and reports the first broken link.
  [[nodiscard]] absl::StatusOr<AuditVerification> Verify();

 private:
  Store& store_;
};

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_AUDIT_STORE_H_
