// The emulated platform's key file: creation (modes, parents, no leftovers), reloading, and
// refusing key files that others could read or that are not ours.
#include "executor/attestation/platform.h"

#include <dirent.h>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <openssl/pem.h>

#include "executor/attestation/measurement.h"
#include "executor/attestation/quote.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_keys.h"

namespace safeflow::executor::attestation {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Code = absl::StatusCode;

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(d);
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

TEST(PlatformTest, CreatesAPrivateKeyFileAndItsDirectories) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/state/attestation";
  const std::string path = dir + "/platform.pem";
  absl::StatusOr<std::unique_ptr<Platform>> p = Platform::LoadOrCreate(path);
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(ModeOf(path), 0600u);
  EXPECT_EQ(ModeOf(tmp.path() + "/state"), 0700u);
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_THAT(Entries(dir), ::testing::ElementsAre("platform.pem"));        // no temporary left
  EXPECT_THAT(ReadAll(path), StartsWith("-----BEGIN PRIVATE KEY-----\n"));  // PKCS#8

  EXPECT_TRUE(IsSha256Hex((*p)->platform_id()));
  EXPECT_THAT((*p)->public_key_pem(), StartsWith("-----BEGIN PUBLIC KEY-----\n"));
  EXPECT_THAT(PlatformIdOfPublicKeyPem((*p)->public_key_pem()),
              ::safeflow::testing::IsOkAndHolds((*p)->platform_id()));
  EXPECT_THAT((*p)->public_key_pem(), ::testing::Not(HasSubstr("PRIVATE")));
}

TEST(PlatformTest, LoadsTheSameKeyAgain) {
  TempDir tmp;
  const std::string path = tmp.path() + "/platform.pem";
  absl::StatusOr<std::unique_ptr<Platform>> first = Platform::LoadOrCreate(path);
  ASSERT_THAT(first, IsOk());
  const std::string content = ReadAll(path);
  absl::StatusOr<std::unique_ptr<Platform>> second = Platform::LoadOrCreate(path);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ((*second)->platform_id(), (*first)->platform_id());
  EXPECT_EQ((*second)->public_key_pem(), (*first)->public_key_pem());
  EXPECT_EQ(ReadAll(path), content);

  // A quote of one verifies with the other's public key.
  absl::StatusOr<QuoteVerifier> v = QuoteVerifier::Create({(*second)->public_key_pem()});
  ASSERT_THAT(v, IsOk());
  EnclaveIdentity e{.mr_enclave = std::string(64, 'a'), .config_id = std::string(64, 'b')};
  absl::StatusOr<std::string> q = (*first)->Quote(e, std::string(64, 'c'));
  ASSERT_THAT(q, IsOk());
  EXPECT_THAT(v->Verify(*q), IsOk());

  // A different file is a different platform.
  absl::StatusOr<std::unique_ptr<Platform>> other =
      Platform::LoadOrCreate(tmp.path() + "/other.pem");
  ASSERT_THAT(other, IsOk());
  EXPECT_NE((*other)->platform_id(), (*first)->platform_id());
}

TEST(PlatformTest, RefusesAKeyFileThatOthersCanAccess) {
  TempDir tmp;
  const std::string path = tmp.path() + "/platform.pem";
  ASSERT_THAT(Platform::LoadOrCreate(path), IsOk());
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    absl::StatusOr<std::unique_ptr<Platform>> p = Platform::LoadOrCreate(path);
    EXPECT_THAT(p, StatusIs(Code::kFailedPrecondition)) << std::oct << mode;
    EXPECT_THAT(p.status().message(), HasSubstr("group and others"));
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_THAT(Platform::LoadOrCreate(path), IsOk());
}

TEST(PlatformTest, RefusesSymlinksOtherOwnersAndNonFiles) {
  TempDir tmp;
  const std::string path = tmp.path() + "/platform.pem";
  ASSERT_THAT(Platform::LoadOrCreate(path), IsOk());
  const std::string link = tmp.path() + "/link.pem";
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  EXPECT_THAT(Platform::LoadOrCreate(link), StatusIs(Code::kFailedPrecondition));
  const std::string dir = tmp.path() + "/dir.pem";
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  EXPECT_THAT(Platform::LoadOrCreate(dir), StatusIs(Code::kFailedPrecondition));
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
    absl::StatusOr<std::unique_ptr<Platform>> p = Platform::LoadOrCreate(path);
    EXPECT_THAT(p, StatusIs(Code::kFailedPrecondition));
    EXPECT_THAT(p.status().message(), HasSubstr("not by us"));
  }
}

TEST(PlatformTest, RefusesFilesWithoutAP256PrivateKey) {
  TempDir tmp;
  const std::string garbage = tmp.path() + "/garbage.pem";
  WriteFile(garbage, "not a key\n", 0600);
  EXPECT_THAT(Platform::LoadOrCreate(garbage), StatusIs(Code::kInvalidArgument));
  const std::string rsa = tmp.path() + "/rsa.pem";
  WriteFile(rsa, ::safeflow::testing::kRsa2048Pem, 0600);
  EXPECT_THAT(Platform::LoadOrCreate(rsa), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(Platform::LoadOrCreate(""), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(Platform::LoadOrCreate(tmp.path() + "/"), StatusIs(Code::kInvalidArgument));
}

TEST(PlatformTest, LoadsAnExistingPkcs8Key) {
  TempDir tmp;
  std::shared_ptr<EVP_PKEY> key = ::safeflow::testing::NewKey("EC", "P-256");
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio, key.get()), 1);
  const long m = BIO_get_mem_data(bio, &data);
  const std::string public_pem(data, static_cast<std::size_t>(m));
  BIO_free(bio);

  const std::string path = tmp.path() + "/platform.pem";
  WriteFile(path, pem, 0600);
  absl::StatusOr<std::unique_ptr<Platform>> p = Platform::LoadOrCreate(path);
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ((*p)->public_key_pem(), public_pem);
  EXPECT_EQ(ReadAll(path), pem);
}

}  // namespace
}  // namespace safeflow::executor::attestation
