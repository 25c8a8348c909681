#include "service/auth/authenticator.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "executor/crypto/openssl_util.h"
#include "service/api/router.h"
#include "service/auth/jwks.h"
#include "service/auth/jwt.h"
#include "service/log.h"
#include "service/store/auth_store.h"

namespace safeflow::service {
namespace {

using nlohmann::json;

std::optional<std::string> BearerToken(const HttpRequest& req) {
  std::optional<std::string> h = req.Header("authorization");
  if (!h) return std::nullopt;
  std::string v(absl::StripAsciiWhitespace(*h));
  if (v.size() < 7 || absl::AsciiStrToLower(v.substr(0, 7)) != "bearer ") return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(v.substr(7)));
}

// The claim at a dotted path ("realm_access.roles"), or null.
json ClaimAt(const json& claims, const std::string& path) {
  const json* cur = &claims;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(std::string(part));
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return *cur;
}

std::vector<std::string> ClaimStrings(const json& claims, const std::string& path) {
  std::vector<std::string> out;
  json v = ClaimAt(claims, path);
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    for (const json& e : v) {
      if (e.is_string()) out.push_back(e.get<std::string>());
    }
  }
  return out;
}

std::string DropFragment(const std::string& v) { return v.substr(0, v.find('#')); }

class NoneAuthenticator final : public Authenticator {
 public:
  absl::StatusOr<std::optional<Principal>> Authenticate(const HttpRequest&) override {
    Principal p;
    p.subject = "anonymous";
    p.auth_method = "none";
    p.roles = {AllRoles().begin(), AllRoles().end()};
    p.all_projects = true;
    p.projects = {"default"};
    return p;
  }
};

class OidcAuthenticator final : public Authenticator {
 public:
  OidcAuthenticator(const OidcConfig& config, std::unique_ptr<auth::JwksSource> keys,
                    store::AuthStore& store)
      : config_(config), keys_(std::move(keys)), store_(store) {
    policy_.issuer = config.issuer;
    policy_.audiences = config.audiences;
    policy_.leeway = std::chrono::seconds(config.leeway_seconds);
  }

  absl::StatusOr<std::optional<Principal>> Authenticate(const HttpRequest& req) override {
    std::optional<std::string> token = BearerToken(req);
    if (!token || store::LooksLikeAccessKey(*token)) return std::nullopt;
    absl::StatusOr<auth::VerifiedToken> v =
        auth::VerifyJwt(*token, policy_, *keys_, std::chrono::system_clock::now());
    if (!v.ok()) return v.status();
    Principal p;
    p.subject = v->claims["sub"].get<std::string>();
    p.auth_method = "oidc";
    if (v->claims.contains("jti") && v->claims["jti"].is_string()) {
      p.credential_id = v->claims["jti"].get<std::string>();
    }
    p.roles = RolesFromClaims(v->claims, config_);
    p.projects = ProjectsFromClaims(v->claims, config_);
    absl::StatusOr<std::vector<std::string>> members = store_.ProjectsOf(p.subject);
    if (!members.ok()) return members.status();
    for (const std::string& m : *members) {
      if (std::find(p.projects.begin(), p.projects.end(), m) == p.projects.end()) {
        p.projects.push_back(m);
      }
    }
    return p;
  }

 private:
  const OidcConfig config_;
  const std::unique_ptr<auth::JwksSource> keys_;
  store::AuthStore& store_;
  auth::JwtPolicy policy_;
};

class AccessKeyAuthenticator final : public Authenticator {
 public:
  explicit AccessKeyAuthenticator(store::AuthStore& store) : store_(store) {}
  absl::StatusOr<std::optional<Principal>> Authenticate(const HttpRequest& req) override {
    std::optional<std::string> token = BearerToken(req);
    if (!token || token->rfind("sfk_", 0) != 0) return std::nullopt;
    absl::StatusOr<store::AccessKey> key = store_.CheckAccessKey(*token);
    if (!key.ok()) return key.status();
    Principal p;
    p.subject = key->subject;
    p.auth_method = "access-key";
    p.credential_id = key->id;
    for (const std::string& r : key->roles) {
      if (std::optional<Role> role = ParseRole(r)) p.roles.insert(*role);
    }
    p.projects = {key->project};
    return p;
  }

 private:
  store::AuthStore& store_;
};

class MtlsAuthenticator final : public Authenticator {
 public:
  MtlsAuthenticator(const MtlsConfig& config, store::AuthStore& store)
      : config_(config),
        verify_header_(absl::AsciiStrToLower(config.verify_header)),
        cert_header_(absl::AsciiStrToLower(config.cert_header)),
        store_(store) {}

  absl::StatusOr<std::optional<Principal>> Authenticate(const HttpRequest& req) override {
    std::optional<std::string> verify = req.Header(verify_header_);
    std::optional<std::string> cert = req.Header(cert_header_);
    if (!verify && !cert) return std::nullopt;
    if (std::find(config_.trusted_proxies.begin(), config_.trusted_proxies.end(), req.peer) ==
        config_.trusted_proxies.end()) {
      Log().warn("request_id={} client-certificate headers from untrusted peer {} ignored",
                 req.request_id, req.peer);
      return std::nullopt;
    }
    if (!verify || *verify == "NONE" || *verify == "") return std::nullopt;
    if (*verify != "SUCCESS" || !cert || cert->empty()) {
      return absl::UnauthenticatedError("client certificate not verified");
    }
    std::string pem;
    if (!PercentDecode(*cert, false, pem)) {
      return absl::UnauthenticatedError("malformed client certificate header");
    }
    absl::StatusOr<std::string> fp = CertificateFingerprint(pem);
    if (!fp.ok()) return absl::UnauthenticatedError("malformed client certificate");
    Principal p;
    p.auth_method = "mtls";
    p.credential_id = *fp;
    for (const CertIdentityConfig& id : config_.identities) {
      if (id.fingerprint_sha256 == *fp) {
        p.subject = id.subject;
        for (const std::string& r : id.roles) {
          if (std::optional<Role> role = ParseRole(r)) p.roles.insert(*role);
        }
        p.projects = id.projects;
        p.read_only = id.read_only;
        return p;
      }
    }
    absl::StatusOr<store::CertIdentity> known = store_.FindCertIdentity(*fp);
    if (absl::IsNotFound(known.status())) {
      return absl::UnauthenticatedError("client certificate is not registered");
    }
    if (!known.ok()) return known.status();
    p.subject = known->subject;
    for (const std::string& r : known->roles) {
      if (std::optional<Role> role = ParseRole(r)) p.roles.insert(*role);
    }
    p.projects = known->projects;
    p.read_only = known->read_only;
    return p;
  }

 private:
  const MtlsConfig config_;
  const std::string verify_header_, cert_header_;
  store::AuthStore& store_;
};

}  // namespace

std::set<Role> RolesFromClaims(const json& claims, const OidcConfig& config) {
  std::set<Role> roles;
  for (const std::string& raw : ClaimStrings(claims, config.roles_claim)) {
    const std::string v = DropFragment(raw);
    if (auto it = config.role_values.find(raw); it != config.role_values.end()) {
      if (std::optional<Role> r = ParseRole(it->second)) roles.insert(*r);
      continue;
    }
    if (auto it = config.role_values.find(v); it != config.role_values.end()) {
      if (std::optional<Role> r = ParseRole(it->second)) roles.insert(*r);
      continue;
    }
    for (Role r : AllRoles()) {
      const std::string name(RoleName(r));
      if (v == name || absl::EndsWith(v, ":" + name) || absl::EndsWith(v, "/" + name)) {
        roles.insert(r);
      }
    }
  }
  return roles;
}

std::vector<std::string> ProjectsFromClaims(const json& claims, const OidcConfig& config) {
  std::vector<std::string> projects;
  for (const std::string& raw : ClaimStrings(claims, config.projects_claim)) {
    std::string v = DropFragment(raw);
    if (!config.project_prefix.empty()) {
      if (v.rfind(config.project_prefix, 0) != 0) continue;
      v = v.substr(config.project_prefix.size());
    }
    if (!v.empty() && std::find(projects.begin(), projects.end(), v) == projects.end()) {
      projects.push_back(v);
    }
  }
  return projects;
}

absl::StatusOr<std::string> CertificateFingerprint(const std::string& pem) {
  executor::crypto::UniqueX509 cert;
  {
    executor::crypto::UniqueBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf");
    cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  }
  if (cert == nullptr) return absl::InvalidArgumentError("not a PEM certificate");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &len) != 1)
    return absl::InternalError("X509_digest");
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), static_cast<size_t>(len)));
}

absl::StatusOr<std::unique_ptr<AuthChain>> AuthChain::Create(const AuthConfig& config,
                                                             store::AuthStore& store) {
  std::unique_ptr<AuthChain> chain(new AuthChain());
  std::vector<std::string> modes = config.mode;
  if (modes.empty()) modes = {"none"};
  for (const std::string& m : modes) {
    if (m == "none") {
      chain->disabled_ = true;
      chain->chain_.push_back(std::make_unique<NoneAuthenticator>());
    } else if (m == "oidc") {
      std::unique_ptr<auth::JwksSource> keys;
      if (!config.oidc.jwks_file.empty()) {
        keys = auth::NewFileJwksSource(config.oidc.jwks_file);
      } else {
        auth::JwksUrlOptions o;
        o.url = config.oidc.jwks_url;
        o.ca_bundle = config.oidc.ca_bundle;
        o.allow_insecure_http = config.oidc.allow_insecure_jwks_http;
        if (absl::Status s = auth::ValidateJwksUrlOptions(o); !s.ok()) return s;
        keys = auth::NewUrlJwksSource(std::move(o));
      }
      chain->chain_.push_back(
          std::make_unique<OidcAuthenticator>(config.oidc, std::move(keys), store));
    } else if (m == "access-keys") {
      chain->chain_.push_back(std::make_unique<AccessKeyAuthenticator>(store));
    } else if (m == "mtls") {
      chain->chain_.push_back(std::make_unique<MtlsAuthenticator>(config.mtls, store));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown auth mode ", m));
    }
  }
  return chain;
}

absl::StatusOr<Principal> AuthChain::Authenticate(const HttpRequest& req) const {
  for (const std::unique_ptr<Authenticator>& a : chain_) {
    // Credentials that are present but invalid fail the request: no falling back to others.
    absl::StatusOr<std::optional<Principal>> p = a->Authenticate(req);
    if (!p.ok()) return p.status();
    if (*p) return **p;
  }
  return absl::UnauthenticatedError("authentication required");
}

}  // namespace safeflow::service
