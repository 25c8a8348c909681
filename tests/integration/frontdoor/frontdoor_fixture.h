// The TLS front door under test: a PKI made by deploy/tls/make-pki.sh, nginx run by
// deploy/lib/nginx.sh, an HTTPS client (libcurl) that can present client certificates, bind its
// source address and send any header, and a stub upstream that records what nginx forwards.
// All real processes and sockets on loopback.
#ifndef SAFEFLOW_TESTS_INTEGRATION_FRONTDOOR_FRONTDOOR_FIXTURE_H_
#define SAFEFLOW_TESTS_INTEGRATION_FRONTDOOR_FRONTDOOR_FIXTURE_H_

#include <map>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "tests/testing/http_client.h"
#include "tests/testing/loopback_server.h"

namespace safeflow::testing {

std::string ReadFile(const std::string& path);
void WriteFile(const std::string& path, const std::string& content);
bool FileExists(const std::string& path);

// Runs a deploy/ script with bash; `out` gets stdout+stderr. Returns the exit code.
int RunScript(const std::string& script, const std::vector<std::string>& args, std::string& out);
std::string MakePkiPath();
std::string NginxShPath();

// Why the front-door tests cannot run here (no nginx or openssl), or "".
std::string MissingTools();

// URL-encodes like nginx's $ssl_client_escaped_cert (any encoding decodes the same).
std::string UrlEscape(const std::string& s);
std::string UrlUnescape(const std::string& s);

// nginx in DIR via deploy/lib/nginx.sh; stopped (gracefully) by the destructor.
class NginxFrontDoor {
 public:
  NginxFrontDoor(std::string dir, std::string pki_dir, std::string upstream,
                 std::vector<std::string> extra_args = {});
  ~NginxFrontDoor();
  NginxFrontDoor(const NginxFrontDoor&) = delete;
  NginxFrontDoor& operator=(const NginxFrontDoor&) = delete;

  // Starts on a free port (retrying if another process takes it first). On failure `log()`
  // says why.
  bool Start();
  bool Reload();
  bool Stop();
  int port() const { return port_; }
  // https://localhost:PORT (the client resolves localhost to 127.0.0.1, so SNI is localhost).
  std::string url() const { return "https://localhost:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  std::string log() const;  // script output and nginx's error log

 private:
  const std::string dir_, pki_dir_, upstream_;
  const std::vector<std::string> extra_args_;
  int port_ = 0;
  bool running_ = false;
  std::string script_output_;
};

struct TlsRequest {
  std::string method = "GET";
  std::string body;
  std::vector<std::string> headers;  // "Name: value"
  bool chunked = false;              // send `body` with Transfer-Encoding: chunked
  bool expect_100 = false;           // send "Expect: 100-continue" (else curl sends none)
  std::string ca_file;               // trust anchor for the server certificate
  std::string cert_file, key_file;   // client certificate
  std::string source_address;        // bind the client socket (CURLOPT_INTERFACE)
  long ssl_version = 0;              // CURLOPT_SSLVERSION (CURL_SSLVERSION_* | MAX_*)
  std::string ciphers;               // CURLOPT_SSL_CIPHER_LIST
  long timeout_ms = 20000;
};

struct TlsResponse : HttpResult {
  double seconds = 0;
  std::vector<std::string> status_lines;  // every status line, including 1xx ones
  long new_connections = -1;              // CURLINFO_NUM_CONNECTS: 0 when one was reused
  long ssl_verify_result = -1;
};

// An HTTP/1.1 client for HTTPS and plain HTTP; one connection cache per instance (keep-alive).
// For "https://localhost:PORT/..." localhost is resolved to 127.0.0.1.
class TlsClient {
 public:
  TlsClient();
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;
  TlsResponse Do(const std::string& url, const TlsRequest& req);

 private:
  CURL* curl_;
};

inline TlsResponse TlsCall(const std::string& url, const TlsRequest& req) {
  TlsClient c;
  return c.Do(url, req);
}

// A plain-HTTP server on 127.0.0.1 (a LoopbackServer) that records each request and answers
// 200 {"stub":true}.
class StubUpstream {
 public:
  struct Seen {
    std::string peer_address;
    std::string request_line;
    std::multimap<std::string, std::string> headers;  // lower-case names
    std::size_t body_bytes = 0;
    std::size_t count(const std::string& name) const { return headers.count(name); }
    std::string get(const std::string& name) const {
      auto it = headers.find(name);
      return it == headers.end() ? "" : it->second;
    }
  };

  StubUpstream();
  StubUpstream(const StubUpstream&) = delete;
  StubUpstream& operator=(const StubUpstream&) = delete;
  int port() const { return server_.port(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(server_.port()); }
  std::vector<Seen> seen() const;
  void Close() { server_.Stop(); }  // stops accepting; the port refuses connections afterwards

 private:
  LoopbackServer server_;
};

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_INTEGRATION_FRONTDOOR_FRONTDOOR_FIXTURE_H_
