#include "executor/crypto/hkdf.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::executor::crypto {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::StatusIs;
using ::testing::HasSubstr;

std::string Unhex(std::string_view hex) { return HexDecode(hex).value(); }

TEST(HkdfTest, Rfc5869TestCase1) {
  const SecretBytes ikm = SecretBytes::Copy(Unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  absl::StatusOr<SecretBytes> okm =
      HkdfSha256(ikm, Unhex("000102030405060708090a0b0c"), Unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_THAT(okm, IsOk());
  EXPECT_EQ(HexEncode(okm->view()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(HkdfTest, Rfc5869TestCase3EmptySaltAndInfo) {
  const SecretBytes ikm = SecretBytes::Copy(Unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  absl::StatusOr<SecretBytes> okm = HkdfSha256(ikm, "", "", 42);
  ASSERT_THAT(okm, IsOk());
  EXPECT_EQ(HexEncode(okm->view()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HkdfTest, RejectsBadLengths) {
  const SecretBytes ikm = SecretBytes::Copy("ikm");
  absl::StatusOr<SecretBytes> r = HkdfSha256(ikm, "", "", 0);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.status().message(), HasSubstr("output length"));
  EXPECT_THAT(HkdfSha256(ikm, "", "", 255 * 32 + 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(HkdfSha256(ikm, "", "", 255 * 32), IsOk());
}

TEST(Sha256Test, KnownAnswers) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Test, StreamedEqualsWholeAndTheHasherIsReusable) {
  Sha256Hasher h;
  h.Update("a");
  h.Update("");
  h.Update("bc");
  EXPECT_EQ(HexEncode(h.Final()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // After Final, a new stream: nothing given yet is the empty string's digest.
  EXPECT_EQ(HexEncode(h.Final()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  std::string big;
  for (int i = 0; i < 100000; ++i) big.push_back(static_cast<char>(i * 7));
  for (std::size_t at = 0; at < big.size(); at += 4093)
    h.Update(std::string_view(big).substr(at, 4093));
  EXPECT_EQ(h.Final(), Sha256(big));
}

TEST(HexTest, RoundTripsAndRejectsBadInput) {
  const std::string bytes("\x00\x7f\x80\xff", 4);
  EXPECT_EQ(HexEncode(bytes), "007f80ff");
  EXPECT_THAT(HexDecode("007f80ff"), IsOkAndHolds(bytes));
  EXPECT_THAT(HexDecode("007F80FF"), IsOkAndHolds(bytes));
  EXPECT_THAT(HexDecode(""), IsOkAndHolds(std::string()));
  absl::StatusOr<std::string> r = HexDecode("abc");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.status().message(), HasSubstr("odd length"));
  r = HexDecode("0g");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.status().message(), HasSubstr("not a hex digit at offset 1"));
}

}  // namespace
}  // namespace safeflow::executor::crypto
