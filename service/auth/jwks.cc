#include "service/auth/jwks.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <variant>

#include "fmt/format.h"
#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "executor/crypto/openssl_util.h"
#include "service/log.h"

namespace safeflow::service::auth {
namespace {

constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 8192;
constexpr size_t kP256CoordinateBytes = 32;
constexpr size_t kMaxJwksBytes = size_t{1} << 20;
constexpr const char* kPrivateMembers[] = {"d", "p", "q", "dp", "dq", "qi", "oth"};

using executor::crypto::OpenSslError;
using executor::crypto::PkeyDeleter;
using executor::crypto::UniqueBn;
using executor::crypto::UniqueParamBld;
using executor::crypto::UniqueParams;
using executor::crypto::UniquePkey;
using executor::crypto::UniquePkeyCtx;

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int DecodeChar(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// A short, printable rendering of an untrusted string (a kid) for messages.
std::string Printable(std::string_view s) {
  constexpr size_t kMax = 64;
  std::string out;
  for (char c : s.substr(0, kMax)) {
    out.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? c : '?');
  }
  if (s.size() > kMax) out += "...";
  return out;
}

// The string member `name` of `j`: nullopt when absent, an error when not a string.
absl::StatusOr<std::optional<std::string>> OptionalString(const nlohmann::json& j,
                                                          const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return std::optional<std::string>();
  if (!it->is_string())
    return absl::InvalidArgumentError(fmt::format("\"{}\" is not a string", name));
  return std::optional<std::string>(it->get<std::string>());
}

absl::StatusOr<std::string> RequiredBytes(const nlohmann::json& j, const char* name) {
  absl::StatusOr<std::optional<std::string>> s = OptionalString(j, name);
  if (!s.ok()) return s.status();
  if (!s->has_value()) return absl::InvalidArgumentError(fmt::format("\"{}\" is missing", name));
  absl::StatusOr<std::string> bytes = Base64UrlDecode(**s);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("\"{}\" is not base64url: {}", name, std::string(bytes.status().message())));
  }
  if (bytes->empty()) return absl::InvalidArgumentError(fmt::format("\"{}\" is empty", name));
  return bytes;
}

// Builds a public key of `type` ("RSA" or "EC") from `params` and runs EVP_PKEY_public_check.
absl::StatusOr<std::shared_ptr<EVP_PKEY>> PublicKeyFromParams(const char* type,
                                                              OSSL_PARAM_BLD* bld) {
  UniqueParams params(OSSL_PARAM_BLD_to_param(bld));
  UniquePkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return absl::InternalError(fmt::format("OpenSSL: {}", OpenSslError()));
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InvalidArgumentError(fmt::format("invalid public key: {}", OpenSslError()));
  }
  UniquePkey key(raw);
  UniquePkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (check == nullptr || EVP_PKEY_public_check(check.get()) != 1) {
    return absl::InvalidArgumentError(fmt::format("invalid public key: {}", OpenSslError()));
  }
  return std::shared_ptr<EVP_PKEY>(key.release(), PkeyDeleter());
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> RsaKey(const nlohmann::json& j) {
  absl::StatusOr<std::string> n = RequiredBytes(j, "n");
  if (!n.ok()) return n.status();
  absl::StatusOr<std::string> e = RequiredBytes(j, "e");
  if (!e.ok()) return e.status();
  UniqueBn bn_n(BN_bin2bn(reinterpret_cast<const unsigned char*>(n->data()),
                          static_cast<int>(n->size()), nullptr));
  UniqueBn bn_e(BN_bin2bn(reinterpret_cast<const unsigned char*>(e->data()),
                          static_cast<int>(e->size()), nullptr));
  if (bn_n == nullptr || bn_e == nullptr) return absl::ResourceExhaustedError("BN_bin2bn failed");
  const int bits = BN_num_bits(bn_n.get());
  if (bits < kMinRsaBits) {
    return absl::InvalidArgumentError(
        fmt::format("RSA key of {} bits is too small (at least {})", bits, kMinRsaBits));
  }
  if (bits > kMaxRsaBits) {
    return absl::InvalidArgumentError(
        fmt::format("RSA key of {} bits is too large (at most {})", bits, kMaxRsaBits));
  }
  if (!BN_is_odd(bn_n.get())) return absl::InvalidArgumentError("the RSA modulus is even");
  // SP 800-56B / FIPS 186-5: an odd public exponent with 2^16 < e < 2^256.
  if (!BN_is_odd(bn_e.get()) || BN_num_bits(bn_e.get()) <= 16 || BN_num_bits(bn_e.get()) > 256) {
    return absl::InvalidArgumentError("the RSA public exponent must be odd, > 2^16 and < 2^256");
  }
  UniqueParamBld bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return absl::InternalError(fmt::format("OpenSSL: {}", OpenSslError()));
  }
  return PublicKeyFromParams("RSA", bld.get());
}

absl::StatusOr<std::shared_ptr<EVP_PKEY>> P256Key(const nlohmann::json& j) {
  absl::StatusOr<std::string> x = RequiredBytes(j, "x");
  if (!x.ok()) return x.status();
  absl::StatusOr<std::string> y = RequiredBytes(j, "y");
  if (!y.ok()) return y.status();
  if (x->size() != kP256CoordinateBytes || y->size() != kP256CoordinateBytes) {
    return absl::InvalidArgumentError(
        fmt::format("P-256 coordinates must be {} bytes each", kP256CoordinateBytes));
  }
  const std::string point = "\x04" + *x + *y;  // SEC 1 uncompressed form
  UniqueParamBld bld(OSSL_PARAM_BLD_new());
  if (bld == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return absl::InternalError(fmt::format("OpenSSL: {}", OpenSslError()));
  }
  // EVP_PKEY_fromdata refuses a point that is not on the curve; EVP_PKEY_public_check also
  // refuses the point at infinity and checks the order.
  return PublicKeyFromParams("EC", bld.get());
}

// Why a JWK is not usable: `refused` (worth a warning: a private key, a weak key) or merely
// skipped (a type or use this verifier does not handle).
struct Rejection {
  std::string reason;
  bool refused = false;
};

std::variant<Jwk, Rejection> ParseKey(const nlohmann::json& j) {
  auto skip = [](std::string reason) { return Rejection{std::move(reason), false}; };
  auto refuse = [](std::string reason) { return Rejection{std::move(reason), true}; };
  if (!j.is_object()) return refuse("not a JSON object");
  Jwk jwk;
  for (const char* name : {"kty", "kid", "use", "alg", "crv"}) {
    absl::StatusOr<std::optional<std::string>> s = OptionalString(j, name);
    if (!s.ok()) return refuse(std::string(s.status().message()));
  }
  if (!j.contains("kty")) return refuse("\"kty\" is missing");
  jwk.kty = j["kty"].get<std::string>();
  if (j.contains("kid")) jwk.kid = j["kid"].get<std::string>();
  if (j.contains("use")) {
    jwk.use = j["use"].get<std::string>();
    if (jwk.use != "sig") return skip(fmt::format("use \"{}\" is not \"sig\"", Printable(jwk.use)));
  }
  if (jwk.kty != "RSA" && jwk.kty != "EC") {
    return skip(fmt::format("kty \"{}\" is not supported", Printable(jwk.kty)));
  }
  for (const char* member : kPrivateMembers) {
    if (j.contains(member)) {
      return refuse(fmt::format(
          "carries the private key member \"{}\" (a JWKS must hold public keys only)", member));
    }
  }
  jwk.alg = jwk.kty == "RSA" ? "RS256" : "ES256";
  if (j.contains("alg") && j["alg"].get<std::string>() != jwk.alg) {
    return skip(fmt::format("alg \"{}\" is not supported for kty {}",
                            Printable(j["alg"].get<std::string>()), jwk.kty));
  }
  if (auto ops = j.find("key_ops"); ops != j.end()) {
    if (!ops->is_array() || std::find(ops->begin(), ops->end(), "verify") == ops->end()) {
      return skip("key_ops does not include \"verify\"");
    }
  }
  absl::StatusOr<std::shared_ptr<EVP_PKEY>> key;
  if (jwk.kty == "RSA") {
    key = RsaKey(j);
  } else {
    const std::string crv = j.contains("crv") ? j["crv"].get<std::string>() : "";
    if (crv != "P-256") {
      return skip(fmt::format("EC curve \"{}\" is not supported", Printable(crv)));
    }
    key = P256Key(j);
  }
  if (!key.ok()) return refuse(std::string(key.status().message()));
  jwk.key = *std::move(key);
  return jwk;
}

absl::StatusOr<Jwk> FindIn(const std::vector<Jwk>& keys, std::string_view kid,
                           std::string_view alg) {
  if (!kid.empty()) {
    for (const Jwk& k : keys) {
      if (k.kid == kid) return k;
    }
    return absl::NotFoundError(fmt::format("no key with kid \"{}\"", Printable(kid)));
  }
  const Jwk* found = nullptr;
  int count = 0;
  for (const Jwk& k : keys) {
    if (k.alg == alg) {
      found = &k;
      ++count;
    }
  }
  if (count == 1) return *found;
  if (count == 0) {
    return absl::NotFoundError(fmt::format("no key for alg {}", Printable(alg)));
  }
  return absl::NotFoundError(
      fmt::format("the token has no kid and {} keys have alg {}", count, Printable(alg)));
}

class StaticJwksSource final : public JwksSource {
 public:
  explicit StaticJwksSource(std::vector<Jwk> keys) : keys_(std::move(keys)) {}
  absl::StatusOr<Jwk> Find(std::string_view kid, std::string_view alg) override {
    return FindIn(keys_, kid, alg);
  }

 private:
  const std::vector<Jwk> keys_;
};

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(fmt::format("{}: {}", path, std::strerror(errno)));
  std::string out;
  char buf[8192];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return absl::UnavailableError(fmt::format("{}: {}", path, std::strerror(err)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxJwksBytes) {
      ::close(fd);
      return absl::UnavailableError(fmt::format("{}: larger than {} bytes", path, kMaxJwksBytes));
    }
  }
  ::close(fd);
  return out;
}

class FileJwksSource final : public JwksSource {
 public:
  explicit FileJwksSource(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<Jwk> Find(std::string_view kid, std::string_view alg) override {
    std::scoped_lock lock(mu_);
    MaybeReload();
    if (keys_.empty()) {
      return absl::UnavailableError(
          fmt::format("no JWKS loaded: {}", std::string(last_error_.message())));
    }
    return FindIn(keys_, kid, alg);
  }

 private:
  // What identifies one version of the file.
  struct Version {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    struct timespec mtime {};
    struct timespec ctime {};
    bool operator==(const Version& o) const {
      return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
             mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec &&
             ctime.tv_nsec == o.ctime.tv_nsec;
    }
  };

  void MaybeReload() {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      Fail(absl::UnavailableError(fmt::format("{}: {}", path_, std::strerror(errno))));
      version_.reset();
      return;
    }
    const Version v{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
    if (version_.has_value() && *version_ == v) return;
    version_ = v;
    absl::StatusOr<std::string> text = ReadSmallFile(path_);
    if (!text.ok()) {
      Fail(text.status());
      return;
    }
    absl::StatusOr<std::vector<Jwk>> keys = ParseJwks(*text);
    if (!keys.ok()) {
      Fail(absl::UnavailableError(
          fmt::format("{}: {}", path_, std::string(keys.status().message()))));
      return;
    }
    Log().info("auth: loaded {} key(s) from JWKS file {}", keys->size(), path_);
    keys_ = *std::move(keys);
    last_error_ = absl::OkStatus();
  }

  void Fail(absl::Status status) {
    if (status != last_error_) {
      if (keys_.empty()) {
        Log().warn("auth: JWKS file: {}", status.message());
      } else {
        Log().warn("auth: JWKS file: {}; keeping the {} key(s) loaded before", status.message(),
                   keys_.size());
      }
    }
    last_error_ = std::move(status);
  }

  const std::string path_;
  std::mutex mu_;
  std::optional<Version> version_;  // guarded by mu_
  std::vector<Jwk> keys_;           // guarded by mu_; the last good set
  absl::Status last_error_;         // guarded by mu_
};

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      Log().error("auth: curl_global_init failed");
    }
  });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

struct Body {
  std::string data;
  bool too_large = false;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<Body*>(user);
  const size_t len = size * n;
  if (len > kMaxJwksBytes - body->data.size()) {
    body->too_large = true;
    return 0;
  }
  body->data.append(data, len);
  return len;
}

absl::StatusOr<std::vector<Jwk>> FetchJwks(const JwksUrlOptions& options) {
  EnsureCurlInitialized();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (curl == nullptr) return absl::UnavailableError("curl_easy_init failed");
  Body body;
  char error[CURL_ERROR_SIZE] = {0};
  const long timeout_ms = static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(options.timeout).count());
  CURLcode rc = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(curl.get(), option, value);
  };
  set(CURLOPT_URL, options.url.c_str());
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_PROTOCOLS_STR, options.allow_insecure_http ? "http,https" : "https");
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_TIMEOUT_MS, timeout_ms);
  set(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_bundle.empty()) set(CURLOPT_CAINFO, options.ca_bundle.c_str());
  set(CURLOPT_USERAGENT, "safeflow-jwks");
  set(CURLOPT_ERRORBUFFER, error);
  set(CURLOPT_WRITEFUNCTION, OnBody);
  set(CURLOPT_WRITEDATA, &body);
  set(CURLOPT_HTTPGET, 1L);
  if (rc != CURLE_OK) {
    return absl::InternalError(fmt::format("curl setup: {}", curl_easy_strerror(rc)));
  }
  rc = curl_easy_perform(curl.get());
  if (body.too_large) {
    return absl::UnavailableError(fmt::format("the JWKS is larger than {} bytes", kMaxJwksBytes));
  }
  if (rc != CURLE_OK) {
    return absl::UnavailableError(error[0] != '\0' ? std::string(error) : curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return absl::UnavailableError(fmt::format("HTTP {}", status));
  absl::StatusOr<std::vector<Jwk>> keys = ParseJwks(body.data);
  if (!keys.ok()) return absl::UnavailableError(std::string(keys.status().message()));
  return keys;
}

class UrlJwksSource final : public JwksSource {
 public:
  using Clock = std::chrono::steady_clock;

  explicit UrlJwksSource(JwksUrlOptions options)
      : options_(std::move(options)), options_status_(ValidateJwksUrlOptions(options_)) {}

  absl::StatusOr<Jwk> Find(std::string_view kid, std::string_view alg) override {
    if (!options_status_.ok()) return options_status_;
    std::uint64_t generation = 0;
    {
      std::scoped_lock lock(mu_);
      const Clock::time_point now = Clock::now();
      const bool may_fetch =
          !last_attempt_.has_value() || now - *last_attempt_ >= options_.min_refresh_interval;
      if (keys_.has_value() && now < fresh_until_) {
        absl::StatusOr<Jwk> found = FindIn(*keys_, kid, alg);
        // An unknown key: maybe the issuer rotated its keys; refresh (rate-limited).
        if (found.ok() || !may_fetch) return found;
      } else if (!keys_.has_value() && !may_fetch) {
        return NotLoaded();
      }
      generation = generation_;
    }
    std::scoped_lock fetch_lock(fetch_mu_);
    {
      std::scoped_lock lock(mu_);
      if (generation_ != generation) return Answer(kid, alg);  // another thread just fetched
      last_attempt_ = Clock::now();
    }
    absl::StatusOr<std::vector<Jwk>> fetched = FetchJwks(options_);
    std::scoped_lock lock(mu_);
    ++generation_;
    const Clock::time_point now = Clock::now();
    if (fetched.ok()) {
      Log().info("auth: fetched {} key(s) from JWKS URL {}", fetched->size(), options_.url);
      keys_ = *std::move(fetched);
      fresh_until_ = now + options_.ttl;
      last_error_ = absl::OkStatus();
    } else {
      last_error_ = fetched.status();
      if (keys_.has_value()) {
        Log().warn("auth: JWKS URL {}: {}; keeping the {} key(s) fetched before", options_.url,
                   last_error_.message(), keys_->size());
        fresh_until_ = std::max(fresh_until_, now + options_.min_refresh_interval);
      } else {
        Log().warn("auth: JWKS URL {}: {}", options_.url, last_error_.message());
      }
    }
    return Answer(kid, alg);
  }

 private:
  absl::Status NotLoaded() const {
    return absl::UnavailableError(fmt::format("JWKS from {} not loaded: {}", options_.url,
                                              std::string(last_error_.message())));
  }
  absl::StatusOr<Jwk> Answer(std::string_view kid, std::string_view alg) const {
    if (!keys_.has_value()) return NotLoaded();
    return FindIn(*keys_, kid, alg);
  }

  const JwksUrlOptions options_;
  const absl::Status options_status_;
  std::mutex fetch_mu_;                   // held for a whole fetch: one fetch at a time
  std::mutex mu_;                         // guards the members below; never held during a fetch
  std::optional<std::vector<Jwk>> keys_;  // guarded by mu_; the last good set
  Clock::time_point fresh_until_;         // guarded by mu_
  std::optional<Clock::time_point> last_attempt_;  // guarded by mu_
  std::uint64_t generation_ = 0;                   // guarded by mu_; counts fetch attempts
  absl::Status last_error_;                        // guarded by mu_
};

}  // namespace

std::string Base64UrlEncode(std::string_view data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(data[k])); };
  for (; i + 3 <= data.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const size_t rest = data.size() - i;
  if (rest == 1) {
    const unsigned v = byte(i) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

absl::StatusOr<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return absl::InvalidArgumentError("impossible base64url length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = DecodeChar(static_cast<unsigned char>(c));
    if (v < 0) {
      return absl::InvalidArgumentError(c == '=' ? "base64url padding is not allowed"
                                                 : "character outside the base64url alphabet");
    }
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return absl::InvalidArgumentError("non-canonical base64url (unused bits set)");
  return out;
}

absl::StatusOr<std::vector<Jwk>> ParseJwks(std::string_view json) {
  const nlohmann::json doc =
      nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("the JWKS is not valid JSON");
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return absl::InvalidArgumentError("the JWKS has no \"keys\" array");
  }
  std::vector<Jwk> keys;
  std::vector<std::string> reasons;
  const nlohmann::json& list = doc["keys"];
  for (size_t i = 0; i < list.size(); ++i) {
    std::variant<Jwk, Rejection> parsed = ParseKey(list[i]);
    std::string where = fmt::format("keys[{}]", i);
    if (list[i].is_object() && list[i].contains("kid") && list[i]["kid"].is_string()) {
      where += fmt::format(" (kid \"{}\")", Printable(list[i]["kid"].get<std::string>()));
    }
    if (auto* r = std::get_if<Rejection>(&parsed)) {
      if (r->refused) Log().warn("auth: JWKS {} refused: {}", where, r->reason);
      reasons.push_back(fmt::format("{}: {}", where, r->reason));
      continue;
    }
    Jwk& jwk = std::get<Jwk>(parsed);
    const bool duplicate =
        !jwk.kid.empty() &&
        std::any_of(keys.begin(), keys.end(), [&](const Jwk& k) { return k.kid == jwk.kid; });
    if (duplicate) {
      reasons.push_back(fmt::format("{}: duplicate kid", where));
      continue;
    }
    keys.push_back(std::move(jwk));
  }
  if (keys.empty()) {
    std::string msg = "the JWKS has no usable key";
    if (!reasons.empty()) {
      msg += ": ";
      for (size_t i = 0; i < reasons.size(); ++i) msg += (i ? "; " : "") + reasons[i];
    }
    return absl::InvalidArgumentError(msg);
  }
  return keys;
}

std::unique_ptr<JwksSource> NewStaticJwksSource(std::vector<Jwk> keys) {
  return std::make_unique<StaticJwksSource>(std::move(keys));
}

std::unique_ptr<JwksSource> NewFileJwksSource(std::string path) {
  return std::make_unique<FileJwksSource>(std::move(path));
}

absl::Status ValidateJwksUrlOptions(const JwksUrlOptions& options) {
  std::string scheme;
  if (const size_t colon = options.url.find("://"); colon != std::string::npos) {
    scheme = options.url.substr(0, colon);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  }
  const size_t host_start = scheme.size() + 3;
  if (scheme.empty() || options.url.size() <= host_start || options.url[host_start] == '/') {
    return absl::InvalidArgumentError(
        fmt::format("JWKS URL \"{}\" is not an absolute URL", Printable(options.url)));
  }
  if (scheme != "https" && !(scheme == "http" && options.allow_insecure_http)) {
    return absl::InvalidArgumentError(
        fmt::format("JWKS URL \"{}\" must be https://", Printable(options.url)));
  }
  if (options.ttl.count() <= 0) return absl::InvalidArgumentError("JWKS ttl must be positive");
  if (options.min_refresh_interval.count() < 0) {
    return absl::InvalidArgumentError("JWKS min_refresh_interval must not be negative");
  }
  if (options.timeout.count() <= 0) {
    return absl::InvalidArgumentError("JWKS fetch timeout must be positive");
  }
  return absl::OkStatus();
}

std::unique_ptr<JwksSource> NewUrlJwksSource(JwksUrlOptions options) {
  return std::make_unique<UrlJwksSource>(std::move(options));
}

absl::StatusOr<nlohmann::json> PublicJwk(const EVP_PKEY& key) {
  auto bn_bytes = [&](const char* name, int pad) -> absl::StatusOr<std::string> {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(&key, name, &raw) != 1) {
      return absl::InvalidArgumentError(fmt::format("key has no {}: {}", name, OpenSslError()));
    }
    UniqueBn bn(raw);
    const int len = pad > 0 ? pad : BN_num_bytes(bn.get());
    std::string out(static_cast<size_t>(len), '\0');
    if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), len) != len) {
      return absl::InvalidArgumentError(fmt::format("key member {} does not fit", name));
    }
    return out;
  };
  if (EVP_PKEY_is_a(&key, "RSA")) {
    absl::StatusOr<std::string> n = bn_bytes(OSSL_PKEY_PARAM_RSA_N, 0);
    if (!n.ok()) return n.status();
    absl::StatusOr<std::string> e = bn_bytes(OSSL_PKEY_PARAM_RSA_E, 0);
    if (!e.ok()) return e.status();
    return nlohmann::json{{"kty", "RSA"}, {"n", Base64UrlEncode(*n)}, {"e", Base64UrlEncode(*e)}};
  }
  if (EVP_PKEY_is_a(&key, "EC")) {
    char group[64] = {0};
    size_t group_len = 0;
    if (EVP_PKEY_get_utf8_string_param(&key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &group_len) != 1 ||
        std::string_view(group, group_len) != "prime256v1") {
      ERR_clear_error();
      return absl::InvalidArgumentError("only EC keys on P-256 have a JWK here");
    }
    absl::StatusOr<std::string> x = bn_bytes(OSSL_PKEY_PARAM_EC_PUB_X, kP256CoordinateBytes);
    if (!x.ok()) return x.status();
    absl::StatusOr<std::string> y = bn_bytes(OSSL_PKEY_PARAM_EC_PUB_Y, kP256CoordinateBytes);
    if (!y.ok()) return y.status();
    return nlohmann::json{
        {"kty", "EC"}, {"crv", "P-256"}, {"x", Base64UrlEncode(*x)}, {"y", Base64UrlEncode(*y)}};
  }
  return absl::InvalidArgumentError("only RSA and EC P-256 keys have a JWK here");
}

absl::StatusOr<std::string> JwkThumbprint(const nlohmann::json& jwk) {
  if (!jwk.is_object() || !jwk.contains("kty") || !jwk["kty"].is_string()) {
    return absl::InvalidArgumentError("the JWK has no kty");
  }
  const std::string kty = jwk["kty"].get<std::string>();
  std::vector<const char*> members;
  if (kty == "RSA") {
    members = {"e", "kty", "n"};
  } else if (kty == "EC") {
    members = {"crv", "kty", "x", "y"};
  } else {
    return absl::InvalidArgumentError(fmt::format("no thumbprint for kty \"{}\"", Printable(kty)));
  }
  nlohmann::json canonical = nlohmann::json::object();  // std::map: members sorted
  for (const char* m : members) {
    if (!jwk.contains(m) || !jwk[m].is_string()) {
      return absl::InvalidArgumentError(fmt::format("the JWK has no string \"{}\"", m));
    }
    canonical[m] = jwk[m];
  }
  const std::string text = canonical.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    return absl::InternalError(fmt::format("SHA-256: {}", OpenSslError()));
  }
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

}  // namespace safeflow::service::auth
