// service/store/auth_store.h. Identities SafeFlow keeps server-side: access keys (secret
// hashed at rest, expiry, project, roles, revocable), X.509 certificate identities (by SHA-256
// fingerprint, with restrictions) and admin-managed project membership. Every change is
// audited in its own transaction. Thread-safe.
#ifndef SAFEFLOW_SERVICE_STORE_AUTH_STORE_H_
#define SAFEFLOW_SERVICE_STORE_AUTH_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "service/store/audit_store.h"

namespace safeflow::service::store {

class Store;

struct AccessKey {
  std::string id;
  std::string subject;  // whose key it is: the principal it authenticates as
  std::string project;
  std::vector<std::string> roles;
  std::string description;
  std::string created_by;
  std::string created_at, expires_at;
  std::optional<std::string> revoked_at, last_used_at;
};

struct NewAccessKey {
  std::string subject, project, description;
  std::vector<std::string> roles;
  int ttl_seconds = 0;
};

struct CreatedAccessKey {
  AccessKey key;
  std::string token;  // "sfk_<id>.<secret>": shown once, never stored
};

struct CertIdentity {
  std::string fingerprint_sha256;  // lower-case hex of SHA-256 over the DER certificate
  std::string subject;
  std::vector<std::string> roles, projects;
  bool read_only = false;
  std::string created_by, created_at;
  std::optional<std::string> revoked_at;
};

class AuthStore {
 public:
  explicit AuthStore(Store& store) : store_(store) {}

  [[nodiscard]] absl::StatusOr<CreatedAccessKey> CreateAccessKey(const NewAccessKey& key,
                                                                 AuditEntry audit);
  // project: only that project's keys.
  [[nodiscard]] absl::StatusOr<std::vector<AccessKey>> ListAccessKeys(
      const std::optional<std::string>& project);
  [[nodiscard]] absl::StatusOr<AccessKey> GetAccessKey(const std::string& id);
  // NotFound for an unknown id; revoking twice is fine.
  [[nodiscard]] absl::Status RevokeAccessKey(const std::string& id, AuditEntry audit);
  // The key for a presented token, when the secret matches (constant time) and the key is
  // neither expired nor revoked; Unauthenticated otherwise (without saying which).
  [[nodiscard]] absl::StatusOr<AccessKey> CheckAccessKey(const std::string& token);

  [[nodiscard]] absl::StatusOr<CertIdentity> FindCertIdentity(const std::string& fingerprint);
  [[nodiscard]] absl::Status PutCertIdentity(const CertIdentity& identity, AuditEntry audit);
  [[nodiscard]] absl::Status RevokeCertIdentity(const std::string& fingerprint, AuditEntry audit);
  [[nodiscard]] absl::StatusOr<std::vector<CertIdentity>> ListCertIdentities();

  [[nodiscard]] absl::StatusOr<std::vector<std::string>> ProjectsOf(const std::string& subject);
  [[nodiscard]] absl::Status AddMember(const std::string& project, const std::string& subject,
                                       AuditEntry audit);
  [[nodiscard]] absl::Status RemoveMember(const std::string& project, const std::string& subject,
                                          AuditEntry audit);
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> Members(const std::string& project);

 private:
  Store& store_;
};

// "sfk_" + 16 hex id + "." + 64 hex secret.
bool LooksLikeAccessKey(std::string_view token);

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_AUTH_STORE_H_
