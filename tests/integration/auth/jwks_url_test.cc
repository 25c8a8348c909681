// The URL JWKS source against real HTTP on loopback: caching for the TTL, one refresh on an
// unknown kid, rate-limited refreshes, the last good set kept when the server fails, concurrent
// refreshes collapsed into one, and TLS verification against `openssl s_server`.
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include <openssl/evp.h>

#include "service/auth/jwks.h"
#include "service/auth/jwt.h"
#include "tests/testing/integration.h"
#include "tests/testing/process.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::service::auth {
namespace {

using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::safeflow::testing::TempDir;
using ::testing::HasSubstr;
using Code = absl::StatusCode;
using json = nlohmann::json;

// A tiny HTTP/1.0 server on 127.0.0.1:<port 0>: one thread, one request per connection,
// answers every request with the current status and body and counts requests.
class JwksServer {
 public:
  JwksServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~JwksServer() { Stop(); }
  JwksServer(const JwksServer&) = delete;
  JwksServer& operator=(const JwksServer&) = delete;

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  bool ok() const { return port_ != 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/jwks.json"; }
  int requests() const { return requests_; }
  void Serve(int status, std::string body) {
    std::scoped_lock lock(mu_);
    status_ = status;
    body_ = std::move(body);
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      Handle(c);
      ::close(c);
    }
  }
  void Handle(int c) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return;
      const ssize_t n = ::read(c, buf, sizeof(buf));
      if (n <= 0) return;
      request.append(buf, static_cast<size_t>(n));
    }
    ++requests_;
    int status;
    std::string body;
    {
      std::scoped_lock lock(mu_);
      status = status_;
      body = body_;
    }
    const std::string response =
        "HTTP/1.0 " + std::to_string(status) +
        " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    size_t done = 0;
    while (done < response.size()) {
      const ssize_t n = ::send(c, response.data() + done, response.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  int status_ = 200;  // guarded by mu_
  std::string body_;  // guarded by mu_
  std::thread thread_;
};

std::shared_ptr<EVP_PKEY> NewP256() {
  return std::shared_ptr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
                                   EVP_PKEY_free);
}

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

// openssl s_server -WWW serving a directory over TLS; killed and reaped by the destructor.
class TlsServer {
 public:
  TlsServer(const std::string& dir, const std::string& cert, const std::string& key) {
    const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    const bool bound = ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                       ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ::close(s);
    if (!bound) return;
    port_ = ntohs(addr.sin_port);
    const std::string accept = "127.0.0.1:" + std::to_string(port_);
    pid_ = ::fork();
    if (pid_ == 0) {
      if (::chdir(dir.c_str()) != 0) ::_exit(126);
      const int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      ::execl("/usr/bin/openssl", "openssl", "s_server", "-quiet", "-WWW", "-accept",
              accept.c_str(), "-cert", cert.c_str(), "-key", key.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~TlsServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  bool WaitReady() const {
    return pid_ > 0 && ::safeflow::testing::Eventually(
                           [&] {
                             const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                             sockaddr_in addr{};
                             addr.sin_family = AF_INET;
                             addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                             addr.sin_port = htons(static_cast<uint16_t>(port_));
                             const bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&addr),
                                                       sizeof(addr)) == 0;
                             ::close(s);
                             return ok;
                           },
                           std::chrono::seconds(10));
  }
  int port() const { return port_; }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST(UrlJwksSourceTlsTest, CertificateIsVerified) {
  if (::access("/usr/bin/openssl", X_OK) != 0) {
    SAFEFLOW_SKIP_OR_FAIL("/usr/bin/openssl is missing");
    return;
  }
  TempDir tmp;
  const std::string cert = tmp.path() + "/cert.pem";
  const std::string key = tmp.path() + "/key.pem";
  std::string output;
  const int rc = ::safeflow::testing::RunProgram(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
       "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert},
      output);
  if (rc != 0) {
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
