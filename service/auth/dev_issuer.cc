#include "service/auth/dev_issuer.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

#include "fmt/format.h"
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "executor/crypto/openssl_util.h"
#include "service/auth/jwks.h"
#include "service/auth/jwt.h"

namespace safeflow::service::auth {
namespace {

constexpr const char* kPrivateKeyFile = "private.pem";
constexpr const char* kJwksFile = "jwks.json";

using executor::crypto::OpenSslError;
using executor::crypto::UniqueBio;
using executor::crypto::UniquePkey;

std::string Join(const std::string& dir, const char* name) {
  return !dir.empty() && dir.back() == '/' ? dir + name : dir + "/" + name;
}

// Writes `content` to `path` with exactly `mode` (umask notwithstanding) via a fresh temp file
// in the same directory and rename.
absl::Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode) {
  std::string tmp = path + ".tmpXXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // created 0600
  if (fd < 0) return absl::InternalError(fmt::format("create {}: {}", tmp, std::strerror(errno)));
  int err = ::fchmod(fd, mode) == 0 ? 0 : errno;
  size_t done = 0;
  while (err == 0 && done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
    } else {
      done += static_cast<size_t>(n);
    }
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(fmt::format("write {}: {}", path, std::strerror(err)));
  }
  return absl::OkStatus();
}

absl::StatusOr<UniquePkey> LoadPrivateKey(const std::string& dir) {
  const std::string path = Join(dir, kPrivateKeyFile);
  if (::access(path.c_str(), F_OK) != 0) {
    return absl::NotFoundError(fmt::format("{}: {} (run `safeflow dev-issuer init {}` first)", path,
                                           std::strerror(errno), dir));
  }
  UniqueBio bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr) {
    return absl::PermissionDeniedError(fmt::format("{}: {}", path, OpenSslError()));
  }
  UniquePkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        fmt::format("{}: not a PEM private key: {}", path, OpenSslError()));
  }
  return key;
}

// The public JWK of `key` with its kid (the RFC 7638 thumbprint), alg ES256 and use sig.
absl::StatusOr<nlohmann::json> DevJwk(const EVP_PKEY& key) {
  absl::StatusOr<nlohmann::json> jwk = PublicJwk(key);
  if (!jwk.ok()) return jwk.status();
  if ((*jwk)["kty"] != "EC") {
    return absl::InvalidArgumentError("the development issuer's key must be EC P-256");
  }
  absl::StatusOr<std::string> kid = JwkThumbprint(*jwk);
  if (!kid.ok()) return kid.status();
  (*jwk)["kid"] = *kid;
  (*jwk)["alg"] = "ES256";
  (*jwk)["use"] = "sig";
  return jwk;
}

absl::StatusOr<std::string> RandomId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError(fmt::format("RAND_bytes: {}", OpenSslError()));
  }
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace

absl::Status DevIssuerInit(const std::string& dir, bool force) {
  if (dir.empty()) return absl::InvalidArgumentError("the dev-issuer directory is empty");
  std::error_code ec;
  if (std::filesystem::create_directories(dir, ec)) {
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  }
  if (ec) return absl::InternalError(fmt::format("create {}: {}", dir, ec.message()));
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(fmt::format("{} is not a directory", dir));
  }
  const std::string private_path = Join(dir, kPrivateKeyFile);
  struct stat st {};
  if (!force && ::lstat(private_path.c_str(), &st) == 0) {
    return absl::AlreadyExistsError(fmt::format(
        "{} already exists; use --force to replace the key (tokens signed with it stop verifying)",
        private_path));
  }

  UniquePkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (key == nullptr) {
    return absl::InternalError(fmt::format("P-256 key generation: {}", OpenSslError()));
  }
  absl::StatusOr<nlohmann::json> jwk = DevJwk(*key);
  if (!jwk.ok()) return jwk.status();
  UniqueBio mem(BIO_new(BIO_s_mem()));
  if (mem == nullptr ||
      PEM_write_bio_PrivateKey(mem.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError(fmt::format("PEM_write_bio_PrivateKey: {}", OpenSslError()));
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(mem.get(), &data);
  if (len <= 0 || data == nullptr) return absl::InternalError("PEM_write_bio_PrivateKey: empty");
  const nlohmann::json jwks = {{"keys", nlohmann::json::array({*jwk})}};
  // The public half first: if writing the private key fails, the old private key's tokens stop
  // verifying rather than new tokens verifying against a stale JWKS.
  absl::Status s = WriteFileAtomic(Join(dir, kJwksFile), jwks.dump(2) + "\n", 0644);
  if (s.ok())
    s = WriteFileAtomic(private_path, std::string_view(data, static_cast<size_t>(len)), 0600);
  OPENSSL_cleanse(data, static_cast<size_t>(len));
  return s;
}

absl::StatusOr<std::string> DevIssuerToken(const std::string& dir, const DevTokenRequest& req) {
  if (req.subject.empty()) return absl::InvalidArgumentError("the token needs a subject (--sub)");
  if (req.ttl.count() <= 0) return absl::InvalidArgumentError("the token ttl must be positive");
  if (req.issuer.empty()) return absl::InvalidArgumentError("the token issuer is empty");
  if (req.audience.empty()) return absl::InvalidArgumentError("the token audience is empty");
  if (!req.extra_claims.is_object()) {
    return absl::InvalidArgumentError("extra_claims must be a JSON object");
  }
  absl::StatusOr<UniquePkey> key = LoadPrivateKey(dir);
  if (!key.ok()) return key.status();
  absl::StatusOr<nlohmann::json> jwk = DevJwk(**key);
  if (!jwk.ok()) return jwk.status();
  absl::StatusOr<std::string> jti = RandomId();
  if (!jti.ok()) return jti.status();
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  nlohmann::json claims = {
      {"iss", req.issuer},  {"aud", req.audience},          {"sub", req.subject},
      {"roles", req.roles}, {"projects", req.projects},     {"iat", now},
      {"nbf", now},         {"exp", now + req.ttl.count()}, {"jti", *jti},
  };
  for (const auto& [name, value] : req.extra_claims.items()) claims[name] = value;
  const nlohmann::json header = {{"alg", "ES256"}, {"typ", "JWT"}, {"kid", (*jwk)["kid"]}};
  return SignJwt(header, claims, **key);
}

absl::StatusOr<std::string> DevIssuerSign(const std::string& dir, const nlohmann::json& header,
                                          const nlohmann::json& claims) {
  absl::StatusOr<UniquePkey> key = LoadPrivateKey(dir);
  if (!key.ok()) return key.status();
  return SignJwt(header, claims, **key);
}

std::string SignHs256ForTest(const nlohmann::json& header, const nlohmann::json& claims,
                             std::string_view secret) {
  nlohmann::json h = header;
  if (h.is_object() && !h.contains("alg")) h["alg"] = "HS256";
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  const std::string input = Base64UrlEncode(h.dump(-1, ' ', false, kReplace)) + "." +
                            Base64UrlEncode(claims.dump(-1, ' ', false, kReplace));
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t mac_len = 0;
  static const unsigned char kEmpty = 0;
  const void* key = secret.empty() ? static_cast<const void*>(&kEmpty) : secret.data();
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key, secret.size(),
                reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
                sizeof(mac), &mac_len) == nullptr) {
    ERR_clear_error();
    return input + ".";
  }
  return input + "." +
         Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

}  // namespace safeflow::service::auth
