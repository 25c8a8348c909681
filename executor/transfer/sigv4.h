// executor/transfer/sigv4.h. AWS Signature Version 4 (AWS4-HMAC-SHA256), written from AWS's
// description: canonical request, string to sign, signing key, signature, the Authorization
// header and presigned URLs. Transfers let libcurl sign (CURLOPT_AWS_SIGV4); this
// implementation checks libcurl's signatures in tests and is there for presigned URLs.
// Pure functions: no I/O, safe to call from any thread.
//
// Inputs are taken as the service sees them: `canonical_uri` is the URI path already encoded
// the way the service expects (S3: each key byte encoded once, see UriEncode(key, false); other
// services encode twice), query parameters are given decoded and encoded and sorted here.
#ifndef SAFEFLOW_EXECUTOR_TRANSFER_SIGV4_H_
#define SAFEFLOW_EXECUTOR_TRANSFER_SIGV4_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace safeflow::executor::transfer::sigv4 {

inline constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
// Hex SHA-256 of the empty string: the payload hash of GET, HEAD and DELETE requests.
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

using Params = std::vector<std::pair<std::string, std::string>>;

// Lower-case hex of `bytes`.
std::string HexEncode(std::string_view bytes);
// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// Raw (32-byte) HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

// AWS's UriEncode: every byte but A-Z a-z 0-9 '-' '.' '_' '~' becomes %XX (upper-case hex);
// '/' is kept as is unless `encode_slash`.
std::string UriEncode(std::string_view s, bool encode_slash);
// Undoes %XX escapes ('+' stays '+'). InvalidArgument on a malformed escape.
[[nodiscard]] absl::StatusOr<std::string> UriDecode(std::string_view s);

// "name=value&..." with names and values UriEncode()d (slashes too) and sorted by name, then
// value. A parameter without a value appears as "name=".
std::string CanonicalQueryString(const Params& params);
// Parses a raw query string ("b=2&a=1&flag") into decoded parameters, in order.
[[nodiscard]] absl::StatusOr<Params> ParseQueryString(std::string_view query);

struct CanonicalHeaders {
  std::string canonical;       // "name:value\n" per header, lower-case names, sorted
  std::string signed_headers;  // "host;x-amz-date"
};
// Lower-cases names, trims values and collapses runs of spaces, joins repeated names with ','.
CanonicalHeaders CanonicalizeHeaders(const Params& headers);

struct Request {
  std::string method;         // "GET"
  std::string canonical_uri;  // "/examplebucket/test.txt"; empty means "/"
  Params query;               // decoded names and values, any order
  Params headers;             // the headers to sign, as sent (must include host)
  std::string payload_hash;   // hex SHA-256 of the body, or kUnsignedPayload
};

struct Scope {
  std::string date;     // YYYYMMDD
  std::string region;   // "us-east-1"
  std::string service;  // "s3"
  // "20130524/us-east-1/s3/aws4_request"
  std::string ToString() const;
};

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
};

std::string CanonicalRequest(const Request& request);
// `amz_date` is the request time, "20130524T000000Z".
std::string StringToSign(std::string_view amz_date, const Scope& scope,
                         std::string_view canonical_request);
// Raw (32-byte) signing key: HMAC chain over date, region, service and "aws4_request".
std::string SigningKey(std::string_view secret_access_key, const Scope& scope);
// Lower-case hex signature of `string_to_sign`.
std::string Signature(std::string_view signing_key, std::string_view string_to_sign);

struct Signed {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // the Authorization header's value
};
// Signs `request` made at `amz_date` (YYYYMMDDTHHMMSSZ). InvalidArgument on a malformed date,
// an empty region or service, or a request without a host header.
[[nodiscard]] absl::StatusOr<Signed> Sign(const Request& request, const Credentials& credentials,
                                          std::string_view amz_date, std::string_view region,
                                          std::string_view service);

// The parts of an "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..." header.
struct Authorization {
  std::string access_key_id;
  Scope scope;
  std::vector<std::string> signed_headers;  // as listed
  std::string signature;
};
[[nodiscard]] absl::StatusOr<Authorization> ParseAuthorization(std::string_view header);

struct PresignRequest {
  std::string method = "GET";
  std::string scheme = "https";
  std::string host;            // as in the Host header, with a non-default port
  std::string canonical_uri;   // as in Request
  Params query;                // extra parameters, decoded
  int expires_seconds = 3600;  // 1 .. 604800
};
// A presigned URL (query-string authentication, UNSIGNED-PAYLOAD, only "host" signed).
[[nodiscard]] absl::StatusOr<std::string> PresignUrl(const PresignRequest& request,
                                                     const Credentials& credentials,
                                                     std::string_view amz_date,
                                                     std::string_view region,
                                                     std::string_view service);

}  // namespace safeflow::executor::transfer::sigv4

#endif  // SAFEFLOW_EXECUTOR_TRANSFER_SIGV4_H_
