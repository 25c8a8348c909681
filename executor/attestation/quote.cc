#include "executor/attestation/quote.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "fmt/format.h"
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "executor/attestation/measurement.h"
#include "executor/crypto/openssl_util.h"

namespace safeflow::executor::attestation {
namespace {

using json = nlohmann::json;

// A P-256 ECDSA signature in DER is at most 72 bytes.
constexpr std::size_t kMaxSignatureBytes = 80;
// Quotes are flat: envelope (1) and body (2) objects. Anything deeper is malformed, and
// refusing it before parsing keeps the recursive parts of the JSON library shallow.
constexpr int kMaxJsonDepth = 4;

// Deepest nesting of objects and arrays in `text` (strings skipped), stopping once above
// kMaxJsonDepth.
int JsonDepth(std::string_view text) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
      if (deepest > kMaxJsonDepth) return deepest;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

// Parses `text` as one JSON value; InvalidArgument (prefixed by `what`) for bad JSON, nesting
// deeper than kMaxJsonDepth, or an object with a key given twice.
absl::StatusOr<json> ParseStrict(std::string_view what, std::string_view text) {
  if (JsonDepth(text) > kMaxJsonDepth) {
    return absl::InvalidArgumentError(fmt::format("{}: nested too deeply", what));
  }
  std::vector<std::set<std::string>> keys;  // per open object
  bool duplicate = false;
  const json::parser_callback_t cb = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second) {
          duplicate = true;
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    json j = json::parse(text, cb, /*allow_exceptions=*/false);
    if (j.is_discarded()) return absl::InvalidArgumentError(fmt::format("{}: not JSON", what));
    if (duplicate) return absl::InvalidArgumentError(fmt::format("{}: duplicate key", what));
    return j;
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(fmt::format("{}: {}", what, e.what()));
  }
}

// InvalidArgument unless `j` is an object with exactly `fields`.
absl::Status CheckFields(std::string_view what, const json& j,
                         std::initializer_list<std::string_view> fields) {
  if (!j.is_object()) return absl::InvalidArgumentError(fmt::format("{}: not an object", what));
  for (std::string_view f : fields) {
    if (!j.contains(f)) return absl::InvalidArgumentError(fmt::format("{}.{}: missing", what, f));
  }
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (std::string_view f : fields) known = known || key == f;
    if (!known) return absl::InvalidArgumentError(fmt::format("{}.{}: unknown field", what, key));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetString(std::string_view what, const json& j, const char* key) {
  const json& v = j.at(key);
  if (!v.is_string()) {
    return absl::InvalidArgumentError(fmt::format("{}.{}: want a string", what, key));
  }
  return v.get<std::string>();
}

absl::StatusOr<std::string> GetHex(std::string_view what, const json& j, const char* key) {
  absl::StatusOr<std::string> s = GetString(what, j, key);
  if (!s.ok()) return s.status();
  if (!IsSha256Hex(*s)) {
    return absl::InvalidArgumentError(
        fmt::format("{}.{}: want 64 lowercase hex digits", what, key));
  }
  return s;
}

absl::StatusOr<int> GetNonNegativeInt(std::string_view what, const json& j, const char* key) {
  const json& v = j.at(key);
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(INT_MAX)) return static_cast<int>(u);
  } else if (v.is_number_integer()) {  // ToJson() stores int fields as signed
    const auto i = v.get<std::int64_t>();
    if (i >= 0 && i <= INT_MAX) return static_cast<int>(i);
  }
  return absl::InvalidArgumentError(
      fmt::format("{}.{}: want an integer from 0 to {}", what, key, INT_MAX));
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "YYYY-MM-DDTHH:MM:SS[.fraction]Z" with valid ranges.
bool IsRfc3339Utc(std::string_view s) {
  if (s.size() < 20 || s.back() != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
      s[13] != ':' || s[16] != ':') {
    return false;
  }
  if (!IsDigits(s.substr(0, 4)) || !IsDigits(s.substr(5, 2)) || !IsDigits(s.substr(8, 2)) ||
      !IsDigits(s.substr(11, 2)) || !IsDigits(s.substr(14, 2)) || !IsDigits(s.substr(17, 2))) {
    return false;
  }
  const std::string_view rest = s.substr(19, s.size() - 20);
  if (!rest.empty() && (rest[0] != '.' || rest.size() > 10 || !IsDigits(rest.substr(1)))) {
    return false;
  }
  absl::Time t;
  std::string err;
  return absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", std::string(s), absl::UTCTimeZone(), &t, &err);
}

absl::StatusOr<crypto::UniquePkey> PublicKeyFromDer(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  crypto::UniquePkey key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (key == nullptr) return absl::InternalError("platform key: " + crypto::OpenSslError());
  return key;
}

// DER SubjectPublicKeyInfo of an EC P-256 PEM public key.
absl::StatusOr<std::string> P256DerFromPem(std::string_view pem) {
  if (pem.size() > 16 * 1024) return absl::InvalidArgumentError("platform key: PEM too large");
  crypto::UniqueBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::InternalError("BIO_new_mem_buf: " + crypto::OpenSslError());
  crypto::UniquePkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError("platform key: not a PEM public key: " +
                                      crypto::OpenSslError());
  }
  char group[64] = {0};
  std::size_t group_len = 0;
  if (!EVP_PKEY_is_a(key.get(), "EC") ||
      EVP_PKEY_get_group_name(key.get(), group, sizeof group, &group_len) != 1 ||
      std::string_view(group, group_len) != "prime256v1") {
    ERR_clear_error();
    return absl::InvalidArgumentError("platform key: not an EC P-256 public key");
  }
  unsigned char* der = nullptr;
  const int n = i2d_PUBKEY(key.get(), &der);
  if (n <= 0) return absl::InternalError("i2d_PUBKEY: " + crypto::OpenSslError());
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  return out;
}

}  // namespace

namespace detail {

std::string Base64UrlEncode(std::string_view in) {
  return absl::WebSafeBase64Escape(absl::string_view(in.data(), in.size()));
}

absl::StatusOr<std::string> Base64UrlDecode(std::string_view in) {
  for (char c : in) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return absl::InvalidArgumentError("bad base64url");
  }
  std::string out;
  // Re-encoding must give the input back: rejects lengths of 1 mod 4 and non-zero trailing
  // bits, so each byte string has exactly one accepted encoding.
  if (in.size() % 4 == 1 ||
      !absl::WebSafeBase64Unescape(absl::string_view(in.data(), in.size()), &out) ||
      absl::WebSafeBase64Escape(out) != in) {
    return absl::InvalidArgumentError("bad base64url");
  }
  return out;
}

absl::StatusOr<std::string> CanonicalBodyJson(const QuoteBody& body) {
  try {
    return ToJson(body).dump();
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(fmt::format("quote body: {}", e.what()));
  }
}

}  // namespace detail

std::string ReportData(std::string_view public_key, std::string_view nonce) {
  std::string input;
  input.reserve(public_key.size() + nonce.size());
  input.append(public_key);
  input.append(nonce);
  return Sha256Hex(input);
}

json ToJson(const EnclaveIdentity& e) {
  return {{"mr_enclave", e.mr_enclave}, {"config_id", e.config_id},
          {"debug", e.debug},           {"security_version", e.security_version},
          {"task_id", e.task_id},       {"attempt", e.attempt}};
}

json ToJson(const QuoteBody& b) {
  return {{"version", b.version},
          {"platform_id", b.platform_id},
          {"enclave", ToJson(b.enclave)},
          {"report_data", b.report_data},
          {"time", b.time}};
}

absl::StatusOr<EnclaveIdentity> EnclaveIdentityFromJson(const json& j) {
  constexpr std::string_view kWhat = "quote.body.enclave";
  if (absl::Status s = CheckFields(
          kWhat, j, {"mr_enclave", "config_id", "debug", "security_version", "task_id", "attempt"});
      !s.ok()) {
    return s;
  }
  EnclaveIdentity e;
  absl::StatusOr<std::string> mr = GetHex(kWhat, j, "mr_enclave");
  if (!mr.ok()) return mr.status();
  e.mr_enclave = *std::move(mr);
  absl::StatusOr<std::string> config = GetHex(kWhat, j, "config_id");
  if (!config.ok()) return config.status();
  e.config_id = *std::move(config);
  if (!j.at("debug").is_boolean()) {
    return absl::InvalidArgumentError("quote.enclave.debug: want a boolean");
  }
  e.debug = j.at("debug").get<bool>();
  absl::StatusOr<int> svn = GetNonNegativeInt(kWhat, j, "security_version");
  if (!svn.ok()) return svn.status();
  e.security_version = *svn;
  absl::StatusOr<std::string> task = GetString(kWhat, j, "task_id");
  if (!task.ok()) return task.status();
  e.task_id = *std::move(task);
  absl::StatusOr<int> attempt = GetNonNegativeInt(kWhat, j, "attempt");
  if (!attempt.ok()) return attempt.status();
  e.attempt = *attempt;
  return e;
}

absl::StatusOr<QuoteBody> QuoteBodyFromJson(const json& j) {
  constexpr std::string_view kWhat = "quote.body";
  if (absl::Status s =
          CheckFields(kWhat, j, {"version", "platform_id", "enclave", "report_data", "time"});
      !s.ok()) {
    return s;
  }
  QuoteBody b;
  absl::StatusOr<int> version = GetNonNegativeInt(kWhat, j, "version");
  if (!version.ok()) return version.status();
  if (*version != 1) {
    return absl::InvalidArgumentError(
        fmt::format("quote.body.version: {} is not supported", *version));
  }
  b.version = *version;
  absl::StatusOr<std::string> platform = GetHex(kWhat, j, "platform_id");
  if (!platform.ok()) return platform.status();
  b.platform_id = *std::move(platform);
  absl::StatusOr<EnclaveIdentity> enclave = EnclaveIdentityFromJson(j.at("enclave"));
  if (!enclave.ok()) return enclave.status();
  b.enclave = *std::move(enclave);
  absl::StatusOr<std::string> report = GetHex(kWhat, j, "report_data");
  if (!report.ok()) return report.status();
  b.report_data = *std::move(report);
  absl::StatusOr<std::string> time = GetString(kWhat, j, "time");
  if (!time.ok()) return time.status();
  if (!IsRfc3339Utc(*time)) {
    return absl::InvalidArgumentError("quote.body.time: want YYYY-MM-DDTHH:MM:SSZ");
  }
  b.time = *std::move(time);
  return b;
}

absl::StatusOr<std::string> PlatformIdOfPublicKeyPem(std::string_view pem) {
  absl::StatusOr<std::string> der = P256DerFromPem(pem);
  if (!der.ok()) return der.status();
  return Sha256Hex(*der);
}

absl::StatusOr<QuoteVerifier> QuoteVerifier::Create(
    const std::vector<std::string>& trusted_platform_public_key_pems) {
  if (trusted_platform_public_key_pems.empty()) {
    return absl::InvalidArgumentError("no trusted platform keys");
  }
  std::map<std::string, std::string> keys;
  for (const std::string& pem : trusted_platform_public_key_pems) {
    absl::StatusOr<std::string> der = P256DerFromPem(pem);
    if (!der.ok()) return der.status();
    std::string id = Sha256Hex(*der);
    keys.emplace(std::move(id), *std::move(der));
  }
  return QuoteVerifier(std::move(keys));
}

std::vector<std::string> QuoteVerifier::platform_ids() const {
  std::vector<std::string> ids;
  for (const auto& [id, der] : der_by_platform_id_) ids.push_back(id);
  return ids;
}

absl::StatusOr<QuoteBody> QuoteVerifier::Verify(std::string_view quote) const {
  if (quote.size() > kMaxQuoteBytes) {
    return absl::InvalidArgumentError(
        fmt::format("quote: {} bytes, more than {}", quote.size(), kMaxQuoteBytes));
  }
  constexpr std::string_view kWhat = "quote";
  absl::StatusOr<json> envelope = ParseStrict(kWhat, quote);
  if (!envelope.ok()) return envelope.status();
  if (absl::Status s =
          CheckFields(kWhat, *envelope, {"version", "body", "signature", "platform_id"});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<int> version = GetNonNegativeInt(kWhat, *envelope, "version");
  if (!version.ok()) return version.status();
  if (*version != 1) {
    return absl::InvalidArgumentError(fmt::format("quote.version: {} is not supported", *version));
  }
  absl::StatusOr<std::string> platform_id = GetHex(kWhat, *envelope, "platform_id");
  if (!platform_id.ok()) return platform_id.status();
  absl::StatusOr<std::string> body_b64 = GetString(kWhat, *envelope, "body");
  if (!body_b64.ok()) return body_b64.status();
  absl::StatusOr<std::string> body = detail::Base64UrlDecode(*body_b64);
  if (!body.ok()) return absl::InvalidArgumentError("quote.body: bad base64url");
  absl::StatusOr<std::string> sig_b64 = GetString(kWhat, *envelope, "signature");
  if (!sig_b64.ok()) return sig_b64.status();
  absl::StatusOr<std::string> sig = detail::Base64UrlDecode(*sig_b64);
  if (!sig.ok()) return absl::InvalidArgumentError("quote.signature: bad base64url");
  if (sig->empty() || sig->size() > kMaxSignatureBytes) {
    return absl::InvalidArgumentError("quote.signature: wrong size");
  }

  const auto it = der_by_platform_id_.find(*platform_id);
  if (it == der_by_platform_id_.end()) {
    return absl::PermissionDeniedError(
        fmt::format("quote from an unknown platform {}", *platform_id));
  }
  absl::StatusOr<crypto::UniquePkey> key = PublicKeyFromDer(it->second);
  if (!key.ok()) return key.status();
  crypto::UniqueMdCtx ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key->get()) != 1) {
    return absl::InternalError("EVP_DigestVerifyInit: " + crypto::OpenSslError());
  }
  const int verified =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                       reinterpret_cast<const unsigned char*>(body->data()), body->size());
  if (verified != 1) {
    ERR_clear_error();  // a malformed DER signature leaves an error behind
    return absl::PermissionDeniedError("quote signature does not verify");
  }

  // Signed by a trusted platform from here on; still checked as strictly as the envelope.
  absl::StatusOr<json> body_json = ParseStrict("quote.body", *body);
  if (!body_json.ok()) return body_json.status();
  absl::StatusOr<QuoteBody> parsed = QuoteBodyFromJson(*body_json);
  if (!parsed.ok()) return parsed.status();
  absl::StatusOr<std::string> canonical = detail::CanonicalBodyJson(*parsed);
  if (!canonical.ok()) return canonical.status();
  if (*canonical != *body) return absl::InvalidArgumentError("quote.body: not canonical JSON");
  if (parsed->platform_id != *platform_id) {
    return absl::InvalidArgumentError("quote.body.platform_id: differs from the quote's");
  }
  return parsed;
}

}  // namespace safeflow::executor::attestation
