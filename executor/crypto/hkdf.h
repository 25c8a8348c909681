// executor/crypto/hkdf.h. HKDF-SHA256 (RFC 5869), SHA-256 (whole or streamed) and hex coding: the
// small pieces the key wrap and the sealed-file format are built from. Thread-safe.
#ifndef SAFEFLOW_EXECUTOR_CRYPTO_HKDF_H_
#define SAFEFLOW_EXECUTOR_CRYPTO_HKDF_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "executor/crypto/secure_memory.h"

namespace safeflow::executor::crypto {

inline constexpr std::size_t kSha256Bytes = 32;

// HKDF-Extract-and-Expand with SHA-256. An empty `salt` means RFC 5869's default (32 zero
// bytes). InvalidArgument unless 1 <= length <= 255 * 32.
[[nodiscard]] absl::StatusOr<SecretBytes> HkdfSha256(const SecretBytes& ikm, std::string_view salt,
                                                     std::string_view info, std::size_t length);

// SHA-256 of `data`: 32 raw bytes.
std::string Sha256(std::string_view data);

// SHA-256 of bytes that arrive in pieces (a stream too large to hold). Not thread-safe; a
// hasher is used by one thread. An OpenSSL failure aborts, as Sha256() does.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::string_view bytes);
  // 32 raw bytes of everything given to Update since construction or the last Final; the
  // hasher is then ready for a new stream.
  std::string Final();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Lowercase hex.
std::string HexEncode(std::string_view bytes);
// Accepts either case. InvalidArgument for an odd length or a non-hex character.
[[nodiscard]] absl::StatusOr<std::string> HexDecode(std::string_view hex);

}  // namespace safeflow::executor::crypto

#endif  // SAFEFLOW_EXECUTOR_CRYPTO_HKDF_H_
