#include "executor/crypto/hkdf.h"

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include <openssl/core_names.h>

#include "executor/crypto/openssl_util.h"

namespace safeflow::executor::crypto {
namespace {

// Fetched once (an implicit fetch per call costs a provider lookup).
EVP_KDF* HkdfAlgorithm() {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

const EVP_MD* Sha256Md() {
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
  return md;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<SecretBytes> HkdfSha256(const SecretBytes& ikm, std::string_view salt,
                                       std::string_view info, std::size_t length) {
  if (length == 0 || length > 255 * kSha256Bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("HKDF-SHA256: output length ", length, " outside 1..", 255 * kSha256Bytes));
  }
  EVP_KDF* kdf = HkdfAlgorithm();
  if (kdf == nullptr) return absl::InternalError("fetch HKDF: " + OpenSslError());
  UniqueKdfCtx ctx(EVP_KDF_CTX_new(kdf));
  if (ctx == nullptr) return absl::InternalError("EVP_KDF_CTX_new: " + OpenSslError());

  // OSSL_PARAM wants non-const pointers to the caller's bytes (it only reads them), and a
  // non-null pointer even for zero lengths.
  static unsigned char empty = 0;
  auto bytes = [](const void* p, std::size_t n) {
    return n == 0 ? &empty : const_cast<unsigned char*>(static_cast<const unsigned char*>(p));
  };
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  int i = 0;
  params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, bytes(ikm.data(), ikm.size()),
                                                  ikm.size());
  if (!salt.empty()) {
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                    bytes(salt.data(), salt.size()), salt.size());
  }
  params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                  bytes(info.data(), info.size()), info.size());
  params[i] = OSSL_PARAM_construct_end();

  SecretBytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return absl::InternalError("HKDF-SHA256: " + OpenSslError());
  }
  return out;
}

namespace {
[[noreturn]] void HashFailed(const char* what) {
  // Only a broken OpenSSL installation (no default provider) or an allocation failure gets
  // here; there is no safe way to go on hashing nothing.
  std::fprintf(stderr, "SHA-256 %s failed: %s\n", what, OpenSslError().c_str());
  std::abort();
}
}  // namespace

struct Sha256Hasher::Impl {
  UniqueMdCtx ctx{EVP_MD_CTX_new()};
  void Init() {
    if (ctx == nullptr || Sha256Md() == nullptr ||
        EVP_DigestInit_ex2(ctx.get(), Sha256Md(), nullptr) != 1) {
      HashFailed("init");
    }
  }
};

Sha256Hasher::Sha256Hasher() : impl_(std::make_unique<Impl>()) { impl_->Init(); }
Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(std::string_view bytes) {
  if (EVP_DigestUpdate(impl_->ctx.get(), bytes.data(), bytes.size()) != 1) HashFailed("update");
}

std::string Sha256Hasher::Final() {
  std::string out(kSha256Bytes, '\0');
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len) !=
          1 ||
      len != kSha256Bytes) {
    HashFailed("final");
  }
  impl_->Init();
  return out;
}

std::string Sha256(std::string_view data) {
  std::string out(kSha256Bytes, '\0');
  unsigned int len = 0;
  const EVP_MD* md = Sha256Md();
  if (md == nullptr ||
      EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len, md,
                 nullptr) != 1 ||
      len != kSha256Bytes) {
    HashFailed("digest");
  }
  return out;
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

absl::StatusOr<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("hex: odd length ", hex.size()));
  }
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexValue(hex[i]);
    const int lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("hex: not a hex digit at offset ", hi < 0 ? i : i + 1));
    }
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

}  // namespace safeflow::executor::crypto
