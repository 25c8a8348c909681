// Relay tokens: the round trip, tampering with either half, another key, expiry, malformed
// pieces (also when correctly MACed), oversized tokens, and messages that never echo the token.
#include "service/attestation/relay_token.h"

#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "service/auth/jwks.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::service {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;
using Code = absl::StatusCode;
using json = nlohmann::json;
using executor::crypto::SecretBytes;

constexpr std::int64_t kNow = 1'700'000'000;

SecretBytes Key(char fill = 'k') { return SecretBytes::Copy(std::string(32, fill)); }

RelayClaims Claims() { return {"task-abc", 2, "cohort-a", kNow + 3600}; }

// "sfr1.<b64(payload)>.<b64(mac)>" for an arbitrary payload, MACed correctly with `key`.
std::string Sign(const SecretBytes& key, const std::string& payload) {
  const std::string signed_part = "sfr1." + auth::Base64UrlEncode(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac, &len);
  return signed_part + "." +
         auth::Base64UrlEncode(std::string(reinterpret_cast<const char*>(mac), len));
}

TEST(RelayTokenTest, RoundTrip) {
  const std::string token = MakeRelayToken(Key(), Claims());
  EXPECT_EQ(token.rfind("sfr1.", 0), 0u) << token;
  EXPECT_THAT(ParseRelayToken(Key(), token, kNow), IsOkAndHolds(Claims()));
  // The payload is the documented JSON.
  const std::string payload_b64 = token.substr(5, token.rfind('.') - 5);
  const json payload = json::parse(*auth::Base64UrlDecode(payload_b64));
  EXPECT_EQ(payload, json({{"t", "task-abc"}, {"a", 2}, {"p", "cohort-a"}, {"exp", kNow + 3600}}));
  // The same claims make the same token (no hidden randomness); different claims differ.
  EXPECT_EQ(MakeRelayToken(Key(), Claims()), token);
  RelayClaims other = Claims();
  other.attempt = 3;
  EXPECT_NE(MakeRelayToken(Key(), other), token);
}

TEST(RelayTokenTest, TamperedPayloadIsRefused) {
  const std::string token = MakeRelayToken(Key(), Claims());
  // Another payload under the original MAC: claims of attempt 3.
  RelayClaims other = Claims();
  other.attempt = 3;
  const std::string forged_payload = MakeRelayToken(Key('x'), other);
  const std::string spliced =
      forged_payload.substr(0, forged_payload.rfind('.')) + token.substr(token.rfind('.'));
  EXPECT_THAT(ParseRelayToken(Key(), spliced, kNow), StatusIs(Code::kUnauthenticated));
  // Every single-character change of the payload part.
  for (std::size_t i = 5; i < token.rfind('.'); ++i) {
    std::string t = token;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    EXPECT_THAT(ParseRelayToken(Key(), t, kNow), StatusIs(Code::kUnauthenticated)) << i;
  }
}

TEST(RelayTokenTest, TamperedMacIsRefused) {
  const std::string token = MakeRelayToken(Key(), Claims());
  for (std::size_t i = token.rfind('.') + 1; i < token.size(); ++i) {
    std::string t = token;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    absl::StatusOr<RelayClaims> r = ParseRelayToken(Key(), t, kNow);
    EXPECT_THAT(r, StatusIs(Code::kUnauthenticated)) << i;
  }
  std::string t = token;
  t[t.size() - 2] = t[t.size() - 2] == 'A' ? 'B' : 'A';
  EXPECT_THAT(std::string(ParseRelayToken(Key(), t, kNow).status().message()),
              HasSubstr("does not verify"));
}

TEST(RelayTokenTest, AnotherKeyIsRefused) {
  const std::string token = MakeRelayToken(Key('a'), Claims());
  absl::StatusOr<RelayClaims> r = ParseRelayToken(Key('b'), token, kNow);
  ASSERT_THAT(r, StatusIs(Code::kUnauthenticated));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("does not verify"));
}

TEST(RelayTokenTest, ExpiredIsRefused) {
  const std::string token = MakeRelayToken(Key(), Claims());
  EXPECT_THAT(ParseRelayToken(Key(), token, kNow + 3599), IsOk());
  for (std::int64_t now : {kNow + 3600, kNow + 3601, kNow + 100000}) {
    absl::StatusOr<RelayClaims> r = ParseRelayToken(Key(), token, now);
    ASSERT_THAT(r, StatusIs(Code::kUnauthenticated)) << now;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("expired"));
  }
}

TEST(RelayTokenTest, MalformedPiecesAreRefused) {
  const std::string token = MakeRelayToken(Key(), Claims());
  const std::string payload_b64 = token.substr(5, token.rfind('.') - 5);
  const std::string mac_b64 = token.substr(token.rfind('.') + 1);
  const std::vector<std::string> bad = {
      "",
      "sfr1.",
      "sfr1..",
      "sfr1",
      "Bearer " + token,
      "sfr2." + payload_b64 + "." + mac_b64,
      "SFR1." + payload_b64 + "." + mac_b64,
      "sfr1." + payload_b64,                            // no MAC
      "sfr1." + payload_b64 + ".",                      // empty MAC
      "sfr1." + mac_b64,                                // one piece only
      "sfr1.." + mac_b64,                               // empty payload
      "sfr1." + payload_b64 + "." + mac_b64 + "=",      // padding
      "sfr1." + payload_b64 + "." + mac_b64 + "AA",     // longer MAC
      "sfr1." + payload_b64 + "." + mac_b64.substr(1),  // shorter MAC
      "sfr1." + payload_b64 + ".x." + mac_b64,          // three pieces
      "sfr1." + payload_b64 + "." + mac_b64 + " ",
      " " + token,
      token + "\n",
      "sfr1.!!!!." + mac_b64,
  };
  for (const std::string& t : bad) {
    EXPECT_THAT(ParseRelayToken(Key(), t, kNow), StatusIs(Code::kUnauthenticated)) << t;
  }
}

TEST(RelayTokenTest, CorrectlyMacedButMalformedPayloadsAreRefused) {
  const std::vector<std::string> payloads = {
      "not json",
      "[]",
      "{}",
      R"({"t":"x","a":1,"p":"p"})",                         // no exp
      R"({"t":"x","a":1,"p":"p","exp":1800000000,"z":1})",  // an extra member
      R"({"t":1,"a":1,"p":"p","exp":1800000000})",
      R"({"t":"x","a":"1","p":"p","exp":1800000000})",
      R"({"t":"x","a":1.5,"p":"p","exp":1800000000})",
      R"({"t":"x","a":-1,"p":"p","exp":1800000000})",
      R"({"t":"x","a":4294967296,"p":"p","exp":1800000000})",
      R"({"t":"","a":1,"p":"p","exp":1800000000})",
      R"({"t":"x","a":1,"p":"","exp":1800000000})",
      R"({"t":"x","a":1,"p":null,"exp":1800000000})",
      R"({"t":"x","a":1,"p":"p","exp":"1800000000"})",
  };
  for (const std::string& p : payloads) {
    absl::StatusOr<RelayClaims> r = ParseRelayToken(Key(), Sign(Key(), p), kNow);
    ASSERT_THAT(r, StatusIs(Code::kUnauthenticated)) << p;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("malformed")) << p;
  }
  // The helper itself makes acceptable tokens.
  EXPECT_THAT(
      ParseRelayToken(Key(), Sign(Key(), R"({"t":"x","a":1,"p":"p","exp":1800000000})"), kNow),
      IsOkAndHolds(RelayClaims{"x", 1, "p", 1800000000}));
}

TEST(RelayTokenTest, OversizedTokensAreRefusedUnread) {
  RelayClaims big = Claims();
  big.task_id = std::string(kMaxRelayTokenBytes, 't');
  const std::string token = MakeRelayToken(Key(), big);
  ASSERT_GT(token.size(), kMaxRelayTokenBytes);
  absl::StatusOr<RelayClaims> r = ParseRelayToken(Key(), token, kNow);
  ASSERT_THAT(r, StatusIs(Code::kUnauthenticated));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("malformed"));
  EXPECT_THAT(ParseRelayToken(Key(), std::string(1 << 20, 'a'), kNow),
              StatusIs(Code::kUnauthenticated));
  // Just under the limit is fine.
  big.task_id = std::string(2000, 't');
  EXPECT_THAT(ParseRelayToken(Key(), MakeRelayToken(Key(), big), kNow), IsOk());
}

TEST(RelayTokenTest, MessagesNeverEchoTheToken) {
  const std::string token = MakeRelayToken(Key(), Claims());
  const std::string mac_b64 = token.substr(token.rfind('.') + 1);
  const std::string payload_b64 = token.substr(5, token.rfind('.') - 5);
  for (const auto& [t, key, now] : std::vector<std::tuple<std::string, char, std::int64_t>>{
           {token, 'z', kNow}, {token, 'k', kNow + 7200}, {token + "A", 'k', kNow}}) {
    absl::StatusOr<RelayClaims> r = ParseRelayToken(Key(key), t, now);
    ASSERT_THAT(r, Not(IsOk()));
    const std::string msg(r.status().message());
    EXPECT_THAT(msg, Not(HasSubstr(mac_b64)));
    EXPECT_THAT(msg, Not(HasSubstr(payload_b64.substr(0, 12))));
    EXPECT_THAT(msg, Not(HasSubstr("task-abc")));
  }
}

}  // namespace
}  // namespace safeflow::service
