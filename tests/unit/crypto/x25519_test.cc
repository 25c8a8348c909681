#include "executor/crypto/x25519.h"

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

// RFC 7748 section 6.1.
constexpr std::string_view kAlicePrivate =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr std::string_view kAlicePublic =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
constexpr std::string_view kBobPrivate =
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
constexpr std::string_view kBobPublic =
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
constexpr std::string_view kShared =
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

TEST(X25519Test, Rfc7748Section61) {
  absl::StatusOr<X25519KeyPair> alice =
      X25519KeyPair::FromPrivate(SecretBytes::Copy(Unhex(kAlicePrivate)));
  absl::StatusOr<X25519KeyPair> bob =
      X25519KeyPair::FromPrivate(SecretBytes::Copy(Unhex(kBobPrivate)));
  ASSERT_THAT(alice, IsOk());
  ASSERT_THAT(bob, IsOk());
  EXPECT_EQ(HexEncode(alice->public_key), kAlicePublic);
  EXPECT_EQ(HexEncode(bob->public_key), kBobPublic);
  EXPECT_EQ(HexEncode(alice->private_key.view()), kAlicePrivate);

  absl::StatusOr<SecretBytes> ab = X25519SharedSecret(alice->private_key, Unhex(kBobPublic));
  absl::StatusOr<SecretBytes> ba = X25519SharedSecret(bob->private_key, Unhex(kAlicePublic));
  ASSERT_THAT(ab, IsOk());
  ASSERT_THAT(ba, IsOk());
  EXPECT_EQ(HexEncode(ab->view()), kShared);
  EXPECT_EQ(HexEncode(ba->view()), kShared);
}

TEST(X25519Test, GeneratedPairsAgree) {
  absl::StatusOr<X25519KeyPair> a = X25519KeyPair::Generate();
  absl::StatusOr<X25519KeyPair> b = X25519KeyPair::Generate();
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->private_key.size(), kX25519KeyBytes);
  EXPECT_EQ(a->public_key.size(), kX25519KeyBytes);
  EXPECT_NE(a->public_key, b->public_key);
  absl::StatusOr<SecretBytes> ab = X25519SharedSecret(a->private_key, b->public_key);
  absl::StatusOr<SecretBytes> ba = X25519SharedSecret(b->private_key, a->public_key);
  ASSERT_THAT(ab, IsOk());
  ASSERT_THAT(ba, IsOk());
  EXPECT_EQ(ab->view(), ba->view());
}

TEST(X25519Test, RefusesLowOrderPeerKeys) {
  const SecretBytes priv = SecretBytes::Copy(Unhex(kAlicePrivate));
  // 0, 1 and a point of order 8 (from the list of small-order points in common use).
  for (const std::string_view hex :
       {"0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"}) {
    absl::StatusOr<SecretBytes> r = X25519SharedSecret(priv, Unhex(hex));
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument)) << hex;
    EXPECT_THAT(r.status().message(), HasSubstr("low-order point")) << hex;
  }
}

TEST(X25519Test, RejectsWrongSizes) {
  absl::StatusOr<SecretBytes> r =
      X25519SharedSecret(SecretBytes::Copy(Unhex(kAlicePrivate)), std::string(31, 'x'));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.status().message(), HasSubstr("peer public key must be 32 bytes"));
  r = X25519SharedSecret(SecretBytes(16), Unhex(kBobPublic));
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.status().message(), HasSubstr("private key must be 32 bytes"));
  EXPECT_THAT(X25519KeyPair::FromPrivate(SecretBytes(33)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace safeflow::executor::crypto
