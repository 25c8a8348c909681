// executor/attestation/measurement.h. What the emulated platform measures before a worker runs
// (see README.md in this folder): the exact bytes that will execute, held in a sealed memfd
// that the sandbox maps in (SandboxPolicy::executables), and the security-relevant,
// task-independent part of the sandbox policy. mr_enclave binds both.
//
// The image is hashed from the sealed memfd, not from the file, so what is measured is what
// runs: replacing or rewriting the file after LoadMeasuredImage changes nothing. Everything
// here is thread-safe; the functions keep no state besides the cached seccomp program.
#ifndef SAFEFLOW_EXECUTOR_ATTESTATION_MEASUREMENT_H_
#define SAFEFLOW_EXECUTOR_ATTESTATION_MEASUREMENT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "executor/sandbox/sandbox.h"
#include "executor/sandbox/unique_fd.h"

namespace safeflow::executor::attestation {

// Largest image LoadMeasuredImage accepts.
inline constexpr std::uint64_t kMaxImageBytes = 512ull << 20;

struct MeasuredImage {
  // A close-on-exec memfd at offset 0, sealed with F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK |
  // F_SEAL_SEAL: nobody, us included, can change its content any more.
  UniqueFd fd;
  std::string sha256_hex;  // of the memfd's content, 64 lowercase hex
  std::uint64_t size = 0;
};

// Copies the regular file at `path` (opened O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK; at most
// kMaxImageBytes) into a sealed memfd and hashes the memfd's content. NotFound when missing,
// PermissionDenied when unreadable, InvalidArgument for a symlink, a non-regular file or one
// that is too large, Internal for other failures.
[[nodiscard]] absl::StatusOr<MeasuredImage> LoadMeasuredImage(const std::string& path);

// The security-relevant, task-independent part of `policy` as canonical JSON (sorted keys, no
// whitespace):
//   {"capabilities":"none","core_dumps":false,"die_with_parent":true,"env_root":"/",
//    "max_open_files":4096,"max_processes":512,"network":"none","new_session":true,
//    "no_new_privs":true,"root":"read-only","seccomp":"<hex SHA-256 of SeccompFilterProgram()>",
//    "user":"unprivileged"|"caller","version":1}
// "user" is "unprivileged" when run_as is set. The limits are the values SandboxProcess::Start
// really applies (max_processes at least 1, max_open_files at least 16). Per-task settings
// (binds, writable dirs, tmpfs sizes, memory, cpu, env, hostname) are left out: the host puts
// the task into config_id. InvalidArgument when env_root is not an absolute, normalised path.
[[nodiscard]] absl::StatusOr<std::string> MeasuredPolicyJson(const SandboxPolicy& policy);
// The same with a given seccomp program digest (what MeasuredPolicyJson uses is the hex
// SHA-256 of SeccompFilterProgram()). InvalidArgument unless seccomp_sha256_hex is 64 lowercase
// hex.
[[nodiscard]] absl::StatusOr<std::string> MeasuredPolicyJsonWithSeccomp(
    const SandboxPolicy& policy, std::string_view seccomp_sha256_hex);

// mr_enclave = hex SHA-256 over "safeflow-mrenclave-v1\0" || image_sha256_hex || "\0" ||
// MeasuredPolicyJson(policy). InvalidArgument unless image_sha256_hex is 64 lowercase hex.
[[nodiscard]] absl::StatusOr<std::string> MrEnclave(std::string_view image_sha256_hex,
                                                    const SandboxPolicy& policy);
// The same over an already computed policy JSON (e.g. from MeasuredPolicyJsonWithSeccomp).
[[nodiscard]] absl::StatusOr<std::string> MrEnclaveFromPolicyJson(
    std::string_view image_sha256_hex, std::string_view measured_policy_json);

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// True for exactly 64 lowercase hex digits (a SHA-256 digest as this module writes it).
bool IsSha256Hex(std::string_view s);

}  // namespace safeflow::executor::attestation

#endif  // SAFEFLOW_EXECUTOR_ATTESTATION_MEASUREMENT_H_
