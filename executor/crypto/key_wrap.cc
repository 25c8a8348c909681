#include "executor/crypto/key_wrap.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

#include "executor/crypto/aead.h"
#include "executor/crypto/hkdf.h"
#include "executor/crypto/x25519.h"

namespace safeflow::executor::crypto {
namespace {

constexpr std::string_view kZeroIv("\0\0\0\0\0\0\0\0\0\0\0\0", kAeadIvBytes);

absl::StatusOr<SecretBytes> WrapKey(const SecretBytes& shared, std::string_view ephemeral_public,
                                    std::string_view recipient_public, std::string_view info) {
  std::string full_info(kWrapInfoPrefix);
  full_info.push_back('\0');
  full_info.append(info);
  std::string salt(ephemeral_public);
  salt.append(recipient_public);
  return HkdfSha256(shared, salt, full_info, kAeadKeyBytes);
}

absl::Status UnwrapError() {
  return absl::DataLossError("the secret could not be unwrapped: wrong key or tampered data");
}

}  // namespace

absl::StatusOr<WrappedSecret> WrapToPublicKey(std::string_view recipient_public_key,
                                              const SecretBytes& secret, std::string_view info,
                                              std::string_view aad) {
  if (recipient_public_key.size() != kX25519KeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key wrap: the recipient public key must be 32 bytes, not ", recipient_public_key.size()));
  }
  absl::StatusOr<X25519KeyPair> eph = X25519KeyPair::Generate();
  if (!eph.ok()) return eph.status();
  absl::StatusOr<SecretBytes> shared = X25519SharedSecret(eph->private_key, recipient_public_key);
  if (!shared.ok()) return shared.status();
  absl::StatusOr<SecretBytes> k = WrapKey(*shared, eph->public_key, recipient_public_key, info);
  if (!k.ok()) return k.status();
  absl::StatusOr<std::string> ct = AeadEncrypt(*k, kZeroIv, aad, secret.view());
  if (!ct.ok()) return ct.status();
  return WrappedSecret{.ephemeral_public_key = std::move(eph->public_key),
                       .ciphertext = *std::move(ct)};
}

absl::StatusOr<SecretBytes> UnwrapWithPrivateKey(const SecretBytes& recipient_private_key,
                                                 const WrappedSecret& wrapped,
                                                 std::string_view info, std::string_view aad) {
  if (recipient_private_key.size() != kX25519KeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key unwrap: the private key must be 32 bytes, not ", recipient_private_key.size()));
  }
  if (wrapped.ephemeral_public_key.size() != kX25519KeyBytes ||
      wrapped.ciphertext.size() < kAeadTagBytes) {
    return UnwrapError();
  }
  absl::StatusOr<X25519KeyPair> me = X25519KeyPair::FromPrivate(recipient_private_key);
  if (!me.ok()) return me.status();
  // A low-order ephemeral key can only come from tampering.
  absl::StatusOr<SecretBytes> shared =
      X25519SharedSecret(recipient_private_key, wrapped.ephemeral_public_key);
  if (!shared.ok()) return UnwrapError();
  absl::StatusOr<SecretBytes> k =
      WrapKey(*shared, wrapped.ephemeral_public_key, me->public_key, info);
  if (!k.ok()) return k.status();
  absl::StatusOr<SecretBytes> secret = AeadDecrypt(*k, kZeroIv, aad, wrapped.ciphertext);
  if (!secret.ok()) {
    if (absl::IsDataLoss(secret.status())) return UnwrapError();
    return secret.status();
  }
  return secret;
}

}  // namespace safeflow::executor::crypto
