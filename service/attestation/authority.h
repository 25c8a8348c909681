// service/attestation/authority.h. safeflowd's attestation verifier and key broker (IETF RATS
// verifier + relying party, modelled on Azure Attestation and the Confidential Containers KBS):
//   - nonces: random, single use, short-lived, kept in PostgreSQL (so replicas agree);
//   - Attest: checks a quote against the trusted platform keys, the nonce, the report_data
//     binding of the worker's key, the measurement allow-list, the debug and security-version
//     policy and the task named by the quote (it must be live and its digest must equal the
//     quote's config_id); issues an ES256 JWT with MAA-like claims, bound to the worker key
//     (cnf) and the key broker's audience;
//   - ReleaseKeys: verifies such a token with the published keys only, checks each dataset's
//     project and release policy, and wraps the dataset's private key to the worker's key;
//   - token-signing keys rotate; the JWKS lists every key whose tokens may still be valid.
// Every attestation and key release, granted or refused, is audited. Keys are sealed at rest with
// the master key and never logged. Thread-safe.
#ifndef SAFEFLOW_SERVICE_ATTESTATION_AUTHORITY_H_
#define SAFEFLOW_SERVICE_ATTESTATION_AUTHORITY_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "executor/attestation/authority.h"
#include "executor/crypto/secure_memory.h"
#include "service/attestation/relay_token.h"
#include "service/config/config.h"
#include "service/store/enclave_store.h"

namespace safeflow::service {

namespace store {
class AuditStore;
class Store;
class TaskStore;
}  // namespace store

struct AuthorityOptions {
  EnclaveConfig config;
  // mr_enclave values (hex) the verifier accepts.
  std::vector<std::string> allowed_measurements;
  // PEM public keys of the platforms whose quotes are trusted.
  std::vector<std::string> trusted_platform_pems;
  executor::crypto::SecretBytes master_key;  // 32 bytes
};

// What a dataset's release policy may say (JSON object; every member optional):
//   {"allow_debug": false, "min_security_version": 1, "mr_enclave": ["<hex>", ...]}
// Unknown members are refused when the dataset is registered.
[[nodiscard]] absl::Status ValidateReleasePolicy(const nlohmann::json& policy);

// The claims of a verified attestation token.
struct TokenClaims {
  nlohmann::json claims;
  std::string token_id, task_id, project, mr_enclave;
  std::string worker_public_key;  // raw 32 bytes, from cnf
};

struct NewDatasetRequest {
  std::string project, name, description;
  nlohmann::json release_policy = nlohmann::json::object();
  bool allow_plain = false;
  std::optional<std::string> location;
  // The data owner's X25519 private key (32 raw bytes), kept by the broker; empty: generated.
  executor::crypto::SecretBytes private_key;
};

class EnclaveAuthority final : public executor::attestation::Authority {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EnclaveAuthority>> Create(
      AuthorityOptions options, store::Store& store, store::TaskStore& tasks,
      store::AuditStore& audit);
  ~EnclaveAuthority() override;

  absl::StatusOr<std::string> NewNonce() override;
  absl::StatusOr<executor::attestation::AttestationResult> Attest(
      const executor::attestation::Evidence& evidence) override;
  absl::StatusOr<std::vector<executor::attestation::ReleasedKey>> ReleaseKeys(
      const std::string& token, const std::vector<std::string>& key_ids) override;
  absl::StatusOr<executor::attestation::InputDecision> CheckInput(
      const std::string& project, const std::string& url,
      const std::optional<std::string>& sealed_key_id) override;
  absl::StatusOr<executor::attestation::OutputKey> OutputKeyFor(
      const std::string& project) override;
  // The private key of `project`'s outputs dataset `key_id` (a sealed output's header names
  // it), for the airlock, which reads outputs inside the zone to check them and to stream
  // released ones. PermissionDenied when `key_id` is not the outputs dataset of `project`.
  [[nodiscard]] absl::StatusOr<executor::crypto::SecretBytes> OutputsPrivateKey(
      const std::string& key_id, const std::string& project);
  // A relay token (relay_token.h) for `attempt` of `task_id` in `project`, valid for
  // enclave.relay_token_ttl_seconds and only while that attempt runs. InvalidArgument for an
  // empty task or project or an attempt below 1.
  absl::StatusOr<std::string> IssueRelayToken(const std::string& task_id, int attempt,
                                              const std::string& project) override;
  // The claims of a relay token that verifies (MAC, expiry) and whose attempt is live: the task
  // exists, is INITIALIZING, RUNNING or PAUSED, is on that attempt and in that project.
  // Unauthenticated for a malformed, forged or expired token; PermissionDenied when the attempt
  // has ended (or the task is gone); Unavailable when the store is.
  [[nodiscard]] absl::StatusOr<RelayClaims> VerifyRelayToken(const std::string& token);

  // The JWKS of the token-signing keys ({"keys":[...]}), for GET /attestation/v1/certs.
  [[nodiscard]] absl::StatusOr<nlohmann::json> Jwks();
  // Verifies a token as ReleaseKeys does (signature, iss, aud, exp, cnf).
  [[nodiscard]] absl::StatusOr<TokenClaims> VerifyToken(const std::string& token);
  // Registers a dataset (audited as `audit`).
  [[nodiscard]] absl::StatusOr<store::Dataset> RegisterDataset(const NewDatasetRequest& request,
                                                               store::AuditEntry audit);
  // For service-info: issuer, audience, the accepted measurements, the policy.
  nlohmann::json Describe() const;

 private:
  struct Impl;
  explicit EnclaveAuthority(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Loads the 32-byte master key from `path`, or creates it (0600, parent 0700) when missing.
// FailedPrecondition when the file is readable by others, not ours, or not 32 bytes.
[[nodiscard]] absl::StatusOr<executor::crypto::SecretBytes> LoadOrCreateMasterKey(
    const std::string& path);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_ATTESTATION_AUTHORITY_H_
