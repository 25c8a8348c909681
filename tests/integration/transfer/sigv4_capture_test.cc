// Proves libcurl's SigV4 signing (CURLOPT_AWS_SIGV4) as the S3 transfers use it: a loopback
// server records the requests libcurl sends for S3 GET, ListObjectsV2 and PUT, and each
// Authorization header is recomputed, the way S3 does it, with our own sigv4 implementation
// from the request as received and the x-amz-date libcurl sent.
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/transfer/sigv4.h"
#include "executor/transfer/transfer.h"
#include "tests/testing/integration.h"
#include "tests/testing/loopback_server.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::transfer {
namespace {

using ::safeflow::testing::CannedResponse;
using ::safeflow::testing::CapturedRequest;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::LoopbackServer;
using ::safeflow::testing::TempDir;

constexpr char kAccessKey[] = "AKIDEXAMPLE";
constexpr char kSecretKey[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kRegion[] = "eu-west-2";

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// What S3 does with a request: rebuild the canonical request from what arrived (path as
// sent, query parsed and re-canonicalized, the signed headers' values, the declared payload
// hash) and compare signatures. Returns "" when the signature is right, else the reason.
std::string VerifyS3Signature(const CapturedRequest& req) {
  const std::string authorization = req.Header("Authorization");
  absl::StatusOr<sigv4::Authorization> auth = sigv4::ParseAuthorization(authorization);
  if (!auth.ok()) return "unparsable Authorization: " + authorization;
  if (auth->access_key_id != kAccessKey) return "wrong access key " + auth->access_key_id;
  const std::string amz_date = req.Header("X-Amz-Date");
  if (amz_date.size() != 16 || auth->scope.date != amz_date.substr(0, 8)) {
    return "scope date does not match x-amz-date " + amz_date;
  }
  if (auth->scope.region != kRegion || auth->scope.service != "s3") {
    return "wrong scope " + auth->scope.ToString();
  }
  const std::string payload_hash = req.Header("x-amz-content-sha256");
  if (payload_hash.empty()) return "no x-amz-content-sha256 header";
  if (payload_hash != sigv4::kUnsignedPayload && payload_hash != sigv4::Sha256Hex(req.body)) {
    return "x-amz-content-sha256 does not match the body";
  }
  const std::set<std::string> signed_names(auth->signed_headers.begin(),
                                           auth->signed_headers.end());
  for (const char* required : {"host", "x-amz-date", "x-amz-content-sha256"}) {
    if (signed_names.count(required) == 0) return std::string(required) + " is not signed";
  }
  sigv4::Params headers;
  for (const std::string& name : auth->signed_headers) {
    bool found = false;
    for (const auto& [k, v] : req.headers) {
      if (Lower(k) == name) {
        headers.emplace_back(k, v);
        found = true;
      }
    }
    if (!found) return "signed header " + name + " was not sent";
  }
  absl::StatusOr<sigv4::Params> query = sigv4::ParseQueryString(req.Query());
  if (!query.ok()) return "unparsable query";
  const sigv4::Request canonical{.method = req.method,
                                 .canonical_uri = req.Path(),
                                 .query = *query,
                                 .headers = headers,
                                 .payload_hash = payload_hash};
  absl::StatusOr<sigv4::Signed> expected =
      sigv4::Sign(canonical, {kAccessKey, kSecretKey}, amz_date, kRegion, "s3");
  if (!expected.ok()) return "cannot sign: " + std::string(expected.status().message());
  if (expected->signature != auth->signature) {
    return "signature mismatch; our canonical request:\n" + expected->canonical_request;
  }
  if (expected->authorization != authorization) return "header differs: " + authorization;
  return "";
}

constexpr char kListing[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name>
<Prefix>dir with space/</Prefix><KeyCount>1</KeyCount><MaxKeys>1</MaxKeys>
<IsTruncated>false</IsTruncated><Contents><Key>dir with space/f&amp;g.txt</Key>
<Size>5</Size></Contents></ListBucketResult>)";

CannedResponse S3Like(const CapturedRequest& req) {
  if (req.method == "PUT") return {.status = 200, .headers = {{"ETag", "\"x\""}}};
  if (!req.Query().empty()) {
    return {.status = 200, .headers = {{"Content-Type", "application/xml"}}, .body = kListing};
  }
  return {.status = 200, .body = "hello"};
}

class SigV4CaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    config_.s3 = S3Config{.endpoint = server_.url(),
                          .region = kRegion,
                          .access_key_id = kAccessKey,
                          .secret_access_key = kSecretKey};
  }
  LoopbackServer server_{S3Like};
  TempDir tmp_;
  TransferConfig config_;
};

TEST_F(SigV4CaptureTest, ObjectGetIsCorrectlySigned) {
  const std::string key = "dir/my file+(1)~r\xc3\xa9sum\xc3\xa9.txt";
  EXPECT_THAT(FetchInput(config_, "s3://bucket/" + key, tmp_.path() + "/f", false),
              IsOkAndHolds(5u));
  const std::vector<CapturedRequest> requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  const CapturedRequest& get = requests[0];
  EXPECT_EQ(get.method, "GET");
  EXPECT_EQ(get.target, "/bucket/dir/my%20file%2B%281%29~r%C3%A9sum%C3%A9.txt");
  EXPECT_EQ(get.Header("x-amz-content-sha256"), sigv4::kEmptyPayloadSha256);
  EXPECT_EQ(VerifyS3Signature(get), "");
}

TEST_F(SigV4CaptureTest, ListAndGetOfADirectoryAreCorrectlySigned) {
  EXPECT_THAT(FetchInput(config_, "s3://bucket/dir with space", tmp_.path() + "/d", true),
              IsOkAndHolds(5u));
  const std::vector<CapturedRequest> requests = server_.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].target,
            "/bucket?encoding-type=url&list-type=2&max-keys=1000&prefix=dir%20with%20space%2F");
  EXPECT_EQ(requests[1].target, "/bucket/dir%20with%20space/f%26g.txt");
  for (const CapturedRequest& r : requests) EXPECT_EQ(VerifyS3Signature(r), "") << r.target;
}

TEST_F(SigV4CaptureTest, PutIsCorrectlySignedWithThePayloadHash) {
  const std::string src = tmp_.path() + "/out.txt";
  std::ofstream(src) << "output data\n";
  EXPECT_THAT(PutOutput(config_, src, "s3://bucket/results/out.txt"), IsOkAndHolds(12u));
  const std::vector<CapturedRequest> requests = server_.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "PUT");
  EXPECT_EQ(requests[0].body, "output data\n");
  // Plain http: the payload is hashed and signed, not UNSIGNED-PAYLOAD.
  EXPECT_EQ(requests[0].Header("x-amz-content-sha256"), sigv4::Sha256Hex("output data\n"));
  EXPECT_EQ(VerifyS3Signature(requests[0]), "");
}

TEST_F(SigV4CaptureTest, VerifierRejectsTamperedRequests) {
  // The check above is not vacuous: any change to what was signed breaks it.
  EXPECT_THAT(FetchInput(config_, "s3://bucket/dir/x.txt", tmp_.path() + "/f", false), IsOk());
  const CapturedRequest original = server_.requests().at(0);
  ASSERT_EQ(VerifyS3Signature(original), "");
  CapturedRequest tampered = original;
  tampered.target = "/bucket/dir/y.txt";
  EXPECT_NE(VerifyS3Signature(tampered), "");
  tampered = original;
  tampered.method = "DELETE";
  EXPECT_NE(VerifyS3Signature(tampered), "");
  tampered = original;
  for (auto& [k, v] : tampered.headers) {
    if (Lower(k) == "host") v = "evil.example:1";
  }
  EXPECT_NE(VerifyS3Signature(tampered), "");
  tampered = original;
  tampered.body = "smuggled";
  for (auto& [k, v] : tampered.headers) {
    if (Lower(k) == "x-amz-content-sha256") v = sigv4::Sha256Hex("smuggled");
  }
  EXPECT_NE(VerifyS3Signature(tampered), "");
}

// A hostile or broken S3 server: listed keys that would leave the staging directory, or
// listings that never end, fail the input and leave nothing behind.
class HostileListingTest : public ::testing::TestWithParam<const char*> {};

TEST_P(HostileListingTest, FailsWithoutWritingAnything) {
  const std::string key = GetParam();
  LoopbackServer server([&](const CapturedRequest& req) {
    if (req.Query().empty()) return CannedResponse{.status = 200, .body = "payload"};
    return CannedResponse{
        .status = 200,
        .body =
            "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>dir/ok.txt</Key>"
            "<Size>7</Size></Contents><Contents><Key>" +
            key + "</Key><Size>7</Size></Contents></ListBucketResult>"};
  });
  ASSERT_TRUE(server.ok());
  TempDir tmp;
  TransferConfig config;
  config.s3 = S3Config{.endpoint = server.url(), .access_key_id = "a", .secret_access_key = "b"};
  EXPECT_THAT(FetchInput(config, "s3://bucket/dir", tmp.path() + "/staging/dir", true),
              ::safeflow::testing::StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(server.requests().size(), 1u);  // the listing only: nothing was downloaded
  const std::string staging = tmp.path() + "/staging";
  EXPECT_TRUE(!std::filesystem::exists(staging) || std::filesystem::is_empty(staging));
}

INSTANTIATE_TEST_SUITE_P(Keys, HostileListingTest,
                         ::testing::Values("dir/../../../etc/cron.d/x", "dir/a/../../x", "dir/./x",
                                           "dir/a//b", "dir//x", "dir/x/../y/"));

TEST(HostileListingTest2, KeysOutsideThePrefixAndEndlessListingsFail) {
  std::atomic<int> lists{0};
  LoopbackServer outside([&](const CapturedRequest&) {
    return CannedResponse{
        .status = 200,
        .body =
            "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>other/x</Key>"
            "<Size>1</Size></Contents></ListBucketResult>"};
  });
  LoopbackServer endless([&](const CapturedRequest&) {
    ++lists;
    return CannedResponse{
        .status = 200,
        .body =
            "<ListBucketResult><IsTruncated>true</IsTruncated>"
            "<NextContinuationToken>same</NextContinuationToken></ListBucketResult>"};
  });
  TempDir tmp;
  TransferConfig config;
  config.s3 = S3Config{.endpoint = outside.url(), .access_key_id = "a", .secret_access_key = "b"};
  EXPECT_THAT(FetchInput(config, "s3://bucket/dir", tmp.path() + "/a", true),
              ::safeflow::testing::StatusIs(absl::StatusCode::kUnavailable));
  config.s3->endpoint = endless.url();
  EXPECT_THAT(FetchInput(config, "s3://bucket/dir", tmp.path() + "/b", true),
              ::safeflow::testing::StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(lists.load(), 2);
}

}  // namespace
}  // namespace safeflow::executor::transfer
