// executor/attestation/http_authority.h. The Authority of a remote host (a SLURM job's
// safeflow-node): it relays to safeflowd's verifier and key broker over HTTP(S), authenticated
// by the relay token that safeflowd issued for this one attempt (Authority::IssueRelayToken):
//   NewNonce      POST <base_url>/attestation/v1/relay/nonce        (bearer: the relay token)
//   Attest        POST <base_url>/attestation/v1/relay/attest       (bearer: the relay token)
//   CheckInput    POST <base_url>/attestation/v1/relay/input-check  (bearer: the relay token;
//                 for config.project only: PermissionDenied for another, without HTTP)
//   ReleaseKeys   POST <base_url>/kbs/v1/keys      (the attestation token is the credential)
//   OutputKeyFor  config.output_key for config.project, no HTTP (the job is given it)
// Every request has a timeout and verifies TLS (with ca_bundle when set); a response larger than
// 1 MiB is refused. HTTP statuses map to codes (400 InvalidArgument, 401 Unauthenticated, 403
// PermissionDenied, 404 NotFound, 409 FailedPrecondition, 408, 429 and 5xx Unavailable) and the
// message carries the server's `msg`; connection failures are Unavailable and timeouts
// DeadlineExceeded. The relay token is never logged nor put in a message. Thread-safe: each
// call uses its own connection.
#ifndef SAFEFLOW_EXECUTOR_ATTESTATION_HTTP_AUTHORITY_H_
#define SAFEFLOW_EXECUTOR_ATTESTATION_HTTP_AUTHORITY_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

#include "executor/attestation/authority.h"

namespace safeflow::executor::attestation {

struct RelayConfig {
  std::string base_url;                 // safeflowd, "https://host:port" (a path prefix is kept)
  std::string relay_token;              // "sfr1...." for this attempt
  std::string ca_bundle;                // PEM CAs for https; empty: the system's
  int timeout_seconds = 30;             // per request, connecting included
  std::string project;                  // the task's project
  std::optional<OutputKey> output_key;  // the key the project's outputs are sealed to
};

// InvalidArgument for a base_url that is not http(s)://, an empty or unprintable relay token,
// an empty project or a timeout outside 1..3600 seconds.
[[nodiscard]] absl::StatusOr<std::unique_ptr<Authority>> NewHttpAuthority(RelayConfig config);

}  // namespace safeflow::executor::attestation

#endif  // SAFEFLOW_EXECUTOR_ATTESTATION_HTTP_AUTHORITY_H_
