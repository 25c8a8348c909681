// service/auth/authenticator.h. Turns a request's credentials into a Principal. The chain
// tries, in the order of auth.mode: OIDC bearer tokens (JWTs from the configured issuer),
// access keys ("Authorization: Bearer sfk_<id>.<secret>"), and client certificates verified by
// the TLS front door (headers believed only from auth.mtls.trusted_proxies). Mode "none" makes
// every caller an anonymous principal with every role in every project (development only).
// Thread-safe; may block (database, JWKS refresh): call it off the I/O threads.
#ifndef SAFEFLOW_SERVICE_AUTH_AUTHENTICATOR_H_
#define SAFEFLOW_SERVICE_AUTH_AUTHENTICATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

#include "service/api/http.h"
#include "service/auth/principal.h"
#include "service/config/config.h"

namespace safeflow::service {

namespace store {
class AuthStore;
}

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // nullopt when the request carries no credentials of this kind; Unauthenticated when it
  // carries them but they are not valid.
  [[nodiscard]] virtual absl::StatusOr<std::optional<Principal>> Authenticate(
      const HttpRequest& req) = 0;
};

class AuthChain {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AuthChain>> Create(const AuthConfig& config,
                                                                         store::AuthStore& store);
  // Unauthenticated when no authenticator recognises valid credentials.
  [[nodiscard]] absl::StatusOr<Principal> Authenticate(const HttpRequest& req) const;
  bool disabled() const { return disabled_; }

 private:
  AuthChain() = default;
  std::vector<std::unique_ptr<Authenticator>> chain_;
  bool disabled_ = false;
};

// Roles and projects from verified token claims (exposed for unit tests).
std::set<Role> RolesFromClaims(const nlohmann::json& claims, const OidcConfig& config);
std::vector<std::string> ProjectsFromClaims(const nlohmann::json& claims, const OidcConfig& config);

// Lower-case hex SHA-256 of the DER of a PEM certificate (nginx's $ssl_client_escaped_cert
// is the PEM, URL-escaped: pass it unescaped). InvalidArgument for anything else.
[[nodiscard]] absl::StatusOr<std::string> CertificateFingerprint(const std::string& pem);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_AUTH_AUTHENTICATOR_H_
