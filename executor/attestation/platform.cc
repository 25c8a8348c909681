#include "executor/attestation/platform.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "executor/attestation/measurement.h"
#include "executor/crypto/openssl_util.h"

namespace safeflow::executor::attestation {

struct Platform::Key {
  crypto::UniquePkey pkey;
};

namespace {

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

// A string that is wiped when it goes away (it holds private key material).
struct SecretString {
  SecretString() = default;
  explicit SecretString(std::string d) : data(std::move(d)) {}
  SecretString(SecretString&& o) noexcept = default;
  SecretString& operator=(SecretString&& o) noexcept {
    Wipe();
    data = std::move(o.data);
    return *this;
  }
  ~SecretString() { Wipe(); }
  void Wipe() { OPENSSL_cleanse(data.data(), data.size()); }

  std::string data;
};

bool IsP256(EVP_PKEY* key) {
  char group[64] = {0};
  std::size_t len = 0;
  const bool ok = EVP_PKEY_is_a(key, "EC") &&
                  EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1 &&
                  std::string_view(group, len) == "prime256v1";
  ERR_clear_error();
  return ok;
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

// The key file's content: NotFound when it does not exist, FailedPrecondition when it is not a
// private regular file of ours.
absl::StatusOr<SecretString> ReadKeyFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(fmt::format("platform key {} missing", path));
    if (err == ELOOP) {
      return absl::FailedPreconditionError(fmt::format("platform key {} is a symlink", path));
    }
    return absl::InternalError(fmt::format("open {}: {}", path, std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return absl::InternalError(fmt::format("stat {}: {}", path, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        fmt::format("platform key {} is not a regular file", path));
  }
  if (st.st_uid != ::geteuid()) {
    return absl::FailedPreconditionError(fmt::format(
        "platform key {} is owned by uid {}, not by us (uid {})", path, st.st_uid, ::geteuid()));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(
        fmt::format("platform key {} has mode {:04o}: group and others must have no access", path,
                    st.st_mode & 07777));
  }
  if (static_cast<std::size_t>(st.st_size) > kMaxKeyFileBytes) {
    return absl::InvalidArgumentError(fmt::format("platform key {} is too large", path));
  }
  SecretString out;
  out.data.resize(kMaxKeyFileBytes + 1);
  std::size_t got = 0;
  while (got < out.data.size()) {
    const ssize_t r = ::read(fd.get(), out.data.data() + got, out.data.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(fmt::format("read {}: {}", path, std::strerror(errno)));
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  if (got > kMaxKeyFileBytes) {
    return absl::InvalidArgumentError(fmt::format("platform key {} is too large", path));
  }
  OPENSSL_cleanse(out.data.data() + got, out.data.size() - got);
  out.data.resize(got);
  return out;
}

absl::StatusOr<crypto::UniquePkey> ParsePrivateKey(const std::string& path,
                                                   const std::string& pem) {
  crypto::UniqueBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf: " + crypto::OpenSslError());
  crypto::UniquePkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        fmt::format("platform key {}: not a PEM private key: {}", path, crypto::OpenSslError()));
  }
  if (!IsP256(key.get())) {
    return absl::InvalidArgumentError(
        fmt::format("platform key {}: not an EC P-256 private key", path));
  }
  return key;
}

// Creates the missing directories of `dir` (mode 0700).
absl::Status MakeDirs(const std::string& dir) {
  for (std::size_t pos = dir.find('/', 1);; pos = dir.find('/', pos + 1)) {
    const std::string prefix = dir.substr(0, pos);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::InternalError(fmt::format("mkdir {}: {}", prefix, std::strerror(errno)));
    }
    if (pos == std::string::npos) return absl::OkStatus();
  }
}

// Removes the temporary file unless it was released.
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  ~TempFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

 private:
  std::string path_;
};

// Writes a new key to `path` unless a file is there already. Returns the new key, or nullptr
// when another process created the file first.
absl::StatusOr<crypto::UniquePkey> CreateKeyFile(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  if (absl::Status s = MakeDirs(dir); !s.ok()) return s;

  crypto::UniquePkey key(EVP_EC_gen("P-256"));
  if (key == nullptr) return absl::InternalError("EVP_EC_gen: " + crypto::OpenSslError());
  crypto::UniqueBio bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError("PEM_write_bio_PrivateKey: " + crypto::OpenSslError());
  }
  const SecretString pem(BioContents(bio.get()));

  std::string tmpl = path + ".tmp-XXXXXX";
  UniqueFd fd(::mkostemp(tmpl.data(), O_CLOEXEC));  // mode 0600
  if (!fd.valid()) {
    return absl::InternalError(fmt::format("create {}: {}", tmpl, std::strerror(errno)));
  }
  const TempFile cleanup(tmpl);
  if (::fchmod(fd.get(), 0600) != 0) {
    return absl::InternalError(fmt::format("chmod {}: {}", tmpl, std::strerror(errno)));
  }
  std::size_t done = 0;
  while (done < pem.data.size()) {
    const ssize_t w = ::write(fd.get(), pem.data.data() + done, pem.data.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(fmt::format("write {}: {}", tmpl, std::strerror(errno)));
    }
    done += static_cast<std::size_t>(w);
  }
  if (::fsync(fd.get()) != 0) {
    return absl::InternalError(fmt::format("fsync {}: {}", tmpl, std::strerror(errno)));
  }
  // link(2), unlike rename(2), never replaces a key that another process created meanwhile.
  if (::link(tmpl.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST) return crypto::UniquePkey();
    return absl::InternalError(fmt::format("link {}: {}", path, std::strerror(errno)));
  }
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid() || ::fsync(dir_fd.get()) != 0) {
    return absl::InternalError(fmt::format("fsync {}: {}", dir, std::strerror(errno)));
  }
  return key;
}

}  // namespace

Platform::Platform(std::unique_ptr<Key> key, std::string platform_id, std::string public_key_pem)
    : key_(std::move(key)),
      platform_id_(std::move(platform_id)),
      public_key_pem_(std::move(public_key_pem)) {}

Platform::~Platform() = default;

absl::StatusOr<std::unique_ptr<Platform>> Platform::LoadOrCreate(const std::string& key_path) {
  if (key_path.empty() || key_path.back() == '/') {
    return absl::InvalidArgumentError(fmt::format("platform key path \"{}\"", key_path));
  }
  crypto::UniquePkey key;
  absl::StatusOr<SecretString> pem = ReadKeyFile(key_path);
  if (absl::IsNotFound(pem.status())) {
    absl::StatusOr<crypto::UniquePkey> created = CreateKeyFile(key_path);
    if (!created.ok()) return created.status();
    key = *std::move(created);
    if (key == nullptr) pem = ReadKeyFile(key_path);  // somebody else was first
  }
  if (key == nullptr) {
    if (!pem.ok()) return pem.status();
    absl::StatusOr<crypto::UniquePkey> parsed = ParsePrivateKey(key_path, pem->data);
    if (!parsed.ok()) return parsed.status();
    key = *std::move(parsed);
  }

  crypto::UniqueBio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
    return absl::InternalError("PEM_write_bio_PUBKEY: " + crypto::OpenSslError());
  }
  std::string public_pem = BioContents(bio.get());
  absl::StatusOr<std::string> id = PlatformIdOfPublicKeyPem(public_pem);
  if (!id.ok()) return id.status();
  return std::unique_ptr<Platform>(new Platform(std::make_unique<Key>(Key{std::move(key)}),
                                                *std::move(id), std::move(public_pem)));
}

absl::StatusOr<std::string> Platform::Sign(std::string_view body_json) const {
  std::string sig;
  {
    std::scoped_lock lock(mu_);
    crypto::UniqueMdCtx ctx(EVP_MD_CTX_new());
    std::size_t len = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(body_json.data());
    if (ctx == nullptr ||
        EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_->pkey.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, data, body_json.size()) != 1) {
      return absl::InternalError("quote signing: " + crypto::OpenSslError());
    }
    sig.resize(len);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                       body_json.size()) != 1) {
      return absl::InternalError("quote signing: " + crypto::OpenSslError());
    }
    sig.resize(len);
  }
  try {
    const nlohmann::json envelope = {{"version", 1},
                                     {"body", detail::Base64UrlEncode(body_json)},
                                     {"signature", detail::Base64UrlEncode(sig)},
                                     {"platform_id", platform_id_}};
    return envelope.dump();
  } catch (const nlohmann::json::exception& e) {
    return absl::InternalError(fmt::format("quote envelope: {}", e.what()));
  }
}

absl::StatusOr<std::string> Platform::QuoteAt(const EnclaveIdentity& enclave,
                                              std::string_view report_data_hex,
                                              std::chrono::system_clock::time_point now) const {
  if (!IsSha256Hex(report_data_hex)) {
    return absl::InvalidArgumentError("report_data: want 64 lowercase hex digits");
  }
  if (!IsSha256Hex(enclave.mr_enclave)) {
    return absl::InvalidArgumentError("mr_enclave: want 64 lowercase hex digits");
  }
  if (!IsSha256Hex(enclave.config_id)) {
    return absl::InvalidArgumentError("config_id: want 64 lowercase hex digits");
  }
  if (enclave.security_version < 0 || enclave.attempt < 0) {
    return absl::InvalidArgumentError("security_version and attempt must be >= 0");
  }
  QuoteBody body;
  body.version = 1;
  body.platform_id = platform_id_;
  body.enclave = enclave;
  body.report_data = std::string(report_data_hex);
  body.time = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromChrono(now), absl::UTCTimeZone());
  absl::StatusOr<std::string> json = detail::CanonicalBodyJson(body);  // checks task_id's UTF-8
  if (!json.ok()) return json.status();
  return Sign(*json);
}

absl::StatusOr<std::string> Platform::Quote(const EnclaveIdentity& enclave,
                                            std::string_view report_data_hex) const {
  return QuoteAt(enclave, report_data_hex, std::chrono::system_clock::now());
}

absl::StatusOr<std::string> Platform::SignBodyForTest(std::string_view body_json) const {
  return Sign(body_json);
}

}  // namespace safeflow::executor::attestation
