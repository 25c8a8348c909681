// service/auth/dev_issuer.h. The development token issuer used by the quickstart and the tests:
// an ES256 (P-256) key pair in a directory and tokens signed with it. Not for production: it
// issues whatever roles it is asked for. The CLI exposes it as
//   safeflow dev-issuer init DIR [--force]
//   safeflow dev-issuer token DIR --sub NAME --roles r1,r2 --projects p1,p2 [--ttl SECONDS]
//                                 [--aud A] [--iss I]
// and safeflowd verifies its tokens with a file JWKS source on DIR/jwks.json.
#ifndef SAFEFLOW_SERVICE_AUTH_DEV_ISSUER_H_
#define SAFEFLOW_SERVICE_AUTH_DEV_ISSUER_H_

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace safeflow::service::auth {

constexpr const char* kDevIssuer = "safeflow-dev";
constexpr const char* kDevAudience = "safeflow";

// Creates DIR (mode 0700) when missing and writes a fresh P-256 key pair: DIR/private.pem
// (PKCS#8 PEM, mode 0600) and DIR/jwks.json (mode 0644: {"keys":[{kty EC, crv P-256, x, y,
// kid = the RFC 7638 thumbprint, alg ES256, use sig}]}), each atomically (temp file + rename).
// AlreadyExists when DIR/private.pem exists and !force.
[[nodiscard]] absl::Status DevIssuerInit(const std::string& dir, bool force);

struct DevTokenRequest {
  std::string subject;
  std::vector<std::string> roles, projects;
  std::chrono::seconds ttl{3600};
  std::string audience = kDevAudience;
  std::string issuer = kDevIssuer;
  // Merged into the claims last: they may add to and override the standard ones.
  nlohmann::json extra_claims = nlohmann::json::object();
};

// A token signed with DIR/private.pem: header {alg ES256, typ JWT, kid = thumbprint}; claims iss,
// aud (a string), sub, roles, projects, iat = nbf = now, exp = now + ttl, jti (128 random bits).
// InvalidArgument for an empty subject, a non-positive ttl, an empty issuer or audience, or
// extra_claims that is not an object; NotFound when DIR has no key (run init first).
[[nodiscard]] absl::StatusOr<std::string> DevIssuerToken(const std::string& dir,
                                                         const DevTokenRequest& req);

// For tests of attacks: signs arbitrary `header`/`claims` with DIR's private key (ES256; a
// header without alg gets "ES256", any other alg is left as given, the signature stays ES256).
[[nodiscard]] absl::StatusOr<std::string> DevIssuerSign(const std::string& dir,
                                                        const nlohmann::json& header,
                                                        const nlohmann::json& claims);

// For tests of attacks: a compact JWS whose signature is HMAC-SHA256 under `secret` (header used
// as given, "alg" added as "HS256" when missing). Invalid UTF-8 is replaced, never thrown.
std::string SignHs256ForTest(const nlohmann::json& header, const nlohmann::json& claims,
                             std::string_view secret);

}  // namespace safeflow::service::auth

#endif  // SAFEFLOW_SERVICE_AUTH_DEV_ISSUER_H_
