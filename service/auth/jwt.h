// service/auth/jwt.h. Verification of OIDC bearer tokens (compact JWS, RFC 7515/7519), written
// on OpenSSL 3 rather than libjwt (Debian's libjwt 1.10 checks no claims and accepts an HS256
// token whose secret is the public key). Accepts RS256 and ES256 only; keys come from a
// JwksSource. Stateless and thread-safe (as thread-safe as the JwksSource).
#ifndef SAFEFLOW_SERVICE_AUTH_JWT_H_
#define SAFEFLOW_SERVICE_AUTH_JWT_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "service/auth/jwks.h"

namespace safeflow::service::auth {

struct JwtPolicy {
  std::string issuer;                  // the token's iss must equal it
  std::vector<std::string> audiences;  // the token's aud (string or array) must contain one
  std::chrono::seconds leeway{60};     // clock skew allowed on exp, nbf and iat
  std::size_t max_token_bytes = 16 * 1024;
  bool require_exp = true;
};

struct VerifiedToken {
  nlohmann::json header;  // the JOSE header (an object)
  nlohmann::json claims;  // the claims set (an object); iss, aud, sub and the times checked
  std::string kid;        // "" when the header has none
  std::string alg;        // "RS256" or "ES256"
};

// Verifies a compact JWS: exactly three base64url parts (strict: no padding, no whitespace, no
// non-canonical encodings), a JSON-object header with alg RS256 or ES256 only (none, HS*, PS*,
// ES384, ... are refused with a message that names the alg), no "crit", typ (if present) "JWT"
// or "at+jwt" (case-insensitive, optionally with an "application/" prefix), kid (if present) a
// string. The key is keys.Find(kid, alg); its kty must match alg (RSA for RS256, at least 2048
// bits; EC P-256 for ES256, whose signature is the 64-byte R||S form). Then the claims (a JSON
// object): iss == policy.issuer; aud a string or an array of strings containing one of
// policy.audiences; exp a number (required unless !policy.require_exp) > now - leeway; nbf (if
// present) a number <= now + leeway; iat (if present) a number <= now + leeway; sub a non-empty
// string.
// Unauthenticated for every refusal, with a message that says what was wrong and never
// contains the token (header values such as alg or kid appear only shortened and sanitised).
// Unavailable when the key source has no key set at all (a JWKS outage, not the token's
// fault). InvalidArgument when the policy has no issuer or no audience.
[[nodiscard]] absl::StatusOr<VerifiedToken> VerifyJwt(std::string_view token,
                                                      const JwtPolicy& policy, JwksSource& keys,
                                                      std::chrono::system_clock::time_point now);

// Signs `claims` as a compact JWS with `key`: RS256 for an RSA key (at least 2048 bits), ES256
// (R||S) for an EC P-256 key. `header` is used as given, except that a missing "alg" is set from
// the key; a header whose alg disagrees with the key is NOT corrected (tests of attacks rely on
// that). InvalidArgument for another key type, non-object JSON or invalid UTF-8.
[[nodiscard]] absl::StatusOr<std::string> SignJwt(const nlohmann::json& header,
                                                  const nlohmann::json& claims, EVP_PKEY& key);

}  // namespace safeflow::service::auth

#endif  // SAFEFLOW_SERVICE_AUTH_JWT_H_
