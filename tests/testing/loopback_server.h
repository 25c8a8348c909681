// tests/testing/loopback_server.h. A tiny HTTP/1.1 server on 127.0.0.1 (port 0) for tests:
// one thread, one request per connection, one connection at a time, "Connection: close". It
// records every request (peer, method, target, headers, body) and answers with what the handler
// returns, or never answers at all (to test timeouts). It answers "Expect: 100-continue". A
// body is Content-Length bytes, or with "Transfer-Encoding: chunked" the raw chunks up to and
// including the terminating one.
#ifndef SAFEFLOW_TESTS_TESTING_LOOPBACK_SERVER_H_
#define SAFEFLOW_TESTS_TESTING_LOOPBACK_SERVER_H_

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace safeflow::testing {

// A loopback TCP port that was free a moment ago (bound, read and released), or 0. For servers
// that cannot be told to listen on port 0; another process may take it in between.
int FreeLoopbackPort();

struct CapturedRequest {
  std::string peer_address;  // the client's IPv4 address: "127.0.0.1"
  std::string method;
  std::string target;                                        // as sent: "/bucket/key?x=1"
  std::string version;                                       // as sent: "HTTP/1.1"
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, in order
  std::string body;
  // The first header named `name` (case-insensitive), or "".
  std::string Header(std::string_view name) const;
  std::string Path() const { return target.substr(0, target.find('?')); }
  std::string Query() const {
    const size_t q = target.find('?');
    return q == std::string::npos ? std::string() : target.substr(q + 1);
  }
};

struct CannedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class LoopbackServer {
 public:
  using Handler = std::function<CannedResponse(const CapturedRequest&)>;
  // Serves with `handler`; without one, accepts connections and never answers.
  explicit LoopbackServer(Handler handler = nullptr);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  bool ok() const { return listen_fd_ >= 0; }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  std::vector<CapturedRequest> requests() const;
  // Stops serving and closes the listening socket: later connections are refused. Idempotent;
  // requests() still returns what was recorded.
  void Stop();

 private:
  void Run();
  void Serve(int fd, std::string peer_address);

  const Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_fd_ = -1;  // eventfd: tells the thread to stop
  std::atomic<int> connections_{0};
  std::vector<int> held_;  // connections never answered; owned by the thread
  mutable std::mutex mu_;
  std::vector<CapturedRequest> requests_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_TESTING_LOOPBACK_SERVER_H_
