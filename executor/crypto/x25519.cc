#include "executor/crypto/x25519.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "executor/crypto/openssl_util.h"

namespace safeflow::executor::crypto {
namespace {

absl::Status CheckSize(const char* what, std::size_t size) {
  if (size == kX25519KeyBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("X25519: the ", what, " must be 32 bytes, not ", size));
}

absl::StatusOr<UniquePkey> PrivateKey(const SecretBytes& private_key) {
  if (absl::Status s = CheckSize("private key", private_key.size()); !s.ok()) return s;
  UniquePkey key(EVP_PKEY_new_raw_private_key_ex(nullptr, "X25519", nullptr, private_key.data(),
                                                 private_key.size()));
  if (key == nullptr) return absl::InternalError("X25519 private key: " + OpenSslError());
  return key;
}

}  // namespace

absl::StatusOr<X25519KeyPair> X25519KeyPair::Generate() {
  absl::StatusOr<SecretBytes> priv = SecretBytes::Random(kX25519KeyBytes);
  if (!priv.ok()) return priv.status();
  return FromPrivate(*priv);
}

absl::StatusOr<X25519KeyPair> X25519KeyPair::FromPrivate(const SecretBytes& private_key) {
  absl::StatusOr<UniquePkey> key = PrivateKey(private_key);
  if (!key.ok()) return key.status();
  std::string pub(kX25519KeyBytes, '\0');
  std::size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(key->get(), reinterpret_cast<unsigned char*>(pub.data()), &len) !=
          1 ||
      len != kX25519KeyBytes) {
    return absl::InternalError("X25519 public key: " + OpenSslError());
  }
  return X25519KeyPair{.private_key = SecretBytes::Copy(private_key.view()),
                       .public_key = std::move(pub)};
}

absl::StatusOr<SecretBytes> X25519SharedSecret(const SecretBytes& private_key,
                                               std::string_view peer_public_key) {
  if (absl::Status s = CheckSize("peer public key", peer_public_key.size()); !s.ok()) return s;
  absl::StatusOr<UniquePkey> key = PrivateKey(private_key);
  if (!key.ok()) return key.status();
  UniquePkey peer(EVP_PKEY_new_raw_public_key_ex(
      nullptr, "X25519", nullptr, reinterpret_cast<const unsigned char*>(peer_public_key.data()),
      peer_public_key.size()));
  if (peer == nullptr) return absl::InternalError("X25519 peer key: " + OpenSslError());
  UniquePkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1) {
    return absl::InternalError("X25519 derive setup: " + OpenSslError());
  }
  SecretBytes shared(kX25519KeyBytes);
  std::size_t len = shared.size();
  if (EVP_PKEY_derive(ctx.get(), shared.data(), &len) != 1) {
    // OpenSSL refuses an all-zero result (RFC 7748 section 6.1); that is the only way a derive
    // with well-formed keys fails.
    const std::string detail = OpenSslError();
    return absl::InvalidArgumentError(
        "X25519: the peer public key is a low-order point (the shared secret would be all "
        "zero): " +
        detail);
  }
  if (len != kX25519KeyBytes) return absl::InternalError("X25519: unexpected secret length");
  // Belt and braces, whatever the provider does.
  static constexpr unsigned char kZero[kX25519KeyBytes] = {};
  if (ConstantTimeEquals(shared.view(),
                         std::string_view(reinterpret_cast<const char*>(kZero), sizeof kZero))) {
    return absl::InvalidArgumentError(
        "X25519: the peer public key is a low-order point (the shared secret is all zero)");
  }
  return shared;
}

}  // namespace safeflow::executor::crypto
