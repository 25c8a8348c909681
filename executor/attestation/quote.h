// executor/attestation/quote.h. The quote of the emulated platform: a statement signed by the
// platform key that an enclave with measurement mr_enclave, running the task config_id, bound
// report_data (the worker's ephemeral public key and the verifier's nonce). The format is in
// README.md in this folder:
//
//   {"body":"<base64url(body JSON)>","platform_id":"<hex>","signature":"<base64url(DER)>",
//    "version":1}
//
// where the body JSON is ToJson(QuoteBody) serialised canonically (sorted keys, no whitespace)
// and the signature is ECDSA P-256 with SHA-256 over exactly the body JSON bytes.
// QuoteVerifier checks structure and signature only; freshness (the nonce, `time`), the
// measurement allow-list and the debug flag are the caller's policy.
#ifndef SAFEFLOW_EXECUTOR_ATTESTATION_QUOTE_H_
#define SAFEFLOW_EXECUTOR_ATTESTATION_QUOTE_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace safeflow::executor::attestation {

// Largest quote (the serialised envelope) that QuoteVerifier accepts.
inline constexpr std::size_t kMaxQuoteBytes = 64 * 1024;

struct EnclaveIdentity {
  std::string mr_enclave;  // 64 lowercase hex (MrEnclave())
  std::string config_id;   // 64 lowercase hex (digest of the task; set by the host)
  bool debug = false;
  int security_version = 0;  // >= 0
  std::string task_id;       // valid UTF-8
  int attempt = 0;           // >= 0
  bool operator==(const EnclaveIdentity&) const = default;
};

struct QuoteBody {
  int version = 1;
  std::string platform_id;  // the platform key: hex SHA-256 of its DER SubjectPublicKeyInfo
  EnclaveIdentity enclave;
  // 64 lowercase hex: SHA-256(worker public key || verifier nonce), computed by the worker.
  std::string report_data;
  std::string time;  // RFC 3339 UTC when quoted, "YYYY-MM-DDTHH:MM:SSZ"
  bool operator==(const QuoteBody&) const = default;
};

// Lowercase hex SHA-256(public_key || nonce) over the raw bytes.
std::string ReportData(std::string_view public_key, std::string_view nonce);

// {"attempt":..,"config_id":..,"debug":..,"mr_enclave":..,"security_version":..,"task_id":..}
nlohmann::json ToJson(const EnclaveIdentity& enclave);
// {"enclave":{...},"platform_id":..,"report_data":..,"time":..,"version":..}
nlohmann::json ToJson(const QuoteBody& body);
// Strict inverses: every field present with its type, no others, version 1, hex fields 64
// lowercase hex digits, non-negative integers, time "YYYY-MM-DDTHH:MM:SS[.fraction]Z".
// InvalidArgument naming the first problem.
[[nodiscard]] absl::StatusOr<EnclaveIdentity> EnclaveIdentityFromJson(const nlohmann::json& j);
[[nodiscard]] absl::StatusOr<QuoteBody> QuoteBodyFromJson(const nlohmann::json& j);

// The platform id of a PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"): hex SHA-256 of
// its DER encoding. InvalidArgument unless it is an EC P-256 public key.
[[nodiscard]] absl::StatusOr<std::string> PlatformIdOfPublicKeyPem(std::string_view pem);

// Checks quotes against a fixed set of trusted platform public keys. Immutable after Create:
// copyable, and its const methods may be called from any number of threads.
class QuoteVerifier {
 public:
  // Each entry a PEM SubjectPublicKeyInfo of an EC P-256 key (duplicates are fine).
  // InvalidArgument for an empty list or a key that does not parse or is of another type.
  [[nodiscard]] static absl::StatusOr<QuoteVerifier> Create(
      const std::vector<std::string>& trusted_platform_public_key_pems);

  // The body of `quote` when it is well-formed and signed by a trusted platform key.
  // InvalidArgument for a malformed quote (too large, not JSON, missing, extra or mistyped
  // fields, bad base64url, bad hex, a body that is not canonical or does not name the same
  // platform); PermissionDenied "quote from an unknown platform <id>" or "quote signature does
  // not verify". The signature is checked before the body is parsed.
  [[nodiscard]] absl::StatusOr<QuoteBody> Verify(std::string_view quote) const;

  // Platform ids that this verifier trusts, sorted.
  std::vector<std::string> platform_ids() const;

 private:
  explicit QuoteVerifier(std::map<std::string, std::string> der_by_platform_id)
      : der_by_platform_id_(std::move(der_by_platform_id)) {}

  // platform id -> DER SubjectPublicKeyInfo; each Verify decodes its own EVP_PKEY, so nothing
  // OpenSSL owns is shared between threads.
  std::map<std::string, std::string> der_by_platform_id_;
};

namespace detail {
// Strict unpadded base64url (RFC 4648 section 5): InvalidArgument for padding, other
// characters, or trailing bits that are not zero.
[[nodiscard]] absl::StatusOr<std::string> Base64UrlDecode(std::string_view in);
std::string Base64UrlEncode(std::string_view in);
// ToJson(body).dump(): the bytes that are signed.
[[nodiscard]] absl::StatusOr<std::string> CanonicalBodyJson(const QuoteBody& body);
}  // namespace detail

}  // namespace safeflow::executor::attestation

#endif  // SAFEFLOW_EXECUTOR_ATTESTATION_QUOTE_H_
