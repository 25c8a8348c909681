// executor/crypto/aead.h. AES-256-GCM (OpenSSL 3 EVP): one-shot functions on strings, and
// AeadCipher, a context bound to one key for many messages (the sealed-file chunk loop) that
// works in place or between caller buffers without copies. Decrypted bytes are returned in
// SecretBytes; nothing is ever returned (or left in a caller's buffer) for a message whose tag
// does not verify. Functions are thread-safe; an AeadCipher is not (one per thread).
//
// Nonces: each (key, IV) pair must be used for one message only. AeadSeal draws random
// 96-bit IVs, which limits one key to about 2^32 messages; callers that count (the sealed-file
// format) derive IVs from a counter instead.
#ifndef SAFEFLOW_EXECUTOR_CRYPTO_AEAD_H_
#define SAFEFLOW_EXECUTOR_CRYPTO_AEAD_H_

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "executor/crypto/openssl_util.h"
#include "executor/crypto/secure_memory.h"

namespace safeflow::executor::crypto {

inline constexpr std::size_t kAeadKeyBytes = 32, kAeadIvBytes = 12, kAeadTagBytes = 16;

// Returns ciphertext||tag. InvalidArgument for a key that is not 32 bytes or an IV that is not
// 12.
[[nodiscard]] absl::StatusOr<std::string> AeadEncrypt(const SecretBytes& key, std::string_view iv,
                                                      std::string_view aad,
                                                      std::string_view plaintext);
// Takes ciphertext||tag. DataLoss("authentication failed") when the tag does not verify;
// InvalidArgument for a wrong key or IV size or input shorter than the tag.
[[nodiscard]] absl::StatusOr<SecretBytes> AeadDecrypt(const SecretBytes& key, std::string_view iv,
                                                      std::string_view aad,
                                                      std::string_view ciphertext_and_tag);

// AeadEncrypt under a fresh random IV; returns iv||ciphertext||tag.
[[nodiscard]] absl::StatusOr<std::string> AeadSeal(const SecretBytes& key, std::string_view aad,
                                                   std::string_view plaintext);
// Opens what AeadSeal returned. Errors as AeadDecrypt.
[[nodiscard]] absl::StatusOr<SecretBytes> AeadOpen(const SecretBytes& key, std::string_view aad,
                                                   std::string_view sealed);

// AES-256-GCM with the key schedule computed once. Move-only.
class AeadCipher {
 public:
  // InvalidArgument unless `key` holds 32 bytes. The key is not retained (only OpenSSL's
  // schedule, which it wipes when the context is freed).
  [[nodiscard]] static absl::StatusOr<AeadCipher> Create(const SecretBytes& key);

  // Encrypts `in` into `out`, which must have the same size and either be exactly `in` (in
  // place) or not overlap it, and writes the 16-byte tag to `tag`. InvalidArgument for sizes.
  [[nodiscard]] absl::Status Encrypt(std::string_view iv, std::string_view aad,
                                     std::span<const unsigned char> in,
                                     std::span<unsigned char> out, std::span<unsigned char> tag);
  // Decrypts `in` into `out` (same rules) and verifies `tag`. When the tag does not verify,
  // returns DataLoss("authentication failed") and `out` has been wiped.
  [[nodiscard]] absl::Status Decrypt(std::string_view iv, std::string_view aad,
                                     std::span<const unsigned char> in,
                                     std::span<const unsigned char> tag,
                                     std::span<unsigned char> out);

 private:
  explicit AeadCipher(UniqueCipherCtx ctx) : ctx_(std::move(ctx)) {}
  [[nodiscard]] absl::Status Start(bool encrypt, std::string_view iv, std::string_view aad);
  [[nodiscard]] absl::Status Update(std::span<const unsigned char> in,
                                    std::span<unsigned char> out);

  UniqueCipherCtx ctx_;
};

}  // namespace safeflow::executor::crypto

#endif  // SAFEFLOW_EXECUTOR_CRYPTO_AEAD_H_
