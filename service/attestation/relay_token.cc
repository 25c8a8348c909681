#include "service/attestation/relay_token.h"

#include <climits>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "service/auth/jwks.h"

namespace safeflow::service {
namespace {

using nlohmann::json;

constexpr std::size_t kMacBytes = 32;

// HMAC-SHA256(key, data), 32 raw bytes; aborts if OpenSSL fails (it cannot for SHA-256).
std::string Mac(const executor::crypto::SecretBytes& key, std::string_view data) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           reinterpret_cast<unsigned char*>(out.data()), &len) == nullptr ||
      len != kMacBytes) {
    std::abort();
  }
  out.resize(len);
  return out;
}

absl::Status Malformed() { return absl::UnauthenticatedError("relay token malformed"); }

}  // namespace

std::string MakeRelayToken(const executor::crypto::SecretBytes& key, const RelayClaims& claims) {
  const json payload = {{"t", claims.task_id},
                        {"a", claims.attempt},
                        {"p", claims.project},
                        {"exp", claims.expires_at}};
  const std::string signed_part = absl::StrCat(
      std::string(kRelayTokenPrefix),
      auth::Base64UrlEncode(payload.dump(-1, ' ', false, json::error_handler_t::replace)));
  return absl::StrCat(signed_part, ".", auth::Base64UrlEncode(Mac(key, signed_part)));
}

absl::StatusOr<RelayClaims> ParseRelayToken(const executor::crypto::SecretBytes& key,
                                            std::string_view token, std::int64_t now) {
  if (key.empty()) return absl::InternalError("relay token key is not set");
  if (token.size() > kMaxRelayTokenBytes ||
      token.substr(0, kRelayTokenPrefix.size()) != kRelayTokenPrefix) {
    return Malformed();
  }
  const std::size_t dot = token.rfind('.');
  if (dot < kRelayTokenPrefix.size()) return Malformed();
  const std::string_view signed_part = token.substr(0, dot);
  const std::string_view payload_b64 = signed_part.substr(kRelayTokenPrefix.size());
  if (payload_b64.empty() || payload_b64.find('.') != std::string_view::npos) return Malformed();
  absl::StatusOr<std::string> mac = auth::Base64UrlDecode(token.substr(dot + 1));
  if (!mac.ok() || mac->size() != kMacBytes) return Malformed();
  const std::string expected = Mac(key, signed_part);
  if (CRYPTO_memcmp(expected.data(), mac->data(), kMacBytes) != 0) {
    return absl::UnauthenticatedError("relay token does not verify");
  }
  // Only now, with the MAC checked, is the payload read.
  absl::StatusOr<std::string> payload = auth::Base64UrlDecode(payload_b64);
  if (!payload.ok()) return Malformed();
  const json j = json::parse(*payload, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.size() != 4 || !j.contains("t") ||
      !j["t"].is_string() || !j.contains("a") || !j["a"].is_number_integer() || !j.contains("p") ||
      !j["p"].is_string() || !j.contains("exp") || !j["exp"].is_number_integer()) {
    return Malformed();
  }
  RelayClaims out;
  out.task_id = j["t"].get<std::string>();
  out.project = j["p"].get<std::string>();
  const std::int64_t attempt = j["a"].get<std::int64_t>();
  out.expires_at = j["exp"].get<std::int64_t>();
  if (out.task_id.empty() || out.project.empty() || attempt < 0 || attempt > INT_MAX) {
    return Malformed();
  }
  out.attempt = static_cast<int>(attempt);
  if (now >= out.expires_at) return absl::UnauthenticatedError("relay token expired");
  return out;
}

}  // namespace safeflow::service
