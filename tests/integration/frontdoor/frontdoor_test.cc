// The TLS front door as deployed: a PKI from deploy/tls/make-pki.sh, nginx from
// deploy/lib/nginx.sh (rendering deploy/nginx/safeflow.conf.template) in front of a real
// safeflowd, and HTTPS clients with and without client certificates.
//   FrontDoorTlsTest      what nginx alone guarantees (TLS versions, server certificate, client
//                         certificate rejection, revocation, JSON errors, 100-continue,
//                         keep-alive, /metrics): safeflowd runs without authentication settings.
//   FrontDoorHeadersTest  what nginx forwards, seen by a stub upstream: forged client headers
//                         are replaced, the source address is the proxy_bind address.
//   FrontDoorMtlsTest     end to end with safeflowd's auth.mode [mtls]: identities from
//                         certificates, and forged headers from untrusted addresses ignored.
#include <chrono>
#include <memory>
#include <signal.h>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/integration/frontdoor/frontdoor_fixture.h"
#include "tests/testing/integration.h"
#include "tests/testing/process.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;
using ::testing::AnyOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

// A PKI, a safeflowd with `safeflowd_yaml` and nginx in front of it; shared by a suite.
struct FrontDoorEnv {
  std::unique_ptr<TempDir> tmp;
  std::string pki;
  std::unique_ptr<SafeflowdProcess> safeflowd;
  std::string safeflowd_address;  // host:port
  std::unique_ptr<NginxFrontDoor> nginx;

  // Returns "" or what went wrong.
  std::string Start(const std::string& safeflowd_yaml_template,
                    const std::vector<std::string>& nginx_args = {}) {
    tmp = std::make_unique<TempDir>();
    pki = tmp->path() + "/pki";
    std::string out;
    if (RunScript(MakePkiPath(), {pki}, out) != 0) return "make-pki.sh failed:\n" + out;
    std::string yaml = safeflowd_yaml_template;
    for (const char* name : {"alice", "bob", "auditor"}) {
      const std::string key = absl::StrCat("@", name, "@");
      const std::string fp(
          absl::StripAsciiWhitespace(ReadFile(absl::StrCat(pki, "/clients/", name, ".sha256"))));
      for (size_t p = yaml.find(key); p != std::string::npos; p = yaml.find(key)) {
        yaml.replace(p, key.size(), fp);
      }
    }
    const std::string cfg = tmp->path() + "/safeflowd.yaml";
    WriteFile(cfg, yaml);
    safeflowd = std::make_unique<SafeflowdProcess>(tmp->path() + "/data",
                                                   std::vector<std::string>{"--config", cfg});
    if (!safeflowd->WaitReady()) return "safeflowd did not start:\n" + safeflowd->log();
    safeflowd_address = safeflowd->url().substr(std::string("http://").size());
    nginx = std::make_unique<NginxFrontDoor>(tmp->path() + "/nginx", pki, safeflowd_address,
                                             nginx_args);
    if (!nginx->Start()) return "nginx did not start:\n" + nginx->log();
    return "";
  }

  ~FrontDoorEnv() {
    nginx.reset();
    if (safeflowd) safeflowd->Stop(SIGTERM, std::chrono::seconds(20));
  }

  std::string Client(const std::string& name, const char* ext) const {
    return absl::StrCat(pki, "/clients/", name, ext);
  }
  TlsRequest As(const std::string& name) const {
    TlsRequest r;
    r.ca_file = pki + "/ca.pem";
    if (!name.empty()) {
      r.cert_file = Client(name, ".pem");
      r.key_file = Client(name, ".key");
    }
    return r;
  }
  TlsRequest Anonymous() const { return As(""); }
};

// CURLOPT_SSLVERSION: minimum | maximum (two different unnamed enums in curl.h).
long TlsVersions(long min, long max) { return min | max; }

json ParseOrNull(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? json() : j;
}

// nginx's own error bodies: {"msg": ..., "status_code": N} as application/json.
void ExpectJsonError(const TlsResponse& r, long status, const std::string& msg_part) {
  EXPECT_EQ(r.status, status) << r.error << r.body;
  EXPECT_THAT(r.headers.count("content-type") ? r.headers.at("content-type") : "",
              HasSubstr("application/json"));
  json j = ParseOrNull(r.body);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j.value("status_code", 0), status) << r.body;
  EXPECT_THAT(j.value("msg", ""), HasSubstr(msg_part)) << r.body;
}

// =============================================================================================
// nginx alone.

constexpr char kPlainSafeflowdYaml[] = "log:\n  level: info\n";

class FrontDoorTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!MissingTools().empty()) return;
    env_ = std::make_unique<FrontDoorEnv>();
    error_ = env_->Start(kPlainSafeflowdYaml, {"--max-body", "4m"});
  }
  static void TearDownTestSuite() { env_.reset(); }
  void SetUp() override {
    if (const std::string why = MissingTools(); !why.empty()) SAFEFLOW_SKIP_OR_FAIL(why);
    ASSERT_TRUE(error_.empty()) << error_;
  }
  FrontDoorEnv& env() { return *env_; }
  std::string Url(const std::string& path) { return env_->nginx->url() + path; }

  static std::unique_ptr<FrontDoorEnv> env_;  // shared by the suite's tests
  static std::string error_;                  // why env_ did not start
};
std::unique_ptr<FrontDoorEnv> FrontDoorTlsTest::env_;
std::string FrontDoorTlsTest::error_;

TEST_F(FrontDoorTlsTest, ServerCertificateVerifiesAgainstTheCaWithSniLocalhost) {
  TlsResponse r = TlsCall(Url("/healthz"), env().Anonymous());
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  EXPECT_EQ(r.ssl_verify_result, 0);
  EXPECT_EQ(ParseOrNull(r.body).value("status", ""), "alive") << r.body;

  // The IP SAN works as well.
  TlsResponse ip = TlsCall("https://127.0.0.1:" + std::to_string(env().nginx->port()) + "/healthz",
                           env().Anonymous());
  EXPECT_EQ(ip.status, 200) << ip.error;

  // Another CA does not vouch for the server.
  TempDir other;
  std::string out;
  ASSERT_EQ(RunScript(MakePkiPath(), {other.path(), "--clients", ""}, out), 0) << out;
  TlsRequest wrong = env().Anonymous();
  wrong.ca_file = other.path() + "/ca.pem";
  TlsResponse bad = TlsCall(Url("/healthz"), wrong);
  EXPECT_EQ(bad.status, 0);
  EXPECT_THAT(bad.error, HasSubstr("certificate")) << bad.error;
}

TEST_F(FrontDoorTlsTest, Tls11IsRefusedWhileTls12And13AreAccepted) {
  TlsRequest v11 = env().Anonymous();
  v11.ssl_version = TlsVersions(CURL_SSLVERSION_TLSv1_1, CURL_SSLVERSION_MAX_TLSv1_1);
  v11.ciphers = "DEFAULT:@SECLEVEL=0";  // else OpenSSL 3 itself would not offer TLS 1.1
  TlsResponse r = TlsCall(Url("/healthz"), v11);
  EXPECT_EQ(r.status, 0) << r.body;
  // The server's alert, not a client-side refusal.
  EXPECT_THAT(r.error, HasSubstr("alert protocol version")) << r.error;

  TlsRequest v12 = env().Anonymous();
  v12.ssl_version = TlsVersions(CURL_SSLVERSION_TLSv1_2, CURL_SSLVERSION_MAX_TLSv1_2);
  EXPECT_EQ(TlsCall(Url("/healthz"), v12).status, 200);
  TlsRequest v13 = env().Anonymous();
  v13.ssl_version = TlsVersions(CURL_SSLVERSION_TLSv1_3, CURL_SSLVERSION_MAX_TLSv1_3);
  EXPECT_EQ(TlsCall(Url("/healthz"), v13).status, 200);
}

TEST_F(FrontDoorTlsTest, HealthzIsServedAndMetricsIsDeniedOutside) {
  TlsResponse h = TlsCall(Url("/healthz"), env().Anonymous());
  EXPECT_EQ(h.status, 200) << h.error;
  EXPECT_THAT(h.headers["strict-transport-security"], HasSubstr("max-age="));
  EXPECT_EQ(h.headers["x-content-type-options"], "nosniff");
  EXPECT_THAT(h.headers["x-request-id"], MatchesRegex("[0-9a-f]{32}"));

  for (const char* path :
       {"/metrics", "/%6Detrics", "//metrics", "/metrics/", "/metrics?x=1", "/./metrics"}) {
    SCOPED_TRACE(path);
    TlsResponse m = TlsCall(Url(path), env().Anonymous());
    ExpectJsonError(m, 403, "forbidden");
    EXPECT_THAT(m.body, Not(HasSubstr("safeflow_http")));
    EXPECT_THAT(m.headers["strict-transport-security"], HasSubstr("max-age="));
  }
  // Still available to a scraper on loopback, straight from safeflowd.
  TlsResponse direct = TlsCall(env().safeflowd->url() + "/metrics", TlsRequest{});
  EXPECT_EQ(direct.status, 200) << direct.error;
}

TEST_F(FrontDoorTlsTest, ClientCertificateFromAnUntrustedCaIsRejectedByNginx) {
  TempDir other;
  std::string out;
  ASSERT_EQ(RunScript(MakePkiPath(), {other.path(), "--clients", "alice"}, out), 0) << out;
  TlsRequest r = env().Anonymous();
  r.cert_file = other.path() + "/clients/alice.pem";  // same name, other CA
  r.key_file = other.path() + "/clients/alice.key";
  TlsResponse resp = TlsCall(Url("/healthz"), r);
  ExpectJsonError(resp, 400, "SSL certificate error");
  EXPECT_THAT(resp.body, HasSubstr("verify"));
}

TEST_F(FrontDoorTlsTest, ExpiredClientCertificateIsRejectedByNginx) {
  std::string out;
  ASSERT_EQ(RunScript(MakePkiPath(),
                      {"client", env().pki, "expired", "--startdate", "20200101000000Z",
                       "--enddate", "20200102000000Z"},
                      out),
            0)
      << out;
  TlsResponse r = TlsCall(Url("/healthz"), env().As("expired"));
  ExpectJsonError(r, 400, "certificate has expired");
}

TEST_F(FrontDoorTlsTest, RevokedClientCertificateIsRejectedAfterReload) {
  // Its own PKI and nginx: revoking must not disturb the other tests.
  TempDir tmp;
  const std::string pki = tmp.path() + "/pki";
  std::string out;
  ASSERT_EQ(RunScript(MakePkiPath(), {pki, "--clients", "alice bob"}, out), 0) << out;
  NginxFrontDoor nginx(tmp.path() + "/nginx", pki, env().safeflowd_address);
  ASSERT_TRUE(nginx.Start()) << nginx.log();
  auto as = [&](const std::string& name) {
    TlsRequest r;
    r.ca_file = pki + "/ca.pem";
    r.cert_file = pki + "/clients/" + name + ".pem";
    r.key_file = pki + "/clients/" + name + ".key";
    return TlsCall(nginx.url() + "/healthz", r);
  };
  TlsResponse before = as("bob");
  EXPECT_EQ(before.status, 200) << before.error << before.body;

  ASSERT_EQ(RunScript(MakePkiPath(), {"revoke", pki, "bob"}, out), 0) << out;
  // nginx reads the CRL at (re)load only.
  EXPECT_EQ(as("bob").status, 200);
  ASSERT_TRUE(nginx.Reload()) << nginx.log();
  TlsResponse after = as("bob");
  ExpectJsonError(after, 400, "certificate revoked");
  TlsResponse alice = as("alice");
  EXPECT_EQ(alice.status, 200) << alice.body;
  // Idempotent: revoking again keeps it revoked.
  ASSERT_EQ(RunScript(MakePkiPath(), {"revoke", pki, "bob"}, out), 0) << out;
  EXPECT_THAT(out, HasSubstr("already revoked"));
  EXPECT_TRUE(nginx.Stop()) << nginx.log();
}

TEST_F(FrontDoorTlsTest, KeepAliveAndExpect100ContinueOnA2MiBPostAnswerWithoutDelay) {
  TlsClient client;
  TlsResponse first = client.Do(Url("/healthz"), env().Anonymous());
  ASSERT_EQ(first.status, 200) << first.error;
  EXPECT_EQ(first.new_connections, 1);

  TlsRequest post = env().Anonymous();
  post.method = "POST";
  post.expect_100 = true;
  post.headers = {"Content-Type: application/json"};
  post.body = R"({"name": ")" + std::string(2 * 1024 * 1024, 'x') + R"(", "executors": []})";
  TlsResponse r = client.Do(Url("/ga4gh/tes/v1/tasks"), post);
  ASSERT_GT(r.status, 0) << r.error;
  EXPECT_THAT(r.status_lines, Contains(HasSubstr(" 100"))) << "nginx answers 100 Continue";
  EXPECT_TRUE(ParseOrNull(r.body).is_object()) << r.status << " " << r.body.substr(0, 300);
  EXPECT_LT(r.seconds, 1.0) << "curl waited for a 100 Continue that never came";
  EXPECT_EQ(r.new_connections, 0) << "the connection was not kept alive";

  TlsResponse third = client.Do(Url("/healthz"), env().Anonymous());
  EXPECT_EQ(third.status, 200);
  EXPECT_EQ(third.new_connections, 0);
}

TEST_F(FrontDoorTlsTest, OversizedBodyGets413JsonBeforeItIsSent) {
  TlsRequest post = env().Anonymous();
  post.method = "POST";
  post.expect_100 = true;
  post.body = std::string(5 * 1024 * 1024, 'x');  // --max-body 4m
  TlsResponse r = TlsCall(Url("/ga4gh/tes/v1/tasks"), post);
  ExpectJsonError(r, 413, "too large");
  EXPECT_LT(r.seconds, 1.0);
}

TEST_F(FrontDoorTlsTest, PlainHttpToTheTlsPortGets400Json) {
  TlsResponse r =
      TlsCall("http://127.0.0.1:" + std::to_string(env().nginx->port()) + "/healthz", TlsRequest{});
  ExpectJsonError(r, 400, "plain HTTP");
}

TEST_F(FrontDoorTlsTest, UnreachableSafeflowdGives502Json) {
  TempDir tmp;
  NginxFrontDoor nginx(tmp.path() + "/nginx", env().pki,
                       "127.0.0.1:" + std::to_string(FreeLoopbackPort()));
  ASSERT_TRUE(nginx.Start()) << nginx.log();
  TlsResponse r = TlsCall(nginx.url() + "/ga4gh/tes/v1/service-info", env().Anonymous());
  ExpectJsonError(r, 502, "not reachable");
  EXPECT_TRUE(nginx.Stop()) << nginx.log();
}

// =============================================================================================
// What nginx forwards.

class FrontDoorHeadersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = MissingTools(); !why.empty()) SAFEFLOW_SKIP_OR_FAIL(why);
    pki_ = tmp_.path() + "/pki";
    std::string out;
    ASSERT_EQ(RunScript(MakePkiPath(), {pki_, "--clients", "alice"}, out), 0) << out;
    ASSERT_GT(stub_.port(), 0);
    // A source address other than the default one shows that proxy_bind is applied.
    nginx_ =
        std::make_unique<NginxFrontDoor>(tmp_.path() + "/nginx", pki_, stub_.address(),
                                         std::vector<std::string>{"--proxy-bind", "127.0.0.3"});
    ASSERT_TRUE(nginx_->Start()) << nginx_->log();
  }

  TlsRequest Request(bool with_cert) {
    TlsRequest r;
    r.ca_file = pki_ + "/ca.pem";
    if (with_cert) {
      r.cert_file = pki_ + "/clients/alice.pem";
      r.key_file = pki_ + "/clients/alice.key";
    }
    return r;
  }

  std::vector<std::string> Forged() {
    return {"X-SSL-Client-Verify: SUCCESS",
            "X-SSL-Client-Cert: " + UrlEscape(ReadFile(pki_ + "/clients/alice.pem")),
            "X-SSL-Client-S-DN: CN=admin,O=SafeFlow",
            "X-Forwarded-For: 10.9.8.7",
            "X-Forwarded-Proto: http",
            "X-Request-Id: chosen-by-client",
            "X_SSL_Client_Verify: SUCCESS",
            "Forwarded: for=10.9.8.7;proto=https",
            "X-Real-IP: 10.9.8.7"};
  }

  TempDir tmp_;
  std::string pki_;
  StubUpstream stub_;
  std::unique_ptr<NginxFrontDoor> nginx_;
};

TEST_F(FrontDoorHeadersTest, ForgedClientHeadersAreReplacedWhenNoCertificateIsPresented) {
  TlsRequest r = Request(false);
  r.headers = Forged();
  TlsResponse resp = TlsCall(nginx_->url() + "/auth/v1/whoami", r);
  ASSERT_EQ(resp.status, 200) << resp.error << resp.body << nginx_->log();
  std::vector<StubUpstream::Seen> seen = stub_.seen();
  ASSERT_EQ(seen.size(), 1u);
  const StubUpstream::Seen& s = seen[0];
  EXPECT_EQ(s.peer_address, "127.0.0.3");
  EXPECT_EQ(s.request_line, "GET /auth/v1/whoami HTTP/1.1");
  EXPECT_EQ(s.count("x-ssl-client-verify"), 1u);
  EXPECT_EQ(s.get("x-ssl-client-verify"), "NONE");
  EXPECT_EQ(s.count("x-ssl-client-cert"), 0u);
  EXPECT_EQ(s.count("x-ssl-client-s-dn"), 0u);
  EXPECT_EQ(s.count("x_ssl_client_verify"), 0u);
  EXPECT_EQ(s.count("forwarded"), 0u);
  EXPECT_EQ(s.count("x-forwarded-for"), 1u);
  EXPECT_EQ(s.get("x-forwarded-for"), "127.0.0.1");
  EXPECT_EQ(s.get("x-real-ip"), "127.0.0.1");
  EXPECT_EQ(s.count("x-forwarded-proto"), 1u);
  EXPECT_EQ(s.get("x-forwarded-proto"), "https");
  EXPECT_EQ(s.count("x-request-id"), 1u);
  EXPECT_THAT(s.get("x-request-id"), MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(s.get("x-request-id"), resp.headers["x-request-id"]);
  EXPECT_EQ(s.get("connection"), "keep-alive");
}

TEST_F(FrontDoorHeadersTest, AVerifiedCertificateIsForwardedInsteadOfForgedHeaders) {
  TlsRequest r = Request(true);
  r.headers = Forged();
  TlsResponse resp = TlsCall(nginx_->url() + "/auth/v1/whoami", r);
  ASSERT_EQ(resp.status, 200) << resp.error << resp.body << nginx_->log();
  std::vector<StubUpstream::Seen> seen = stub_.seen();
  ASSERT_EQ(seen.size(), 1u);
  const StubUpstream::Seen& s = seen[0];
  EXPECT_EQ(s.count("x-ssl-client-verify"), 1u);
  EXPECT_EQ(s.get("x-ssl-client-verify"), "SUCCESS");
  EXPECT_EQ(s.count("x-ssl-client-s-dn"), 1u);
  EXPECT_EQ(s.get("x-ssl-client-s-dn"), "CN=alice,O=SafeFlow");
  ASSERT_EQ(s.count("x-ssl-client-cert"), 1u);
  // URL-encoded PEM of exactly the presented certificate.
  EXPECT_THAT(s.get("x-ssl-client-cert"), HasSubstr("-----BEGIN%20CERTIFICATE-----"));
  EXPECT_EQ(absl::StripAsciiWhitespace(UrlUnescape(s.get("x-ssl-client-cert"))),
            absl::StripAsciiWhitespace(ReadFile(pki_ + "/clients/alice.pem")));
}

TEST_F(FrontDoorHeadersTest, ChunkedAndExpectUploadsReachTheUpstreamWithContentLength) {
  TlsRequest r = Request(false);
  r.method = "POST";
  r.chunked = true;
  r.expect_100 = true;
  r.body = std::string(3 * 1024 * 1024 + 17, 'y');
  TlsResponse resp = TlsCall(nginx_->url() + "/ga4gh/tes/v1/tasks", r);
  ASSERT_EQ(resp.status, 200) << resp.error << resp.body << nginx_->log();
  EXPECT_LT(resp.seconds, 1.0);
  std::vector<StubUpstream::Seen> seen = stub_.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].count("transfer-encoding"), 0u);
  EXPECT_EQ(seen[0].count("expect"), 0u);
  EXPECT_EQ(seen[0].get("content-length"), std::to_string(r.body.size()));
  EXPECT_EQ(seen[0].body_bytes, r.body.size());
}

TEST_F(FrontDoorHeadersTest, RejectedCertificatesNeverReachTheUpstream) {
  TempDir other;
  std::string out;
  ASSERT_EQ(RunScript(MakePkiPath(), {other.path(), "--clients", "alice"}, out), 0) << out;
  TlsRequest r = Request(false);
  r.cert_file = other.path() + "/clients/alice.pem";
  r.key_file = other.path() + "/clients/alice.key";
  r.headers = Forged();
  ExpectJsonError(TlsCall(nginx_->url() + "/auth/v1/whoami", r), 400, "SSL certificate error");
  EXPECT_TRUE(stub_.seen().empty());
}

// =============================================================================================
// End to end with safeflowd's certificate authentication. Needs the server side of
// auth.mode [mtls] (service/auth/) and GET /auth/v1/whoami.

constexpr char kMtlsSafeflowdYaml[] = R"(auth:
  mode: [mtls]
  mtls:
    trusted_proxies: [127.0.0.1]
    identities:
      - fingerprint_sha256: "@alice@"
        subject: alice
        roles: [researcher]
        projects: [p1]
        read_only: false
      - fingerprint_sha256: "@bob@"
        subject: bob
        roles: [researcher, auditor]
        projects: [p1, p2]
        read_only: true
)";

class FrontDoorMtlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!MissingTools().empty()) return;
    env_ = std::make_unique<FrontDoorEnv>();
    error_ = env_->Start(kMtlsSafeflowdYaml);
  }
  static void TearDownTestSuite() { env_.reset(); }
  void SetUp() override {
    if (const std::string why = MissingTools(); !why.empty()) SAFEFLOW_SKIP_OR_FAIL(why);
    ASSERT_TRUE(error_.empty()) << error_;
  }
  FrontDoorEnv& env() { return *env_; }
  std::string Url(const std::string& path) { return env_->nginx->url() + path; }
  std::string Direct(const std::string& path) { return env_->safeflowd->url() + path; }

  // Headers as nginx would set them for `name`'s verified certificate.
  std::vector<std::string> ForgedFor(const std::string& name) {
    return {"X-SSL-Client-Verify: SUCCESS",
            "X-SSL-Client-Cert: " + UrlEscape(ReadFile(env().Client(name, ".pem"))),
            "X-SSL-Client-S-DN: CN=" + name + ",O=SafeFlow", "X-Forwarded-For: 127.0.0.1",
            "X-Forwarded-Proto: https"};
  }

  static void ExpectUnauthenticated(const TlsResponse& r) {
    EXPECT_EQ(r.status, 401) << r.error << r.body;
    json j = ParseOrNull(r.body);
    EXPECT_EQ(j.value("status_code", 0), 401) << r.body;
    EXPECT_TRUE(j.contains("msg")) << r.body;
  }

  static std::unique_ptr<FrontDoorEnv> env_;  // shared by the suite's tests
  static std::string error_;                  // why env_ did not start
};
std::unique_ptr<FrontDoorEnv> FrontDoorMtlsTest::env_;
std::string FrontDoorMtlsTest::error_;

TEST_F(FrontDoorMtlsTest, AKnownVerifiedCertificateIsTheCallersIdentity) {
  TlsResponse r = TlsCall(Url("/auth/v1/whoami"), env().As("alice"));
  ASSERT_EQ(r.status, 200) << r.error << r.body;
  json j = ParseOrNull(r.body);
  EXPECT_EQ(j.value("subject", ""), "alice") << r.body;
  EXPECT_EQ(j.value("auth_method", ""), "mtls") << r.body;
  EXPECT_EQ(j["roles"], json({"researcher"})) << r.body;
  EXPECT_EQ(j["projects"], json({"p1"})) << r.body;
  EXPECT_EQ(j["read_only"], false) << r.body;

  TlsResponse b = TlsCall(Url("/auth/v1/whoami"), env().As("bob"));
  ASSERT_EQ(b.status, 200) << b.error << b.body;
  json jb = ParseOrNull(b.body);
  EXPECT_EQ(jb.value("subject", ""), "bob") << b.body;
  EXPECT_EQ(jb["read_only"], true) << b.body;
}

TEST_F(FrontDoorMtlsTest, NoCertificateGets401FromSafeflowdThroughNginx) {
  TlsResponse r = TlsCall(Url("/auth/v1/whoami"), env().Anonymous());
  ExpectUnauthenticated(r);
  EXPECT_THAT(r.body, Not(HasSubstr("client certificate is required")));  // not nginx's 496
}

TEST_F(FrontDoorMtlsTest, AVerifiedButUnknownCertificateIsNotAuthenticated) {
  TlsResponse r = TlsCall(Url("/auth/v1/whoami"), env().As("auditor"));
  EXPECT_THAT(r.status, AnyOf(401, 403)) << r.error << r.body;
  EXPECT_NE(ParseOrNull(r.body).value("subject", ""), "auditor");
}

TEST_F(FrontDoorMtlsTest, HealthzNeedsNoAuthentication) {
  TlsResponse r = TlsCall(Url("/healthz"), env().Anonymous());
  EXPECT_EQ(r.status, 200) << r.error << r.body;
}

TEST_F(FrontDoorMtlsTest, ForgedHeadersStraightFromAnUntrustedAddressAreIgnored) {
  TlsRequest r;
  r.source_address = "127.0.0.2";  // not in trusted_proxies
  r.headers = ForgedFor("alice");
  ExpectUnauthenticated(TlsCall(Direct("/auth/v1/whoami"), r));
}

// The control for the test above: the same headers from the proxy's address are believed, so
// the 401 there comes from the source address alone.
TEST_F(FrontDoorMtlsTest, TheSameHeadersFromTheTrustedProxyAddressAreBelieved) {
  TlsRequest r;
  r.source_address = "127.0.0.1";
  r.headers = ForgedFor("alice");
  TlsResponse resp = TlsCall(Direct("/auth/v1/whoami"), r);
  ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(ParseOrNull(resp.body).value("subject", ""), "alice") << resp.body;
}

TEST_F(FrontDoorMtlsTest, ForgedHeadersThroughNginxWithoutACertificateAreIgnored) {
  TlsRequest r = env().Anonymous();
  r.headers = ForgedFor("alice");
  ExpectUnauthenticated(TlsCall(Url("/auth/v1/whoami"), r));
}

TEST_F(FrontDoorMtlsTest, ForgedHeadersBesideARealCertificateDoNotChangeTheIdentity) {
  TlsRequest r = env().As("bob");
  r.headers = ForgedFor("alice");
  TlsResponse resp = TlsCall(Url("/auth/v1/whoami"), r);
  ASSERT_EQ(resp.status, 200) << resp.error << resp.body;
  EXPECT_EQ(ParseOrNull(resp.body).value("subject", ""), "bob") << resp.body;
}

}  // namespace
}  // namespace safeflow::testing

namespace safeflow::testing {
namespace {

// bob's certificate identity is read-only (kept server-side): he may read, never write.
TEST_F(FrontDoorMtlsTest, AReadOnlyCertificateIdentityMayReadButNotWrite) {
  TlsRequest read = env().As("bob");
  TlsResponse list = TlsCall(Url("/ga4gh/tes/v1/tasks"), read);
  EXPECT_EQ(list.status, 200) << list.error << list.body;
  TlsRequest write = env().As("bob");
  write.method = "POST";
  write.headers.push_back("Content-Type: application/json");
  write.body = R"({"executors":[{"image":"ubuntu","command":["true"]}],"tags":{"project":"p1"}})";
  TlsResponse created = TlsCall(Url("/ga4gh/tes/v1/tasks"), write);
  EXPECT_EQ(created.status, 403) << created.error << created.body;
  EXPECT_THAT(created.body, ::testing::HasSubstr("read-only"));
}

}  // namespace
}  // namespace safeflow::testing
