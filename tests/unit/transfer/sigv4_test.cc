// SigV4 against AWS's published examples: the S3 "Signature Calculations for the Authorization
// Header" examples (GET Object, PUT Object, GET Bucket Lifecycle, GET Bucket), the S3
// presigned-URL example, the IAM signing-key examples and cases of the aws-sig-v4-test-suite.
#include "executor/transfer/sigv4.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/testing/status_matchers.h"

namespace safeflow::executor::transfer::sigv4 {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;

// The S3 documentation's examples.
const Credentials kS3Example{.access_key_id = "AKIAIOSFODNN7EXAMPLE",
                             .secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"};
constexpr char kS3Date[] = "20130524T000000Z";
constexpr char kS3Host[] = "examplebucket.s3.amazonaws.com";

// The aws-sig-v4-test-suite and IAM examples.
const Credentials kSuite{.access_key_id = "AKIDEXAMPLE",
                         .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"};
constexpr char kSuiteDate[] = "20150830T123600Z";

TEST(Sigv4Test, HashesAndHex) {
  EXPECT_EQ(Sha256Hex(""), kEmptyPayloadSha256);
  EXPECT_EQ(Sha256Hex("Welcome to Amazon S3."),
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x10", 3)), "00ff10");
}

TEST(Sigv4Test, UriEncodeFollowsAwsRules) {
  EXPECT_EQ(UriEncode("AZaz09-._~", true), "AZaz09-._~");
  EXPECT_EQ(UriEncode("a b/c", true), "a%20b%2Fc");
  EXPECT_EQ(UriEncode("a b/c", false), "a%20b/c");
  EXPECT_EQ(UriEncode("test$file.text", false), "test%24file.text");
  EXPECT_EQ(UriEncode("+*=&", false), "%2B%2A%3D%26");
  EXPECT_EQ(UriEncode("\xc3\xa9", false), "%C3%A9");  // é, bytes encoded one by one
}

TEST(Sigv4Test, UriDecode) {
  EXPECT_EQ(UriDecode("a%20b%2Fc+").value(), "a b/c+");
  EXPECT_THAT(UriDecode("bad%2"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(UriDecode("bad%zz"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(Sigv4Test, CanonicalQueryStringSortsAndEncodes) {
  EXPECT_EQ(CanonicalQueryString({{"prefix", "J"}, {"max-keys", "2"}}), "max-keys=2&prefix=J");
  EXPECT_EQ(CanonicalQueryString({{"lifecycle", ""}}), "lifecycle=");
  EXPECT_EQ(CanonicalQueryString({{"b", "x y/z"}, {"a", "2"}, {"a", "1"}}), "a=1&a=2&b=x%20y%2Fz");
  EXPECT_EQ(CanonicalQueryString({}), "");
  Params parsed = ParseQueryString("b=x%20y&a&c=").value();
  EXPECT_EQ(CanonicalQueryString(parsed), "a=&b=x%20y&c=");
}

TEST(Sigv4Test, CanonicalHeadersTrimLowerSortAndJoin) {
  CanonicalHeaders h = CanonicalizeHeaders({{"X-Amz-Date", "20150830T123600Z"},
                                            {"Host", "  example.com  "},
                                            {"My-Header", "a   b"},
                                            {"my-header", "c"}});
  EXPECT_EQ(h.canonical, "host:example.com\nmy-header:a b,c\nx-amz-date:20150830T123600Z\n");
  EXPECT_EQ(h.signed_headers, "host;my-header;x-amz-date");
}

TEST(Sigv4Test, S3GetObjectExample) {
  const Request request{.method = "GET",
                        .canonical_uri = "/test.txt",
                        .headers = {{"Host", kS3Host},
                                    {"Range", "bytes=0-9"},
                                    {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)},
                                    {"x-amz-date", kS3Date}},
                        .payload_hash = std::string(kEmptyPayloadSha256)};
  absl::StatusOr<Signed> s = Sign(request, kS3Example, kS3Date, "us-east-1", "s3");
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s->string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s->signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(s->authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(Sigv4Test, S3PutObjectExample) {
  const std::string payload_hash = Sha256Hex("Welcome to Amazon S3.");
  const Request request{.method = "PUT",
                        .canonical_uri = "/" + UriEncode("test$file.text", false),
                        .headers = {{"Host", kS3Host},
                                    {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                                    {"x-amz-date", kS3Date},
                                    {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                                    {"x-amz-content-sha256", payload_hash}},
                        .payload_hash = payload_hash};
  absl::StatusOr<Signed> s = Sign(request, kS3Example, kS3Date, "us-east-1", "s3");
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  EXPECT_THAT(s->authorization,
              ::testing::HasSubstr(
                  "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"));
}

TEST(Sigv4Test, S3GetBucketLifecycleExample) {
  const Request request{.method = "GET",
                        .canonical_uri = "/",
                        .query = {{"lifecycle", ""}},
                        .headers = {{"Host", kS3Host},
                                    {"x-amz-date", kS3Date},
                                    {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)}},
                        .payload_hash = std::string(kEmptyPayloadSha256)};
  absl::StatusOr<Signed> s = Sign(request, kS3Example, kS3Date, "us-east-1", "s3");
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(Sigv4Test, S3GetBucketListObjectsExample) {
  const Request request{.method = "GET",
                        .canonical_uri = "/",
                        .query = {{"prefix", "J"}, {"max-keys", "2"}},
                        .headers = {{"Host", kS3Host},
                                    {"x-amz-date", kS3Date},
                                    {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)}},
                        .payload_hash = std::string(kEmptyPayloadSha256)};
  absl::StatusOr<Signed> s = Sign(request, kS3Example, kS3Date, "us-east-1", "s3");
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(Sigv4Test, S3PresignedUrlExample) {
  absl::StatusOr<std::string> url = PresignUrl({.method = "GET",
                                                .scheme = "https",
                                                .host = kS3Host,
                                                .canonical_uri = "/test.txt",
                                                .expires_seconds = 86400},
                                               kS3Example, kS3Date, "us-east-1", "s3");
  ASSERT_THAT(url, IsOk());
  EXPECT_EQ(*url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  EXPECT_THAT(PresignUrl({.host = kS3Host, .expires_seconds = 604801}, kS3Example, kS3Date,
                         "us-east-1", "s3"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(Sigv4Test, IamSigningKeyExamples) {
  EXPECT_EQ(HexEncode(SigningKey(kSuite.secret_access_key,
                                 {.date = "20120215", .region = "us-east-1", .service = "iam"})),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
  EXPECT_EQ(HexEncode(SigningKey(kSuite.secret_access_key,
                                 {.date = "20150830", .region = "us-east-1", .service = "iam"})),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

TEST(Sigv4Test, IamListUsersExample) {
  const Request request{
      .method = "GET",
      .canonical_uri = "/",
      .query = {{"Action", "ListUsers"}, {"Version", "2010-05-08"}},
      .headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                  {"Host", "iam.amazonaws.com"},
                  {"X-Amz-Date", kSuiteDate}},
      .payload_hash = std::string(kEmptyPayloadSha256)};
  absl::StatusOr<Signed> s = Sign(request, kSuite, kSuiteDate, "us-east-1", "iam");
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(Sha256Hex(s->canonical_request),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(s->signature, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

struct SuiteCase {
  const char* name;
  const char* method;
  Params query;
  const char* signature;
};

// Names the case in test listings (ctest shows it) instead of dumping its bytes.
void PrintTo(const SuiteCase& c, std::ostream* os) { *os << c.name; }

class Sigv4TestSuite : public ::testing::TestWithParam<SuiteCase> {};

TEST_P(Sigv4TestSuite, MatchesPublishedSignature) {
  const SuiteCase& c = GetParam();
  const Request request{.method = c.method,
                        .canonical_uri = "/",
                        .query = c.query,
                        .headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kSuiteDate}},
                        .payload_hash = std::string(kEmptyPayloadSha256)};
  absl::StatusOr<Signed> s = Sign(request, kSuite, kSuiteDate, "us-east-1", "service");
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->signature, c.signature);
  EXPECT_EQ(s->authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" +
                std::string(c.signature));
}

INSTANTIATE_TEST_SUITE_P(
    AwsSigV4TestSuite, Sigv4TestSuite,
    ::testing::Values(SuiteCase{"get_vanilla",
                                "GET",
                                {},
                                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
                      SuiteCase{"post_vanilla",
                                "POST",
                                {},
                                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
                      SuiteCase{"get_vanilla_query_order_key_case",
                                "GET",
                                {{"Param2", "value2"}, {"Param1", "value1"}},
                                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
                      SuiteCase{
                          "get_vanilla_one_query_param",
                          "GET",
                          {{"Param1", "value1"}},
                          "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"}),
    [](const ::testing::TestParamInfo<SuiteCase>& param_info) { return param_info.param.name; });

TEST(Sigv4Test, SignRejectsBadInput) {
  const Request request{.method = "GET", .headers = {{"Host", "h"}}, .payload_hash = "x"};
  EXPECT_THAT(Sign(request, kSuite, "2015-08-30", "us-east-1", "s3"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(Sign(request, kSuite, kSuiteDate, "", "s3"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  const Request no_host{.method = "GET", .headers = {{"X-Amz-Date", kSuiteDate}}};
  EXPECT_THAT(Sign(no_host, kSuite, kSuiteDate, "us-east-1", "s3"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(Sigv4Test, ParseAuthorizationRoundTrips) {
  absl::StatusOr<Authorization> a = ParseAuthorization(
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->access_key_id, "AKIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(a->scope.ToString(), "20130524/us-east-1/s3/aws4_request");
  EXPECT_THAT(a->signed_headers,
              ::testing::ElementsAre("host", "range", "x-amz-content-sha256", "x-amz-date"));
  EXPECT_EQ(a->signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(Sigv4Test, ParseAuthorizationRejectsMalformedHeaders) {
  for (const char* bad : {
           "",
           "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
           "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request",
           "AWS4-HMAC-SHA256 Credential=AK/2013/us-east-1/s3/aws4_request, SignedHeaders=host, "
           "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
           "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, "
           "SignedHeaders=host, Signature=xyz",
           "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, "
           "SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6"
           "036bdb41, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
       }) {
    EXPECT_THAT(ParseAuthorization(bad), StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
  }
}

}  // namespace
}  // namespace safeflow::executor::transfer::sigv4
