#include "executor/crypto/key_wrap.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/crypto/aead.h"
#include "executor/crypto/hkdf.h"
#include "executor/crypto/x25519.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::crypto {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::HasSubstr;

class KeyWrapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    recipient_ = X25519KeyPair::Generate().value();
    other_ = X25519KeyPair::Generate().value();
  }
  void ExpectUnwrapFails(const SecretBytes& priv, const WrappedSecret& w, std::string_view info,
                         std::string_view aad) {
    absl::StatusOr<SecretBytes> r = UnwrapWithPrivateKey(priv, w, info, aad);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kDataLoss));
    EXPECT_THAT(r.status().message(),
                HasSubstr("could not be unwrapped: wrong key or tampered data"));
  }
  X25519KeyPair recipient_;
  X25519KeyPair other_;
  const SecretBytes secret_ = SecretBytes::Copy("0123456789abcdef0123456789abcdef");
};

TEST_F(KeyWrapTest, RoundTrips) {
  absl::StatusOr<WrappedSecret> w = WrapToPublicKey(recipient_.public_key, secret_, "info", "aad");
  ASSERT_THAT(w, IsOk());
  EXPECT_EQ(w->ephemeral_public_key.size(), 32u);
  EXPECT_EQ(w->ciphertext.size(), secret_.size() + kAeadTagBytes);
  absl::StatusOr<SecretBytes> back =
      UnwrapWithPrivateKey(recipient_.private_key, *w, "info", "aad");
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->view(), secret_.view());
}

TEST_F(KeyWrapTest, FreshEphemeralKeyEachTime) {
  const WrappedSecret a = WrapToPublicKey(recipient_.public_key, secret_, "i", "a").value();
  const WrappedSecret b = WrapToPublicKey(recipient_.public_key, secret_, "i", "a").value();
  EXPECT_NE(a.ephemeral_public_key, b.ephemeral_public_key);
  EXPECT_NE(a.ciphertext, b.ciphertext);
}

// The construction is exactly the documented one (README.md), so that other implementations
// can interoperate.
TEST_F(KeyWrapTest, MatchesTheDocumentedConstruction) {
  const WrappedSecret w = WrapToPublicKey(recipient_.public_key, secret_, "purpose", "ctx").value();
  const SecretBytes shared =
      X25519SharedSecret(recipient_.private_key, w.ephemeral_public_key).value();
  const SecretBytes k = HkdfSha256(shared, w.ephemeral_public_key + recipient_.public_key,
                                   std::string("safeflow-wrap-v1\0purpose", 24), 32)
                            .value();
  absl::StatusOr<SecretBytes> back = AeadDecrypt(k, std::string(12, '\0'), "ctx", w.ciphertext);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->view(), secret_.view());
}

TEST_F(KeyWrapTest, WrongKeyFails) {
  const WrappedSecret w = WrapToPublicKey(recipient_.public_key, secret_, "info", "aad").value();
  ExpectUnwrapFails(other_.private_key, w, "info", "aad");
}

TEST_F(KeyWrapTest, TamperingFails) {
  const WrappedSecret w = WrapToPublicKey(recipient_.public_key, secret_, "info", "aad").value();
  ExpectUnwrapFails(recipient_.private_key, w, "info", "aaD");
  ExpectUnwrapFails(recipient_.private_key, w, "infO", "aad");
  for (std::size_t i = 0; i < w.ephemeral_public_key.size(); i += 7) {
    WrappedSecret bad = w;
    bad.ephemeral_public_key[i] ^= 0x04;
    ExpectUnwrapFails(recipient_.private_key, bad, "info", "aad");
  }
  for (std::size_t i = 0; i < w.ciphertext.size(); ++i) {
    WrappedSecret bad = w;
    bad.ciphertext[i] ^= 0x80;
    ExpectUnwrapFails(recipient_.private_key, bad, "info", "aad");
  }
  WrappedSecret cut = w;
  cut.ciphertext.resize(10);
  ExpectUnwrapFails(recipient_.private_key, cut, "info", "aad");
  WrappedSecret short_epk = w;
  short_epk.ephemeral_public_key.pop_back();
  ExpectUnwrapFails(recipient_.private_key, short_epk, "info", "aad");
  WrappedSecret zero_epk = w;
  zero_epk.ephemeral_public_key = std::string(32, '\0');
  ExpectUnwrapFails(recipient_.private_key, zero_epk, "info", "aad");
}

TEST_F(KeyWrapTest, RejectsBadKeys) {
  absl::StatusOr<WrappedSecret> r = WrapToPublicKey("short", secret_, "", "");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.status().message(), HasSubstr("recipient public key must be 32 bytes"));
  r = WrapToPublicKey(std::string(32, '\0'), secret_, "", "");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(r.status().message(), HasSubstr("low-order"));
  const WrappedSecret w = WrapToPublicKey(recipient_.public_key, secret_, "", "").value();
  EXPECT_THAT(UnwrapWithPrivateKey(SecretBytes(31), w, "", ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace safeflow::executor::crypto
