// ZoneFile: reading zone outputs as a stream, plain and sealed; ReadVerified hands on nothing
// complete unless it is exactly the digest it was given.
#include "service/airlock/zone_file.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/crypto/hkdf.h"
#include "executor/crypto/sealed_file.h"
#include "executor/crypto/x25519.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::service {
namespace {

namespace crypto = executor::crypto;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::HasSubstr;

constexpr std::uint32_t kChunk = 4096;

std::string Plain(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7) % 26);
  return s;
}

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

class ZoneFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keys_ = crypto::X25519KeyPair::Generate().value();
    key_for_ = [this](const std::string& key_id,
                      const std::string& project) -> absl::StatusOr<crypto::SecretBytes> {
      if (project != "demo") return absl::PermissionDeniedError("not this project's key");
      EXPECT_EQ(key_id, "outputs-demo");
      crypto::SecretBytes k(keys_.private_key.size());
      std::copy(keys_.private_key.data(), keys_.private_key.data() + keys_.private_key.size(),
                k.data());
      return k;
    };
  }

  // `plain` written to the zone, sealed or not; its file:// URL.
  std::string Put(const std::string& name, const std::string& plain, bool sealed) {
    const std::string path = dir_.path() + "/" + name;
    if (!sealed) {
      Write(path, plain);
      return "file://" + path;
    }
    Write(path + ".plain", plain);
    EXPECT_THAT(crypto::SealFile(path + ".plain", path, "outputs-demo", keys_.public_key, kChunk),
                IsOk());
    std::filesystem::remove(path + ".plain");
    return "file://" + path;
  }

  static std::string ReadAllOf(ZoneFile& f, std::vector<std::size_t>* pieces = nullptr) {
    std::string out;
    absl::StatusOr<std::uint64_t> n = f.Read([&](std::string_view b) {
      if (pieces) pieces->push_back(b.size());
      out.append(b);
      return absl::OkStatus();
    });
    EXPECT_THAT(n, IsOk());
    return out;
  }

  testing::TempDir dir_;
  crypto::X25519KeyPair keys_;
  OutputKeyLookup key_for_;
};

TEST_F(ZoneFileTest, PlainAndSealedFilesReadAsTheSamePlaintextRepeatedly) {
  const std::string plain = Plain(3 * kChunk + 11);
  for (bool sealed : {false, true}) {
    SCOPED_TRACE(sealed ? "sealed" : "plain");
    absl::StatusOr<ZoneFile> f =
        OpenZoneFile(Put(sealed ? "s.csv" : "p.csv", plain, sealed), "demo", key_for_);
    ASSERT_THAT(f, IsOk());
    EXPECT_EQ(f->sealed(), sealed);
    std::vector<std::size_t> pieces;
    EXPECT_EQ(ReadAllOf(*f, &pieces), plain);
    if (sealed) {
      EXPECT_THAT(pieces, ::testing::ElementsAre(kChunk, kChunk, kChunk, 11u));
      EXPECT_GT(f->disk_bytes(), plain.size());
    }
    EXPECT_EQ(ReadAllOf(*f), plain) << "a second read starts from the beginning again";
    absl::StatusOr<ZoneDigest> d = f->Digest();
    ASSERT_THAT(d, IsOk());
    EXPECT_EQ(d->sha256, crypto::HexEncode(crypto::Sha256(plain)));
    EXPECT_EQ(d->size_bytes, plain.size());
  }
}

TEST_F(ZoneFileTest, ReadVerifiedHandsOnTheWholeFileOnlyWhenItMatches) {
  const std::string plain = Plain(5 * kChunk);
  for (bool sealed : {false, true}) {
    SCOPED_TRACE(sealed ? "sealed" : "plain");
    absl::StatusOr<ZoneFile> f =
        OpenZoneFile(Put(sealed ? "s.txt" : "p.txt", plain, sealed), "demo", key_for_);
    ASSERT_THAT(f, IsOk());
    const ZoneDigest good = f->Digest().value();
    std::string got;
    auto sink = [&](std::string_view b) {
      got.append(b);
      return absl::OkStatus();
    };
    EXPECT_THAT(f->ReadVerified(good, sink), IsOk());
    EXPECT_EQ(got, plain);

    for (ZoneDigest wrong : {ZoneDigest{std::string(64, '0'), good.size_bytes},
                             ZoneDigest{good.sha256, good.size_bytes + 1}}) {
      got.clear();
      EXPECT_THAT(f->ReadVerified(wrong, sink), StatusIs(absl::StatusCode::kDataLoss));
      EXPECT_LT(got.size(), plain.size()) << "a wrong file must never arrive complete";
      EXPECT_EQ(got, plain.substr(0, got.size()));
    }
  }
}

TEST_F(ZoneFileTest, ReadVerifiedServesAByteRangeUnderTheSameGuarantee) {
  const std::string plain = Plain(5 * kChunk + 100);
  absl::StatusOr<ZoneFile> f = OpenZoneFile(Put("r.bin", plain, true), "demo", key_for_);
  ASSERT_THAT(f, IsOk());
  const ZoneDigest good = f->Digest().value();
  std::string got;
  auto sink = [&](std::string_view b) {
    got.append(b);
    return absl::OkStatus();
  };
  for (auto [first, count] :
       std::vector<std::pair<std::uint64_t, std::uint64_t>>{{0, 10},
                                                            {kChunk - 1, 2},
                                                            {3 * kChunk + 5, kChunk * 2 + 95},
                                                            {plain.size() - 1, 1},
                                                            {100, UINT64_MAX}}) {
    got.clear();
    EXPECT_THAT(f->ReadVerified(good, sink, first, count), IsOk());
    EXPECT_EQ(got, plain.substr(first, count)) << first << "+" << count;
  }
  EXPECT_THAT(f->ReadVerified(good, sink, plain.size(), 1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // A range that ends early still waits for the whole file to match.
  got.clear();
  EXPECT_THAT(f->ReadVerified(ZoneDigest{std::string(64, '0'), good.size_bytes}, sink, 0, 10),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_TRUE(got.empty()) << "the range's last piece must wait for the whole file";
}

TEST_F(ZoneFileTest, AFileChangedAfterItWasHashedNeverArrivesComplete) {
  const std::string plain = Plain(100000);
  const std::string url = Put("changing.csv", plain, false);
  absl::StatusOr<ZoneFile> f = OpenZoneFile(url, "demo", key_for_);
  ASSERT_THAT(f, IsOk());
  const ZoneDigest d = f->Digest().value();
  // Changed in place, through another descriptor, in its last byte.
  {
    std::fstream out(url.substr(7), std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(static_cast<std::streamoff>(plain.size() - 1));
    out.put('#');
  }
  std::string got;
  absl::Status s = f->ReadVerified(d, [&](std::string_view b) {
    got.append(b);
    return absl::OkStatus();
  });
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(std::string(s.message()), HasSubstr("changed since it was hashed"));
  EXPECT_LT(got.size(), plain.size());
}

TEST_F(ZoneFileTest, SinkErrorsStopTheRead) {
  absl::StatusOr<ZoneFile> f =
      OpenZoneFile(Put("s.bin", Plain(4 * kChunk), true), "demo", key_for_);
  ASSERT_THAT(f, IsOk());
  int calls = 0;
  absl::Status s = f->ReadVerified(f->Digest().value(), [&](std::string_view) {
    return ++calls == 2 ? absl::CancelledError("client gone") : absl::OkStatus();
  });
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(calls, 2);
}

TEST_F(ZoneFileTest, RefusalsAreSpecific) {
  const std::string sealed = Put("s.csv", Plain(10), true);
  EXPECT_THAT(OpenZoneFile("file://" + dir_.path() + "/missing", "demo", key_for_),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(OpenZoneFile(sealed, "other", key_for_),
              StatusIs(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(OpenZoneFile(sealed, "demo", nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(OpenZoneFile("file://" + dir_.path(), "demo", key_for_),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  std::filesystem::create_symlink(sealed.substr(7), dir_.path() + "/link");
  EXPECT_FALSE(OpenZoneFile("file://" + dir_.path() + "/link", "demo", key_for_).ok())
      << "symlinks are not followed";
  EXPECT_THAT(OpenZoneFile("s3://bucket/key", "demo", key_for_),
              StatusIs(absl::StatusCode::kUnimplemented));
  // A damaged header is DataLoss, not a plain file.
  std::ifstream in(sealed.substr(7), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  bytes[20] ^= 0x40;
  Write(dir_.path() + "/bad", bytes);
  absl::StatusOr<ZoneFile> bad = OpenZoneFile("file://" + dir_.path() + "/bad", "demo", key_for_);
  if (bad.ok()) {
    EXPECT_FALSE(bad->Digest().ok()) << "a tampered sealed file must not read";
  } else {
    EXPECT_THAT(bad, StatusIs(absl::StatusCode::kDataLoss));
  }
}

}  // namespace
}  // namespace safeflow::service
