// executor/sandbox/seccomp.h. The seccomp filter that bwrap installs (`--seccomp FD`) just
// before it executes the sandboxed program. It is a deny-list on top of the namespaces: the
// sandbox already has no capabilities, no network and its own mount/pid/user namespaces; the
// filter removes kernel attack surface and the few calls that still make sense to an attacker.
//
// Every call in kSeccompBlockedSyscalls fails with EPERM (the caller sees an ordinary error,
// not a crash), and in addition:
//  - clone(2) with any CLONE_NEW* namespace flag fails with EPERM;
//  - clone3(2) fails with ENOSYS: its flags live in memory, which seccomp cannot inspect, and
//    glibc (posix_spawn, pthread_create) falls back to clone(2) on ENOSYS, as under Docker;
//  - socket(AF_VSOCK, ...) fails with EPERM: vsock is not isolated by network namespaces;
//  - personality(2) is allowed only for the harmless values 0 (PER_LINUX), 8 (PER_LINUX32),
//    0x20000 / 0x20008 (UNAME26) and 0xffffffff (the query); others (e.g. ADDR_NO_RANDOMIZE)
//    fail with EPERM. libseccomp cannot say "arg not in set" with an allow default, so this
//    part is a short hand-written BPF prologue in front of the libseccomp program.
//  - calls of a foreign architecture (e.g. int 0x80 on x86_64) kill the process.
// Thread-safe.
#ifndef SAFEFLOW_EXECUTOR_SANDBOX_SECCOMP_H_
#define SAFEFLOW_EXECUTOR_SANDBOX_SECCOMP_H_

#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

#include "executor/sandbox/unique_fd.h"

namespace safeflow::executor {

// The system calls that fail with EPERM inside the sandbox (names as libseccomp knows them;
// names that do not exist on the build architecture are skipped).
std::span<const std::string_view> SeccompBlockedSyscalls();

// The filter as a classic BPF program (struct sock_filter[]), compiled once per process.
[[nodiscard]] absl::StatusOr<std::string> SeccompFilterProgram();

// A fresh sealed, close-on-exec memfd holding SeccompFilterProgram() at offset 0, ready for
// `bwrap --seccomp FD` (bwrap reads it to EOF, so use one per sandbox).
[[nodiscard]] absl::StatusOr<UniqueFd> CompileSeccompFilter();

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_SANDBOX_SECCOMP_H_
