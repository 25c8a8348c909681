// executor/crypto/x25519.h. X25519 key agreement (RFC 7748) on raw 32-byte keys, through
// OpenSSL 3's EVP_PKEY API. Private keys live in SecretBytes; public keys are plain strings.
// Thread-safe.
#ifndef SAFEFLOW_EXECUTOR_CRYPTO_X25519_H_
#define SAFEFLOW_EXECUTOR_CRYPTO_X25519_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "executor/crypto/secure_memory.h"

namespace safeflow::executor::crypto {

inline constexpr std::size_t kX25519KeyBytes = 32;

struct X25519KeyPair {
  SecretBytes private_key;  // 32 raw bytes
  std::string public_key;   // 32 raw bytes

  // A fresh pair from OpenSSL's private DRBG.
  [[nodiscard]] static absl::StatusOr<X25519KeyPair> Generate();
  // The pair for an existing private key (its public key derived). InvalidArgument unless 32
  // bytes.
  [[nodiscard]] static absl::StatusOr<X25519KeyPair> FromPrivate(const SecretBytes& private_key);
};

// Raw X25519(private_key, peer_public_key): 32 bytes, to be fed to a KDF, never used as a key.
// InvalidArgument for wrong sizes, and when the result would be all zero (the peer key is a
// low-order point: the "shared" secret would be known to anyone).
[[nodiscard]] absl::StatusOr<SecretBytes> X25519SharedSecret(const SecretBytes& private_key,
                                                             std::string_view peer_public_key);

}  // namespace safeflow::executor::crypto

#endif  // SAFEFLOW_EXECUTOR_CRYPTO_X25519_H_
