// service/api/enclave_api.h. The attestation verifier, key broker and dataset endpoints:
//   GET  /attestation/v1/certs              public: the JWKS of the token-signing keys (every
//                                           key whose tokens may still be valid)
//   POST /attestation/v1/nonce              authenticated: {nonce, expires_in} (base64url)
//   POST /attestation/v1/attest             authenticated: {quote, nonce, runtime_data:
//                                           {public_key}} -> {token, token_id, expires_at};
//                                           403 with the reason when the evidence is refused
//   POST /attestation/v1/relay/nonce        relay token (Bearer; one live attempt): {nonce}
//   POST /attestation/v1/relay/attest       relay token: as /attest, for the token's attempt only
//   POST /attestation/v1/relay/input-check  relay token: {url, sealed_key_id} -> {dataset_id,
//                                           sealed} for the token's project (SLURM nodes)
//   POST /kbs/v1/keys                       the attestation token is the credential:
//                                           {token, key_ids} -> {keys: [{key_id,
//                                           ephemeral_public_key, ciphertext}]} (base64url)
//   POST /data/v1/datasets                  data-owner of the project: register a dataset
//   GET  /data/v1/datasets                  researcher, data-owner, auditor: the caller's projects
//   GET  /data/v1/datasets/{id}             the same; 404 outside the caller's projects
//   POST /data/v1/datasets/{id}:revoke      data-owner of the project
//   GET  /data/v1/projects/{project}/outputs-key   members: the key outputs are sealed to
// Refusals are audited by the authority; dataset changes by the store.
#ifndef SAFEFLOW_SERVICE_API_ENCLAVE_API_H_
#define SAFEFLOW_SERVICE_API_ENCLAVE_API_H_

#include "absl/status/status.h"

#include "service/api/http_server.h"
#include "service/attestation/authority.h"
#include "service/store/audit_store.h"
#include "service/store/enclave_store.h"

namespace safeflow::service {

[[nodiscard]] absl::Status RegisterEnclaveRoutes(HttpServer& server, EnclaveAuthority& authority,
                                                 store::EnclaveStore& datasets,
                                                 store::AuditStore& audit);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_ENCLAVE_API_H_
