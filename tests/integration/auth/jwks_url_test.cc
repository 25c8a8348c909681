// The URL JWKS source against real HTTP on loopback: caching for the TTL, one refresh on an
// unknown kid, rate-limited refreshes, the last good set kept when the server fails, concurrent
// refreshes collapsed into one, and TLS verification against `openssl s_server`.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <openssl/evp.h>

#include "service/auth/jwks.h"
#include "service/auth/jwt.h"
#include "tests/testing/integration.h"
#include "tests/testing/loopback_server.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_keys.h"
#include "tests/testing/tls_server.h"

namespace safeflow::service::auth {
namespace {

using ::safeflow::testing::CannedResponse;
using ::safeflow::testing::CapturedRequest;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::LoopbackServer;
using ::safeflow::testing::MakeLoopbackCertificate;
using ::safeflow::testing::NewKey;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::TempDir;
using ::safeflow::testing::TlsServer;
using ::testing::HasSubstr;
using Code = absl::StatusCode;
using json = nlohmann::json;

// Answers every request on loopback with the current status and JSON body; counts requests.
class JwksServer {
 public:
  JwksServer() = default;
  JwksServer(const JwksServer&) = delete;
  JwksServer& operator=(const JwksServer&) = delete;

  void Stop() { server_.Stop(); }
  bool ok() const { return server_.ok(); }
  std::string url() const { return server_.url() + "/jwks.json"; }
  int requests() const { return static_cast<int>(server_.requests().size()); }
  void Serve(int status, std::string body) {
    std::scoped_lock lock(mu_);
    status_ = status;
    body_ = std::move(body);
  }

 private:
  std::mutex mu_;
  int status_ = 200;  // guarded by mu_
  std::string body_;  // guarded by mu_
  LoopbackServer server_{[this](const CapturedRequest&) {
    std::scoped_lock lock(mu_);
    return CannedResponse{status_, {{"Content-Type", "application/json"}}, body_};
  }};
};

std::shared_ptr<EVP_PKEY> NewP256() { return NewKey("EC", "P-256"); }

std::string Jwks(const std::vector<std::pair<std::string, EVP_PKEY*>>& keys) {
  json list = json::array();
  for (const auto& [kid, key] : keys) {
    json j = PublicJwk(*key).value();
    j["kid"] = kid;
    list.push_back(j);
  }
  return json{{"keys", list}}.dump();
}

class UrlJwksSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    server_.Serve(200, Jwks({{"k1", k1_.get()}}));
    options_.url = server_.url();
    options_.allow_insecure_http = true;
    options_.timeout = std::chrono::seconds(5);
  }
  std::unique_ptr<JwksSource> Source() { return NewUrlJwksSource(options_); }

  JwksServer server_;
  JwksUrlOptions options_;
  std::shared_ptr<EVP_PKEY> k1_ = NewP256(), k2_ = NewP256();
};

TEST_F(UrlJwksSourceTest, FetchesLazilyAndCachesForTheTtl) {
  std::unique_ptr<JwksSource> source = Source();
  EXPECT_EQ(server_.requests(), 0);
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<Jwk> k = source->Find("k1", "ES256");
    ASSERT_THAT(k, IsOk());
    EXPECT_EQ(EVP_PKEY_eq(k->key.get(), k1_.get()), 1);
  }
  EXPECT_EQ(source->Find("", "ES256").value().kid, "k1");
  EXPECT_EQ(server_.requests(), 1);
}

TEST_F(UrlJwksSourceTest, RefetchesAfterTheTtl) {
  options_.ttl = std::chrono::seconds(1);
  options_.min_refresh_interval = std::chrono::seconds(3600);  // does not delay TTL refreshes
  std::unique_ptr<JwksSource> source = Source();
  ASSERT_THAT(source->Find("k1", "ES256"), IsOk());
  server_.Serve(200, Jwks({{"k2", k2_.get()}}));
  EXPECT_THAT(source->Find("k1", "ES256"), IsOk());  // still fresh
  EXPECT_EQ(server_.requests(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_THAT(source->Find("k2", "ES256"), IsOk());
  EXPECT_THAT(source->Find("k1", "ES256"), StatusIs(Code::kNotFound));
  EXPECT_EQ(server_.requests(), 2);
}

TEST_F(UrlJwksSourceTest, RefreshesOnceOnAnUnknownKid) {
  options_.min_refresh_interval = std::chrono::seconds(0);
  std::unique_ptr<JwksSource> source = Source();
  ASSERT_THAT(source->Find("k1", "ES256"), IsOk());
  EXPECT_EQ(server_.requests(), 1);
  server_.Serve(200, Jwks({{"k1", k1_.get()}, {"k2", k2_.get()}}));  // the issuer rotates
  absl::StatusOr<Jwk> k2 = source->Find("k2", "ES256");
  ASSERT_THAT(k2, IsOk());
  EXPECT_EQ(EVP_PKEY_eq(k2->key.get(), k2_.get()), 1);
  EXPECT_EQ(server_.requests(), 2);
  EXPECT_THAT(source->Find("k1", "ES256"), IsOk());
  EXPECT_EQ(server_.requests(), 2);
  // A kid nobody has: exactly one refresh per lookup, then NotFound.
  EXPECT_THAT(source->Find("k3", "ES256"), StatusIs(Code::kNotFound));
  EXPECT_EQ(server_.requests(), 3);
}

TEST_F(UrlJwksSourceTest, RateLimitsRefreshes) {
  options_.min_refresh_interval = std::chrono::seconds(1);
  std::unique_ptr<JwksSource> source = Source();
  ASSERT_THAT(source->Find("k1", "ES256"), IsOk());
  server_.Serve(200, Jwks({{"k1", k1_.get()}, {"k2", k2_.get()}}));
  // The initial fetch was less than a second ago: unknown kids do not hit the server.
  for (int i = 0; i < 10; ++i) {
    EXPECT_THAT(source->Find("unknown-" + std::to_string(i), "ES256"), StatusIs(Code::kNotFound));
  }
  EXPECT_THAT(source->Find("k2", "ES256"), StatusIs(Code::kNotFound));
  EXPECT_EQ(server_.requests(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_THAT(source->Find("k2", "ES256"), IsOk());
  EXPECT_EQ(server_.requests(), 2);
  for (int i = 0; i < 10; ++i) {
    EXPECT_THAT(source->Find("unknown-" + std::to_string(i), "ES256"), StatusIs(Code::kNotFound));
  }
  EXPECT_EQ(server_.requests(), 2);
}

TEST_F(UrlJwksSourceTest, KeepsTheLastGoodKeysWhenTheServerFails) {
  options_.min_refresh_interval = std::chrono::seconds(0);
  options_.ttl = std::chrono::seconds(1);
  std::unique_ptr<JwksSource> source = Source();
  ASSERT_THAT(source->Find("k1", "ES256"), IsOk());

  server_.Serve(503, "down");
  EXPECT_THAT(source->Find("k2", "ES256"), StatusIs(Code::kNotFound));  // refresh failed
  EXPECT_EQ(server_.requests(), 2);
  EXPECT_THAT(source->Find("k1", "ES256"), IsOk());

  server_.Serve(200, "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}");  // no usable key
  EXPECT_THAT(source->Find("k2", "ES256"), StatusIs(Code::kNotFound));
  EXPECT_THAT(source->Find("k1", "ES256"), IsOk());
  server_.Serve(200, "<html>oops</html>");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the TTL
  EXPECT_THAT(source->Find("k1", "ES256"), IsOk());
  const int before_stop = server_.requests();
  EXPECT_GT(before_stop, 3);

  server_.Stop();  // connection refused
  EXPECT_THAT(source->Find("k2", "ES256"), StatusIs(Code::kNotFound));
  absl::StatusOr<Jwk> k1 = source->Find("k1", "ES256");
  ASSERT_THAT(k1, IsOk());
  EXPECT_EQ(EVP_PKEY_eq(k1->key.get(), k1_.get()), 1);
}

TEST_F(UrlJwksSourceTest, NeverLoadedIsUnavailableAndRetriedAfterTheInterval) {
  options_.min_refresh_interval = std::chrono::seconds(1);
  server_.Serve(500, "boom");
  std::unique_ptr<JwksSource> source = Source();
  absl::StatusOr<Jwk> k = source->Find("k1", "ES256");
  ASSERT_THAT(k, StatusIs(Code::kUnavailable));
  EXPECT_THAT(k.status().message(), HasSubstr("HTTP 500"));
  EXPECT_THAT(source->Find("k1", "ES256"), StatusIs(Code::kUnavailable));
  EXPECT_EQ(server_.requests(), 1);  // no hammering a failing server

  // VerifyJwt reports an outage as Unavailable, not as a bad token.
  JwtPolicy policy;
  policy.issuer = "iss";
  policy.audiences = {"aud"};
  const std::string token =
      SignJwt({{"alg", "ES256"}, {"kid", "k1"}}, {{"sub", "x"}}, *k1_).value();
  EXPECT_THAT(VerifyJwt(token, policy, *source, std::chrono::system_clock::now()),
              StatusIs(Code::kUnavailable));

  server_.Serve(200, Jwks({{"k1", k1_.get()}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_THAT(source->Find("k1", "ES256"), IsOk());
  EXPECT_EQ(server_.requests(), 2);
}

TEST_F(UrlJwksSourceTest, ConcurrentLookupsOfANewKidShareOneRefresh) {
  options_.min_refresh_interval = std::chrono::seconds(0);
  std::unique_ptr<JwksSource> source = Source();
  ASSERT_THAT(source->Find("k1", "ES256"), IsOk());
  server_.Serve(200, Jwks({{"k1", k1_.get()}, {"k2", k2_.get()}}));
  std::vector<std::thread> threads;
  std::atomic<int> found{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (source->Find("k2", "ES256").ok()) ++found;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(found, 8);
  EXPECT_EQ(server_.requests(), 2);
}

TEST_F(UrlJwksSourceTest, PlainHttpNeedsTheOptIn) {
  options_.allow_insecure_http = false;
  EXPECT_THAT(Source()->Find("k1", "ES256"), StatusIs(Code::kInvalidArgument));
  EXPECT_EQ(server_.requests(), 0);
}

TEST(UrlJwksSourceTlsTest, CertificateIsVerified) {
  if (::access("/usr/bin/openssl", X_OK) != 0) {
    SAFEFLOW_SKIP_OR_FAIL("/usr/bin/openssl is missing");
    return;
  }
  TempDir tmp;
  const std::string cert = tmp.path() + "/cert.pem";
  const std::string key = tmp.path() + "/key.pem";
  std::string output;
  if (!MakeLoopbackCertificate(cert, key, output)) {
    SAFEFLOW_SKIP_OR_FAIL("openssl cannot make a test certificate: " + output);
    return;
  }
  const std::string www = tmp.path() + "/www";
  std::filesystem::create_directories(www);
  std::shared_ptr<EVP_PKEY> k1 = NewP256();
  std::ofstream(www + "/jwks.json") << Jwks({{"k1", k1.get()}});
  TlsServer server(www, cert, key);
  if (!server.WaitReady()) {
    SAFEFLOW_SKIP_OR_FAIL("openssl s_server did not start");
    return;
  }
  JwksUrlOptions options;
  options.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/jwks.json";
  options.timeout = std::chrono::seconds(10);
  // The system store does not trust the throwaway certificate.
  absl::StatusOr<Jwk> untrusted = NewUrlJwksSource(options)->Find("k1", "ES256");
  ASSERT_THAT(untrusted, StatusIs(Code::kUnavailable));
  options.ca_bundle = cert;
  absl::StatusOr<Jwk> trusted = NewUrlJwksSource(options)->Find("k1", "ES256");
  ASSERT_THAT(trusted, IsOk());
  EXPECT_EQ(EVP_PKEY_eq(trusted->key.get(), k1.get()), 1);
}

}  // namespace
}  // namespace safeflow::service::auth
