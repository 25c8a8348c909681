// executor/attestation/authority.h. What a host (the local backend now, a SLURM job's relay
// later) needs from the attestation verifier and the key broker, in the roles of IETF RATS: the
// host relays the worker's evidence (a quote made by the platform) to the verifier, which
// answers with an attestation token; the key broker releases dataset keys for that token,
// each wrapped to the worker's ephemeral X25519 key, so the relay never sees a key.
// safeflowd implements this in process (service/attestation/); the same checks answer the REST
// API under /attestation/v1 and /kbs/v1. Implementations are thread-safe and audit every
// release and refusal.
#ifndef SAFEFLOW_EXECUTOR_ATTESTATION_AUTHORITY_H_
#define SAFEFLOW_EXECUTOR_ATTESTATION_AUTHORITY_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace safeflow::executor::attestation {

// What the worker presents: the platform's quote over its identity and report_data =
// SHA-256(public_key || nonce), the worker's ephemeral X25519 public key (32 raw bytes) and the
// verifier's nonce (raw bytes) it used.
struct Evidence {
  std::string quote;
  std::string public_key;
  std::string nonce;
};

// A verifier's answer: the signed token (compact JWS) and what the host may log about it.
struct AttestationResult {
  std::string token;
  std::string token_id;    // the token's jti
  std::string mr_enclave;  // hex
  bool debug = false;
  std::string expires_at;  // RFC 3339
  std::string task_id;     // the task and attempt the verified quote names
  int attempt = 0;
};

// A dataset key wrapped to the worker's key (executor/crypto/key_wrap.h: WrapToPublicKey with
// info kKeyReleaseInfo and associated data "<key_id>\n<token_id>").
struct ReleasedKey {
  std::string key_id;
  std::string ephemeral_public_key;  // raw 32 bytes
  std::string ciphertext;            // raw: the 32-byte private key encrypted, plus the tag
};
inline constexpr const char* kKeyReleaseInfo = "safeflow-kbs-release-v1";

// The security version (ISV SVN) of the safeflow-worker built with this tree: raise it when a
// worker release fixes a security bug, and verifiers can refuse older workers
// (enclave.min_security_version).
inline constexpr int kWorkerSecurityVersion = 1;

// How an input may be staged.
struct InputDecision {
  std::optional<std::string> dataset_id;  // the dataset that covers the input, if any
  bool sealed = false;                    // the file is sealed (its key id is dataset_id)
};

// The public key that outputs of a project are sealed to.
struct OutputKey {
  std::string key_id;      // the project's "outputs" dataset id
  std::string public_key;  // raw 32 bytes
};

class Authority {
 public:
  virtual ~Authority() = default;
  // A fresh single-use nonce (raw bytes) that the verifier will accept for a short time.
  [[nodiscard]] virtual absl::StatusOr<std::string> NewNonce() = 0;
  // Verifies the evidence (quote signature, platform, nonce freshness and single use,
  // report_data binding, measurement allow-list, debug and security-version policy, the task
  // the quote names) and issues a token bound to evidence.public_key. PermissionDenied with the
  // reason when refused.
  [[nodiscard]] virtual absl::StatusOr<AttestationResult> Attest(const Evidence& evidence) = 0;
  // Releases the keys of `key_ids` for `token` (each dataset's release policy and project must
  // accept the token's claims). All or nothing: PermissionDenied naming the first refused key.
  [[nodiscard]] virtual absl::StatusOr<std::vector<ReleasedKey>> ReleaseKeys(
      const std::string& token, const std::vector<std::string>& key_ids) = 0;
  // Decides whether an input of `project` at `url` may be staged: `sealed_key_id` is the key id
  // in the file's sealed header, or nullopt for a plain file. PermissionDenied when a plain file
  // lies in a dataset that does not allow plain inputs, or a sealed file's key belongs to another
  // project or is revoked; NotFound for an unknown key id.
  [[nodiscard]] virtual absl::StatusOr<InputDecision> CheckInput(
      const std::string& project, const std::string& url,
      const std::optional<std::string>& sealed_key_id) = 0;
  // The key `project`'s outputs are sealed to (created on first use).
  [[nodiscard]] virtual absl::StatusOr<OutputKey> OutputKeyFor(const std::string& project) = 0;
  // A bearer credential with which a remote host (a SLURM job) relays for this one attempt of
  // `task_id` in `project` (NewHttpAuthority's RelayConfig::relay_token). Unimplemented unless
  // this authority is the verifier itself.
  [[nodiscard]] virtual absl::StatusOr<std::string> IssueRelayToken(const std::string& task_id,
                                                                    int attempt,
                                                                    const std::string& project) {
    (void)task_id;
    (void)attempt;
    (void)project;
    return absl::UnimplementedError("this attestation authority cannot issue relay tokens");
  }
};

}  // namespace safeflow::executor::attestation

#endif  // SAFEFLOW_EXECUTOR_ATTESTATION_AUTHORITY_H_
