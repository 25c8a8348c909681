#include "executor/transfer/sigv4.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "fmt/format.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace safeflow::executor::transfer::sigv4 {
namespace {

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = LowerAscii(c);
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Trims and turns every run of blanks into a single space ("Trimall").
std::string TrimAll(std::string_view s) {
  s = Trim(s);
  std::string out;
  out.reserve(s.size());
  bool in_space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t') {
      if (!in_space) out.push_back(' ');
      in_space = true;
    } else {
      out.push_back(c);
      in_space = false;
    }
  }
  return out;
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool ValidAmzDate(std::string_view d) {
  return d.size() == 16 && IsDigits(d.substr(0, 8)) && d[8] == 'T' && IsDigits(d.substr(9, 6)) &&
         d[15] == 'Z';
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

}  // namespace

std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  unsigned int len = 0;
  // EVP_Digest cannot fail for SHA-256 with a valid output buffer short of memory exhaustion.
  if (EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr) != 1) {
    return {};
  }
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), len));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(),
           &len) == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(mac.data()), len);
}

std::string UriEncode(std::string_view s, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (unsigned char c : s) {
    if (IsUnreserved(c) || (c == '/' && !encode_slash)) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

absl::StatusOr<std::string> UriDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) {
      return absl::InvalidArgumentError("truncated percent escape");
    }
    const int hi = HexValue(s[i + 1]);
    const int lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError("malformed percent escape");
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::string CanonicalQueryString(const Params& params) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(params.size());
  for (const auto& [name, value] : params) {
    encoded.emplace_back(UriEncode(name, true), UriEncode(value, true));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

absl::StatusOr<Params> ParseQueryString(std::string_view query) {
  Params params;
  if (query.empty()) return params;
  for (std::string_view part : Split(query, '&')) {
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    absl::StatusOr<std::string> name = UriDecode(part.substr(0, eq));
    if (!name.ok()) return name.status();
    absl::StatusOr<std::string> value =
        UriDecode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
    if (!value.ok()) return value.status();
    params.emplace_back(*std::move(name), *std::move(value));
  }
  return params;
}

CanonicalHeaders CanonicalizeHeaders(const Params& headers) {
  // Stable: repeated headers keep the order in which they were sent.
  std::vector<std::pair<std::string, std::string>> lowered;
  lowered.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    lowered.emplace_back(LowerAscii(Trim(name)), TrimAll(value));
  }
  std::stable_sort(lowered.begin(), lowered.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  CanonicalHeaders out;
  for (size_t i = 0; i < lowered.size();) {
    std::string value = lowered[i].second;
    size_t j = i + 1;
    for (; j < lowered.size() && lowered[j].first == lowered[i].first; ++j) {
      value += ',';
      value += lowered[j].second;
    }
    out.canonical += fmt::format("{}:{}\n", lowered[i].first, value);
    if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
    out.signed_headers += lowered[i].first;
    i = j;
  }
  return out;
}

std::string Scope::ToString() const {
  return fmt::format("{}/{}/{}/aws4_request", date, region, service);
}

std::string CanonicalRequest(const Request& request) {
  const CanonicalHeaders headers = CanonicalizeHeaders(request.headers);
  return fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method,
                     request.canonical_uri.empty() ? "/" : request.canonical_uri,
                     CanonicalQueryString(request.query), headers.canonical, headers.signed_headers,
                     request.payload_hash);
}

std::string StringToSign(std::string_view amz_date, const Scope& scope,
                         std::string_view canonical_request) {
  return fmt::format("{}\n{}\n{}\n{}", kAlgorithm, amz_date, scope.ToString(),
                     Sha256Hex(canonical_request));
}

std::string SigningKey(std::string_view secret_access_key, const Scope& scope) {
  const std::string k_secret = fmt::format("AWS4{}", secret_access_key);
  const std::string k_date = HmacSha256(k_secret, scope.date);
  const std::string k_region = HmacSha256(k_date, scope.region);
  const std::string k_service = HmacSha256(k_region, scope.service);
  return HmacSha256(k_service, "aws4_request");
}

std::string Signature(std::string_view signing_key, std::string_view string_to_sign) {
  return HexEncode(HmacSha256(signing_key, string_to_sign));
}

absl::StatusOr<Signed> Sign(const Request& request, const Credentials& credentials,
                            std::string_view amz_date, std::string_view region,
                            std::string_view service) {
  if (!ValidAmzDate(amz_date)) {
    return absl::InvalidArgumentError(
        fmt::format("x-amz-date must look like 20130524T000000Z, not '{}'", amz_date));
  }
  if (region.empty() || service.empty()) {
    return absl::InvalidArgumentError("SigV4 needs a region and a service");
  }
  const bool has_host =
      std::any_of(request.headers.begin(), request.headers.end(),
                  [](const auto& h) { return LowerAscii(Trim(h.first)) == "host"; });
  if (!has_host) return absl::InvalidArgumentError("SigV4 requests must sign the host header");

  const Scope scope{.date = std::string(amz_date.substr(0, 8)),
                    .region = std::string(region),
                    .service = std::string(service)};
  Signed out;
  out.canonical_request = CanonicalRequest(request);
  out.string_to_sign = StringToSign(amz_date, scope, out.canonical_request);
  out.signature = Signature(SigningKey(credentials.secret_access_key, scope), out.string_to_sign);
  out.authorization = fmt::format(
      "{} Credential={}/{}, SignedHeaders={}, Signature={}", kAlgorithm, credentials.access_key_id,
      scope.ToString(), CanonicalizeHeaders(request.headers).signed_headers, out.signature);
  return out;
}

absl::StatusOr<Authorization> ParseAuthorization(std::string_view header) {
  header = Trim(header);
  if (header.substr(0, kAlgorithm.size()) != kAlgorithm || header.size() == kAlgorithm.size() ||
      !IsSpace(header[kAlgorithm.size()])) {
    return absl::InvalidArgumentError("not an AWS4-HMAC-SHA256 authorization header");
  }
  header.remove_prefix(kAlgorithm.size());
  Authorization out;
  bool have_credential = false, have_signed = false, have_signature = false;
  for (std::string_view part : Split(header, ',')) {
    part = Trim(part);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError("authorization component without '='");
    }
    const std::string_view key = part.substr(0, eq);
    const std::string_view value = part.substr(eq + 1);
    if (key == "Credential" && !have_credential) {
      // access-key-id/date/region/service/aws4_request; the key id itself could hold a '/'.
      std::vector<std::string_view> fields = Split(value, '/');
      if (fields.size() < 5 || fields.back() != "aws4_request") {
        return absl::InvalidArgumentError("malformed Credential");
      }
      const size_t n = fields.size();
      out.scope.date = std::string(fields[n - 4]);
      out.scope.region = std::string(fields[n - 3]);
      out.scope.service = std::string(fields[n - 2]);
      const size_t id_len = value.size() - (fields[n - 4].size() + fields[n - 3].size() +
                                            fields[n - 2].size() + fields[n - 1].size() + 4);
      out.access_key_id = std::string(value.substr(0, id_len));
      if (out.access_key_id.empty() || out.scope.date.size() != 8 || !IsDigits(out.scope.date)) {
        return absl::InvalidArgumentError("malformed Credential");
      }
      have_credential = true;
    } else if (key == "SignedHeaders" && !have_signed) {
      for (std::string_view name : Split(value, ';')) {
        if (name.empty()) return absl::InvalidArgumentError("empty name in SignedHeaders");
        out.signed_headers.emplace_back(name);
      }
      have_signed = true;
    } else if (key == "Signature" && !have_signature) {
      if (value.size() != 64 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return HexValue(c) >= 0; })) {
        return absl::InvalidArgumentError("Signature is not 64 hex digits");
      }
      out.signature = std::string(value);
      have_signature = true;
    } else {
      return absl::InvalidArgumentError(
          fmt::format("unexpected or repeated authorization component '{}'", key));
    }
  }
  if (!have_credential || !have_signed || !have_signature) {
    return absl::InvalidArgumentError(
        "authorization header needs Credential, SignedHeaders and Signature");
  }
  return out;
}

absl::StatusOr<std::string> PresignUrl(const PresignRequest& request,
                                       const Credentials& credentials, std::string_view amz_date,
                                       std::string_view region, std::string_view service) {
  if (request.expires_seconds < 1 || request.expires_seconds > 604800) {
    return absl::InvalidArgumentError("presigned URLs expire after 1 s to 7 days");
  }
  if (request.host.empty()) return absl::InvalidArgumentError("presigned URL without a host");
  if (!ValidAmzDate(amz_date)) {
    return absl::InvalidArgumentError(
        fmt::format("x-amz-date must look like 20130524T000000Z, not '{}'", amz_date));
  }
  const Scope scope{.date = std::string(amz_date.substr(0, 8)),
                    .region = std::string(region),
                    .service = std::string(service)};
  Request signed_request{.method = request.method,
                         .canonical_uri = request.canonical_uri,
                         .query = request.query,
                         .headers = {{"host", request.host}},
                         .payload_hash = std::string(kUnsignedPayload)};
  signed_request.query.emplace_back("X-Amz-Algorithm", std::string(kAlgorithm));
  signed_request.query.emplace_back(
      "X-Amz-Credential", fmt::format("{}/{}", credentials.access_key_id, scope.ToString()));
  signed_request.query.emplace_back("X-Amz-Date", std::string(amz_date));
  signed_request.query.emplace_back("X-Amz-Expires", std::to_string(request.expires_seconds));
  signed_request.query.emplace_back("X-Amz-SignedHeaders", "host");
  absl::StatusOr<Signed> s = Sign(signed_request, credentials, amz_date, region, service);
  if (!s.ok()) return s.status();
  return fmt::format("{}://{}{}?{}&X-Amz-Signature={}", request.scheme, request.host,
                     request.canonical_uri.empty() ? "/" : request.canonical_uri,
                     CanonicalQueryString(signed_request.query), s->signature);
}

}  // namespace safeflow::executor::transfer::sigv4
