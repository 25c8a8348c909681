// service/store/registry_store.h. The registry of admin-approved workflows and execution
// environments (migration 0006): register (pending), approve (distinct approvers, never the
// author), revoke, list, show. Every change is audited in the same transaction. Thread-safe.
#ifndef SAFEFLOW_SERVICE_STORE_REGISTRY_STORE_H_
#define SAFEFLOW_SERVICE_STORE_REGISTRY_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "service/registry/bundle.h"
#include "service/store/audit_store.h"

namespace safeflow::service::store {

class Store;

enum class RegistryKind { kWorkflow, kEnvironment };
std::string_view RegistryKindName(RegistryKind kind);  // "workflow", "environment"

struct RegistryFileInfo {
  std::string path;
  long long size = 0;
  std::string sha256;  // hex
};

struct RegistryItem {
  RegistryKind kind = RegistryKind::kWorkflow;
  std::string digest;  // "sha256:<hex>"
  std::string name, version;
  nlohmann::json manifest;  // as parsed and normalised (registry::ToJson)
  std::string state;        // "pending", "approved", "revoked"
  std::string created_by, created_at;
  std::vector<std::string> approvers;  // in approval order
  std::optional<std::string> approved_at;
  std::optional<std::string> revoked_by, revoked_at, revoke_reason;
  std::vector<RegistryFileInfo> files;  // workflows only, sorted by path
};

struct NewRegistryItem {
  RegistryKind kind = RegistryKind::kWorkflow;
  std::string digest, name, version;
  nlohmann::json manifest;
  std::vector<registry::BundleFile> files;  // workflows: the bundle; environments: none
  std::string author;
};

class RegistryStore {
 public:
  explicit RegistryStore(Store& store) : store_(store) {}

  // Inserts a pending item. AlreadyExists when name@version exists (its digest in the message;
  // registering the identical bundle again answers AlreadyExists too).
  [[nodiscard]] absl::StatusOr<RegistryItem> Register(const NewRegistryItem& item,
                                                      AuditEntry audit);
  // `ref` is a digest ("sha256:...") or "name@version". NotFound when unknown.
  [[nodiscard]] absl::StatusOr<RegistryItem> Get(RegistryKind kind, const std::string& ref);
  // Newest first. state: only items in that state.
  [[nodiscard]] absl::StatusOr<std::vector<RegistryItem>> List(
      RegistryKind kind, const std::optional<std::string>& state);
  // Records `approver`'s approval; the item becomes approved once `required` distinct approvers
  // (never its author) approved it. PermissionDenied when the approver is the author;
  // FailedPrecondition when revoked; approving twice is AlreadyExists.
  [[nodiscard]] absl::StatusOr<RegistryItem> Approve(RegistryKind kind, const std::string& ref,
                                                     const std::string& approver, int required,
                                                     AuditEntry audit);
  // Revokes (from pending or approved); revoking twice is fine.
  [[nodiscard]] absl::StatusOr<RegistryItem> Revoke(RegistryKind kind, const std::string& ref,
                                                    const std::string& by,
                                                    const std::string& reason, AuditEntry audit);
  // The bundle's files as registered (workflows).
  [[nodiscard]] absl::StatusOr<std::vector<registry::BundleFile>> Files(const std::string& digest);

 private:
  Store& store_;
};

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_REGISTRY_STORE_H_
