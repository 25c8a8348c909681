// Measurement: the sealed image and its digest, the measured policy JSON, and which policy
// changes move mr_enclave.
#include "executor/attestation/measurement.h"

#include <cerrno>
#include <fcntl.h>
#include <fstream>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/sandbox/seccomp.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::attestation {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::TempDir;
using Code = absl::StatusCode;

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

std::string ReadFd(int fd) {
  std::string out;
  char buf[65536];
  off_t off = 0;
  while (true) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return out;
}

TEST(LoadMeasuredImageTest, DigestIsTheSha256OfTheContent) {
  TempDir tmp;
  const std::string path = tmp.path() + "/abc";
  WriteFile(path, "abc");
  absl::StatusOr<MeasuredImage> img = LoadMeasuredImage(path);
  ASSERT_THAT(img, IsOk());
  // sha256sum of a file holding "abc".
  EXPECT_EQ(img->sha256_hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(img->size, 3u);

  // Larger than the copy buffer, with every byte value.
  std::string big;
  for (int i = 0; i < (3 << 20) + 17; ++i)
    big.push_back(static_cast<char>((i * 7 + i / 251) & 0xff));
  const std::string big_path = tmp.path() + "/big";
  WriteFile(big_path, big);
  absl::StatusOr<MeasuredImage> big_img = LoadMeasuredImage(big_path);
  ASSERT_THAT(big_img, IsOk());
  EXPECT_EQ(big_img->sha256_hex, Sha256Hex(big));
  EXPECT_EQ(big_img->size, big.size());
  EXPECT_EQ(ReadFd(big_img->fd.get()), big);

  const std::string empty = tmp.path() + "/empty";
  WriteFile(empty, "");
  EXPECT_THAT(LoadMeasuredImage(empty), IsOk());
}

TEST(LoadMeasuredImageTest, TheMemfdIsSealedCloseOnExecAndAtOffsetZero) {
  TempDir tmp;
  const std::string path = tmp.path() + "/prog";
  WriteFile(path, "#!/bin/sh\necho A\n");
  absl::StatusOr<MeasuredImage> img = LoadMeasuredImage(path);
  ASSERT_THAT(img, IsOk());
  const int fd = img->fd.get();
  EXPECT_EQ(::fcntl(fd, F_GET_SEALS), F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  EXPECT_EQ(::fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(::lseek(fd, 0, SEEK_CUR), 0);
  errno = 0;
  EXPECT_EQ(::pwrite(fd, "B", 1, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::ftruncate(fd, 0), -1);
  EXPECT_EQ(::fcntl(fd, F_ADD_SEALS, 0), -1);  // F_SEAL_SEAL
  // Not through another description either.
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  const int rw = ::open(proc.c_str(), O_RDWR | O_CLOEXEC);
  if (rw >= 0) {
    EXPECT_EQ(::write(rw, "B", 1), -1);
    EXPECT_EQ(::mmap(nullptr, 4096, PROT_WRITE, MAP_SHARED, rw, 0), MAP_FAILED);
    ::close(rw);
  }
  // Changing the file afterwards changes nothing.
  WriteFile(path, "#!/bin/sh\necho B\n");
  EXPECT_EQ(ReadFd(fd), "#!/bin/sh\necho A\n");
  EXPECT_EQ(img->sha256_hex, Sha256Hex("#!/bin/sh\necho A\n"));
}

TEST(LoadMeasuredImageTest, RefusesWhatIsNotARegularFile) {
  TempDir tmp;
  EXPECT_THAT(LoadMeasuredImage(tmp.path() + "/missing"), StatusIs(Code::kNotFound));
  EXPECT_THAT(LoadMeasuredImage(tmp.path()), StatusIs(Code::kInvalidArgument));
  const std::string target = tmp.path() + "/target";
  WriteFile(target, "x");
  const std::string link = tmp.path() + "/link";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_THAT(LoadMeasuredImage(link), StatusIs(Code::kInvalidArgument));
  const std::string fifo = tmp.path() + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(LoadMeasuredImage(fifo), StatusIs(Code::kInvalidArgument));  // without hanging
  EXPECT_THAT(LoadMeasuredImage("/dev/null"), StatusIs(Code::kInvalidArgument));
}

TEST(LoadMeasuredImageTest, RefusesFilesOverTheLimit) {
  TempDir tmp;
  const std::string path = tmp.path() + "/huge";
  {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(kMaxImageBytes + 1)), 0);  // sparse
    ::close(fd);
  }
  EXPECT_THAT(LoadMeasuredImage(path), StatusIs(Code::kInvalidArgument));
}

constexpr char kSeccomp[] = "1111111111111111111111111111111111111111111111111111111111111111";

TEST(MeasuredPolicyJsonTest, CanonicalJsonOfTheSecurityRelevantPart) {
  SandboxPolicy p;
  EXPECT_THAT(
      MeasuredPolicyJsonWithSeccomp(p, kSeccomp),
      IsOkAndHolds(
          std::string(
              R"({"capabilities":"none","core_dumps":false,"die_with_parent":true,"env_root":"/",)"
              R"("max_open_files":4096,"max_processes":512,"network":"none","new_session":true,)"
              R"("no_new_privs":true,"root":"read-only","seccomp":")") +
          kSeccomp + R"(","user":"caller","version":1})"));
  p.run_as = UserIds{.uid = 999, .gid = 999, .name = "safeflow-worker"};
  p.env_root = "/srv/envs/r-4.3";
  p.max_processes = 0;   // Start applies at least 1
  p.max_open_files = 3;  // and at least 16
  absl::StatusOr<std::string> j = MeasuredPolicyJsonWithSeccomp(p, kSeccomp);
  ASSERT_THAT(j, IsOk());
  EXPECT_THAT(*j, ::testing::HasSubstr(R"("env_root":"/srv/envs/r-4.3")"));
  EXPECT_THAT(*j, ::testing::HasSubstr(R"("user":"unprivileged")"));
  EXPECT_THAT(*j, ::testing::HasSubstr(R"("max_open_files":16,"max_processes":1,)"));
}

TEST(MeasuredPolicyJsonTest, UsesTheDigestOfTheSeccompProgramTheSandboxLoads) {
  absl::StatusOr<std::string> program = SeccompFilterProgram();
  ASSERT_THAT(program, IsOk());
  SandboxPolicy p;
  EXPECT_EQ(MeasuredPolicyJson(p).value(),
            MeasuredPolicyJsonWithSeccomp(p, Sha256Hex(*program)).value());
}

TEST(MeasuredPolicyJsonTest, RejectsBadInput) {
  SandboxPolicy p;
  p.env_root = "relative";
  EXPECT_THAT(MeasuredPolicyJson(p), StatusIs(Code::kInvalidArgument));
  p.env_root = "/a/../b";
  EXPECT_THAT(MeasuredPolicyJson(p), StatusIs(Code::kInvalidArgument));
  p.env_root = "/bad\xff";
  EXPECT_THAT(MeasuredPolicyJson(p), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(MeasuredPolicyJsonWithSeccomp(SandboxPolicy{}, "abc"),
              StatusIs(Code::kInvalidArgument));
}

TEST(MrEnclaveTest, IsTheDocumentedDigest) {
  const std::string image = Sha256Hex("image");
  SandboxPolicy p;
  const std::string json = MeasuredPolicyJson(p).value();
  EXPECT_THAT(MrEnclave(image, p), IsOkAndHolds(Sha256Hex(std::string("safeflow-mrenclave-v1", 21) +
                                                          '\0' + image + '\0' + json)));
  EXPECT_THAT(MrEnclaveFromPolicyJson(image, json), IsOkAndHolds(MrEnclave(image, p).value()));
  EXPECT_THAT(MrEnclave(std::string(64, 'A'), p), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(MrEnclave(image.substr(1), p), StatusIs(Code::kInvalidArgument));
}

TEST(MrEnclaveTest, ChangesWithImageEnvRootSeccompUserAndLimits) {
  const std::string image = Sha256Hex("image");
  SandboxPolicy base;
  const std::string m = MrEnclave(image, base).value();
  EXPECT_NE(MrEnclave(Sha256Hex("image2"), base).value(), m);
  SandboxPolicy p = base;
  p.env_root = "/srv/envs/other";
  EXPECT_NE(MrEnclave(image, p).value(), m);
  p = base;
  p.run_as = UserIds{.uid = 999, .gid = 999};
  EXPECT_NE(MrEnclave(image, p).value(), m);
  p = base;
  p.max_processes = 10;
  EXPECT_NE(MrEnclave(image, p).value(), m);
  p = base;
  p.max_open_files = 100;
  EXPECT_NE(MrEnclave(image, p).value(), m);
  // Another seccomp program.
  const std::string real = MeasuredPolicyJson(base).value();
  const std::string other = MeasuredPolicyJsonWithSeccomp(base, Sha256Hex("other filter")).value();
  EXPECT_EQ(MrEnclaveFromPolicyJson(image, real).value(), m);
  EXPECT_NE(MrEnclaveFromPolicyJson(image, other).value(), m);
}

TEST(MrEnclaveTest, IgnoresPerTaskSettings) {
  const std::string image = Sha256Hex("image");
  SandboxPolicy base;
  const std::string m = MrEnclave(image, base).value();
  SandboxPolicy p = base;
  p.binds = {{.host = "/srv/t1/in", .container = "/data"}};
  p.writable_dirs = {"/work", "/outputs"};
  p.tmpfs_bytes = 5ull << 30;
  p.shm_bytes = 1 << 20;
  p.memory_bytes = 1ull << 30;
  p.cpu_cores = 2;
  p.max_file_bytes = 1 << 20;
  p.extra_env = {"TASK=t1"};
  p.hostname = "task-1";
  p.executables = {{.container = "/.safeflow/worker", .fd = 9}};
  EXPECT_EQ(MrEnclave(image, p).value(), m);
}

}  // namespace
}  // namespace safeflow::executor::attestation
