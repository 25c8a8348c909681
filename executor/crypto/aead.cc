#include "executor/crypto/aead.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace safeflow::executor::crypto {
namespace {

// Fetched once: an implicit fetch per context would cost a provider lookup each time.
const EVP_CIPHER* Aes256GcmCipher() {
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

const unsigned char* Bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

bool Overlap(const unsigned char* a, const unsigned char* b, std::size_t n) {
  return n > 0 && a != b && a < b + n && b < a + n;
}

}  // namespace

absl::StatusOr<AeadCipher> AeadCipher::Create(const SecretBytes& key) {
  if (key.size() != kAeadKeyBytes) {
    return absl::InvalidArgumentError("AES-256-GCM: the key must be 32 bytes, not " +
                                      std::to_string(key.size()));
  }
  const EVP_CIPHER* cipher = Aes256GcmCipher();
  if (cipher == nullptr) return absl::InternalError("fetch AES-256-GCM: " + OpenSslError());
  UniqueCipherCtx ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return absl::InternalError("EVP_CIPHER_CTX_new: " + OpenSslError());
  if (EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), nullptr, 1, nullptr) != 1) {
    return absl::InternalError("AES-256-GCM init: " + OpenSslError());
  }
  return AeadCipher(std::move(ctx));
}

absl::Status AeadCipher::Start(bool encrypt, std::string_view iv, std::string_view aad) {
  if (iv.size() != kAeadIvBytes) {
    return absl::InvalidArgumentError("AES-256-GCM: the IV must be 12 bytes, not " +
                                      std::to_string(iv.size()));
  }
  // No cipher and no key: keep both, set the IV and reset the GCM state.
  if (EVP_CipherInit_ex2(ctx_.get(), nullptr, nullptr, Bytes(iv), encrypt ? 1 : 0, nullptr) != 1) {
    return absl::InternalError("AES-256-GCM set IV: " + OpenSslError());
  }
  while (!aad.empty()) {
    const std::size_t n = std::min<std::size_t>(aad.size(), INT_MAX / 2);
    int outl = 0;
    if (EVP_CipherUpdate(ctx_.get(), nullptr, &outl, Bytes(aad), static_cast<int>(n)) != 1) {
      return absl::InternalError("AES-256-GCM AAD: " + OpenSslError());
    }
    aad.remove_prefix(n);
  }
  return absl::OkStatus();
}

absl::Status AeadCipher::Update(std::span<const unsigned char> in, std::span<unsigned char> out) {
  std::size_t done = 0;
  while (done < in.size()) {
    const std::size_t n = std::min<std::size_t>(in.size() - done, INT_MAX / 2);
    int outl = 0;
    if (EVP_CipherUpdate(ctx_.get(), out.data() + done, &outl, in.data() + done,
                         static_cast<int>(n)) != 1) {
      return absl::InternalError("AES-256-GCM update: " + OpenSslError());
    }
    if (static_cast<std::size_t>(outl) != n) {
      return absl::InternalError("AES-256-GCM update: unexpected output length");
    }
    done += n;
  }
  return absl::OkStatus();
}

absl::Status AeadCipher::Encrypt(std::string_view iv, std::string_view aad,
                                 std::span<const unsigned char> in, std::span<unsigned char> out,
                                 std::span<unsigned char> tag) {
  if (out.size() != in.size() || tag.size() != kAeadTagBytes ||
      Overlap(in.data(), out.data(), in.size())) {
    return absl::InvalidArgumentError("AES-256-GCM encrypt: bad buffer sizes or overlap");
  }
  if (absl::Status s = Start(true, iv, aad); !s.ok()) return s;
  if (absl::Status s = Update(in, out); !s.ok()) return s;
  unsigned char end[16];
  int outl = 0;
  if (EVP_CipherFinal_ex(ctx_.get(), end, &outl) != 1 || outl != 0) {
    return absl::InternalError("AES-256-GCM final: " + OpenSslError());
  }
  if (EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kAeadTagBytes),
                          tag.data()) != 1) {
    return absl::InternalError("AES-256-GCM get tag: " + OpenSslError());
  }
  return absl::OkStatus();
}

absl::Status AeadCipher::Decrypt(std::string_view iv, std::string_view aad,
                                 std::span<const unsigned char> in,
                                 std::span<const unsigned char> tag, std::span<unsigned char> out) {
  if (out.size() != in.size() || tag.size() != kAeadTagBytes ||
      Overlap(in.data(), out.data(), in.size())) {
    return absl::InvalidArgumentError("AES-256-GCM decrypt: bad buffer sizes or overlap");
  }
  if (absl::Status s = Start(false, iv, aad); !s.ok()) return s;
  absl::Status s = Update(in, out);
  if (s.ok()) {
    unsigned char expected[kAeadTagBytes];
    std::memcpy(expected, tag.data(), kAeadTagBytes);
    if (EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kAeadTagBytes),
                            expected) != 1) {
      s = absl::InternalError("AES-256-GCM set tag: " + OpenSslError());
    } else {
      unsigned char end[16];
      int outl = 0;
      if (EVP_CipherFinal_ex(ctx_.get(), end, &outl) != 1) {
        ERR_clear_error();
        s = absl::DataLossError("authentication failed");
      }
    }
  }
  // Never leave unauthenticated plaintext behind.
  if (!s.ok() && !out.empty()) OPENSSL_cleanse(out.data(), out.size());
  return s;
}

absl::StatusOr<std::string> AeadEncrypt(const SecretBytes& key, std::string_view iv,
                                        std::string_view aad, std::string_view plaintext) {
  absl::StatusOr<AeadCipher> cipher = AeadCipher::Create(key);
  if (!cipher.ok()) return cipher.status();
  std::string out(plaintext.size() + kAeadTagBytes, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  if (absl::Status s =
          cipher->Encrypt(iv, aad, {Bytes(plaintext), plaintext.size()}, {o, plaintext.size()},
                          {o + plaintext.size(), kAeadTagBytes});
      !s.ok()) {
    return s;
  }
  return out;
}

absl::StatusOr<SecretBytes> AeadDecrypt(const SecretBytes& key, std::string_view iv,
                                        std::string_view aad, std::string_view ciphertext_and_tag) {
  if (ciphertext_and_tag.size() < kAeadTagBytes) {
    return absl::InvalidArgumentError("AES-256-GCM: input shorter than the 16-byte tag");
  }
  absl::StatusOr<AeadCipher> cipher = AeadCipher::Create(key);
  if (!cipher.ok()) return cipher.status();
  const std::size_t n = ciphertext_and_tag.size() - kAeadTagBytes;
  SecretBytes out(n);
  const unsigned char* in = Bytes(ciphertext_and_tag);
  if (absl::Status s = cipher->Decrypt(iv, aad, {in, n}, {in + n, kAeadTagBytes}, {out.data(), n});
      !s.ok()) {
    return s;
  }
  return out;
}

absl::StatusOr<std::string> AeadSeal(const SecretBytes& key, std::string_view aad,
                                     std::string_view plaintext) {
  unsigned char iv[kAeadIvBytes];
  if (RAND_bytes(iv, sizeof iv) != 1) return absl::InternalError("RAND_bytes: " + OpenSslError());
  const std::string_view iv_view(reinterpret_cast<const char*>(iv), sizeof iv);
  absl::StatusOr<std::string> ct = AeadEncrypt(key, iv_view, aad, plaintext);
  if (!ct.ok()) return ct.status();
  std::string out;
  out.reserve(kAeadIvBytes + ct->size());
  out.append(iv_view);
  out.append(*ct);
  return out;
}

absl::StatusOr<SecretBytes> AeadOpen(const SecretBytes& key, std::string_view aad,
                                     std::string_view sealed) {
  if (sealed.size() < kAeadIvBytes + kAeadTagBytes) {
    return absl::InvalidArgumentError("AES-256-GCM: sealed input shorter than IV and tag");
  }
  return AeadDecrypt(key, sealed.substr(0, kAeadIvBytes), aad, sealed.substr(kAeadIvBytes));
}

}  // namespace safeflow::executor::crypto
