#include "executor/crypto/aead.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/crypto/hkdf.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::crypto {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::HasSubstr;

std::string Unhex(std::string_view hex) { return HexDecode(hex).value(); }

SecretBytes Key() { return SecretBytes::Copy(std::string(32, 'k')); }
const std::string kIv(12, 'i');

// The GCM specification's test case 16 (AES-256, 60-byte plaintext, 20-byte AAD).
TEST(AeadTest, MatchesGcmSpecTestCase16) {
  const SecretBytes key =
      SecretBytes::Copy(Unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"));
  const std::string iv = Unhex("cafebabefacedbaddecaf888");
  const std::string aad = Unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const std::string plain = Unhex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449"
      "a6b525b16aedf5aa0de657ba637b39");
  absl::StatusOr<std::string> ct = AeadEncrypt(key, iv, aad, plain);
  ASSERT_THAT(ct, IsOk());
  EXPECT_EQ(
      HexEncode(*ct),
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1"
      "056828838c5f61e6393ba7a0abcc9f662"
      "76fc6ece0f4e1768cddf8853bb2d551b");
  absl::StatusOr<SecretBytes> back = AeadDecrypt(key, iv, aad, *ct);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->view(), plain);
}

TEST(AeadTest, RoundTripsIncludingEmpty) {
  for (const std::string& plain : {std::string(), std::string("x"), std::string(100000, 'p')}) {
    absl::StatusOr<std::string> ct = AeadEncrypt(Key(), kIv, "aad", plain);
    ASSERT_THAT(ct, IsOk());
    EXPECT_EQ(ct->size(), plain.size() + kAeadTagBytes);
    absl::StatusOr<SecretBytes> back = AeadDecrypt(Key(), kIv, "aad", *ct);
    ASSERT_THAT(back, IsOk());
    EXPECT_EQ(back->view(), plain);
  }
}

TEST(AeadTest, AnyTamperingFailsAuthentication) {
  const std::string ct = AeadEncrypt(Key(), kIv, "aad", "attack at dawn").value();
  for (std::size_t i = 0; i < ct.size(); ++i) {
    std::string bad = ct;
    bad[i] ^= 0x01;
    EXPECT_THAT(AeadDecrypt(Key(), kIv, "aad", bad), StatusIs(absl::StatusCode::kDataLoss))
        << "byte " << i;
  }
  absl::StatusOr<SecretBytes> r = AeadDecrypt(Key(), kIv, "aaD", ct);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(r.status().message(), HasSubstr("authentication failed"));
  EXPECT_THAT(AeadDecrypt(Key(), std::string(12, 'j'), "aad", ct),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(AeadDecrypt(SecretBytes::Copy(std::string(32, 'K')), kIv, "aad", ct),
              StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(AeadDecrypt(Key(), kIv, "aad", ct.substr(0, ct.size() - 1)),
              StatusIs(absl::StatusCode::kDataLoss));
}

TEST(AeadTest, RejectsBadSizes) {
  absl::StatusOr<std::string> r = AeadEncrypt(SecretBytes::Copy("short"), kIv, "", "p");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.status().message(), HasSubstr("key must be 32 bytes"));
  r = AeadEncrypt(Key(), "12345678", "", "p");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.status().message(), HasSubstr("IV must be 12 bytes"));
  EXPECT_THAT(AeadDecrypt(Key(), kIv, "", std::string(15, 't')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AeadDecrypt(SecretBytes(16), kIv, "", std::string(16, 't')),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AeadOpen(Key(), "", std::string(27, 's')),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(AeadTest, SealUsesFreshIvsAndOpens) {
  absl::StatusOr<std::string> a = AeadSeal(Key(), "ctx", "message");
  absl::StatusOr<std::string> b = AeadSeal(Key(), "ctx", "message");
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->size(), kAeadIvBytes + 7 + kAeadTagBytes);
  EXPECT_NE(a->substr(0, kAeadIvBytes), b->substr(0, kAeadIvBytes));
  absl::StatusOr<SecretBytes> opened = AeadOpen(Key(), "ctx", *a);
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(opened->view(), "message");
  EXPECT_THAT(AeadOpen(Key(), "other", *a), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(AeadCipherTest, ReusesOneKeyInPlaceAndWipesOnFailure) {
  absl::StatusOr<AeadCipher> cipher = AeadCipher::Create(Key());
  ASSERT_THAT(cipher, IsOk());
  for (int msg = 0; msg < 3; ++msg) {
    std::string iv(12, '\0');
    iv[11] = static_cast<char>(msg);
    std::string buf = "message number " + std::to_string(msg);
    const std::string plain = buf;
    auto* p = reinterpret_cast<unsigned char*>(buf.data());
    unsigned char tag[kAeadTagBytes];
    ASSERT_THAT(cipher->Encrypt(iv, "aad", {p, buf.size()}, {p, buf.size()}, tag), IsOk());
    EXPECT_NE(buf, plain);
    // Same result as the one-shot function.
    EXPECT_EQ(buf + std::string(reinterpret_cast<char*>(tag), sizeof tag),
              AeadEncrypt(Key(), iv, "aad", plain).value());
    std::string out(buf.size(), '\0');
    auto* o = reinterpret_cast<unsigned char*>(out.data());
    ASSERT_THAT(cipher->Decrypt(iv, "aad", {p, buf.size()}, tag, {o, out.size()}), IsOk());
    EXPECT_EQ(out, plain);
    // A failure leaves no plaintext behind.
    tag[0] ^= 1;
    EXPECT_THAT(cipher->Decrypt(iv, "aad", {p, buf.size()}, tag, {o, out.size()}),
                StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_EQ(out, std::string(out.size(), '\0'));
  }
}

TEST(AeadCipherTest, RejectsMismatchedBuffers) {
  absl::StatusOr<AeadCipher> cipher = AeadCipher::Create(Key());
  ASSERT_THAT(cipher, IsOk());
  unsigned char buf[32] = {};
  unsigned char tag[kAeadTagBytes];
  EXPECT_THAT(cipher->Encrypt(kIv, "", {buf, 16}, {buf + 16, 8}, tag),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(cipher->Encrypt(kIv, "", {buf, 16}, {buf + 8, 16}, tag),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(cipher->Encrypt(kIv, "", {buf, 16}, {buf + 16, 16}, {tag, 8}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(AeadCipher::Create(SecretBytes(31)), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace safeflow::executor::crypto
