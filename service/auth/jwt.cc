#include "service/auth/jwt.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <utility>

#include "fmt/format.h"
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "executor/crypto/openssl_util.h"

namespace safeflow::service::auth {
namespace {

constexpr int kMinRsaBits = 2048;
constexpr size_t kP256ScalarBytes = 32;

using executor::crypto::OpenSslError;
using executor::crypto::UniqueBn;
using executor::crypto::UniqueEcdsaSig;
using executor::crypto::UniqueMdCtx;

absl::Status Refuse(std::string_view why) {
  return absl::UnauthenticatedError(fmt::format("bearer token refused: {}", why));
}

// A short, printable rendering of an untrusted header value for messages.
std::string Printable(std::string_view s, size_t max = 32) {
  std::string out;
  for (char c : s.substr(0, max)) {
    out.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? c : '?');
  }
  if (s.size() > max) out += "...";
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string AlgRefusal(const std::string& alg) {
  constexpr std::string_view kOnly = "only RS256 and ES256 are accepted";
  if (Lower(alg) == "none") {
    return fmt::format("alg \"{}\" (an unsigned token) is not accepted; {}", Printable(alg), kOnly);
  }
  if (alg.rfind("HS", 0) == 0) {
    return fmt::format("alg \"{}\" (a shared-secret HMAC) is not accepted; {}", Printable(alg),
                       kOnly);
  }
  return fmt::format("alg \"{}\" is not accepted; {}", Printable(alg), kOnly);
}

bool IsP256(const EVP_PKEY& key) {
  if (!EVP_PKEY_is_a(&key, "EC")) return false;
  char group[64] = {0};
  size_t len = 0;
  const bool ok = EVP_PKEY_get_utf8_string_param(&key, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                                 sizeof(group), &len) == 1 &&
                  std::string_view(group, len) == "prime256v1";
  ERR_clear_error();
  return ok;
}

bool IsStrongRsa(const EVP_PKEY& key) {
  return EVP_PKEY_is_a(&key, "RSA") && EVP_PKEY_get_bits(&key) >= kMinRsaBits;
}

// Decodes one base64url part of the token into a JSON object.
absl::StatusOr<nlohmann::json> DecodeJsonPart(std::string_view part, std::string_view what) {
  absl::StatusOr<std::string> bytes = Base64UrlDecode(part);
  if (!bytes.ok()) {
    return Refuse(
        fmt::format("the {} is not base64url: {}", what, std::string(bytes.status().message())));
  }
  nlohmann::json j = nlohmann::json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Refuse(fmt::format("the {} is not JSON", what));
  if (!j.is_object()) return Refuse(fmt::format("the {} is not a JSON object", what));
  return j;
}

// R||S (64 bytes) to the DER ECDSA-Sig-Value OpenSSL verifies.
absl::StatusOr<std::string> EcdsaRawToDer(std::string_view raw) {
  if (raw.size() != 2 * kP256ScalarBytes) {
    return Refuse(fmt::format("an ES256 signature is {} bytes (R||S), not {}", 2 * kP256ScalarBytes,
                              raw.size()));
  }
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  UniqueBn r(BN_bin2bn(p, kP256ScalarBytes, nullptr));
  UniqueBn s(BN_bin2bn(p + kP256ScalarBytes, kP256ScalarBytes, nullptr));
  UniqueEcdsaSig sig(ECDSA_SIG_new());
  if (r == nullptr || s == nullptr || sig == nullptr ||
      ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return absl::ResourceExhaustedError("ECDSA_SIG allocation failed");
  }
  (void)r.release();  // now owned by `sig`
  (void)s.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return absl::InternalError(fmt::format("i2d_ECDSA_SIG: {}", OpenSslError()));
  std::string der(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) {
    return absl::InternalError(fmt::format("i2d_ECDSA_SIG: {}", OpenSslError()));
  }
  return der;
}

// The DER ECDSA-Sig-Value OpenSSL produces to R||S (64 bytes).
absl::StatusOr<std::string> EcdsaDerToRaw(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  UniqueEcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (sig == nullptr) return absl::InternalError(fmt::format("d2i_ECDSA_SIG: {}", OpenSslError()));
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * kP256ScalarBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, kP256ScalarBytes) != kP256ScalarBytes ||
      BN_bn2binpad(s, out + kP256ScalarBytes, kP256ScalarBytes) != kP256ScalarBytes) {
    return absl::InternalError("ECDSA signature does not fit P-256");
  }
  return raw;
}

// True when `signature` (already in OpenSSL's form) is valid for `input` under `key`.
absl::StatusOr<bool> DigestVerify(EVP_PKEY& key, bool rsa, std::string_view input,
                                  std::string_view signature) {
  UniqueMdCtx ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, &key) != 1 ||
      (rsa && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)) {
    return absl::InternalError(fmt::format("EVP_DigestVerifyInit: {}", OpenSslError()));
  }
  const int rc = EVP_DigestVerify(
      ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
      reinterpret_cast<const unsigned char*>(input.data()), input.size());
  ERR_clear_error();
  return rc == 1;
}

// A NumericDate claim: absent (nullopt), a number, or a refusal.
absl::StatusOr<std::optional<double>> NumericDate(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::optional<double>();
  if (!it->is_number()) return Refuse(fmt::format("the {} claim is not a number", name));
  return std::optional<double>(it->get<double>());
}

absl::Status CheckClaims(const nlohmann::json& claims, const JwtPolicy& policy,
                         std::chrono::system_clock::time_point now) {
  auto iss = claims.find("iss");
  if (iss == claims.end()) return Refuse("the iss claim is missing");
  if (!iss->is_string() || iss->get<std::string>() != policy.issuer) {
    return Refuse(fmt::format("the iss claim is not the expected issuer \"{}\"", policy.issuer));
  }

  auto aud = claims.find("aud");
  if (aud == claims.end()) return Refuse("the aud claim is missing");
  std::vector<std::string> token_audiences;
  if (aud->is_string()) {
    token_audiences.push_back(aud->get<std::string>());
  } else if (aud->is_array()) {
    for (const nlohmann::json& a : *aud) {
      if (!a.is_string()) return Refuse("the aud claim is not a string or an array of strings");
      token_audiences.push_back(a.get<std::string>());
    }
  } else {
    return Refuse("the aud claim is not a string or an array of strings");
  }
  const bool aud_ok =
      std::any_of(token_audiences.begin(), token_audiences.end(), [&](const std::string& a) {
        return std::find(policy.audiences.begin(), policy.audiences.end(), a) !=
               policy.audiences.end();
      });
  if (!aud_ok) {
    return Refuse(fmt::format("the aud claim does not contain an accepted audience ({})",
                              fmt::join(policy.audiences, ", ")));
  }

  const double now_s = std::chrono::duration<double>(now.time_since_epoch()).count();
  const double leeway = static_cast<double>(policy.leeway.count());
  absl::StatusOr<std::optional<double>> exp = NumericDate(claims, "exp");
  if (!exp.ok()) return exp.status();
  if (!exp->has_value()) {
    if (policy.require_exp) return Refuse("the exp claim is missing");
  } else if (!(**exp > now_s - leeway)) {
    return Refuse("the token has expired");
  }
  absl::StatusOr<std::optional<double>> nbf = NumericDate(claims, "nbf");
  if (!nbf.ok()) return nbf.status();
  if (nbf->has_value() && !(**nbf <= now_s + leeway)) {
    return Refuse("the token is not valid yet (nbf is in the future)");
  }
  absl::StatusOr<std::optional<double>> iat = NumericDate(claims, "iat");
  if (!iat.ok()) return iat.status();
  if (iat->has_value() && !(**iat <= now_s + leeway)) {
    return Refuse("the token was issued in the future (iat)");
  }

  auto sub = claims.find("sub");
  if (sub == claims.end()) return Refuse("the sub claim is missing");
  if (!sub->is_string() || sub->get<std::string>().empty()) {
    return Refuse("the sub claim is not a non-empty string");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VerifiedToken> VerifyJwt(std::string_view token, const JwtPolicy& policy,
                                        JwksSource& keys,
                                        std::chrono::system_clock::time_point now) {
  if (policy.issuer.empty()) return absl::InvalidArgumentError("JwtPolicy has no issuer");
  if (policy.audiences.empty()) return absl::InvalidArgumentError("JwtPolicy has no audience");
  if (token.empty()) return Refuse("the token is empty");
  if (token.size() > policy.max_token_bytes) {
    return Refuse(fmt::format("the token is larger than {} bytes", policy.max_token_bytes));
  }
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Refuse("a compact JWS has exactly three parts separated by '.'");
  }
  const std::string_view header_part = token.substr(0, dot1);
  const std::string_view claims_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_part = token.substr(dot2 + 1);
  const std::string_view signing_input = token.substr(0, dot2);

  VerifiedToken out;
  absl::StatusOr<nlohmann::json> header = DecodeJsonPart(header_part, "header");
  if (!header.ok()) return header.status();
  out.header = *std::move(header);
  const nlohmann::json& h = out.header;

  auto alg = h.find("alg");
  if (alg == h.end()) return Refuse("the header has no alg");
  if (!alg->is_string()) return Refuse("the header's alg is not a string");
  out.alg = alg->get<std::string>();
  if (out.alg != "RS256" && out.alg != "ES256") return Refuse(AlgRefusal(out.alg));
  const bool rsa = out.alg == "RS256";
  if (h.contains("crit")) return Refuse("the header has \"crit\", which is not supported");
  if (auto typ = h.find("typ"); typ != h.end()) {
    std::string t = typ->is_string() ? Lower(typ->get<std::string>()) : "";
    if (t.rfind("application/", 0) == 0) t = t.substr(std::string_view("application/").size());
    if (t != "jwt" && t != "at+jwt") return Refuse("the header's typ is not JWT or at+jwt");
  }
  if (auto kid = h.find("kid"); kid != h.end()) {
    if (!kid->is_string()) return Refuse("the header's kid is not a string");
    out.kid = kid->get<std::string>();
  }

  absl::StatusOr<Jwk> jwk = keys.Find(out.kid, out.alg);
  if (!jwk.ok()) {
    if (jwk.status().code() == absl::StatusCode::kNotFound) {
      return Refuse(fmt::format("no verification key: {}", std::string(jwk.status().message())));
    }
    return absl::UnavailableError(
        fmt::format("cannot verify bearer tokens: {}", std::string(jwk.status().message())));
  }
  if (jwk->key == nullptr) return Refuse("the JWKS entry has no key");
  EVP_PKEY& key = *jwk->key;
  if (rsa) {
    if (jwk->kty != "RSA" || !EVP_PKEY_is_a(&key, "RSA")) {
      return Refuse(fmt::format("alg RS256 needs an RSA key, but kid \"{}\" is kty {}",
                                Printable(out.kid), Printable(jwk->kty)));
    }
    if (!IsStrongRsa(key)) {
      return Refuse(fmt::format("the RSA key has {} bits; at least {} are required",
                                EVP_PKEY_get_bits(&key), kMinRsaBits));
    }
  } else {
    if (jwk->kty != "EC" || !IsP256(key)) {
      return Refuse(fmt::format("alg ES256 needs an EC P-256 key, but kid \"{}\" is kty {}",
                                Printable(out.kid), Printable(jwk->kty)));
    }
  }
  if (!jwk->alg.empty() && jwk->alg != out.alg) {
    return Refuse(fmt::format("the key is for alg {}, not {}", Printable(jwk->alg), out.alg));
  }

  absl::StatusOr<std::string> signature = Base64UrlDecode(signature_part);
  if (!signature.ok()) {
    return Refuse(fmt::format("the signature is not base64url: {}",
                              std::string(signature.status().message())));
  }
  if (rsa && signature->size() != static_cast<size_t>(EVP_PKEY_get_size(&key))) {
    return Refuse("the RS256 signature does not have the key's length");
  }
  if (!rsa) {
    absl::StatusOr<std::string> der = EcdsaRawToDer(*signature);
    if (!der.ok()) return der.status();
    *signature = *std::move(der);
  }
  absl::StatusOr<bool> valid = DigestVerify(key, rsa, signing_input, *signature);
  if (!valid.ok()) return valid.status();
  if (!*valid) return Refuse("the signature does not verify");

  absl::StatusOr<nlohmann::json> claims = DecodeJsonPart(claims_part, "claims set");
  if (!claims.ok()) return claims.status();
  out.claims = *std::move(claims);
  if (absl::Status s = CheckClaims(out.claims, policy, now); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::string> SignJwt(const nlohmann::json& header, const nlohmann::json& claims,
                                    EVP_PKEY& key) {
  if (!header.is_object() || !claims.is_object()) {
    return absl::InvalidArgumentError("the JWT header and claims must be JSON objects");
  }
  const bool rsa = IsStrongRsa(key);
  if (!rsa && !IsP256(key)) {
    return absl::InvalidArgumentError("signing needs an RSA key (>= 2048 bits) or an EC P-256 key");
  }
  nlohmann::json h = header;
  if (!h.contains("alg")) h["alg"] = rsa ? "RS256" : "ES256";
  std::string input;
  try {
    input = Base64UrlEncode(h.dump()) + "." + Base64UrlEncode(claims.dump());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(fmt::format("JWT JSON: {}", e.what()));
  }
  UniqueMdCtx ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  size_t len = 0;
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, &key) != 1 ||
      (rsa && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return absl::InternalError(fmt::format("EVP_DigestSign: {}", OpenSslError()));
  }
  std::string signature(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return absl::InternalError(fmt::format("EVP_DigestSign: {}", OpenSslError()));
  }
  signature.resize(len);
  if (!rsa) {
    absl::StatusOr<std::string> raw = EcdsaDerToRaw(signature);
    if (!raw.ok()) return raw.status();
    signature = *std::move(raw);
  }
  return input + "." + Base64UrlEncode(signature);
}

}  // namespace safeflow::service::auth
