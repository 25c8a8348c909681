// executor/crypto/secure_memory.h. SecretBytes owns secret bytes (keys, data keys, decrypted
// chunks) in memory of its own: a private anonymous mapping, page-aligned, so that locking it
// locks nothing else. The pages are mlock()ed best effort (failure, e.g. RLIMIT_MEMLOCK, is
// ignored and reported by locked()), excluded from core dumps (MADV_DONTDUMP), and wiped with
// OPENSSL_cleanse before they are unlocked and unmapped, on destruction and when moved from.
// Move-only value type; not thread-safe (like any value type). Running out of address space
// aborts the process, as it would in operator new.
#ifndef SAFEFLOW_EXECUTOR_CRYPTO_SECURE_MEMORY_H_
#define SAFEFLOW_EXECUTOR_CRYPTO_SECURE_MEMORY_H_

#include <cstddef>
#include <string_view>

#include "absl/status/statusor.h"

namespace safeflow::executor::crypto {

class SecretBytes {
 public:
  // Empty: no mapping, data() is nullptr.
  SecretBytes() = default;
  // `n` zero bytes.
  explicit SecretBytes(std::size_t n);
  // A copy of `bytes` (the caller remains responsible for wiping its own copy).
  static SecretBytes Copy(std::string_view bytes);
  // `n` bytes from OpenSSL's private DRBG (RAND_priv_bytes). Internal when the DRBG fails.
  [[nodiscard]] static absl::StatusOr<SecretBytes> Random(std::size_t n);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  unsigned char* data() { return data_; }
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // The bytes as a string_view; valid while this object lives and is not moved from.
  std::string_view view() const;
  // Whether mlock() succeeded (false when empty).
  bool locked() const { return locked_; }

  // Wipes, unlocks and unmaps; leaves this empty.
  void Clear();

 private:
  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;  // bytes mapped: size_ rounded up to whole pages
  bool locked_ = false;
};

// Constant-time comparison of the contents (the time depends on the sizes only).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace safeflow::executor::crypto

#endif  // SAFEFLOW_EXECUTOR_CRYPTO_SECURE_MEMORY_H_
