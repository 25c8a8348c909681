// executor/crypto/hkdf.h. HKDF-SHA256 (RFC 5869), SHA-256 and hex coding: the small pieces the
// key wrap and the sealed-file format are built from. Thread-safe.
#ifndef SAFEFLOW_EXECUTOR_CRYPTO_HKDF_H_
#define SAFEFLOW_EXECUTOR_CRYPTO_HKDF_H_

#include <cstddef>
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

// Lowercase hex.
std::string HexEncode(std::string_view bytes);
// Accepts either case. InvalidArgument for an odd length or a non-hex character.
[[nodiscard]] absl::StatusOr<std::string> HexDecode(std::string_view hex);

}  // namespace safeflow::executor::crypto

#endif  // SAFEFLOW_EXECUTOR_CRYPTO_HKDF_H_
