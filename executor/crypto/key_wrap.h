// executor/crypto/key_wrap.h. One-shot wrapping of a secret to an X25519 public key, in the
// manner of HPKE base mode (RFC 9180) but simpler and not wire-compatible with it:
//   eph    = a fresh X25519 key pair
//   shared = X25519(eph.private, recipient_public)
//   k      = HKDF-SHA256(ikm = shared, salt = eph.public || recipient_public,
//                        info = "safeflow-wrap-v1" || 0x00 || info, 32 bytes)
//   ciphertext = AES-256-GCM(k, iv = 12 zero bytes, aad, secret) || tag
// The zero IV is safe because k is used for exactly one message (eph is never reused).
// `info` binds the purpose (different purposes can never unwrap each other's secrets); `aad`
// binds context that travels in clear next to the wrapped secret. Thread-safe.
#ifndef SAFEFLOW_EXECUTOR_CRYPTO_KEY_WRAP_H_
#define SAFEFLOW_EXECUTOR_CRYPTO_KEY_WRAP_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "executor/crypto/secure_memory.h"

namespace safeflow::executor::crypto {

inline constexpr std::string_view kWrapInfoPrefix = "safeflow-wrap-v1";

struct WrappedSecret {
  std::string ephemeral_public_key;  // 32 raw bytes
  std::string ciphertext;            // secret.size() + 16 raw bytes (ciphertext || tag)
};

// InvalidArgument when the recipient key is not 32 bytes or is a low-order point.
[[nodiscard]] absl::StatusOr<WrappedSecret> WrapToPublicKey(std::string_view recipient_public_key,
                                                            const SecretBytes& secret,
                                                            std::string_view info,
                                                            std::string_view aad);

// The recipient derives its public key from the private key. InvalidArgument when the private
// key is not 32 bytes; DataLoss("the secret could not be unwrapped: wrong key or tampered
// data") for anything else that fails: a different key, changed info or aad, a modified
// ephemeral key or ciphertext, malformed sizes.
[[nodiscard]] absl::StatusOr<SecretBytes> UnwrapWithPrivateKey(
    const SecretBytes& recipient_private_key, const WrappedSecret& wrapped, std::string_view info,
    std::string_view aad);

}  // namespace safeflow::executor::crypto

#endif  // SAFEFLOW_EXECUTOR_CRYPTO_KEY_WRAP_H_
