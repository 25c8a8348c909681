#include "executor/sandbox/seccomp.h"

#include <array>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "fmt/format.h"

#include "executor/sandbox/memfd.h"

namespace safeflow::executor {
namespace {

// Why each group is blocked:
//  - debugging other processes: ptrace, process_vm_*, pidfd_getfd (kcmp is harmless and used
//    by some runtimes, so it stays allowed);
//  - file systems and namespaces: the sandbox's view is fixed once bwrap has built it;
//  - kernel keyrings, eBPF, perf, io_uring, userfaultfd: large attack surface, no use in a task;
//  - whole-system state: modules, kexec, reboot, swap, clocks, accounting, quotas, syslog,
//    host/domain names;
//  - file handles (open_by_handle_at) can reach files outside the mount namespace.
constexpr std::array kBlocked = std::to_array<std::string_view>({
    // debugging and other processes' memory
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "process_madvise",
    "pidfd_getfd",
    // mounts, roots and namespaces
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "setns",
    "unshare",
    // file handles
    "open_by_handle_at",
    "name_to_handle_at",
    // kernel keyrings
    "keyctl",
    "add_key",
    "request_key",
    // eBPF, perf, io_uring, userfaultfd, fanotify
    "bpf",
    "perf_event_open",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "userfaultfd",
    "fanotify_init",
    // kernel modules, kexec, reboot, swap
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "reboot",
    "swapon",
    "swapoff",
    // system-wide clocks, accounting, quotas, logs, names
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "acct",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "sethostname",
    "setdomainname",
    // obsolete or hardware access
    "lookup_dcookie",
    "vhangup",
    "nfsservctl",
    "uselib",
    "_sysctl",
    "iopl",
    "ioperm",
    "get_kernel_syms",
    "query_module",
    "vm86",
    "vm86old",
});

constexpr std::array<std::uint64_t, 8> kNamespaceCloneFlags = {
    CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWPID,    CLONE_NEWNET,
    CLONE_NEWIPC,  CLONE_NEWUTS, CLONE_NEWCGROUP, 0x00000080 /* CLONE_NEWTIME */};

constexpr std::array<std::uint32_t, 5> kAllowedPersonalities = {0x0, 0x8, 0x20000, 0x20008,
                                                                0xffffffff};

// Owns a libseccomp context.
class SeccompCtx {
 public:
  explicit SeccompCtx(scmp_filter_ctx ctx) : ctx_(ctx) {}
  ~SeccompCtx() {
    if (ctx_ != nullptr) seccomp_release(ctx_);
  }
  SeccompCtx(const SeccompCtx&) = delete;
  SeccompCtx& operator=(const SeccompCtx&) = delete;
  scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_;
};

absl::Status Check(int rc, std::string_view what) {
  if (rc == 0) return absl::OkStatus();
  return absl::InternalError(fmt::format("seccomp {}: {}", what, std::strerror(-rc)));
}

sock_filter Stmt(std::uint16_t code, std::uint32_t k) { return sock_filter{code, 0, 0, k}; }
sock_filter Jump(std::uint16_t code, std::uint32_t k, std::uint8_t jt, std::uint8_t jf) {
  return sock_filter{code, jt, jf, k};
}

// The personality allow-list, run before the libseccomp program (whose jumps are relative,
// so it does not mind being preceded). Falls through to it for every other call.
std::vector<sock_filter> PersonalityPrologue(std::uint32_t arch, int nr) {
  std::vector<sock_filter> p;
  const std::uint8_t n_values = kAllowedPersonalities.size();
  // Layout: [0] ld arch, [1] jeq arch, [2] ld nr, [3] jeq nr, [4] ld arg0 (low 32 bits),
  // [5 .. 5+n) jeq value -> allow, [5+n] ret EPERM, [6+n] ret ALLOW, then the program.
  const std::uint8_t end = 7 + n_values;  // index of the first libseccomp instruction
  p.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  p.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, arch, 0, end - 2));
  p.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  p.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(nr), 0, end - 4));
  p.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args)));  // little-endian
  for (std::uint8_t i = 0; i < n_values; ++i) {
    const std::uint8_t index = 5 + i;
    const std::uint8_t allow = 6 + n_values;
    p.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, kAllowedPersonalities[i], allow - index - 1, 0));
  }
  p.push_back(Stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
  p.push_back(Stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  return p;
}

absl::StatusOr<std::string> Compile() {
  SeccompCtx ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (ctx.get() == nullptr) return absl::InternalError("seccomp_init failed");
  if (absl::Status s =
          Check(seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS),
                "bad-arch action");
      !s.ok()) {
    return s;
  }
  const std::uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
  for (std::string_view name : kBlocked) {
    const int nr = seccomp_syscall_resolve_name(std::string(name).c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (absl::Status s = Check(seccomp_rule_add(ctx.get(), eperm, nr, 0), name); !s.ok()) {
      return s;
    }
  }
  for (std::uint64_t flag : kNamespaceCloneFlags) {
    if (absl::Status s = Check(seccomp_rule_add(ctx.get(), eperm, SCMP_SYS(clone), 1,
                                                SCMP_A0_64(SCMP_CMP_MASKED_EQ, flag, flag)),
                               "clone");
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s =
          Check(seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Check(seccomp_rule_add(ctx.get(), eperm, SCMP_SYS(socket), 1,
                                              SCMP_A0_32(SCMP_CMP_EQ, AF_VSOCK)),
                             "socket");
      !s.ok()) {
    return s;
  }

  // Export the libseccomp program through a memfd, then read it back.
  UniqueFd tmp(::memfd_create("safeflow-seccomp-build", MFD_CLOEXEC));
  if (!tmp.valid()) return absl::InternalError(fmt::format("memfd: {}", std::strerror(errno)));
  if (absl::Status s = Check(seccomp_export_bpf(ctx.get(), tmp.get()), "export"); !s.ok()) {
    return s;
  }
  std::string program;
  const off_t size = ::lseek(tmp.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) {
    return absl::InternalError("seccomp export produced no program");
  }
  program.resize(static_cast<std::size_t>(size));
  if (::pread(tmp.get(), program.data(), program.size(), 0) != size) {
    return absl::InternalError(fmt::format("read seccomp program: {}", std::strerror(errno)));
  }

  // Prepend the personality allow-list (little-endian only: it loads the low half of arg0).
  if constexpr (std::endian::native == std::endian::little) {
    const int nr = seccomp_syscall_resolve_name("personality");
    if (nr != __NR_SCMP_ERROR && nr >= 0) {
      const std::vector<sock_filter> prologue = PersonalityPrologue(seccomp_arch_native(), nr);
      std::string head(reinterpret_cast<const char*>(prologue.data()),
                       prologue.size() * sizeof(sock_filter));
      program.insert(0, head);
    }
  }
  if (program.size() / sizeof(sock_filter) > BPF_MAXINSNS) {
    return absl::InternalError("seccomp program too long");
  }
  return program;
}

}  // namespace

std::span<const std::string_view> SeccompBlockedSyscalls() { return kBlocked; }

absl::StatusOr<std::string> SeccompFilterProgram() {
  static const absl::StatusOr<std::string> program = Compile();  // thread-safe init
  return program;
}

absl::StatusOr<UniqueFd> CompileSeccompFilter() {
  absl::StatusOr<std::string> program = SeccompFilterProgram();
  if (!program.ok()) return program.status();
  return MakeSealedMemfd("safeflow-seccomp", *program);
}

}  // namespace safeflow::executor
