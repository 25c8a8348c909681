// service/auth/jwks.h. JSON Web Key Sets (RFC 7517) for verifying OIDC bearer tokens: parsing a
// JWKS into OpenSSL public keys, and the sources keys come from (a static set, a file re-read
// when it changes, an https URL with a cache). Only the key types VerifyJwt accepts are usable:
// RSA (>= 2048 bits) for RS256 and EC P-256 for ES256. Written on OpenSSL 3; no exceptions escape.
#ifndef SAFEFLOW_SERVICE_AUTH_JWKS_H_
#define SAFEFLOW_SERVICE_AUTH_JWKS_H_

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

typedef struct evp_pkey_st EVP_PKEY;  // <openssl/types.h>

namespace safeflow::service::auth {

// One usable public key of a JWKS.
struct Jwk {
  std::string kid;  // "" when the JWK has none
  std::string kty;  // "RSA" or "EC"
  std::string alg;  // what the key verifies: "RS256" (RSA) or "ES256" (EC P-256)
  std::string use;  // "sig" or "" (a JWK whose "use" is anything else is skipped)
  // The public key. Shared by copies of this Jwk (a JwksSource hands out copies while it may
  // replace its set); freed with EVP_PKEY_free when the last copy goes.
  std::shared_ptr<EVP_PKEY> key;
};

// Parses a JWKS document ({"keys":[...]}). Usable: RSA public keys (n, e; n odd of 2048..8192
// bits, e odd with 2^16 < e < 2^256) and EC P-256 public keys (crv, x, y of 32 bytes each; the
// point must be on the curve); both also pass EVP_PKEY_public_check. Skipped (not an error): keys
// of another kty or curve, with "use" other than "sig", "alg" other than RS256/ES256, "key_ops"
// without "verify", or a kid already seen. Refused (the key is skipped): a JWK carrying private
// members ("d", "p", "q", "dp", "dq", "qi", "oth"), bad base64url, a weak or invalid key.
// InvalidArgument (listing why each key was dropped) when the JSON is bad or no key is usable.
[[nodiscard]] absl::StatusOr<std::vector<Jwk>> ParseJwks(std::string_view json);

// Where keys come from. Implementations are thread-safe; the source owns its keys and hands out
// shared copies.
class JwksSource {
 public:
  virtual ~JwksSource() = default;
  // The key for `kid` or, when `kid` is empty, the only key whose alg is `alg`. NotFound when
  // there is none (or, for an empty kid, more than one); when the kid is unknown a source may
  // refresh itself once (rate-limited) before answering NotFound. Unavailable when the source
  // has never been able to load any key set (file missing, URL unreachable, bad JWKS).
  [[nodiscard]] virtual absl::StatusOr<Jwk> Find(std::string_view kid, std::string_view alg) = 0;
};

// A fixed set of keys (tests, keys given inline in the configuration).
[[nodiscard]] std::unique_ptr<JwksSource> NewStaticJwksSource(std::vector<Jwk> keys);

// A JWKS file, re-read when its mtime, size or inode changes (checked on every Find: one stat).
// When a re-read fails (or the new content has no usable key) the last good set stays in use.
[[nodiscard]] std::unique_ptr<JwksSource> NewFileJwksSource(std::string path);

struct JwksUrlOptions {
  std::string url;                                // https://...
  std::chrono::seconds ttl{3600};                 // how long a fetched set is fresh
  std::chrono::seconds min_refresh_interval{30};  // at most one fetch per interval, except TTL
  std::chrono::seconds timeout{10};               // the whole HTTP request
  std::string ca_bundle;                          // PEM file of trusted CAs; "" = system store
  bool allow_insecure_http = false;               // http:// too (tests on loopback only)
};

// Checks the URL scheme (https, or http when allowed), the intervals and the timeout.
[[nodiscard]] absl::Status ValidateJwksUrlOptions(const JwksUrlOptions& options);

// A JWKS fetched with libcurl (TLS verified against the system store or `ca_bundle`; redirects
// are not followed; at most 1 MiB; HTTP 200 only). Fetched on the first Find, cached for `ttl`,
// refreshed on an unknown kid at most once per `min_refresh_interval` (measured from the last
// fetch attempt). When a fetch fails, or returns no usable key, the last good set keeps being
// served and the next attempt waits `min_refresh_interval`. Fetches are serialised; Find blocks
// (up to `timeout`) only when it needs a fetch. Options that ValidateJwksUrlOptions refuses make
// every Find fail with that error.
[[nodiscard]] std::unique_ptr<JwksSource> NewUrlJwksSource(JwksUrlOptions options);

// The public JWK of `key` (RSA: kty, n, e; EC P-256: kty, crv, x, y). InvalidArgument for other
// key types or curves.
[[nodiscard]] absl::StatusOr<nlohmann::json> PublicJwk(const EVP_PKEY& key);

// The RFC 7638 thumbprint (base64url SHA-256 of the required members, in order, no whitespace)
// of an RSA or EC public JWK. InvalidArgument when a required member is missing or not a string.
[[nodiscard]] absl::StatusOr<std::string> JwkThumbprint(const nlohmann::json& jwk);

// base64url without padding (RFC 4648 section 5, as JWS and JWK use it).
std::string Base64UrlEncode(std::string_view data);
// Strict: only A-Z a-z 0-9 - _, no padding, no whitespace, no impossible length, and the unused
// low bits of the last character must be zero (one encoding per byte string). InvalidArgument.
[[nodiscard]] absl::StatusOr<std::string> Base64UrlDecode(std::string_view text);

}  // namespace safeflow::service::auth

#endif  // SAFEFLOW_SERVICE_AUTH_JWKS_H_
