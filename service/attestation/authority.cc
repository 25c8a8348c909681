#include "service/attestation/authority.h"

#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <regex>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "executor/attestation/config_id.h"
#include "executor/attestation/quote.h"
#include "executor/crypto/aead.h"
#include "executor/crypto/hkdf.h"
#include "executor/crypto/key_wrap.h"
#include "executor/crypto/openssl_util.h"
#include "executor/crypto/x25519.h"
#include "executor/worker/protocol.h"
#include "service/auth/jwks.h"
#include "service/auth/jwt.h"
#include "service/log.h"
#include "service/store/audit_store.h"
#include "service/store/task_store.h"

namespace safeflow::service {
namespace {

namespace att = executor::attestation;
namespace crypto = executor::crypto;
namespace tes = schemas::tes;
using nlohmann::json;

constexpr const char* kDefaultIssuer = "safeflow-attestation";
constexpr const char* kOutputsName = ".outputs";

std::string RandomBytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::abort();
  }
  return out;
}

std::string Hex(std::string_view raw) {
  return absl::BytesToHexString(absl::string_view(raw.data(), raw.size()));
}

std::string MasterKeyId(const crypto::SecretBytes& key) {
  return Hex(crypto::Sha256(absl::StrCat("safeflow-master-key-id\n", std::string(key.view()))))
      .substr(0, 16);
}

std::string DatasetKeyAad(const std::string& project, const std::string& name) {
  return absl::StrCat("safeflow-dataset-key\n", project, "\n", name);
}

bool UnderLocation(const std::string& url, const std::string& location) {
  if (location.empty()) return false;
  if (url == location) return true;
  if (location.back() == '/') return url.rfind(location, 0) == 0;
  return url.rfind(location + "/", 0) == 0;
}

}  // namespace

absl::Status ValidateReleasePolicy(const json& policy) {
  if (!policy.is_object()) return absl::InvalidArgumentError("release_policy: must be an object");
  std::vector<std::string> errors;
  static const std::regex kHex64("^[0-9a-f]{64}$");
  for (const auto& [k, v] : policy.items()) {
    if (k == "allow_debug") {
      if (!v.is_boolean()) errors.push_back("release_policy.allow_debug: must be a boolean");
    } else if (k == "min_security_version") {
      if (!v.is_number_integer() || v.get<long long>() < 0) {
        errors.push_back("release_policy.min_security_version: must be a non-negative integer");
      }
    } else if (k == "mr_enclave") {
      if (!v.is_array()) {
        errors.push_back("release_policy.mr_enclave: must be an array of hex digests");
        continue;
      }
      for (const json& m : v) {
        if (!m.is_string() || !std::regex_match(m.get<std::string>(), kHex64)) {
          errors.push_back(
              "release_policy.mr_enclave: each entry must be 64 lower-case hex digits");
          break;
        }
      }
    } else {
      errors.push_back(absl::StrCat("release_policy.", k,
                                    ": unknown (known: allow_debug, min_security_version, "
                                    "mr_enclave)"));
    }
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  return absl::OkStatus();
}

absl::StatusOr<crypto::SecretBytes> LoadOrCreateMasterKey(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec) return absl::InternalError(absl::StrCat("mkdir ", parent.string(), ": ", ec.message()));
    ::chmod(parent.c_str(), 0700);
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    absl::StatusOr<crypto::SecretBytes> fresh = crypto::SecretBytes::Random(32);
    if (!fresh.ok()) return fresh.status();
    const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
    const int w = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (w < 0) return absl::InternalError(absl::StrCat("create ", tmp, ": ", std::strerror(errno)));
    const bool ok = ::write(w, fresh->data(), 32) == 32 && ::fsync(w) == 0;
    ::close(w);
    if (!ok || ::link(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      if (err != EEXIST) {
        return absl::InternalError(absl::StrCat("write ", path, ": ", std::strerror(err)));
      }
    } else {
      ::unlink(tmp.c_str());
      return fresh;
    }
    fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  struct stat st {};
  ::fstat(fd, &st);
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077) != 0 ||
      st.st_size != 32) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "master key ", path, " must be a 32-byte regular file owned by us with mode 0600"));
  }
  crypto::SecretBytes key(32);
  const bool ok = ::read(fd, key.data(), 32) == 32;
  ::close(fd);
  if (!ok) return absl::InternalError(absl::StrCat("read ", path, " failed"));
  return key;
}

struct EnclaveAuthority::Impl {
  AuthorityOptions options;
  store::EnclaveStore enclave;
  store::TaskStore& tasks;
  store::AuditStore& audit;
  att::QuoteVerifier quotes;
  std::string master_key_id;
  std::string issuer;
  crypto::SecretBytes relay_key;  // HKDF(master key, kRelayTokenKeyInfo); set by Create

  std::mutex mu;
  crypto::UniquePkey signing_key;                           // guarded by mu
  std::string signing_kid;                                  // guarded by mu
  std::chrono::steady_clock::time_point signing_key_until;  // guarded by mu

  Impl(AuthorityOptions o, store::Store& s, store::TaskStore& t, store::AuditStore& a,
       att::QuoteVerifier q)
      : options(std::move(o)), enclave(s), tasks(t), audit(a), quotes(std::move(q)) {
    master_key_id = MasterKeyId(options.master_key);
    issuer = options.config.token_issuer.empty() ? kDefaultIssuer : options.config.token_issuer;
  }

  // Keys whose tokens may still be valid: signing for `rotation`, then valid for `ttl`.
  long long KeyWindowSeconds() const {
    return static_cast<long long>(options.config.signing_key_rotation_seconds) +
           options.config.token_ttl_seconds + 60;
  }

  void Record(const std::string& action, const std::string& outcome, const std::string& task_id,
              const std::string& project, const std::string& object_type,
              const std::string& object_id, json details) {
    store::AuditEntry e;
    e.actor = task_id.empty() ? "worker:unknown" : absl::StrCat("task:", task_id);
    e.auth_method = "attestation";
    e.role = "worker";
    e.project = project;
    e.action = action;
    e.object_type = object_type;
    e.object_id = object_id;
    e.outcome = outcome;
    e.details = std::move(details);
    if (absl::Status s = audit.Append(e); !s.ok()) {
      Log().error("audit of {} failed: {}", action, s.message());
    }
  }

  absl::StatusOr<crypto::SecretBytes> Unseal(const store::SealedKey& k, std::string_view aad) {
    if (k.master_key_id != master_key_id) {
      return absl::FailedPreconditionError(absl::StrCat(
          "a key was sealed under master key ", k.master_key_id,
          " but the configured master key is ", master_key_id, " (enclave.master_key_file)"));
    }
    return crypto::AeadOpen(options.master_key, aad, k.sealed);
  }

  // The current signing key, made or rotated as needed.
  absl::Status CurrentSigningKey(crypto::UniquePkey& key_copy, std::string& kid) {
    std::scoped_lock lock(mu);
    if (!signing_key || std::chrono::steady_clock::now() >= signing_key_until) {
      absl::StatusOr<std::vector<store::SigningKeyRecord>> keys =
          enclave.SigningKeys(options.config.signing_key_rotation_seconds);
      if (!keys.ok()) return keys.status();
      if (keys->empty()) {
        crypto::UniquePkey fresh(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
        if (!fresh) return absl::InternalError("cannot generate a token-signing key");
        absl::StatusOr<json> jwk = auth::PublicJwk(*fresh);
        if (!jwk.ok()) return jwk.status();
        absl::StatusOr<std::string> thumb = auth::JwkThumbprint(*jwk);
        if (!thumb.ok()) return thumb.status();
        (*jwk)["kid"] = *thumb;
        (*jwk)["alg"] = "ES256";
        (*jwk)["use"] = "sig";
        crypto::UniqueBio bio(BIO_new(BIO_s_mem()));
        if (!bio || PEM_write_bio_PrivateKey(bio.get(), fresh.get(), nullptr, nullptr, 0, nullptr,
                                             nullptr) != 1) {
          return absl::InternalError("cannot encode the token-signing key");
        }
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio.get(), &data);
        crypto::SecretBytes pem =
            crypto::SecretBytes::Copy(std::string_view(data, static_cast<size_t>(n)));
        absl::StatusOr<std::string> sealed =
            crypto::AeadSeal(options.master_key, absl::StrCat("signing-key\n", *thumb), pem.view());
        if (!sealed.ok()) return sealed.status();
        if (absl::Status s = enclave.AddSigningKey(*thumb, {*sealed, master_key_id}, *jwk);
            !s.ok()) {
          return s;
        }
        Log().info("attestation: new token-signing key {}", *thumb);
        keys = enclave.SigningKeys(options.config.signing_key_rotation_seconds);
        if (!keys.ok()) return keys.status();
        if (keys->empty()) return absl::InternalError("the new token-signing key was not stored");
      }
      const store::SigningKeyRecord& newest = keys->front();
      absl::StatusOr<crypto::SecretBytes> pem =
          Unseal(newest.private_key, absl::StrCat("signing-key\n", newest.kid));
      if (!pem.ok()) return pem.status();
      crypto::UniqueBio bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
      crypto::UniquePkey loaded(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
      if (!loaded) return absl::InternalError("cannot decode the token-signing key");
      signing_key = std::move(loaded);
      signing_kid = newest.kid;
      const long long left =
          std::max<long long>(1, options.config.signing_key_rotation_seconds - newest.age_seconds);
      signing_key_until = std::chrono::steady_clock::now() + std::chrono::seconds(left);
    }
    if (EVP_PKEY_up_ref(signing_key.get()) != 1) return absl::InternalError("EVP_PKEY_up_ref");
    key_copy.reset(signing_key.get());
    kid = signing_kid;
    return absl::OkStatus();
  }

  absl::StatusOr<json> Jwks() {
    absl::StatusOr<std::vector<store::SigningKeyRecord>> keys =
        enclave.SigningKeys(KeyWindowSeconds());
    if (!keys.ok()) return keys.status();
    json out = {{"keys", json::array()}};
    for (const store::SigningKeyRecord& k : *keys) out["keys"].push_back(k.public_jwk);
    return out;
  }

  absl::StatusOr<TokenClaims> VerifyToken(const std::string& token) {
    absl::StatusOr<json> jwks = Jwks();
    if (!jwks.ok()) return jwks.status();
    std::vector<auth::Jwk> keys;
    if (!(*jwks)["keys"].empty()) {
      absl::StatusOr<std::vector<auth::Jwk>> parsed = auth::ParseJwks(jwks->dump());
      if (!parsed.ok()) return parsed.status();
      keys = std::move(*parsed);
    }
    std::unique_ptr<auth::JwksSource> source = auth::NewStaticJwksSource(std::move(keys));
    auth::JwtPolicy policy;
    policy.issuer = issuer;
    policy.audiences = {options.config.token_audience};
    policy.leeway = std::chrono::seconds(5);
    absl::StatusOr<auth::VerifiedToken> v =
        auth::VerifyJwt(token, policy, *source, std::chrono::system_clock::now());
    if (!v.ok()) {
      return absl::PermissionDeniedError(
          absl::StrCat("attestation token refused: ", v.status().message()));
    }
    TokenClaims out;
    out.claims = v->claims;
    const json& c = v->claims;
    auto str = [&](const char* k) {
      return c.contains(k) && c[k].is_string() ? c[k].get<std::string>() : std::string();
    };
    out.token_id = str("jti");
    out.task_id = str("safeflow_task");
    out.project = str("safeflow_project");
    out.mr_enclave = str("x-ms-sgx-mrenclave");
    std::string x;
    if (c.contains("cnf") && c["cnf"].is_object() && c["cnf"].contains("jwk") &&
        c["cnf"]["jwk"].is_object() && c["cnf"]["jwk"].value("crv", "") == "X25519" &&
        c["cnf"]["jwk"].contains("x") && c["cnf"]["jwk"]["x"].is_string()) {
      absl::StatusOr<std::string> raw =
          auth::Base64UrlDecode(c["cnf"]["jwk"]["x"].get<std::string>());
      if (raw.ok()) x = *raw;
    }
    if (x.size() != 32 || out.token_id.empty() || out.project.empty() || out.task_id.empty() ||
        out.mr_enclave.empty()) {
      return absl::PermissionDeniedError(
          "attestation token refused: it lacks the worker key (cnf) or the task claims");
    }
    out.worker_public_key = x;
    return out;
  }
};

EnclaveAuthority::EnclaveAuthority(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EnclaveAuthority::~EnclaveAuthority() = default;

absl::StatusOr<std::unique_ptr<EnclaveAuthority>> EnclaveAuthority::Create(
    AuthorityOptions options, store::Store& store, store::TaskStore& tasks,
    store::AuditStore& audit) {
  if (options.master_key.size() != 32) {
    return absl::InvalidArgumentError("enclave: the master key must be 32 bytes");
  }
  absl::StatusOr<att::QuoteVerifier> quotes =
      att::QuoteVerifier::Create(options.trusted_platform_pems);
  if (!quotes.ok()) return quotes.status();
  auto impl = std::make_unique<Impl>(std::move(options), store, tasks, audit, std::move(*quotes));
  absl::StatusOr<crypto::SecretBytes> relay_key =
      crypto::HkdfSha256(impl->options.master_key, "", kRelayTokenKeyInfo, 32);
  if (!relay_key.ok()) return relay_key.status();
  impl->relay_key = std::move(*relay_key);
  absl::StatusOr<std::vector<std::string>> ids = impl->enclave.MasterKeyIds();
  if (!ids.ok()) return ids.status();
  for (const std::string& id : *ids) {
    if (id != impl->master_key_id) {
      return absl::FailedPreconditionError(
          absl::StrCat("the database holds keys sealed under master key ", id,
                       ", but this safeflowd's master "
                       "key is ",
                       impl->master_key_id,
                       ": replicas that share a database must share "
                       "enclave.master_key_file"));
    }
  }
  return std::unique_ptr<EnclaveAuthority>(new EnclaveAuthority(std::move(impl)));
}

absl::StatusOr<std::string> EnclaveAuthority::NewNonce() {
  const std::string nonce = RandomBytes(32);
  if (absl::Status s = impl_->enclave.PutNonce(Hex(nonce), impl_->options.config.nonce_ttl_seconds);
      !s.ok()) {
    return s;
  }
  return nonce;
}

absl::StatusOr<att::AttestationResult> EnclaveAuthority::Attest(const att::Evidence& evidence) {
  Impl& m = *impl_;
  std::string task_id, project;
  json details = json::object();
  auto refuse = [&](const std::string& why) -> absl::Status {
    details["reason"] = why;
    m.Record("attestation.verify", "denied", task_id, project, "task", task_id, details);
    Log().warn("attestation refused (task {}): {}", task_id.empty() ? "?" : task_id, why);
    return absl::PermissionDeniedError(absl::StrCat("attestation refused: ", why));
  };
  absl::StatusOr<att::QuoteBody> body = m.quotes.Verify(evidence.quote);
  if (!body.ok()) return refuse(std::string(body.status().message()));
  const att::EnclaveIdentity& id = body->enclave;
  task_id = id.task_id;
  details["mr_enclave"] = id.mr_enclave;
  details["debug"] = id.debug ? "true" : "false";
  details["attempt"] = id.attempt;
  details["platform_id"] = body->platform_id;
  if (evidence.public_key.size() != 32) return refuse("the worker key must be 32 bytes (X25519)");
  if (absl::Status s = m.enclave.ConsumeNonce(Hex(evidence.nonce)); !s.ok()) {
    if (s.code() != absl::StatusCode::kPermissionDenied) return s;
    return refuse(std::string(s.message()));
  }
  if (body->report_data != att::ReportData(evidence.public_key, evidence.nonce)) {
    return refuse("report_data does not bind the presented worker key and nonce");
  }
  const auto& allowed = m.options.allowed_measurements;
  if (std::find(allowed.begin(), allowed.end(), id.mr_enclave) == allowed.end()) {
    return refuse(
        absl::StrCat("measurement ", id.mr_enclave,
                     " is not in the allow-list (unknown worker binary or sandbox policy)"));
  }
  if (id.debug && !m.options.config.allow_debug) {
    return refuse("the worker runs in debug mode and the policy accepts production workers only");
  }
  if (id.security_version < m.options.config.min_security_version) {
    return refuse(absl::StrCat("worker security version ", id.security_version, " is below ",
                               m.options.config.min_security_version));
  }
  absl::StatusOr<store::StoredTask> task = m.tasks.Get(id.task_id, store::ProjectScope::All());
  if (!task.ok()) {
    if (task.status().code() == absl::StatusCode::kNotFound) {
      return refuse(absl::StrCat("the quote names unknown task ", id.task_id));
    }
    return task.status();
  }
  project = task->project;
  if (task->task.state != tes::State::kInitializing && task->task.state != tes::State::kRunning) {
    return refuse(absl::StrCat("task ", id.task_id, " is ",
                               std::string(tes::StateName(task->task.state)), ", not running"));
  }
  if (att::TaskConfigId(id.task_id, task->task) != id.config_id) {
    return refuse("config_id does not match the task's definition");
  }

  crypto::UniquePkey key;
  std::string kid;
  if (absl::Status s = m.CurrentSigningKey(key, kid); !s.ok()) return s;
  const auto now = std::chrono::system_clock::now();
  const long long iat =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const long long exp = iat + m.options.config.token_ttl_seconds;
  const std::string jti = Hex(RandomBytes(16));
  json claims = {
      {"iss", m.issuer},
      {"aud", m.options.config.token_audience},
      {"sub", absl::StrCat("task:", id.task_id, "/", id.attempt)},
      {"iat", iat},
      {"nbf", iat},
      {"exp", exp},
      {"jti", jti},
      {"x-ms-ver", "1.0"},
      {"x-ms-attestation-type", "sgx"},
      {"x-ms-policy-hash", ""},
      {"x-ms-sgx-mrenclave", id.mr_enclave},
      {"x-ms-sgx-config-id", id.config_id},
      {"x-ms-sgx-is-debuggable", id.debug},
      {"x-ms-sgx-svn", id.security_version},
      {"x-ms-sgx-report-data", body->report_data},
      {"eat_nonce", auth::Base64UrlEncode(evidence.nonce)},
      {"cnf",
       {{"jwk",
         {{"kty", "OKP"}, {"crv", "X25519"}, {"x", auth::Base64UrlEncode(evidence.public_key)}}}}},
      {"safeflow_task", id.task_id},
      {"safeflow_attempt", id.attempt},
      {"safeflow_project", project},
      {"safeflow_platform", body->platform_id},
      {"safeflow_emulated", true},
  };
  claims.erase("x-ms-policy-hash");
  absl::StatusOr<std::string> token =
      auth::SignJwt({{"alg", "ES256"}, {"typ", "JWT"}, {"kid", kid}}, claims, *key);
  if (!token.ok()) return token.status();
  details["token_id"] = jti;
  details["expires_in"] = m.options.config.token_ttl_seconds;
  m.Record("attestation.verify", "success", task_id, project, "task", task_id, details);
  att::AttestationResult out;
  out.token = *token;
  out.token_id = jti;
  out.mr_enclave = id.mr_enclave;
  out.debug = id.debug;
  out.expires_at = executor::worker::FormatTime(
      std::chrono::system_clock::time_point(std::chrono::seconds(exp)));
  out.task_id = id.task_id;
  out.attempt = id.attempt;
  return out;
}

absl::StatusOr<std::vector<att::ReleasedKey>> EnclaveAuthority::ReleaseKeys(
    const std::string& token, const std::vector<std::string>& key_ids) {
  Impl& m = *impl_;
  absl::StatusOr<TokenClaims> claims = m.VerifyToken(token);
  if (!claims.ok()) {
    if (claims.status().code() == absl::StatusCode::kPermissionDenied) {
      m.Record("key.release", "denied", "", "", "dataset", absl::StrJoin(key_ids, ","),
               {{"reason", std::string(claims.status().message())}});
    }
    return claims.status();
  }
  const json& c = claims->claims;
  const bool debug = c.value("x-ms-sgx-is-debuggable", true);
  const long long svn = c.contains("x-ms-sgx-svn") && c["x-ms-sgx-svn"].is_number_integer()
                            ? c["x-ms-sgx-svn"].get<long long>()
                            : -1;
  std::vector<att::ReleasedKey> out;
  for (const std::string& key_id : key_ids) {
    json details = {{"token_id", claims->token_id}, {"mr_enclave", claims->mr_enclave}};
    auto refuse = [&](const std::string& project, const std::string& why) -> absl::Status {
      details["reason"] = why;
      m.Record("key.release", "denied", claims->task_id, project, "dataset", key_id, details);
      Log().warn("key release refused (task {}, key {}): {}", claims->task_id, key_id, why);
      return absl::PermissionDeniedError(absl::StrCat("key ", key_id, " refused: ", why));
    };
    absl::StatusOr<store::Dataset> d = m.enclave.GetDataset(key_id);
    if (!d.ok()) {
      if (d.status().code() == absl::StatusCode::kNotFound) return refuse("", "unknown key id");
      return d.status();
    }
    if (d->revoked_at) return refuse(d->project, "the dataset is revoked");
    if (d->project != claims->project) {
      return refuse(d->project, absl::StrCat("the dataset belongs to project ", d->project,
                                             ", the token to project ", claims->project));
    }
    const json& p = d->release_policy;
    if (debug && !p.value("allow_debug", false)) {
      return refuse(d->project, "the dataset's policy refuses debug workers");
    }
    if (svn < p.value("min_security_version", 0LL)) {
      return refuse(d->project, "the worker's security version is below the dataset's minimum");
    }
    if (p.contains("mr_enclave") && p["mr_enclave"].is_array() && !p["mr_enclave"].empty()) {
      bool listed = false;
      for (const json& e : p["mr_enclave"]) listed = listed || e == claims->mr_enclave;
      if (!listed)
        return refuse(d->project, "the worker's measurement is not in the dataset's policy");
    }
    absl::StatusOr<store::SealedKey> sealed = m.enclave.DatasetPrivateKey(key_id);
    if (!sealed.ok()) return sealed.status();
    absl::StatusOr<crypto::SecretBytes> priv =
        m.Unseal(*sealed, DatasetKeyAad(d->project, d->name));
    if (!priv.ok()) return priv.status();
    absl::StatusOr<crypto::WrappedSecret> wrapped =
        crypto::WrapToPublicKey(claims->worker_public_key, *priv, att::kKeyReleaseInfo,
                                absl::StrCat(key_id, "\n", claims->token_id));
    if (!wrapped.ok()) return wrapped.status();
    details["dataset"] = d->name;
    m.Record("key.release", "success", claims->task_id, d->project, "dataset", key_id, details);
    out.push_back({key_id, wrapped->ephemeral_public_key, wrapped->ciphertext});
  }
  return out;
}

absl::StatusOr<att::InputDecision> EnclaveAuthority::CheckInput(
    const std::string& project, const std::string& url,
    const std::optional<std::string>& sealed_key_id) {
  Impl& m = *impl_;
  att::InputDecision out;
  if (sealed_key_id) {
    absl::StatusOr<store::Dataset> d = m.enclave.GetDataset(*sealed_key_id);
    if (!d.ok()) {
      if (d.status().code() == absl::StatusCode::kNotFound) {
        return absl::NotFoundError(
            absl::StrCat("the file is sealed with unknown key ", *sealed_key_id));
      }
      return d.status();
    }
    if (d->project != project) {
      return absl::PermissionDeniedError(
          absl::StrCat("the file is sealed with a key of project ", d->project, ", not ", project));
    }
    if (d->revoked_at) {
      return absl::PermissionDeniedError(absl::StrCat("dataset ", d->name, " is revoked"));
    }
    out.dataset_id = d->id;
    out.sealed = true;
    return out;
  }
  absl::StatusOr<std::vector<store::Dataset>> all = m.enclave.ListDatasets(std::nullopt);
  if (!all.ok()) return all.status();
  for (const store::Dataset& d : *all) {
    if (!d.location || !UnderLocation(url, *d.location)) continue;
    if (d.project != project) {
      return absl::PermissionDeniedError(
          absl::StrCat("the input lies in dataset ", d.name, " of another project"));
    }
    if (!d.allow_plain) {
      return absl::PermissionDeniedError(absl::StrCat("the input is a plain file in dataset ",
                                                      d.name,
                                                      ", whose policy accepts only sealed files"));
    }
    out.dataset_id = d.id;
  }
  return out;
}

absl::StatusOr<att::OutputKey> EnclaveAuthority::OutputKeyFor(const std::string& project) {
  Impl& m = *impl_;
  absl::StatusOr<store::Dataset> d = m.enclave.OutputsDataset(project);
  if (!d.ok() && d.status().code() == absl::StatusCode::kNotFound) {
    NewDatasetRequest req;
    req.project = project;
    req.name = kOutputsName;
    req.description = "sealed outputs of the project's tasks and runs";
    store::AuditEntry audit;
    audit.actor = "safeflowd";
    audit.auth_method = "internal";
    audit.role = "service";
    audit.action = "dataset.create";
    audit.outcome = "success";
    absl::StatusOr<store::Dataset> made = RegisterDataset(req, audit);
    if (made.ok()) {
      d = made;
    } else if (made.status().code() == absl::StatusCode::kAlreadyExists) {
      d = m.enclave.OutputsDataset(project);
    } else {
      return made.status();
    }
  }
  if (!d.ok()) return d.status();
  return att::OutputKey{d->id, d->public_key};
}

absl::StatusOr<crypto::SecretBytes> EnclaveAuthority::OutputsPrivateKey(
    const std::string& key_id, const std::string& project) {
  Impl& m = *impl_;
  absl::StatusOr<store::Dataset> d = m.enclave.GetDataset(key_id);
  if (!d.ok()) return d.status();
  if (d->project != project || d->name != kOutputsName) {
    return absl::PermissionDeniedError(
        absl::StrCat("key ", key_id, " is not the outputs key of project ", project));
  }
  absl::StatusOr<store::SealedKey> sealed = m.enclave.DatasetPrivateKey(key_id);
  if (!sealed.ok()) return sealed.status();
  return m.Unseal(*sealed, DatasetKeyAad(d->project, d->name));
}

absl::StatusOr<std::string> EnclaveAuthority::IssueRelayToken(const std::string& task_id,
                                                              int attempt,
                                                              const std::string& project) {
  if (task_id.empty() || project.empty() || attempt < 1) {
    return absl::InvalidArgumentError(
        "a relay token needs a task id, a project and an attempt of at least 1");
  }
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  Log().info("task={} attempt={} relay token issued", task_id, attempt);
  return MakeRelayToken(impl_->relay_key, {task_id, attempt, project,
                                           now + impl_->options.config.relay_token_ttl_seconds});
}

absl::StatusOr<RelayClaims> EnclaveAuthority::VerifyRelayToken(const std::string& token) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  absl::StatusOr<RelayClaims> claims = ParseRelayToken(impl_->relay_key, token, now);
  if (!claims.ok()) return claims.status();
  auto refuse = [&](const std::string& why) -> absl::Status {
    Log().warn("task={} attempt={} relay refused: {}", claims->task_id, claims->attempt, why);
    return absl::PermissionDeniedError(why);
  };
  absl::StatusOr<store::StoredTask> task =
      impl_->tasks.Get(claims->task_id, store::ProjectScope::All());
  if (!task.ok()) {
    if (task.status().code() == absl::StatusCode::kNotFound) {
      return refuse(absl::StrCat("the relay token is for task ", claims->task_id,
                                 ", which no longer exists"));
    }
    return task.status();
  }
  const tes::State state = task->task.state;
  const bool live = state == tes::State::kInitializing || state == tes::State::kRunning ||
                    state == tes::State::kPaused;
  if (!live || task->attempts != claims->attempt) {
    return refuse(absl::StrCat("the relay token is for attempt ", claims->attempt, " of task ",
                               claims->task_id, ", which is no longer running"));
  }
  if (task->project != claims->project) {
    return refuse(absl::StrCat("the relay token is for project ", claims->project, ", but task ",
                               claims->task_id, " is in another project"));
  }
  return claims;
}

absl::StatusOr<json> EnclaveAuthority::Jwks() { return impl_->Jwks(); }

absl::StatusOr<TokenClaims> EnclaveAuthority::VerifyToken(const std::string& token) {
  return impl_->VerifyToken(token);
}

absl::StatusOr<store::Dataset> EnclaveAuthority::RegisterDataset(const NewDatasetRequest& r,
                                                                 store::AuditEntry audit) {
  Impl& m = *impl_;
  if (absl::Status s = ValidateReleasePolicy(r.release_policy); !s.ok()) return s;
  absl::StatusOr<crypto::X25519KeyPair> pair =
      r.private_key.empty() ? crypto::X25519KeyPair::Generate()
                            : crypto::X25519KeyPair::FromPrivate(r.private_key);
  if (!pair.ok()) return pair.status();
  absl::StatusOr<std::string> sealed = crypto::AeadSeal(
      m.options.master_key, DatasetKeyAad(r.project, r.name), pair->private_key.view());
  if (!sealed.ok()) return sealed.status();
  store::NewDataset d;
  d.project = r.project;
  d.name = r.name;
  d.kind = r.name == kOutputsName ? "outputs" : "input";
  d.description = r.description;
  d.public_key = pair->public_key;
  d.sealed_private_key = *sealed;
  d.master_key_id = m.master_key_id;
  d.release_policy = r.release_policy;
  d.allow_plain = r.allow_plain;
  d.location = r.location;
  return m.enclave.CreateDataset(d, std::move(audit));
}

json EnclaveAuthority::Describe() const {
  const Impl& m = *impl_;
  return {{"verifier", "safeflow-emulated-sgx"},
          {"issuer", m.issuer},
          {"audience", m.options.config.token_audience},
          {"jwks_uri", "/attestation/v1/certs"},
          {"allowed_measurements", m.options.allowed_measurements},
          {"allow_debug", m.options.config.allow_debug},
          {"min_security_version", m.options.config.min_security_version},
          {"token_ttl_seconds", m.options.config.token_ttl_seconds},
          {"seal_outputs", m.options.config.seal_outputs}};
}

}  // namespace safeflow::service
