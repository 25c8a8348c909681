// URL parsing and the checks that need no filesystem: schemes, traversal, http allow-list,
// s3 configuration, JoinUrl and config validation.
#include "executor/transfer/url.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/transfer/local_files.h"
#include "executor/transfer/transfer.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::transfer {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using Code = absl::StatusCode;

TEST(ParseTransferUrlTest, FileUrls) {
  absl::StatusOr<TransferUrl> u = ParseTransferUrl("file:///data/in/a%20b.txt");
  ASSERT_THAT(u, IsOk());
  EXPECT_EQ(u->scheme, Scheme::kFile);
  EXPECT_EQ(u->path, "/data/in/a b.txt");
  EXPECT_EQ(ParseTransferUrl("FILE://localhost/data//x/").value().path, "/data/x");
  EXPECT_EQ(ParseTransferUrl("file:///data/r%C3%A9sum%C3%A9").value().path,
            "/data/r\xc3\xa9sum\xc3\xa9");
  EXPECT_EQ(ParseTransferUrl("file:///data/100%25").value().path, "/data/100%");
}

TEST(ParseTransferUrlTest, RejectsMalformedFileUrls) {
  for (const char* bad :
       {"file://host/data/x", "file://data/x", "file:///data/x?y", "file:///data/x#y",
        "file:///data/a%2Fb", "file:///data/a%00b", "file:///data/bad%zz", "file:///data/bad%2",
        "file:relative", "/data/plain/path", "data/x", ""}) {
    EXPECT_THAT(ParseTransferUrl(bad), StatusIs(Code::kInvalidArgument)) << bad;
  }
}

TEST(ParseTransferUrlTest, RejectsTraversalInEveryScheme) {
  for (const char* bad : {
           "file:///data/../etc/passwd",
           "file:///data/./x",
           "file:///data/%2e%2e/etc/passwd",
           "file:///data/%2E%2E/etc/passwd",
           "file:///data/.%2e/etc",
           "file:///data/%252e%252e/etc",
           "file:///data/x/..",
           "http://example.org/a/../b",
           "http://example.org/a/%2e%2e/b",
           "https://example.org/..",
           "s3://bucket/a/../b",
           "s3://bucket/../b",
           "s3://bucket/a/%2e%2e/b",
           "s3://bucket/./b",
       }) {
    EXPECT_THAT(ParseTransferUrl(bad), StatusIs(Code::kInvalidArgument)) << bad;
  }
  // Dots inside names are fine.
  EXPECT_THAT(ParseTransferUrl("file:///data/..x/a.b/...y"), IsOk());
  EXPECT_THAT(ParseTransferUrl("s3://bucket/a..b/.hidden"), IsOk());
}

TEST(ParseTransferUrlTest, HttpUrls) {
  absl::StatusOr<TransferUrl> u = ParseTransferUrl("https://Data.Example.org/x/y.txt?a=1#frag");
  ASSERT_THAT(u, IsOk());
  EXPECT_EQ(u->scheme, Scheme::kHttps);
  EXPECT_EQ(u->host, "data.example.org");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->url.find('#'), std::string::npos);
  EXPECT_NE(u->url.find("?a=1"), std::string::npos);
  u = ParseTransferUrl("http://127.0.0.1:8080/f");
  ASSERT_THAT(u, IsOk());
  EXPECT_EQ(u->scheme, Scheme::kHttp);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(ParseTransferUrl("http://[::1]:81/f").value().host, "[::1]");
}

TEST(ParseTransferUrlTest, RejectsBadHttpUrls) {
  for (const char* bad :
       {"http://user:pw@example.org/f", "http://user@example.org/f", "http:///nohost",
        "http://example.org:99999/f", "http://exa mple.org/f", "ftp://example.org/f",
        "gopher://example.org/", "http://example.org/a\nb"}) {
    EXPECT_THAT(ParseTransferUrl(bad), StatusIs(Code::kInvalidArgument)) << bad;
  }
}

TEST(ParseTransferUrlTest, S3Urls) {
  absl::StatusOr<TransferUrl> u = ParseTransferUrl("s3://my-bucket.1/dir/my file+x.txt");
  ASSERT_THAT(u, IsOk());
  EXPECT_EQ(u->scheme, Scheme::kS3);
  EXPECT_EQ(u->bucket, "my-bucket.1");
  EXPECT_EQ(u->key, "dir/my file+x.txt");  // literal, as the AWS CLI reads it
  EXPECT_EQ(ParseTransferUrl("s3://bucket").value().key, "");
  EXPECT_EQ(ParseTransferUrl("s3://bucket/prefix/").value().key, "prefix/");
  for (const char* bad : {"s3://Bucket/x", "s3://ab/x", "s3://bucket:9000/x", "s3://u@bucket/x",
                          "s3://-bucket/x", "s3:///x"}) {
    EXPECT_THAT(ParseTransferUrl(bad), StatusIs(Code::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(ParseTransferUrl("s3://bucket/" + std::string(1025, 'k')),
              StatusIs(Code::kInvalidArgument));
}

TEST(RedactUrlTest, DropsQueryFragmentAndUserInfo) {
  EXPECT_EQ(RedactUrl("https://u:p@h.org/x?X-Amz-Signature=abc#f"), "https://h.org/x");
  EXPECT_EQ(RedactUrl("s3://bucket/key"), "s3://bucket/key");
  EXPECT_EQ(RedactUrl("file:///a?b"), "file:///a");
}

TEST(PathTest, PathIsUnderRespectsComponentBoundaries) {
  EXPECT_TRUE(PathIsUnder("/data/in", "/data/in"));
  EXPECT_TRUE(PathIsUnder("/data/in/x", "/data/in"));
  EXPECT_FALSE(PathIsUnder("/data/input", "/data/in"));
  EXPECT_FALSE(PathIsUnder("/data", "/data/in"));
  EXPECT_TRUE(PathIsUnder("/anything", "/"));
}

TEST(PathTest, NormalizeAbsolutePath) {
  EXPECT_EQ(NormalizeAbsolutePath("/a//b/./c/").value(), "/a/b/c");
  EXPECT_EQ(NormalizeAbsolutePath("/").value(), "/");
  EXPECT_THAT(NormalizeAbsolutePath("a/b"), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(NormalizeAbsolutePath("/a/../b"), StatusIs(Code::kInvalidArgument));
}

TEST(PathTest, CleanRelativePaths) {
  using detail::CheckCleanRelativePath;
  EXPECT_THAT(CheckCleanRelativePath("a/b c/d.txt", false), IsOk());
  EXPECT_THAT(CheckCleanRelativePath("a/b/", true), IsOk());
  for (const char* bad : {"", "/a", "a//b", "a/./b", "a/../b", "..", "a/b/"}) {
    EXPECT_THAT(CheckCleanRelativePath(bad, false), StatusIs(Code::kInvalidArgument)) << bad;
  }
  EXPECT_THAT(CheckCleanRelativePath(std::string(256, 'x'), false),
              StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(CheckCleanRelativePath(std::string("a\0b", 3), false),
              StatusIs(Code::kInvalidArgument));
}

TEST(BucketNameTest, FollowsS3Rules) {
  EXPECT_TRUE(IsValidBucketName("abc"));
  EXPECT_TRUE(IsValidBucketName("my.bucket-1"));
  EXPECT_FALSE(IsValidBucketName("ab"));
  EXPECT_FALSE(IsValidBucketName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidBucketName("MyBucket"));
  EXPECT_FALSE(IsValidBucketName("bucket-"));
  EXPECT_FALSE(IsValidBucketName("bu_cket"));
}

TransferConfig HttpConfig() {
  TransferConfig c;
  c.http_allow_hosts = {"data.example.org", "127.0.0.1:8080", "[::1]:81"};
  return c;
}

TEST(CheckInputUrlTest, HttpNeedsAnAllowListedHost) {
  const TransferConfig c = HttpConfig();
  EXPECT_THAT(CheckInputUrl(c, "https://data.example.org/x"), IsOk());
  EXPECT_THAT(CheckInputUrl(c, "https://DATA.example.org:8443/x"), IsOk());  // any port
  EXPECT_THAT(CheckInputUrl(c, "http://127.0.0.1:8080/x"), IsOk());
  EXPECT_THAT(CheckInputUrl(c, "http://[::1]:81/x"), IsOk());
  EXPECT_THAT(CheckInputUrl(c, "http://127.0.0.1:8081/x"), StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(CheckInputUrl(c, "http://127.0.0.1/x"), StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(CheckInputUrl(c, "https://evil.example.org/x"), StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(CheckInputUrl(c, "https://data.example.org.evil.net/x"),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(CheckInputUrl(TransferConfig{}, "https://data.example.org/x"),
              StatusIs(Code::kPermissionDenied));
}

TEST(CheckUrlTest, HttpOutputsAreUnsupported) {
  EXPECT_THAT(CheckOutputUrl(HttpConfig(), "https://data.example.org/x"),
              StatusIs(Code::kInvalidArgument));
}

TEST(CheckUrlTest, S3NeedsConfiguration) {
  TransferConfig c;
  EXPECT_THAT(CheckInputUrl(c, "s3://bucket/key"), StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(CheckOutputUrl(c, "s3://bucket/key"), StatusIs(Code::kPermissionDenied));
  c.s3 =
      S3Config{.endpoint = "http://127.0.0.1:4568", .access_key_id = "a", .secret_access_key = "b"};
  EXPECT_THAT(CheckInputUrl(c, "s3://bucket/key"), IsOk());
  EXPECT_THAT(CheckInputUrl(c, "s3://bucket/prefix/"), IsOk());
  EXPECT_THAT(CheckOutputUrl(c, "s3://bucket/key"), IsOk());
  EXPECT_THAT(CheckOutputUrl(c, "s3://bucket/prefix/"), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(CheckOutputUrl(c, "s3://bucket"), StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(CheckInputUrl(c, "s3://bucket/a/../b"), StatusIs(Code::kInvalidArgument));
}

TEST(CheckUrlTest, FileUrlsNeedRoots) {
  EXPECT_THAT(CheckInputUrl(TransferConfig{}, "file:///data/x"), StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(CheckOutputUrl(TransferConfig{}, "file:///data/x"),
              StatusIs(Code::kPermissionDenied));
  TransferConfig c;
  c.input_roots = {"/nonexistent-safeflow-root/in"};
  c.output_roots = {"/nonexistent-safeflow-root/out"};
  EXPECT_THAT(CheckInputUrl(c, "file:///nonexistent-safeflow-root/other/x"),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(CheckInputUrl(c, "file:///nonexistent-safeflow-root/input/x"),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(CheckInputUrl(c, "file:///nonexistent-safeflow-root/in/../out/x"),
              StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(CheckOutputUrl(c, "file:///nonexistent-safeflow-root/in/x"),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(CheckInputUrl(c, "ftp://x/y"), StatusIs(Code::kInvalidArgument));
}

TEST(FetchInputTest, RejectsBeforeMoving) {
  TransferConfig c = HttpConfig();
  EXPECT_THAT(FetchInput(c, "https://evil.example.org/x", "/nonexistent-safeflow/dest", false),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(FetchInput(c, "https://data.example.org/x", "/nonexistent-safeflow/dest", true),
              StatusIs(Code::kInvalidArgument));
  EXPECT_THAT(FetchInput(c, "s3://bucket/x", "/nonexistent-safeflow/dest", false),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(PutOutput(c, "/nonexistent-safeflow/src", "https://data.example.org/x"),
              StatusIs(Code::kInvalidArgument));
}

TEST(JoinUrlTest, ExactlyOneSlash) {
  EXPECT_EQ(JoinUrl("s3://bucket/out", "a.txt"), "s3://bucket/out/a.txt");
  EXPECT_EQ(JoinUrl("s3://bucket/out/", "a.txt"), "s3://bucket/out/a.txt");
  EXPECT_EQ(JoinUrl("s3://bucket/out//", "/a.txt"), "s3://bucket/out/a.txt");
  EXPECT_EQ(JoinUrl("s3://bucket", "dir/a.txt"), "s3://bucket/dir/a.txt");
  EXPECT_EQ(JoinUrl("file:///", "x"), "file:///x");
  EXPECT_EQ(JoinUrl("file:///out/", "sub/x"), "file:///out/sub/x");
}

TEST(JoinUrlTest, EncodesLocalNamesForFileUrlsOnly) {
  EXPECT_EQ(JoinUrl("s3://bucket/out", "a b%#?.txt"), "s3://bucket/out/a b%#?.txt");
  const std::string joined = JoinUrl("file:///out", "sub dir/a b%#?.txt");
  EXPECT_EQ(joined, "file:///out/sub%20dir/a%20b%25%23%3F.txt");
  absl::StatusOr<TransferUrl> u = ParseTransferUrl(joined);
  ASSERT_THAT(u, IsOk());
  EXPECT_EQ(u->path, "/out/sub dir/a b%#?.txt");
  EXPECT_EQ(ParseTransferUrl(JoinUrl("s3://bucket/out", "a b%#?.txt")).value().key,
            "out/a b%#?.txt");
}

TEST(ValidateTransferConfigTest, AcceptsAGoodConfig) {
  TransferConfig c;
  c.input_roots = {"/data/in", "/"};
  c.output_roots = {"/data/out/"};
  c.http_allow_hosts = {"example.org", "example.org:8443", "127.0.0.1", "[::1]:8080"};
  c.s3 = S3Config{
      .endpoint = "https://minio.example:9000/", .access_key_id = "a", .secret_access_key = "b"};
  EXPECT_THAT(ValidateTransferConfig(c), IsOk());
}

TEST(ValidateTransferConfigTest, ReportsEveryProblem) {
  TransferConfig c;
  c.input_roots = {"relative"};
  c.output_roots = {"/a/../b"};
  c.http_allow_hosts = {"http://example.org", "host:0", "host:", ""};
  c.s3 = S3Config{.endpoint = "http://minio:9000/path", .region = "US East", .list_page_size = 0};
  c.max_input_bytes = 0;
  c.timeout = std::chrono::seconds(0);
  c.ca_bundle = "/nonexistent-safeflow/ca.pem";
  absl::Status s = ValidateTransferConfig(c);
  EXPECT_THAT(s, StatusIs(Code::kInvalidArgument));
  for (const char* part : {"input_roots[0]", "output_roots[0]", "http_allow_hosts[0]",
                           "http_allow_hosts[1]", "http_allow_hosts[2]", "http_allow_hosts[3]",
                           "s3.endpoint", "s3.region", "s3.access_key_id", "s3.secret_access_key",
                           "s3.list_page_size", "max_input_bytes", "timeout", "ca_bundle"}) {
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(part));
  }
}

}  // namespace
}  // namespace safeflow::executor::transfer
