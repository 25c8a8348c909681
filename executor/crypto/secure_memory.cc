#include "executor/crypto/secure_memory.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>
#include <utility>

#include "absl/status/status.h"
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "executor/crypto/openssl_util.h"

namespace safeflow::executor::crypto {
namespace {

std::size_t PageSize() {
  static const std::size_t page = [] {
    const long p = ::sysconf(_SC_PAGESIZE);
    return p > 0 ? static_cast<std::size_t>(p) : std::size_t{4096};
  }();
  return page;
}

}  // namespace

SecretBytes::SecretBytes(std::size_t n) {
  if (n == 0) return;
  const std::size_t page = PageSize();
  if (n > SIZE_MAX - page) {
    std::fprintf(stderr, "SecretBytes: %zu bytes is too large\n", n);
    std::abort();
  }
  const std::size_t mapped = (n + page - 1) / page * page;
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    // Like operator new: there is no sensible way to go on without memory.
    std::fprintf(stderr, "SecretBytes: mmap of %zu bytes failed: %s\n", mapped,
                 std::strerror(errno));
    std::abort();
  }
  // Best effort: a secret in a core dump or in swap is a leak, but not being able to prevent it
  // (RLIMIT_MEMLOCK, no MADV_DONTDUMP) must not stop the work.
  (void)::madvise(p, mapped, MADV_DONTDUMP);
  locked_ = ::mlock(p, mapped) == 0;
  data_ = static_cast<unsigned char*>(p);
  size_ = n;
  mapped_ = mapped;
  // Anonymous mappings are zero-filled.
}

SecretBytes SecretBytes::Copy(std::string_view bytes) {
  SecretBytes s(bytes.size());
  if (!bytes.empty()) std::memcpy(s.data_, bytes.data(), bytes.size());
  return s;
}

absl::StatusOr<SecretBytes> SecretBytes::Random(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("SecretBytes::Random: too many bytes");
  }
  SecretBytes s(n);
  if (n > 0 && RAND_priv_bytes(s.data_, static_cast<int>(n)) != 1) {
    return absl::InternalError("RAND_priv_bytes: " + OpenSslError());
  }
  return s;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)),
      locked_(std::exchange(other.locked_, false)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Clear();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
    locked_ = std::exchange(other.locked_, false);
  }
  return *this;
}

SecretBytes::~SecretBytes() { Clear(); }

void SecretBytes::Clear() {
  if (data_ == nullptr) return;
  OPENSSL_cleanse(data_, mapped_);
  if (locked_) (void)::munlock(data_, mapped_);
  (void)::munmap(data_, mapped_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
  locked_ = false;
}

std::string_view SecretBytes::view() const {
  if (data_ == nullptr) return {};
  return {reinterpret_cast<const char*>(data_), size_};
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace safeflow::executor::crypto
