// s3:// inputs and outputs against a real S3 server on loopback (s3rver, started by
// deploy/lib/test-s3.sh, endpoint in SAFEFLOW_TEST_S3_ENDPOINT). Credentials default to
// s3rver's S3RVER/S3RVER; SAFEFLOW_TEST_S3_ACCESS_KEY / SAFEFLOW_TEST_S3_SECRET_KEY override
// them for another server (MinIO). Every test uses a bucket of its own.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/transfer/http.h"
#include "executor/transfer/transfer.h"
#include "tests/integration/transfer/dir_listing.h"
#include "tests/testing/integration.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::executor::transfer {
namespace {

namespace fs = std::filesystem;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Code = absl::StatusCode;

std::string Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return (v == nullptr || *v == '\0') ? std::string(fallback) : std::string(v);
}

void WriteFile(const std::string& path, std::string_view content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using ::safeflow::testing::Entries;
using ::safeflow::testing::Tree;

class S3TransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string endpoint = Env("SAFEFLOW_TEST_S3_ENDPOINT", "");
    if (endpoint.empty()) {
      SAFEFLOW_SKIP_OR_FAIL(
          "SAFEFLOW_TEST_S3_ENDPOINT is not set (export \"$(deploy/lib/test-s3.sh start DIR)\")");
      return;
    }
    config_.s3 = S3Config{.endpoint = endpoint,
                          .access_key_id = Env("SAFEFLOW_TEST_S3_ACCESS_KEY", "S3RVER"),
                          .secret_access_key = Env("SAFEFLOW_TEST_S3_SECRET_KEY", "S3RVER")};
    config_.timeout = std::chrono::seconds(60);
    std::random_device rd;
    bucket_ = "sf-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000);
    ASSERT_THAT(CreateBucket(bucket_), IsOk());
    staging_ = tmp_.path() + "/staging";
    src_ = tmp_.path() + "/src";
  }

  // PUT /bucket, signed like every other request.
  absl::Status CreateBucket(const std::string& bucket) {
    const detail::Deadline deadline(std::chrono::seconds(30));
    detail::HttpRequest request{
        .url = config_.s3->endpoint + "/" + bucket,
        .method = "PUT",
        .headers = {"x-amz-content-sha256: "
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        .aws_sigv4 = "aws:amz:" + config_.s3->region + ":s3",
        .username = config_.s3->access_key_id,
        .password = config_.s3->secret_access_key,
        .body_limit = 1 << 20};
    std::string body;
    request.body_string = &body;
    absl::StatusOr<detail::HttpResponse> r =
        detail::PerformHttp(request, deadline, "create bucket");
    if (!r.ok()) return r.status();
    if (r->status != 200) return detail::HttpErrorStatus(r->status, "create bucket", r->error_body);
    return absl::OkStatus();
  }

  std::string Url(std::string_view key) const { return "s3://" + bucket_ + "/" + std::string(key); }

  // Uploads `content` as `key` through PutOutput.
  void Put(std::string_view key, std::string_view content) {
    const std::string path = src_ + "/upload";
    WriteFile(path, content);
    ASSERT_THAT(PutOutput(config_, path, Url(key)), IsOkAndHolds(content.size())) << key;
  }

  TempDir tmp_;
  TransferConfig config_;
  std::string bucket_, staging_, src_;
};

std::string RandomBytes(size_t n) {
  std::mt19937 gen(42);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

TEST_F(S3TransferTest, PutThenFetchIsByteIdentical) {
  const std::string content = RandomBytes(3 * 1024 * 1024 + 17);  // > 1 MiB: Expect: 100-continue
  WriteFile(src_ + "/result.bin", content);
  EXPECT_THAT(CheckOutputUrl(config_, Url("results/result.bin")), IsOk());
  EXPECT_THAT(PutOutput(config_, src_ + "/result.bin", Url("results/result.bin")),
              IsOkAndHolds(content.size()));
  const std::string dest = staging_ + "/in/result.bin";
  EXPECT_THAT(FetchInput(config_, Url("results/result.bin"), dest, false),
              IsOkAndHolds(content.size()));
  EXPECT_TRUE(ReadFile(dest) == content);
  EXPECT_THAT(Entries(staging_ + "/in"), ElementsAre("result.bin"));
}

TEST_F(S3TransferTest, EmptyObjectAndOddKeys) {
  Put("empty", "");
  EXPECT_THAT(FetchInput(config_, Url("empty"), staging_ + "/empty", false), IsOkAndHolds(0u));
  const std::string odd = "odd/with space & plus+ (1) r\xc3\xa9sum\xc3\xa9 \xe3\x83\x95.txt";
  Put(odd, "odd");
  EXPECT_THAT(FetchInput(config_, Url(odd), staging_ + "/odd", false), IsOkAndHolds(3u));
  EXPECT_EQ(ReadFile(staging_ + "/odd"), "odd");
}

TEST_F(S3TransferTest, DirectoryOfKeysIsFetched) {
  Put("dir/a.txt", "a");
  Put("dir/sub/b.txt", "bb");
  Put("dir/sub/deeper/c.bin", std::string("c\0c", 3));
  Put("dir/with space & amp.txt", "4444");
  Put("dir/unicod\xc3\xa9/\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab.txt", "55555");
  Put("dir/plus+sign=eq.txt", "666666");
  Put("dirx/not-included.txt", "no");
  Put("dir.txt", "no");
  const std::vector<std::string> expected = {
      "a.txt",
      "plus+sign=eq.txt",
      "sub/",
      "sub/b.txt",
      "sub/deeper/",
      "sub/deeper/c.bin",
      "unicod\xc3\xa9/",
      "unicod\xc3\xa9/\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab.txt",
      "with space & amp.txt"};
  for (const char* url_key : {"dir", "dir/"}) {
    const std::string dest = staging_ + "/" + std::to_string(std::strlen(url_key));
    EXPECT_THAT(FetchInput(config_, Url(url_key), dest, true),
                IsOkAndHolds(1u + 2u + 3u + 4u + 5u + 6u));
    EXPECT_EQ(Tree(dest), expected);
    EXPECT_EQ(ReadFile(dest + "/sub/deeper/c.bin"), std::string("c\0c", 3));
    EXPECT_EQ(ReadFile(dest + "/with space & amp.txt"), "4444");
  }
  // Pagination: two keys per ListObjectsV2 page.
  config_.s3->list_page_size = 2;
  EXPECT_THAT(FetchInput(config_, Url("dir"), staging_ + "/paged", true), IsOk());
  EXPECT_EQ(Tree(staging_ + "/paged"), expected);
  EXPECT_THAT(Entries(staging_), ElementsAre("3", "4", "paged"));
}

TEST_F(S3TransferTest, WholeBucketAsDirectory) {
  Put("x.txt", "x");
  Put("d/y.txt", "y");
  EXPECT_THAT(FetchInput(config_, "s3://" + bucket_, staging_ + "/all", true), IsOkAndHolds(2u));
  EXPECT_THAT(Tree(staging_ + "/all"), ElementsAre("d/", "d/y.txt", "x.txt"));
}

TEST_F(S3TransferTest, MissingThingsAreNotFound) {
  Put("present.txt", "p");
  EXPECT_THAT(FetchInput(config_, Url("absent.txt"), staging_ + "/a", false),
              StatusIs(Code::kNotFound));
  EXPECT_THAT(FetchInput(config_, Url("absent/"), staging_ + "/b", true),
              StatusIs(Code::kNotFound));
  EXPECT_THAT(FetchInput(config_, "s3://" + bucket_ + "-missing/x", staging_ + "/c", false),
              StatusIs(Code::kNotFound));
  EXPECT_THAT(Entries(staging_), IsEmpty());
}

TEST_F(S3TransferTest, SizeLimitIsResourceExhausted) {
  Put("big.bin", std::string(100, 'b'));
  Put("dir/one", std::string(30, '1'));
  Put("dir/two", std::string(30, '2'));
  config_.max_input_bytes = 50;
  EXPECT_THAT(FetchInput(config_, Url("big.bin"), staging_ + "/big", false),
              StatusIs(Code::kResourceExhausted));
  EXPECT_THAT(FetchInput(config_, Url("dir"), staging_ + "/dir", true),
              StatusIs(Code::kResourceExhausted));
  EXPECT_THAT(Entries(staging_), IsEmpty());
  config_.max_input_bytes = 100;
  EXPECT_THAT(FetchInput(config_, Url("big.bin"), staging_ + "/big", false), IsOkAndHolds(100u));
}

TEST_F(S3TransferTest, UnknownCredentialsAreRefused) {
  Put("k", "v");
  config_.s3->access_key_id = "NOT-A-KEY";
  EXPECT_THAT(FetchInput(config_, Url("k"), staging_ + "/k", false),
              StatusIs(Code::kPermissionDenied));
}

}  // namespace
}  // namespace safeflow::executor::transfer
