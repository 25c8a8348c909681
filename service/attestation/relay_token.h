// service/attestation/relay_token.h. Relay tokens: the bearer credential with which a remote
// host (a SLURM job's safeflow-node) relays one attempt's attestation to safeflowd
// (POST /attestation/v1/relay/*). A token names the task, the attempt and the project, and
// expires; it is MACed with a key that only safeflowd holds (HKDF of the master key, info
// kRelayTokenKeyInfo), so the format is opaque to its bearer:
//
//   sfr1.<base64url(payload JSON)>.<base64url(HMAC-SHA256(key, "sfr1." + payload_b64))>
//
// with the payload {"t": task_id, "a": attempt, "p": project, "exp": unix seconds}.
// Pure functions (no clock, no I/O); thread-safe. Whether the attempt is still live is the
// caller's check (EnclaveAuthority::VerifyRelayToken).
#ifndef SAFEFLOW_SERVICE_ATTESTATION_RELAY_TOKEN_H_
#define SAFEFLOW_SERVICE_ATTESTATION_RELAY_TOKEN_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "executor/crypto/secure_memory.h"

namespace safeflow::service {

inline constexpr const char* kRelayTokenKeyInfo = "safeflow-relay-token-v1";
inline constexpr std::string_view kRelayTokenPrefix = "sfr1.";
// Longer tokens are refused unread.
inline constexpr std::size_t kMaxRelayTokenBytes = 4096;

struct RelayClaims {
  std::string task_id;
  int attempt = 0;
  std::string project;
  std::int64_t expires_at = 0;  // unix seconds
  bool operator==(const RelayClaims&) const = default;
};

// The token for `claims`, MACed with `key` (any non-empty length; 32 bytes in practice).
std::string MakeRelayToken(const executor::crypto::SecretBytes& key, const RelayClaims& claims);

// The claims of `token` when it is well formed, its MAC verifies with `key` (compared in
// constant time) and it has not expired at `now` (unix seconds). Unauthenticated otherwise:
// "relay token malformed", "... does not verify" or "... expired"; the message never contains
// the token.
[[nodiscard]] absl::StatusOr<RelayClaims> ParseRelayToken(const executor::crypto::SecretBytes& key,
                                                          std::string_view token, std::int64_t now);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_ATTESTATION_RELAY_TOKEN_H_
