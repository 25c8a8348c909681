// Quotes: the round trip through QuoteVerifier, tampering, unknown platforms, malformed
// envelopes and (signed) bodies, report_data, base64url.
#include "executor/attestation/quote.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include <openssl/pem.h>

#include "executor/attestation/measurement.h"
#include "executor/attestation/platform.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_keys.h"

namespace safeflow::executor::attestation {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::TempDir;
using ::testing::HasSubstr;
using Code = absl::StatusCode;
using json = nlohmann::json;

// Platforms are made once per program (key generation and the file system are not free).
class QuoteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    platform_ = Platform::LoadOrCreate(tmp_->path() + "/a/platform.pem").value().release();
    other_ = Platform::LoadOrCreate(tmp_->path() + "/b/platform.pem").value().release();
  }
  static void TearDownTestSuite() {
    delete platform_;
    delete other_;
    delete tmp_;
  }

  static EnclaveIdentity Enclave() {
    return {.mr_enclave = Sha256Hex("image"),
            .config_id = Sha256Hex("task"),
            .debug = false,
            .security_version = 3,
            .task_id = "task-1",
            .attempt = 2};
  }
  static std::string Report() { return ReportData("public key", "nonce"); }
  static QuoteVerifier Verifier() {
    return QuoteVerifier::Create({platform_->public_key_pem()}).value();
  }
  static std::string GoodQuote() { return platform_->Quote(Enclave(), Report()).value(); }
  // A valid body for SignBodyForTest, as JSON to modify.
  static json BodyJson() {
    QuoteBody b;
    b.platform_id = platform_->platform_id();
    b.enclave = Enclave();
    b.report_data = Report();
    b.time = "2026-11-21T10:00:00Z";
    return ToJson(b);
  }

  static TempDir* tmp_;
  static Platform* platform_;
  static Platform* other_;
};
TempDir* QuoteTest::tmp_ = nullptr;
Platform* QuoteTest::platform_ = nullptr;
Platform* QuoteTest::other_ = nullptr;

std::string B64(const std::string& s) { return detail::Base64UrlEncode(s); }
std::string Unb64(const std::string& s) { return detail::Base64UrlDecode(s).value(); }

TEST(ReportDataTest, IsSha256OfPublicKeyThenNonce) {
  // FIPS 180-2 "abc".
  EXPECT_EQ(ReportData("a", "bc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ReportData("abc", ""), ReportData("", "abc"));
  // Raw bytes, NULs included.
  EXPECT_EQ(ReportData(std::string("\0", 1), ""),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_EQ(ReportData("", ""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Base64UrlTest, StrictUnpaddedRfc4648) {
  for (const auto& [plain, encoded] :
       std::vector<std::pair<std::string, std::string>>{{"", ""},
                                                        {"f", "Zg"},
                                                        {"fo", "Zm8"},
                                                        {"foo", "Zm9v"},
                                                        {"foob", "Zm9vYg"},
                                                        {"\xfb\xff", "-_8"}}) {
    EXPECT_EQ(detail::Base64UrlEncode(plain), encoded);
    EXPECT_THAT(detail::Base64UrlDecode(encoded), IsOkAndHolds(plain)) << encoded;
  }
  for (const char* bad : {"Zg==", "Zg=", "Z", "Zm9v+", "Zm9v/", "Zm 9v", "Zh", "Zm9=", "Zm\n9v"}) {
    EXPECT_THAT(detail::Base64UrlDecode(bad), StatusIs(Code::kInvalidArgument)) << bad;
  }
}

TEST_F(QuoteTest, RoundTrip) {
  const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1795255445));
  absl::StatusOr<std::string> quote = platform_->QuoteAt(Enclave(), Report(), when);
  ASSERT_THAT(quote, IsOk());
  absl::StatusOr<QuoteBody> body = Verifier().Verify(*quote);
  ASSERT_THAT(body, IsOk());
  EXPECT_EQ(body->version, 1);
  EXPECT_EQ(body->platform_id, platform_->platform_id());
  EXPECT_EQ(body->enclave, Enclave());
  EXPECT_EQ(body->report_data, Report());
  EXPECT_EQ(body->time, "2026-11-21T10:04:05Z");

  // The envelope: exactly the documented fields.
  const json envelope = json::parse(*quote);
  EXPECT_EQ(envelope.size(), 4u);
  EXPECT_EQ(envelope["version"], 1);
  EXPECT_EQ(envelope["platform_id"], platform_->platform_id());
  EXPECT_EQ(Unb64(envelope["body"]), ToJson(*body).dump());
  EXPECT_EQ(Unb64(envelope["body"]),
            R"({"enclave":{"attempt":2,"config_id":")" + Sha256Hex("task") +
                R"(","debug":false,"mr_enclave":")" + Sha256Hex("image") +
                R"(","security_version":3,"task_id":"task-1"},"platform_id":")" +
                platform_->platform_id() + R"(","report_data":")" + Report() +
                R"(","time":"2026-11-21T10:04:05Z","version":1})");
  const std::string sig = Unb64(envelope["signature"]);
  EXPECT_GE(sig.size(), 8u);
  EXPECT_EQ(sig[0], 0x30);  // DER SEQUENCE

  // Now-timed quotes verify too, and carry a plausible time.
  absl::StatusOr<QuoteBody> now = Verifier().Verify(GoodQuote());
  ASSERT_THAT(now, IsOk());
  EXPECT_EQ(now->time.size(), 20u);
  EXPECT_EQ(now->time.back(), 'Z');
}

TEST_F(QuoteTest, DebugAndUnicodeSurvive) {
  EnclaveIdentity e = Enclave();
  e.debug = true;
  e.task_id = "t\xc3\xa4sk \"quoted\"";
  absl::StatusOr<std::string> q = platform_->Quote(e, Report());
  ASSERT_THAT(q, IsOk());
  absl::StatusOr<QuoteBody> body = Verifier().Verify(*q);
  ASSERT_THAT(body, IsOk());
  EXPECT_EQ(body->enclave, e);
}

TEST_F(QuoteTest, QuoteRejectsBadInput) {
  EXPECT_THAT(platform_->Quote(Enclave(), std::string(63, 'a')), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(platform_->Quote(Enclave(), std::string(64, 'A')), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(platform_->Quote(Enclave(), std::string(64, 'g')), StatusIs(Code::kInvalidArgument));
  EnclaveIdentity e = Enclave();
  e.mr_enclave = "abc";
  EXPECT_THAT(platform_->Quote(e, Report()), StatusIs(Code::kInvalidArgument));
  e = Enclave();
  e.config_id = "";
  EXPECT_THAT(platform_->Quote(e, Report()), StatusIs(Code::kInvalidArgument));
  e = Enclave();
  e.attempt = -1;
  EXPECT_THAT(platform_->Quote(e, Report()), StatusIs(Code::kInvalidArgument));
  e = Enclave();
  e.task_id = "bad \xff utf-8";
  EXPECT_THAT(platform_->Quote(e, Report()), StatusIs(Code::kInvalidArgument));
}

TEST_F(QuoteTest, TamperedBodyDoesNotVerify) {
  json envelope = json::parse(GoodQuote());
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, json>>{{"debug", true},
                                                 {"attempt", 3},
                                                 {"task_id", "task-2"},
                                                 {"mr_enclave", Sha256Hex("other image")}}) {
    json body = json::parse(Unb64(envelope["body"]));
    body["enclave"][field] = value;
    json tampered = envelope;
    tampered["body"] = B64(body.dump());
    absl::StatusOr<QuoteBody> v = Verifier().Verify(tampered.dump());
    EXPECT_THAT(v, StatusIs(Code::kPermissionDenied)) << field;
    EXPECT_EQ(v.status().message(), "quote signature does not verify");
  }
  json body = json::parse(Unb64(envelope["body"]));
  body["report_data"] = ReportData("public key", "other nonce");
  json tampered = envelope;
  tampered["body"] = B64(body.dump());
  EXPECT_THAT(Verifier().Verify(tampered.dump()), StatusIs(Code::kPermissionDenied));
}

TEST_F(QuoteTest, TamperedSignatureDoesNotVerify) {
  const json envelope = json::parse(GoodQuote());
  const std::string sig = Unb64(envelope["signature"]);
  for (std::size_t i : {std::size_t{0}, std::size_t{5}, sig.size() / 2, sig.size() - 1}) {
    std::string bad = sig;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    json tampered = envelope;
    tampered["signature"] = B64(bad);
    absl::StatusOr<QuoteBody> v = Verifier().Verify(tampered.dump());
    EXPECT_THAT(v, StatusIs(Code::kPermissionDenied)) << i;
    EXPECT_EQ(v.status().message(), "quote signature does not verify");
  }
  // Another quote's valid signature.
  EnclaveIdentity e = Enclave();
  e.attempt = 7;
  json other = json::parse(platform_->Quote(e, Report()).value());
  json swapped = envelope;
  swapped["signature"] = other["signature"];
  EXPECT_THAT(Verifier().Verify(swapped.dump()), StatusIs(Code::kPermissionDenied));
  // Truncated.
  json truncated = envelope;
  truncated["signature"] = B64(sig.substr(0, sig.size() - 1));
  EXPECT_THAT(Verifier().Verify(truncated.dump()), StatusIs(Code::kPermissionDenied));
}

TEST_F(QuoteTest, UnknownPlatformIsRefused) {
  const std::string foreign = other_->Quote(Enclave(), Report()).value();
  absl::StatusOr<QuoteBody> v = Verifier().Verify(foreign);
  EXPECT_THAT(v, StatusIs(Code::kPermissionDenied));
  EXPECT_EQ(v.status().message(), "quote from an unknown platform " + other_->platform_id());

  // Claiming a trusted platform does not help: the signature is checked with its key.
  json claimed = json::parse(foreign);
  claimed["platform_id"] = platform_->platform_id();
  v = Verifier().Verify(claimed.dump());
  EXPECT_THAT(v, StatusIs(Code::kPermissionDenied));
  EXPECT_EQ(v.status().message(), "quote signature does not verify");

  // Trusting both accepts both.
  absl::StatusOr<QuoteVerifier> both =
      QuoteVerifier::Create({platform_->public_key_pem(), other_->public_key_pem()});
  ASSERT_THAT(both, IsOk());
  EXPECT_EQ(both->platform_ids().size(), 2u);
  EXPECT_THAT(both->Verify(foreign), IsOk());
  EXPECT_THAT(both->Verify(GoodQuote()), IsOk());
}

TEST_F(QuoteTest, MalformedEnvelopesAreInvalidArgument) {
  const json good = json::parse(GoodQuote());
  std::vector<std::pair<std::string, std::string>> cases;  // name, quote text
  cases.push_back({"empty", ""});
  cases.push_back({"not json", "quote"});
  cases.push_back({"array", "[]"});
  cases.push_back({"string", "\"x\""});
  cases.push_back({"trailing garbage", good.dump() + "x"});
  cases.push_back({"deep nesting", std::string(10000, '[') + std::string(10000, ']')});
  for (const char* field : {"version", "body", "signature", "platform_id"}) {
    json j = good;
    j.erase(field);
    cases.push_back({std::string("missing ") + field, j.dump()});
    j = good;
    j[field] = nullptr;
    cases.push_back({std::string("null ") + field, j.dump()});
  }
  {
    json j = good;
    j["extra"] = 1;
    cases.push_back({"extra field", j.dump()});
  }
  for (const json& version : {json(2), json(0), json("1"), json(1.0), json(-1), json(true)}) {
    json j = good;
    j["version"] = version;
    cases.push_back({"version " + version.dump(), j.dump()});
  }
  const std::string id = good["platform_id"];
  for (const std::string& bad_id :
       {id.substr(1), id + "0", std::string(64, 'A'), std::string(64, 'g'), std::string()}) {
    json j = good;
    j["platform_id"] = bad_id;
    cases.push_back({"platform_id " + bad_id, j.dump()});
  }
  const std::string body = good["body"];
  const std::string sig = good["signature"];
  for (const std::string& bad : {body + "=", body + "!", "+" + body, body.substr(1)}) {
    json j = good;
    j["body"] = bad;
    cases.push_back({"body base64url " + bad.substr(0, 8), j.dump()});
  }
  for (const std::string& bad :
       {sig + "==", sig + "*", std::string(), B64(std::string(100, 'x'))}) {
    json j = good;
    j["signature"] = bad;
    cases.push_back({"signature " + bad.substr(0, 8), j.dump()});
  }
  // A key given twice (the second would win in a lax parser).
  {
    std::string text = good.dump();
    text.insert(1, R"("platform_id":")" + other_->platform_id() + R"(",)");
    cases.push_back({"duplicate key", text});
  }
  // Oversized: a valid quote padded with whitespace beyond 64 KiB.
  cases.push_back({"oversized", GoodQuote() + std::string(kMaxQuoteBytes, ' ')});
  for (const auto& [name, text] : cases) {
    EXPECT_THAT(Verifier().Verify(text), StatusIs(Code::kInvalidArgument)) << name;
  }
  // Whitespace alone is fine for the envelope (it is not signed).
  EXPECT_THAT(Verifier().Verify(" " + good.dump(2) + "\n"), IsOk());
}

TEST_F(QuoteTest, MalformedSignedBodiesAreInvalidArgument) {
  // Sanity: the unmodified body verifies through SignBodyForTest.
  ASSERT_THAT(Verifier().Verify(platform_->SignBodyForTest(BodyJson().dump()).value()), IsOk());

  std::vector<std::pair<std::string, std::string>> cases;  // name, body text
  auto with = [&](const std::string& name, auto change) {
    json b = BodyJson();
    change(b);
    cases.push_back({name, b.dump()});
  };
  for (const char* field : {"version", "platform_id", "enclave", "report_data", "time"}) {
    with(std::string("missing ") + field, [&](json& b) { b.erase(field); });
  }
  for (const char* field :
       {"mr_enclave", "config_id", "debug", "security_version", "task_id", "attempt"}) {
    with(std::string("missing enclave.") + field, [&](json& b) { b["enclave"].erase(field); });
  }
  with("extra field", [](json& b) { b["nonce"] = "x"; });
  with("extra enclave field", [](json& b) { b["enclave"]["mr_signer"] = std::string(64, '0'); });
  with("version 2", [](json& b) { b["version"] = 2; });
  for (const char* field : {"mr_enclave", "config_id"}) {
    with(std::string(field) + " short",
         [&](json& b) { b["enclave"][field] = std::string(63, 'a'); });
    with(std::string(field) + " long",
         [&](json& b) { b["enclave"][field] = std::string(65, 'a'); });
    with(std::string(field) + " upper",
         [&](json& b) { b["enclave"][field] = std::string(64, 'A'); });
  }
  with("report_data short", [](json& b) { b["report_data"] = std::string(62, '0'); });
  with("report_data not hex", [](json& b) { b["report_data"] = std::string(64, 'z'); });
  with("platform_id of another platform",
       [&](json& b) { b["platform_id"] = other_->platform_id(); });
  with("debug as string", [](json& b) { b["enclave"]["debug"] = "false"; });
  with("negative attempt", [](json& b) { b["enclave"]["attempt"] = -1; });
  with("huge security_version", [](json& b) { b["enclave"]["security_version"] = 1ll << 40; });
  with("fractional attempt", [](json& b) { b["enclave"]["attempt"] = 1.5; });
  with("task_id number", [](json& b) { b["enclave"]["task_id"] = 5; });
  for (const char* time : {"2026-11-21 10:00:00Z", "2026-11-21T10:00:00",
                           "2026-11-21T10:00:00+01:00", "2026-13-21T10:00:00Z", "yesterday", ""}) {
    with(std::string("time ") + time, [&](json& b) { b["time"] = time; });
  }
  cases.push_back({"not canonical", BodyJson().dump(1)});
  cases.push_back({"not json", "body"});
  cases.push_back({"array", "[1]"});
  for (const auto& [name, text] : cases) {
    absl::StatusOr<std::string> q = platform_->SignBodyForTest(text);
    ASSERT_THAT(q, IsOk());
    EXPECT_THAT(Verifier().Verify(*q), StatusIs(Code::kInvalidArgument)) << name;
  }
  // Fractional seconds are accepted.
  json b = BodyJson();
  b["time"] = "2026-11-21T10:00:00.125Z";
  EXPECT_THAT(Verifier().Verify(platform_->SignBodyForTest(b.dump()).value()), IsOk());
}

TEST_F(QuoteTest, FromJsonInvertsToJson) {
  QuoteBody b;
  b.platform_id = platform_->platform_id();
  b.enclave = Enclave();
  b.report_data = Report();
  b.time = "2026-11-21T10:00:00Z";
  EXPECT_THAT(QuoteBodyFromJson(ToJson(b)), IsOkAndHolds(b));
  EXPECT_THAT(QuoteBodyFromJson(json::parse(ToJson(b).dump())), IsOkAndHolds(b));
  EXPECT_THAT(EnclaveIdentityFromJson(ToJson(b.enclave)), IsOkAndHolds(b.enclave));
}

TEST(QuoteVerifierTest, CreateAcceptsOnlyP256PublicKeys) {
  EXPECT_THAT(QuoteVerifier::Create({}), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(QuoteVerifier::Create({"garbage"}), StatusIs(Code::kInvalidArgument));
  auto public_pem = [](EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    EXPECT_EQ(PEM_write_bio_PUBKEY(bio, key), 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return pem;
  };
  EXPECT_THAT(QuoteVerifier::Create({public_pem(&::safeflow::testing::Rsa2048())}),
              StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(QuoteVerifier::Create({public_pem(::safeflow::testing::NewKey("EC", "P-384").get())}),
              StatusIs(Code::kInvalidArgument));
  const std::string p256 = public_pem(::safeflow::testing::NewKey("EC", "P-256").get());
  absl::StatusOr<QuoteVerifier> v = QuoteVerifier::Create({p256, p256});
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(v->platform_ids(), std::vector<std::string>{PlatformIdOfPublicKeyPem(p256).value()});
  // A private key is not what a verifier trusts.
  EXPECT_THAT(QuoteVerifier::Create({::safeflow::testing::kRsa2048Pem}),
              StatusIs(Code::kInvalidArgument));
}

TEST_F(QuoteTest, QuoteAndVerifyFromManyThreads) {
  const QuoteVerifier verifier = Verifier();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        EnclaveIdentity e = Enclave();
        e.attempt = t * 100 + i;
        absl::StatusOr<std::string> q = platform_->Quote(e, Report());
        if (!q.ok()) continue;
        const QuoteVerifier copy = verifier;  // copies share nothing mutable
        absl::StatusOr<QuoteBody> b = (i % 2 == 0 ? verifier : copy).Verify(*q);
        if (b.ok() && b->enclave.attempt == e.attempt) ++ok;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 40);
}

}  // namespace
}  // namespace safeflow::executor::attestation
