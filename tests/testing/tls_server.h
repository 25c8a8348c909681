// tests/testing/tls_server.h. `openssl s_server -WWW` serving a directory over TLS on
// 127.0.0.1, and a throwaway self-signed certificate for it. Needs /usr/bin/openssl.
#ifndef SAFEFLOW_TESTS_TESTING_TLS_SERVER_H_
#define SAFEFLOW_TESTS_TESTING_TLS_SERVER_H_

#include <string>
#include <sys/types.h>

namespace safeflow::testing {

// Writes a self-signed EC P-256 certificate for 127.0.0.1 (CN and subjectAltName IP), valid one
// day, to `cert` and its unencrypted key to `key`. False on failure, with openssl's output in
// `output`.
bool MakeLoopbackCertificate(const std::string& cert, const std::string& key, std::string& output);

// openssl s_server -WWW serving `dir` over TLS with `cert` and `key` on a free loopback port;
// killed and reaped by the destructor.
class TlsServer {
 public:
  TlsServer(const std::string& dir, const std::string& cert, const std::string& key);
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  // Waits up to 10 s for the port to accept connections.
  bool WaitReady() const;
  int port() const { return port_; }

 private:
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_TESTING_TLS_SERVER_H_
