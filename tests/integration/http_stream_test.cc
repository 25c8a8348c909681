// HttpServer's streamed responses (HttpResponse::stream) over real HTTP on loopback: the whole
// body with its Content-Length; a producer that fails or writes too little or too much cuts the
// connection so that the client never takes a short body for a complete one; a client that
// stops reading holds the producer back (backpressure) and is cut off after
// server.stream_stall_seconds, freeing the handler thread.
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "executor/sandbox/unique_fd.h"
#include "service/api/http_server.h"
#include "service/api/metrics.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

using service::Access;
using service::BodyWriter;
using service::HttpRequest;
using service::HttpResponse;
using service::HttpServer;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr std::size_t kPiece = 64 * 1024;

char PatternAt(std::uint64_t i) { return static_cast<char>('a' + i % 23); }

class HttpStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(/*stall_seconds=*/2, /*grace_seconds=*/10); }

  void StartServer(int stall_seconds, int grace_seconds) {
    if (server_) server_->Shutdown();
    service::ServerConfig c;
    c.listen = "127.0.0.1:0";
    c.io_threads = 1;
    c.handler_threads = 2;
    c.stream_stall_seconds = stall_seconds;
    c.shutdown_grace_seconds = grace_seconds;
    server_ = std::make_unique<HttpServer>(c, metrics_);
    // /bytes/{n}: n bytes of a pattern. /fails: half of what it announces, then an error.
    // /short: announces 1000 bytes, writes 10 and claims success. /long: announces 10, writes 20.
    auto bytes = [this](HttpRequest& req) {
      const std::uint64_t n = std::stoull(req.path_params.at("n"));
      return Streamed(n, n, absl::OkStatus());
    };
    auto fails = [this](HttpRequest&) {
      return Streamed(1 << 20, 1 << 19, absl::DataLossError("the file changed"));
    };
    auto short_body = [this](HttpRequest&) { return Streamed(1000, 10, absl::OkStatus()); };
    auto long_body = [this](HttpRequest&) { return Streamed(10, 20, absl::OkStatus()); };
    ASSERT_THAT(server_->HandleAll({{"GET", "/bytes/{n}", bytes, Access::Public()},
                                    {"GET", "/fails", fails, Access::Public()},
                                    {"GET", "/short", short_body, Access::Public()},
                                    {"GET", "/long", long_body, Access::Public()}}),
                IsOk());
    ASSERT_THAT(server_->Start(), IsOk());
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }
  void TearDown() override { server_->Shutdown(); }

  // A response announcing `announced` bytes whose producer writes `written` bytes of the
  // pattern, then returns `end` (or the first Write error). Records what it did.
  HttpResponse Streamed(std::uint64_t announced, std::uint64_t written, absl::Status end) {
    HttpResponse r;
    r.content_type = "application/octet-stream";
    r.headers.push_back({"X-Test", "streamed"});
    r.headers.push_back({"X-Bad", "a\r\nInjected: yes"});
    r.stream_bytes = announced;
    r.stream = [this, written, end](BodyWriter& out) {
      std::string piece(kPiece, '\0');
      std::uint64_t done = 0;
      absl::Status s = absl::OkStatus();
      while (done < written && s.ok()) {
        const std::size_t k =
            static_cast<std::size_t>(std::min<std::uint64_t>(kPiece, written - done));
        for (std::size_t i = 0; i < k; ++i) piece[i] = PatternAt(done + i);
        s = out.Write(std::string_view(piece.data(), k));
        if (s.ok()) done += k;
        produced_.store(done);
      }
      if (s.ok()) s = end;
      std::lock_guard<std::mutex> lock(mu_);
      ended_ = s;
      return s;
    };
    return r;
  }

  // The producer's last outcome, waiting up to `limit` for it.
  std::optional<absl::Status> WaitForEnd(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (ended_) return ended_;
      }
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }

  service::Metrics metrics_;
  std::unique_ptr<HttpServer> server_;
  std::string url_;
  std::atomic<std::uint64_t> produced_{0};
  std::mutex mu_;
  std::optional<absl::Status> ended_;  // guarded by mu_
};

TEST_F(HttpStreamTest, WholeBodyArrivesWithItsLengthAndHeaders) {
  const std::uint64_t n = 5 * 1000 * 1000 + 17;
  HttpResult r = HttpGet(url_ + "/bytes/" + std::to_string(n));
  ASSERT_EQ(r.status, 200) << r.error;
  ASSERT_EQ(r.body.size(), n);
  std::uint64_t wrong = 0;
  for (std::uint64_t i = 0; i < n; ++i) wrong += r.body[i] != PatternAt(i);
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(r.headers["content-length"], std::to_string(n));
  EXPECT_EQ(r.headers["content-type"], "application/octet-stream");
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_EQ(r.headers["x-content-type-options"], "nosniff");
  EXPECT_EQ(r.headers["cache-control"], "no-store");
  EXPECT_EQ(r.headers["x-test"], "streamed");
  EXPECT_EQ(r.headers.count("x-bad"), 0u) << "a header with CR/LF must be dropped";
  EXPECT_EQ(r.headers.count("injected"), 0u);
  EXPECT_EQ(r.headers["x-request-id"].size(), 16u);
  std::optional<absl::Status> end = WaitForEnd(5s);
  ASSERT_TRUE(end.has_value());
  EXPECT_THAT(*end, IsOk());
  // An empty body is a valid stream too.
  HttpResult empty = HttpGet(url_ + "/bytes/0");
  EXPECT_EQ(empty.status, 200) << empty.error;
  EXPECT_EQ(empty.body, "");
  EXPECT_EQ(empty.headers["content-length"], "0");
}

TEST_F(HttpStreamTest, ProducerErrorCutsTheBodyShort) {
  HttpResult r = HttpGet(url_ + "/fails");
  EXPECT_EQ(r.status, 0) << "a cut body must not look complete";
  EXPECT_THAT(r.error, HasSubstr("Transferred a partial file"));
  EXPECT_LE(r.body.size(), std::size_t{1} << 19);
  EXPECT_EQ(HttpGet(url_ + "/bytes/10").body, "abcdefghij");  // still serving
}

TEST_F(HttpStreamTest, ProducerThatWritesTooLittleIsCut) {
  HttpResult r = HttpGet(url_ + "/short");
  EXPECT_EQ(r.status, 0);
  EXPECT_THAT(r.error, HasSubstr("Transferred a partial file"));
  EXPECT_EQ(r.body, "abcdefghij");
}

TEST_F(HttpStreamTest, ProducerCannotWriteMoreThanAnnounced) {
  HttpResult r = HttpGet(url_ + "/long");
  EXPECT_LE(r.body.size(), 10u);
  std::optional<absl::Status> end = WaitForEnd(5s);
  ASSERT_TRUE(end.has_value());
  EXPECT_THAT(*end, StatusIs(absl::StatusCode::kInternal));
  EXPECT_THAT(std::string(end->message()), HasSubstr("longer than its announced Content-Length"));
}

// A connection asking for 1 GiB that reads its first bytes, then nothing more.
executor::UniqueFd StalledClient(int port) {
  executor::UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_GE(sock.get(), 0);
  const int rcvbuf = 64 * 1024;
  EXPECT_EQ(::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string get = "GET /bytes/1073741824 HTTP/1.1\r\nHost: test\r\n\r\n";
  EXPECT_EQ(::send(sock.get(), get.data(), get.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(get.size()));
  char first[64];
  pollfd pfd{sock.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 5000), 1);
  EXPECT_GT(::recv(sock.get(), first, sizeof first, 0), 0);
  return sock;
}

TEST_F(HttpStreamTest, ClientThatStopsReadingHoldsTheProducerBackThenIsCutOff) {
  executor::UniqueFd sock = StalledClient(server_->port());
  pollfd pfd{};
  // The client reads nothing more: the producer may fill the socket buffers and its few
  // writes in flight, and must then wait, far short of the 1 GiB it was asked for.
  std::this_thread::sleep_for(1500ms);
  const std::uint64_t held_back = produced_.load();
  EXPECT_GT(held_back, 0u);
  EXPECT_LT(held_back, std::uint64_t{32} << 20) << "no backpressure: the producer ran ahead";
  // After stream_stall_seconds (2) without progress the server gives up on the client.
  std::optional<absl::Status> end = WaitForEnd(10s);
  ASSERT_TRUE(end.has_value()) << "the stalled stream was never cut off";
  EXPECT_THAT(*end, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_LT(produced_.load(), std::uint64_t{32} << 20);
  // The handler thread is free again and the server answers.
  EXPECT_EQ(HttpGet(url_ + "/bytes/3").body, "abc");
  // The cut connection ends (EOF or reset) once the buffered bytes are drained.
  char buf[1 << 16];
  bool ended = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    pfd = {sock.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 1000) != 1) continue;
    ended = ::recv(sock.get(), buf, sizeof buf, 0) <= 0;
  }
  EXPECT_TRUE(ended);
}

TEST_F(HttpStreamTest, ShutdownEndsAStalledStreamAfterTheGracePeriod) {
  StartServer(/*stall_seconds=*/120, /*grace_seconds=*/1);
  executor::UniqueFd sock = StalledClient(server_->port());
  const auto start = std::chrono::steady_clock::now();
  server_->Shutdown();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, 10s) << "shutdown waited for the stalled client instead of the grace period";
  EXPECT_GE(took, 900ms) << "the stream was not given its grace period";
  std::optional<absl::Status> end = WaitForEnd(1s);
  ASSERT_TRUE(end.has_value());
  EXPECT_THAT(*end, StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace safeflow::testing
