#include "executor/attestation/measurement.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include <openssl/evp.h>

#include "executor/crypto/openssl_util.h"
#include "executor/paths.h"
#include "executor/sandbox/seccomp.h"

namespace safeflow::executor::attestation {
namespace {

constexpr std::string_view kMrEnclaveContext("safeflow-mrenclave-v1\0", 22);
constexpr std::size_t kChunk = 1 << 20;

std::string Hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 0xf];
  }
  return out;
}

absl::Status ErrnoStatus(int err, std::string_view what, const std::string& path) {
  const std::string text = fmt::format("{} {}: {}", what, path, std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(text);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(text);
    case ELOOP:
      return absl::InvalidArgumentError(text + " (symlinks are not measured)");
    default:
      return absl::InternalError(text);
  }
}

// Writes all of `data` to `fd`.
bool WriteAll(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    // Cannot fail with the default provider; fail loudly rather than return a wrong digest.
    std::abort();
  }
  return Hex(md, len);
}

bool IsSha256Hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

absl::StatusOr<MeasuredImage> LoadMeasuredImage(const std::string& path) {
  // O_NONBLOCK: a FIFO must not hang us (regular files ignore it).
  UniqueFd file(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!file.valid()) return ErrnoStatus(errno, "open", path);
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(fmt::format("measure {}: not a regular file", path));
  }
  if (static_cast<std::uint64_t>(st.st_size) > kMaxImageBytes) {
    return absl::InvalidArgumentError(fmt::format("measure {}: {} bytes, more than the {} allowed",
                                                  path, st.st_size, kMaxImageBytes));
  }

  UniqueFd mem(::memfd_create("safeflow-measured", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!mem.valid()) return ErrnoStatus(errno, "memfd_create for", path);
  // Copy to EOF (the file may have changed since fstat; the limit still holds).
  std::vector<char> buf(kChunk);
  std::uint64_t copied = 0;
  while (true) {
    const ssize_t r = ::read(file.get(), buf.data(), buf.size());
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read", path);
    }
    if (r == 0) break;
    copied += static_cast<std::uint64_t>(r);
    if (copied > kMaxImageBytes) {
      return absl::InvalidArgumentError(
          fmt::format("measure {}: more than the {} bytes allowed", path, kMaxImageBytes));
    }
    if (!WriteAll(mem.get(), buf.data(), static_cast<std::size_t>(r))) {
      return ErrnoStatus(errno, "write memfd for", path);
    }
  }
  if (::fcntl(mem.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) !=
      0) {
    return ErrnoStatus(errno, "seal memfd for", path);
  }

  // Hash what the memfd holds now that it cannot change.
  crypto::UniqueMdCtx ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256: " + crypto::OpenSslError());
  }
  std::uint64_t hashed = 0;
  while (true) {
    const ssize_t r = ::pread(mem.get(), buf.data(), buf.size(), static_cast<off_t>(hashed));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read memfd for", path);
    }
    if (r == 0) break;
    if (EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(r)) != 1) {
      return absl::InternalError("SHA-256: " + crypto::OpenSslError());
    }
    hashed += static_cast<std::uint64_t>(r);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md, &len) != 1 || len != 32) {
    return absl::InternalError("SHA-256: " + crypto::OpenSslError());
  }
  if (hashed != copied) {
    return absl::InternalError(
        fmt::format("measure {}: memfd holds {} bytes, {} were copied", path, hashed, copied));
  }
  if (::lseek(mem.get(), 0, SEEK_SET) != 0) return ErrnoStatus(errno, "seek memfd for", path);
  return MeasuredImage{.fd = std::move(mem), .sha256_hex = Hex(md, len), .size = hashed};
}

absl::StatusOr<std::string> MeasuredPolicyJsonWithSeccomp(const SandboxPolicy& policy,
                                                          std::string_view seccomp_sha256_hex) {
  if (!IsNormalizedAbsolute(policy.env_root)) {
    return absl::InvalidArgumentError(
        fmt::format("env_root \"{}\": must be an absolute, normalised path", policy.env_root));
  }
  if (!IsSha256Hex(seccomp_sha256_hex)) {
    return absl::InvalidArgumentError("seccomp digest: want 64 lowercase hex digits");
  }
  try {
    // nlohmann::json objects keep their keys sorted; dump() without indent has no whitespace.
    const nlohmann::json j = {
        {"version", 1},
        {"network", "none"},
        {"env_root", policy.env_root},
        {"root", "read-only"},
        {"user", policy.run_as ? "unprivileged" : "caller"},
        {"seccomp", std::string(seccomp_sha256_hex)},
        {"die_with_parent", true},
        {"new_session", true},
        {"no_new_privs", true},
        {"capabilities", "none"},
        {"core_dumps", false},
        // As SandboxProcess::Start applies them.
        {"max_processes", std::max(policy.max_processes, 1)},
        {"max_open_files", std::max(policy.max_open_files, 16)},
    };
    return j.dump();
  } catch (const nlohmann::json::exception& e) {
    // Only invalid UTF-8 in env_root gets here.
    return absl::InvalidArgumentError(fmt::format("env_root: {}", e.what()));
  }
}

absl::StatusOr<std::string> MeasuredPolicyJson(const SandboxPolicy& policy) {
  absl::StatusOr<std::string> program = SeccompFilterProgram();
  if (!program.ok()) return program.status();
  return MeasuredPolicyJsonWithSeccomp(policy, Sha256Hex(*program));
}

absl::StatusOr<std::string> MrEnclaveFromPolicyJson(std::string_view image_sha256_hex,
                                                    std::string_view measured_policy_json) {
  if (!IsSha256Hex(image_sha256_hex)) {
    return absl::InvalidArgumentError("image digest: want 64 lowercase hex digits");
  }
  std::string input;
  input.reserve(kMrEnclaveContext.size() + image_sha256_hex.size() + 1 +
                measured_policy_json.size());
  input.append(kMrEnclaveContext);
  input.append(image_sha256_hex);
  input.push_back('\0');
  input.append(measured_policy_json);
  return Sha256Hex(input);
}

absl::StatusOr<std::string> MrEnclave(std::string_view image_sha256_hex,
                                      const SandboxPolicy& policy) {
  absl::StatusOr<std::string> json = MeasuredPolicyJson(policy);
  if (!json.ok()) return json.status();
  return MrEnclaveFromPolicyJson(image_sha256_hex, *json);
}

}  // namespace safeflow::executor::attestation
