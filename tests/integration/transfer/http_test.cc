// http(s) inputs against real servers on loopback: the allow-list (checked before any
// connection), redirects, status mapping, size limit, timeout, and TLS verification against
// `openssl s_server` with a throwaway self-signed certificate.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/transfer/transfer.h"
#include "tests/testing/integration.h"
#include "tests/testing/loopback_server.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tls_server.h"

namespace safeflow::executor::transfer {
namespace {

using ::safeflow::testing::CannedResponse;
using ::safeflow::testing::CapturedRequest;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::IsOkAndHolds;
using ::safeflow::testing::LoopbackServer;
using ::safeflow::testing::MakeLoopbackCertificate;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::TempDir;
using ::safeflow::testing::TlsServer;
using Code = absl::StatusCode;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Only the destination, no temporary files, in `dir`.
std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

CannedResponse Serve(const CapturedRequest& req) {
  if (req.Path() == "/data.bin") return {.status = 200, .body = std::string("bin\0ary\n", 8)};
  if (req.Path() == "/moved") return {.status = 302, .headers = {{"Location", "/data.bin"}}};
  if (req.Path() == "/big") return {.status = 200, .body = std::string(1000, 'x')};
  if (req.Path() == "/forbidden") return {.status = 403, .body = "no"};
  if (req.Path() == "/broken") return {.status = 503, .body = "down"};
  return {.status = 404, .body = "not here"};
}

class HttpFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    config_.http_allow_hosts = {"127.0.0.1:" + std::to_string(server_.port())};
    staging_ = tmp_.path() + "/staging";
  }
  std::string Url(std::string_view path) const { return server_.url() + std::string(path); }

  LoopbackServer server_{Serve};
  TempDir tmp_;
  TransferConfig config_;
  std::string staging_;
};

TEST_F(HttpFetchTest, AllowListedHostIsFetched) {
  const std::string dest = staging_ + "/in/data.bin";
  EXPECT_THAT(FetchInput(config_, Url("/data.bin"), dest, false), IsOkAndHolds(8u));
  EXPECT_EQ(ReadFile(dest), std::string("bin\0ary\n", 8));
  struct stat st {};
  ASSERT_EQ(::stat(dest.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_THAT(Entries(staging_ + "/in"), ::testing::ElementsAre("data.bin"));
  ASSERT_EQ(server_.requests().size(), 1u);
  EXPECT_EQ(server_.requests()[0].method, "GET");
}

TEST_F(HttpFetchTest, HostNotAllowListedIsRefusedBeforeAnyConnection) {
  config_.http_allow_hosts = {"localhost:" + std::to_string(server_.port()), "127.0.0.1:1"};
  const std::string dest = staging_ + "/data.bin";
  EXPECT_THAT(CheckInputUrl(config_, Url("/data.bin")), StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(FetchInput(config_, Url("/data.bin"), dest, false),
              StatusIs(Code::kPermissionDenied));
  EXPECT_EQ(server_.connections(), 0);
  EXPECT_FALSE(Exists(staging_));
}

TEST_F(HttpFetchTest, RedirectToTheSameAllowListedHostIsFollowed) {
  const std::string dest = staging_ + "/data.bin";
  EXPECT_THAT(FetchInput(config_, Url("/moved"), dest, false), IsOkAndHolds(8u));
  EXPECT_EQ(ReadFile(dest), std::string("bin\0ary\n", 8));
  EXPECT_EQ(server_.requests().size(), 2u);
}

TEST_F(HttpFetchTest, RedirectToAHostNotAllowListedIsRefused) {
  LoopbackServer elsewhere(Serve);
  ASSERT_TRUE(elsewhere.ok());
  // "localhost" reaches the same loopback, but only 127.0.0.1:<port> is allow-listed.
  LoopbackServer redirector([&](const CapturedRequest&) {
    return CannedResponse{
        .status = 301,
        .headers = {
            {"Location", "http://localhost:" + std::to_string(elsewhere.port()) + "/data.bin"}}};
  });
  config_.http_allow_hosts.push_back("127.0.0.1:" + std::to_string(redirector.port()));
  const std::string dest = staging_ + "/data.bin";
  EXPECT_THAT(FetchInput(config_, redirector.url() + "/x", dest, false),
              StatusIs(Code::kPermissionDenied));
  EXPECT_EQ(redirector.connections(), 1);
  EXPECT_EQ(elsewhere.connections(), 0);
  EXPECT_FALSE(Exists(dest));
  EXPECT_THAT(Entries(staging_), ::testing::IsEmpty());
}

TEST_F(HttpFetchTest, RedirectToAnotherSchemeIsRefused) {
  LoopbackServer redirector([&](const CapturedRequest&) {
    return CannedResponse{.status = 302, .headers = {{"Location", "file:///etc/passwd"}}};
  });
  config_.http_allow_hosts.push_back("127.0.0.1");
  EXPECT_THAT(FetchInput(config_, redirector.url() + "/x", staging_ + "/d", false),
              StatusIs(Code::kPermissionDenied));
}

TEST_F(HttpFetchTest, RedirectLoopEnds) {
  LoopbackServer looper([&](const CapturedRequest&) {
    return CannedResponse{.status = 307, .headers = {{"Location", "/again"}}};
  });
  config_.http_allow_hosts.push_back("127.0.0.1");
  EXPECT_THAT(FetchInput(config_, looper.url() + "/x", staging_ + "/d", false),
              StatusIs(Code::kUnavailable));
  EXPECT_EQ(looper.connections(), 6);
}

TEST_F(HttpFetchTest, HttpStatusesMapToCodes) {
  EXPECT_THAT(FetchInput(config_, Url("/missing"), staging_ + "/a", false),
              StatusIs(Code::kNotFound));
  EXPECT_THAT(FetchInput(config_, Url("/forbidden"), staging_ + "/b", false),
              StatusIs(Code::kPermissionDenied));
  EXPECT_THAT(FetchInput(config_, Url("/broken"), staging_ + "/c", false),
              StatusIs(Code::kUnavailable));
  EXPECT_THAT(Entries(staging_), ::testing::IsEmpty());
}

TEST_F(HttpFetchTest, SizeLimitIsEnforced) {
  config_.max_input_bytes = 999;
  EXPECT_THAT(FetchInput(config_, Url("/big"), staging_ + "/big", false),
              StatusIs(Code::kResourceExhausted));
  EXPECT_THAT(Entries(staging_), ::testing::IsEmpty());
  config_.max_input_bytes = 1000;
  EXPECT_THAT(FetchInput(config_, Url("/big"), staging_ + "/big", false), IsOkAndHolds(1000u));
}

TEST_F(HttpFetchTest, TimeoutIsHonoured) {
  LoopbackServer silent;  // accepts, never answers
  ASSERT_TRUE(silent.ok());
  config_.http_allow_hosts = {"127.0.0.1"};
  config_.timeout = std::chrono::seconds(1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(FetchInput(config_, silent.url() + "/never", staging_ + "/never", false),
              StatusIs(Code::kDeadlineExceeded));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(900));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  EXPECT_EQ(silent.connections(), 1);
  EXPECT_THAT(Entries(staging_), ::testing::IsEmpty());
}

TEST(HttpsFetchTest, TlsIsVerified) {
  TempDir tmp;
  const std::string cert = tmp.path() + "/cert.pem";
  const std::string key = tmp.path() + "/key.pem";
  if (::access("/usr/bin/openssl", X_OK) != 0) {
    SAFEFLOW_SKIP_OR_FAIL("/usr/bin/openssl is missing");
    return;
  }
  std::string output;
  if (!MakeLoopbackCertificate(cert, key, output)) {
    SAFEFLOW_SKIP_OR_FAIL("openssl cannot make a test certificate: " + output);
    return;
  }
  const std::string www = tmp.path() + "/www";
  std::filesystem::create_directories(www);
  std::ofstream(www + "/hello.txt") << "over tls\n";
  TlsServer server(www, cert, key);
  if (!server.WaitReady()) {
    SAFEFLOW_SKIP_OR_FAIL("openssl s_server did not start");
    return;
  }
  TransferConfig config;
  config.http_allow_hosts = {"127.0.0.1"};
  config.timeout = std::chrono::seconds(20);
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/hello.txt";
  // The system store does not trust the throwaway certificate.
  EXPECT_THAT(FetchInput(config, url, tmp.path() + "/untrusted.txt", false),
              StatusIs(Code::kUnavailable));
  EXPECT_FALSE(Exists(tmp.path() + "/untrusted.txt"));
  config.ca_bundle = cert;
  absl::StatusOr<std::uint64_t> n = FetchInput(config, url, tmp.path() + "/trusted.txt", false);
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(ReadFile(tmp.path() + "/trusted.txt"), "over tls\n");
}

}  // namespace
}  // namespace safeflow::executor::transfer
