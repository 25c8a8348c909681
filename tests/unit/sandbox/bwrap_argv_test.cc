#include <algorithm>
#include <cstring>
#include <linux/filter.h>
#include <string>
#include <unistd.h>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/sandbox/sandbox.h"
#include "executor/sandbox/seccomp.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Argv = std::vector<std::string>;

EnvRootLayout MergedUsrLayout() {
  EnvRootLayout l;
  l.entries = {{.container = "/usr", .host = "/envs/r/usr"},
               {.container = "/bin", .host = "/envs/r/bin", .symlink_target = "usr/bin"},
               {.container = "/lib64", .host = "/envs/r/lib64"},
               {.container = "/etc/ld.so.cache", .host = "/envs/r/etc/ld.so.cache"},
               {.container = "/etc/localtime",
                .host = "/envs/r/etc/localtime",
                .symlink_target = "/usr/share/zoneinfo/Etc/UTC"}};
  return l;
}

SandboxPolicy TaskPolicy() {
  SandboxPolicy p;
  p.env_root = "/envs/r";
  p.tmpfs_bytes = 3ull << 30;
  p.shm_bytes = 1 << 20;
  p.writable_dirs = {"/work", "/outputs"};
  p.binds = {{.host = "/srv/t1/inputs/a.csv", .container = "/data/a.csv"},
             {.host = "/srv/t1/outbox", .container = "/.safeflow/outbox", .writable = true},
             {.host = "/opt/sf/safeflow-worker", .container = "/.safeflow/worker"}};
  p.extra_env = {"TASK=t1"};
  return p;
}

Argv Build(const SandboxPolicy& p, int seccomp_fd = 7) {
  absl::StatusOr<Argv> a =
      BuildBwrapArgv(p, MergedUsrLayout(), {{"/etc/passwd", 8}, {"/etc/group", 9}}, seccomp_fd,
                     {"/.safeflow/worker", "run"});
  EXPECT_THAT(a, IsOk());
  return a.ok() ? *a : Argv{};
}

// Index of the first occurrence of the consecutive elements `seq` in `a`, or -1.
long Find(const Argv& a, const Argv& seq) {
  auto it = std::search(a.begin(), a.end(), seq.begin(), seq.end());
  return it == a.end() ? -1 : static_cast<long>(it - a.begin());
}

TEST(BuildBwrapArgvTest, UnsharesEverythingAndDiesWithParent) {
  const Argv a = Build(TaskPolicy());
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a[0], "/usr/bin/bwrap");
  for (const char* flag : {"--unshare-all", "--unshare-user", "--unshare-net", "--disable-userns",
                           "--die-with-parent", "--new-session", "--clearenv", "--as-pid-1"}) {
    EXPECT_THAT(a, Contains(flag));
  }
  EXPECT_THAT(a, Contains("--share-net").Times(0));
  EXPECT_GE(Find(a, {"--proc", "/proc"}), 0);
  EXPECT_GE(Find(a, {"--dev", "/dev"}), 0);
}

TEST(BuildBwrapArgvTest, EnvironmentIsMinimalPlusExtra) {
  const Argv a = Build(TaskPolicy());
  EXPECT_GE(
      Find(a, {"--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}),
      0);
  EXPECT_GE(Find(a, {"--setenv", "HOME", "/tmp"}), 0);
  EXPECT_GE(Find(a, {"--setenv", "TASK", "t1"}), 0);
  EXPECT_LT(Find(a, {"--clearenv"}), Find(a, {"--setenv", "PATH"}));
}

TEST(BuildBwrapArgvTest, EnvRootIsReadOnlyAndSymlinksAreRecreated) {
  const Argv a = Build(TaskPolicy());
  EXPECT_GE(Find(a, {"--ro-bind", "/envs/r/usr", "/usr"}), 0);
  EXPECT_GE(Find(a, {"--symlink", "usr/bin", "/bin"}), 0);
  EXPECT_GE(Find(a, {"--ro-bind", "/envs/r/lib64", "/lib64"}), 0);
  EXPECT_GE(Find(a, {"--ro-bind", "/envs/r/etc/ld.so.cache", "/etc/ld.so.cache"}), 0);
  EXPECT_GE(Find(a, {"--symlink", "/usr/share/zoneinfo/Etc/UTC", "/etc/localtime"}), 0);
  EXPECT_THAT(a, Contains("--bind-data").Times(0));
  EXPECT_GE(Find(a, {"--perms", "0444", "--ro-bind-data", "8", "/etc/passwd"}), 0);
  EXPECT_GE(Find(a, {"--perms", "0444", "--ro-bind-data", "9", "/etc/group"}), 0);
}

TEST(BuildBwrapArgvTest, SizedTmpfsForTmpShmAndEachWritableDir) {
  const Argv a = Build(TaskPolicy());
  const std::string size = std::to_string(3ull << 30);
  EXPECT_GE(Find(a, {"--perms", "1777", "--size", size, "--tmpfs", "/tmp"}), 0);
  EXPECT_GE(Find(a, {"--size", size, "--tmpfs", "/work"}), 0);
  EXPECT_GE(Find(a, {"--size", size, "--tmpfs", "/outputs"}), 0);
  EXPECT_GE(Find(a, {"--size", "1048576", "--tmpfs", "/dev/shm", "--remount-ro", "/dev"}), 0);
  // Every --tmpfs carries a size.
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "--tmpfs") {
      ASSERT_GE(i, 2u);
      EXPECT_EQ(a[i - 2], "--size") << a[i + 1];
    }
  }
}

TEST(BuildBwrapArgvTest, BindsInOrderAfterTmpfsThenReadOnlyRootSeccompAndCommand) {
  const Argv a = Build(TaskPolicy());
  const long tmp = Find(a, {"--tmpfs", "/outputs"});
  const long b1 = Find(a, {"--ro-bind", "/srv/t1/inputs/a.csv", "/data/a.csv"});
  const long b2 = Find(a, {"--bind", "/srv/t1/outbox", "/.safeflow/outbox"});
  const long b3 = Find(a, {"--ro-bind", "/opt/sf/safeflow-worker", "/.safeflow/worker"});
  const long ro = Find(a, {"--remount-ro", "/"});
  const long sc = Find(a, {"--seccomp", "7"});
  const long dash = Find(a, {"--chdir", "/", "--", "/.safeflow/worker", "run"});
  ASSERT_GE(tmp, 0);
  EXPECT_LT(tmp, b1);
  EXPECT_LT(b1, b2);
  EXPECT_LT(b2, b3);
  EXPECT_LT(b3, ro);
  EXPECT_LT(ro, sc);
  EXPECT_LT(sc, dash);
  EXPECT_EQ(dash + 5, static_cast<long>(a.size()));
}

TEST(BuildBwrapArgvTest, NoSeccompWhenNoFd) {
  const Argv a = Build(TaskPolicy(), -1);
  EXPECT_THAT(a, Contains("--seccomp").Times(0));
}

TEST(BuildBwrapArgvTest, RejectsBadPaths) {
  const std::vector<std::string> inner = {"true"};
  for (const char* bad : {"relative", "/", "/a/../b", "/a//b", "/a/", "/usr/x", "/proc", "/dev/shm",
                          "/etc/passwd", "/lib64/x"}) {
    SandboxPolicy p = TaskPolicy();
    p.binds = {{.host = "/srv/x", .container = bad}};
    EXPECT_THAT(BuildBwrapArgv(p, MergedUsrLayout(), {}, -1, inner),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
    SandboxPolicy w = TaskPolicy();
    w.writable_dirs = {bad};
    EXPECT_THAT(BuildBwrapArgv(w, MergedUsrLayout(), {}, -1, inner),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  SandboxPolicy p = TaskPolicy();
  p.binds = {{.host = "relative", .container = "/x"}};
  EXPECT_THAT(BuildBwrapArgv(p, MergedUsrLayout(), {}, -1, inner),
              StatusIs(absl::StatusCode::kInvalidArgument));
  p = TaskPolicy();
  p.extra_env = {"NOEQUALS"};
  EXPECT_THAT(BuildBwrapArgv(p, MergedUsrLayout(), {}, -1, inner),
              StatusIs(absl::StatusCode::kInvalidArgument));
  p = TaskPolicy();
  p.writable_dirs = {"/work", "/work"};
  EXPECT_THAT(BuildBwrapArgv(p, MergedUsrLayout(), {}, -1, inner),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(BuildBwrapArgv(TaskPolicy(), MergedUsrLayout(), {}, -1, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(BuildBwrapArgv(TaskPolicy(), EnvRootLayout{}, {}, -1, inner),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(BuildBwrapArgvTest, ExecutablesFromDescriptorsAfterBindsWithPerms0555) {
  SandboxPolicy p = TaskPolicy();
  p.binds.pop_back();  // the worker comes from a descriptor instead
  p.executables = {{.container = "/.safeflow/worker", .fd = 11},
                   {.container = "/opt/tool", .fd = 12}};
  const Argv a = Build(p);
  const long bind = Find(a, {"--bind", "/srv/t1/outbox", "/.safeflow/outbox"});
  const long e1 = Find(a, {"--perms", "0555", "--ro-bind-data", "11", "/.safeflow/worker"});
  const long e2 = Find(a, {"--perms", "0555", "--ro-bind-data", "12", "/opt/tool"});
  const long ro = Find(a, {"--remount-ro", "/"});
  ASSERT_GE(bind, 0);
  EXPECT_LT(bind, e1);
  EXPECT_LT(e1, e2);
  EXPECT_LT(e2, ro);
  EXPECT_THAT(a, Contains("/opt/sf/safeflow-worker").Times(0));
  // Every --ro-bind-data has its --perms right before it.
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == "--ro-bind-data") {
      ASSERT_GE(i, 2u);
      EXPECT_EQ(a[i - 2], "--perms") << a[i + 2];
    }
  }
}

TEST(BuildBwrapArgvTest, RejectsBadExecutables) {
  const std::vector<std::string> inner = {"true"};
  for (const char* bad :
       {"relative", "/", "/a/../b", "/a/", "/usr/bin/tool", "/proc/x", "/etc/worker", "/bin/sh"}) {
    SandboxPolicy p = TaskPolicy();
    p.executables = {{.container = bad, .fd = 5}};
    EXPECT_THAT(BuildBwrapArgv(p, MergedUsrLayout(), {}, -1, inner),
                StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
  SandboxPolicy p = TaskPolicy();
  p.executables = {{.container = "/opt/tool", .fd = -1}};
  EXPECT_THAT(BuildBwrapArgv(p, MergedUsrLayout(), {}, -1, inner),
              StatusIs(absl::StatusCode::kInvalidArgument));
  p.executables = {{.container = "/opt/tool", .fd = 5}, {.container = "/opt/tool", .fd = 6}};
  EXPECT_THAT(BuildBwrapArgv(p, MergedUsrLayout(), {}, -1, inner),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SandboxProcessTest, RejectsExecutableDescriptorsThatAreNotOpenFiles) {
  SandboxPolicy p;
  p.run_as = UserIds{.uid = 65534, .gid = 65534, .name = "nobody"};
  if (::geteuid() != 0) p.run_as.reset();
  p.bwrap_path = "/nonexistent/bwrap";
  p.executables = {{.container = "/opt/tool", .fd = 1000}};  // not open
  EXPECT_THAT(SandboxProcess::Start(p, {"/opt/tool"}, {}, "/dev/null"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  p.executables = {{.container = "/opt/tool", .fd = fds[0]}};  // not a regular file
  EXPECT_THAT(SandboxProcess::Start(p, {"/opt/tool"}, {}, "/dev/null"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(SynthesizedEtcFilesTest, PasswdAndGroupHoldTheSandboxUserAndNobody) {
  const std::vector<SandboxDataFile> files = SynthesizedEtcFiles(995, 994, "sfw", "box");
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].container, "/etc/passwd");
  EXPECT_EQ(files[0].content,
            "sfw:x:995:994:SafeFlow sandbox:/tmp:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  EXPECT_EQ(files[1].container, "/etc/group");
  EXPECT_EQ(files[1].content, "sfw:x:994:\nnogroup:x:65534:\n");
  EXPECT_EQ(files[2].container, "/etc/hosts");
  EXPECT_THAT(files[2].content, HasSubstr("127.0.1.1\tbox\n"));
  EXPECT_EQ(files[3].container, "/etc/nsswitch.conf");
}

TEST(ProbeEnvRootTest, HostRootHasUsr) {
  // Only lstat/readlink of the build host's own root: no processes.
  SandboxPolicy p;
  absl::StatusOr<EnvRootLayout> l = ProbeEnvRoot(p);
  ASSERT_THAT(l, IsOk());
  ASSERT_FALSE(l->entries.empty());
  EXPECT_EQ(l->entries[0].container, "/usr");
  EXPECT_EQ(l->entries[0].host, "/usr");
  for (const EnvRootEntry& e : l->entries) {
    EXPECT_NE(e.container, "/etc/passwd");
    EXPECT_NE(e.container, "/etc/shadow");
  }
  p.env_root = "/nonexistent-env-root";
  EXPECT_THAT(ProbeEnvRoot(p), StatusIs(absl::StatusCode::kInvalidArgument));
  p.env_root = "relative";
  EXPECT_THAT(ProbeEnvRoot(p), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SeccompTest, FilterCompilesIntoASealedMemfd) {
  absl::StatusOr<UniqueFd> fd = CompileSeccompFilter();
  ASSERT_THAT(fd, IsOk());
  absl::StatusOr<std::string> program = SeccompFilterProgram();
  ASSERT_THAT(program, IsOk());
  ASSERT_GT(program->size(), 20 * sizeof(sock_filter));
  EXPECT_EQ(program->size() % sizeof(sock_filter), 0u);
  std::string read_back(program->size() + 1, '\0');
  const ssize_t n = ::read(fd->get(), read_back.data(), read_back.size());
  ASSERT_EQ(n, static_cast<ssize_t>(program->size()));
  read_back.resize(static_cast<std::size_t>(n));
  EXPECT_EQ(read_back, *program);
  EXPECT_EQ(::write(fd->get(), "x", 1), -1);  // sealed
  // The first instruction of the personality prologue loads the architecture.
  sock_filter first{};
  std::memcpy(&first, program->data(), sizeof first);
  EXPECT_EQ(first.code, BPF_LD | BPF_W | BPF_ABS);
}

TEST(SeccompTest, BlocksTheDocumentedCalls) {
  std::vector<std::string> names;
  for (std::string_view n : SeccompBlockedSyscalls()) names.emplace_back(n);
  for (const char* must : {"ptrace",
                           "process_vm_readv",
                           "process_vm_writev",
                           "mount",
                           "umount2",
                           "pivot_root",
                           "chroot",
                           "move_mount",
                           "open_tree",
                           "fsopen",
                           "fsconfig",
                           "fsmount",
                           "fspick",
                           "keyctl",
                           "add_key",
                           "request_key",
                           "bpf",
                           "perf_event_open",
                           "kexec_load",
                           "kexec_file_load",
                           "init_module",
                           "finit_module",
                           "delete_module",
                           "reboot",
                           "swapon",
                           "swapoff",
                           "setns",
                           "unshare",
                           "open_by_handle_at",
                           "name_to_handle_at",
                           "userfaultfd",
                           "acct",
                           "quotactl",
                           "syslog",
                           "settimeofday",
                           "clock_settime",
                           "adjtimex",
                           "io_uring_setup",
                           "io_uring_enter",
                           "io_uring_register",
                           "lookup_dcookie",
                           "vhangup",
                           "nfsservctl"}) {
    EXPECT_THAT(names, Contains(must));
  }
  EXPECT_THAT(names, Contains("clone").Times(0));
  EXPECT_THAT(names, Contains("clone3").Times(0));
}

}  // namespace
}  // namespace safeflow::executor
