// service/store/enclave_store.h. What the verifier and key broker keep in PostgreSQL: datasets
// (an X25519 key pair each, the private key sealed by the caller with the master key, a release
// policy), single-use nonces, and the token-signing keys (sealed likewise). This class never
// sees a key in the clear. Changes to datasets are audited in the same transaction.
// Thread-safe.
#ifndef SAFEFLOW_SERVICE_STORE_ENCLAVE_STORE_H_
#define SAFEFLOW_SERVICE_STORE_ENCLAVE_STORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "service/store/audit_store.h"

namespace safeflow::service::store {

class Store;

struct Dataset {
  std::string id;  // "ds_" + 16 hex digits; also the key id in sealed-file headers
  std::string project;
  std::string name;
  std::string kind;  // "input" or "outputs"
  std::string description;
  std::string public_key;  // raw 32 bytes (X25519)
  nlohmann::json release_policy = nlohmann::json::object();
  bool allow_plain = false;
  std::optional<std::string> location;
  std::string created_by, created_at;
  std::optional<std::string> revoked_at;
};

struct NewDataset {
  std::string project, name, kind = "input", description;
  std::string public_key;          // raw 32 bytes
  std::string sealed_private_key;  // sealed by the caller
  std::string master_key_id;
  nlohmann::json release_policy = nlohmann::json::object();
  bool allow_plain = false;
  std::optional<std::string> location;
};

struct SealedKey {
  std::string sealed;
  std::string master_key_id;
};

struct SigningKeyRecord {
  std::string kid;
  std::string created_at;
  long long age_seconds = 0;
  SealedKey private_key;
  nlohmann::json public_jwk;
};

class EnclaveStore {
 public:
  explicit EnclaveStore(Store& store) : store_(store) {}

  // AlreadyExists when the project has a dataset of that name (or, for kind "outputs", already
  // has its outputs dataset).
  [[nodiscard]] absl::StatusOr<Dataset> CreateDataset(const NewDataset& dataset, AuditEntry audit);
  [[nodiscard]] absl::StatusOr<Dataset> GetDataset(const std::string& id);
  // projects: only those projects' datasets; nullopt: all.
  [[nodiscard]] absl::StatusOr<std::vector<Dataset>> ListDatasets(
      const std::optional<std::vector<std::string>>& projects);
  // The project's outputs dataset; NotFound when it has none yet.
  [[nodiscard]] absl::StatusOr<Dataset> OutputsDataset(const std::string& project);
  // NotFound for an unknown id; revoking twice is fine.
  [[nodiscard]] absl::Status RevokeDataset(const std::string& id, AuditEntry audit);
  [[nodiscard]] absl::StatusOr<SealedKey> DatasetPrivateKey(const std::string& id);

  // Records a nonce valid for ttl_seconds (and forgets nonces that expired an hour ago).
  [[nodiscard]] absl::Status PutNonce(const std::string& nonce, int ttl_seconds);
  // Marks the nonce used. PermissionDenied saying why when it is unknown, expired or already
  // used (a replay).
  [[nodiscard]] absl::Status ConsumeNonce(const std::string& nonce);

  // The master key ids that keys in the database are sealed under.
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> MasterKeyIds();

  // Signing keys created less than max_age_seconds ago, newest first.
  [[nodiscard]] absl::StatusOr<std::vector<SigningKeyRecord>> SigningKeys(
      long long max_age_seconds);
  [[nodiscard]] absl::Status AddSigningKey(const std::string& kid, const SealedKey& private_key,
                                           const nlohmann::json& public_jwk);

 private:
  Store& store_;
};

}  // namespace safeflow::service::store

#endif  // SAFEFLOW_SERVICE_STORE_ENCLAVE_STORE_H_
