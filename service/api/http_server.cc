#include "service/api/http_server.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <deque>
#include <future>
#include <random>
#include <regex>
#include <sstream>
#include <sys/socket.h>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "pistache/endpoint.h"
#include "pistache/http.h"
#include "pistache/peer.h"

#include "service/log.h"
#include "service/thread_pool.h"

namespace safeflow::service {

namespace Http = Pistache::Http;

struct HttpServer::State {
  explicit State(const ServerConfig& c, Metrics& m)
      : config(c),
        metrics(m),
        pool(c.handler_threads, static_cast<std::size_t>(c.handler_threads) * 64) {}
  const ServerConfig config;
  Metrics& metrics;
  Router router;
  ThreadPool pool;
  std::unique_ptr<Http::Endpoint> endpoint;
  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0};
  std::atomic<bool> stop_streams{false};  // set when the shutdown grace period is over
  std::string host;
  int port = 0;
  const AuthChain* auth = nullptr;     // set before Start()
  HttpServer::DeniedHook denied_hook;  // set before Start()
};

namespace {

using Clock = std::chrono::steady_clock;

std::string NewRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16));
}

std::string SanitiseRequestId(const std::optional<std::string>& given) {
  static const std::regex kOk("^[A-Za-z0-9._:-]{1,64}$");
  if (given && std::regex_match(*given, kOk)) return *given;
  return NewRequestId();
}

// Per-connection record of raw request lines, kept in the peer's data by TapHandler.
// Pistache's query parser keeps one value per key, so repeated parameters (TES's
// tag_key/tag_value pairs) are parsed again from the raw request line.
struct RawLines {
  std::string head;          // bytes of the current request's head (line + headers) so far
  bool expect_start = true;  // the next input starts a new request
  bool in_head = false;      // collecting `head`
  bool rejected = false;     // answered 413 early; drop everything else from this peer
  std::string line;          // the last complete request line
};
constexpr const char* kRawLinesKey = "safeflow.raw_lines";
constexpr std::size_t kMaxRequestLine = 16 * 1024;
constexpr std::size_t kMaxRequestHead = 64 * 1024;

// The Content-Length of a request head ("METHOD target HTTP/1.1\r\nName: value\r\n...").
std::optional<std::uint64_t> ContentLength(const std::string& head) {
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    const size_t start = pos + 2;
    pos = head.find("\r\n", start);
    std::string_view field(head.data() + start,
                           (pos == std::string::npos ? head.size() : pos) - start);
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos) continue;
    if (absl::AsciiStrToLower(std::string(field.substr(0, colon))) != "content-length") continue;
    std::string value(absl::StripAsciiWhitespace(std::string(field.substr(colon + 1))));
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec == std::errc() && end == value.data() + value.size()) return n;
    return std::nullopt;
  }
  return std::nullopt;
}

// Answers 413 as JSON before Pistache buffers the body, then shuts the connection down.
void RejectOversize(const std::shared_ptr<Pistache::Tcp::Peer>& peer, std::uint64_t length) {
  nlohmann::json body = {
      {"msg", absl::StrCat("request body of ", length, " bytes exceeds the limit")},
      {"status_code", 413}};
  const std::string text = body.dump();
  const std::string response = absl::StrCat(
      "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nContent-Length: ",
      text.size(), "\r\nConnection: close\r\n\r\n", text);
  const int fd = peer->fd();
  peer->send(Pistache::RawBuffer(response, response.size()))
      .then([fd](ssize_t) { ::shutdown(fd, SHUT_RDWR); },
            [fd](std::exception_ptr) { ::shutdown(fd, SHUT_RDWR); });
}

// Splits "a=1&b=2&a=3" into decoded pairs; false on a malformed escape.
bool ParseQuery(std::string_view q, std::vector<std::pair<std::string, std::string>>& out) {
  out.clear();
  while (!q.empty()) {
    const size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    std::string k, v;
    if (!PercentDecode(part.substr(0, eq), true, k)) return false;
    if (eq != std::string_view::npos && !PercentDecode(part.substr(eq + 1), true, v)) return false;
    out.emplace_back(std::move(k), std::move(v));
  }
  return true;
}

// The query of `raw_line` ("GET /path?q HTTP/1.1") when its path is `resource`.
std::optional<std::vector<std::pair<std::string, std::string>>> QueryFromRawLine(
    const std::string& raw_line, const std::string& resource) {
  const size_t sp1 = raw_line.find(' ');
  const size_t sp2 = raw_line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return std::nullopt;
  std::string_view target = std::string_view(raw_line).substr(sp1 + 1, sp2 - sp1 - 1);
  const size_t qm = target.find('?');
  if (target.substr(0, qm) != resource) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> q;
  if (qm != std::string_view::npos && !ParseQuery(target.substr(qm + 1), q)) return std::nullopt;
  return q;
}

HttpRequest Convert(const Http::Request& req, const std::string& raw_line) {
  HttpRequest r;
  r.method = Http::methodString(req.method());
  r.path = req.resource();
  if (auto q = QueryFromRawLine(raw_line, r.path)) {
    r.query = *std::move(q);
  } else {
    for (auto it = req.query().parameters_begin(); it != req.query().parameters_end(); ++it) {
      r.query.emplace_back(it->first, it->second);
    }
  }
  for (const std::shared_ptr<Http::Header::Header>& h : req.headers().list()) {
    std::ostringstream v;
    h->write(v);
    r.headers[absl::AsciiStrToLower(h->name())] = v.str();
  }
  for (const auto& [name, raw] : req.headers().rawList()) {
    r.headers[absl::AsciiStrToLower(name)] = raw.value();
  }
  r.body = req.body();
  r.peer = req.address().host();
  r.request_id = SanitiseRequestId(r.Header("x-request-id"));
  return r;
}

// A response header with a name chosen at run time. Pistache 0.0.5 writes only typed headers
// (addRaw() ones are silently dropped), so every header we send goes through this.
class NamedHeader final : public Http::Header::Header {
 public:
  NamedHeader(std::string name, std::string value)
      : name_(std::move(name)), value_(std::move(value)) {}
  const char* name() const override { return name_.c_str(); }
  void write(std::ostream& os) const override { os << value_; }
  uint64_t hash() const override { return std::hash<std::string>{}(name_); }

 private:
  const std::string name_;
  const std::string value_;
};

void AddHeader(Http::ResponseWriter& writer, std::string name, std::string value) {
  writer.headers().add(std::make_shared<NamedHeader>(std::move(name), std::move(value)));
}

// Sends a streamed body to a Pistache peer. Each Write queues its bytes on the peer's
// transport and, once kWritesInFlight writes are queued, waits for the oldest to reach the
// kernel: the producer runs at the client's pace with at most that many pieces in memory.
class PeerBodyWriter final : public BodyWriter {
 public:
  static constexpr std::size_t kWritesInFlight = 4;

  // `limit`: the bytes the response announced (head and body); more are refused. `stop`: set
  // when the server is shutting down and its grace period is over: the stream ends.
  PeerBodyWriter(std::weak_ptr<Pistache::Tcp::Peer> peer, int stall_seconds, std::uint64_t limit,
                 const std::atomic<bool>& stop)
      : peer_(std::move(peer)), stall_seconds_(stall_seconds), limit_(limit), stop_(stop) {}

  absl::Status Write(std::string_view bytes) override {
    if (bytes.empty()) return absl::OkStatus();
    if (stop_.load()) return absl::UnavailableError("the server is shutting down");
    if (bytes.size() > limit_ - sent_) {
      return absl::InternalError("the body is longer than its announced Content-Length");
    }
    if (absl::Status s = WaitUntilBelow(kWritesInFlight); !s.ok()) return s;
    std::shared_ptr<Pistache::Tcp::Peer> peer = peer_.lock();
    if (peer == nullptr) return absl::CancelledError("the client disconnected");
    auto done = std::make_shared<std::promise<absl::Status>>();
    in_flight_.push_back(done->get_future());
    peer->send(Pistache::RawBuffer(std::string(bytes), bytes.size()))
        .then([done](ssize_t) { done->set_value(absl::OkStatus()); },
              [done](std::exception_ptr) {
                done->set_value(absl::CancelledError("the client connection failed"));
              });
    sent_ += bytes.size();
    return absl::OkStatus();
  }

  // Waits for every queued write: the outcome of the whole stream.
  absl::Status Drain() { return WaitUntilBelow(1); }
  std::uint64_t sent() const { return sent_; }

  // Cuts the connection so that the client sees a short body rather than a complete one.
  void Abort() {
    if (std::shared_ptr<Pistache::Tcp::Peer> peer = peer_.lock()) {
      ::shutdown(peer->fd(), SHUT_RDWR);
    }
  }

 private:
  absl::Status WaitUntilBelow(std::size_t n) {
    while (in_flight_.size() >= n && !in_flight_.empty()) {
      std::future<absl::Status>& f = in_flight_.front();
      const auto stalled = Clock::now() + std::chrono::seconds(stall_seconds_);
      while (f.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
        if (stop_.load()) return absl::UnavailableError("the server is shutting down");
        if (Clock::now() >= stalled) {
          return absl::DeadlineExceededError(
              absl::StrCat("the client read nothing for ", stall_seconds_, " s"));
        }
      }
      absl::Status s;
      try {
        s = f.get();
      } catch (const std::future_error&) {  // the transport dropped the write
        s = absl::CancelledError("the client connection closed");
      }
      in_flight_.pop_front();
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  std::weak_ptr<Pistache::Tcp::Peer> peer_;
  const int stall_seconds_;
  const std::uint64_t limit_;
  const std::atomic<bool>& stop_;
  std::deque<std::future<absl::Status>> in_flight_;
  std::uint64_t sent_ = 0;
};

bool HeaderSafe(std::string_view name, std::string_view value) {
  return !name.empty() && name.find_first_of("\r\n:") == std::string_view::npos &&
         value.find_first_of("\r\n") == std::string_view::npos;
}

// Writes the status line and headers itself (Pistache's ResponseWriter would buffer the body),
// then lets resp.stream produce the body. See HttpResponse::stream.
void SendStreamed(Http::ResponseWriter& writer, const HttpResponse& resp,
                  const std::string& request_id, int stall_seconds, const std::atomic<bool>& stop) {
  const bool type_ok = HeaderSafe("Content-Type", resp.content_type);
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", type_ok ? resp.content_type : "application/octet-stream"},
      {"Content-Length", absl::StrCat(resp.stream_bytes)},
      {"X-Request-Id", request_id},
      {"Cache-Control", "no-store"},
      {"X-Content-Type-Options", "nosniff"},
      {"Connection", "close"}};
  for (const auto& [k, v] : resp.headers) {
    bool dup = false;
    for (const auto& h : headers) dup |= absl::EqualsIgnoreCase(h.first, k);
    if (dup) continue;
    if (!HeaderSafe(k, v)) {
      Log().error("request_id={} dropped the unsafe response header '{}'", request_id, k);
      continue;
    }
    headers.emplace_back(k, v);
  }
  std::string head = absl::StrCat("HTTP/1.1 ", resp.status, " ",
                                  Http::codeString(static_cast<Http::Code>(resp.status)), "\r\n");
  for (const auto& [k, v] : headers) absl::StrAppend(&head, k, ": ", v, "\r\n");
  head += "\r\n";
  PeerBodyWriter out(writer.peer(), stall_seconds, head.size() + resp.stream_bytes, stop);
  absl::Status s = out.Write(head);
  const std::uint64_t head_bytes = head.size();
  if (s.ok()) s = resp.stream(out);
  if (s.ok()) s = out.Drain();
  if (s.ok() && out.sent() - head_bytes != resp.stream_bytes) {
    s = absl::InternalError(absl::StrCat("the body was ", out.sent() - head_bytes,
                                         " bytes, not the ", resp.stream_bytes, " announced"));
  }
  if (!s.ok()) {
    Log().warn("request_id={} streamed response cut after {} bytes: {}", request_id,
               out.sent() > head_bytes ? out.sent() - head_bytes : 0, s.message());
    out.Abort();
  }
}

void Send(Http::ResponseWriter& writer, const HttpResponse& resp, const std::string& request_id,
          const HttpServer::State& st) {
  if (resp.stream) {
    SendStreamed(writer, resp, request_id, st.config.stream_stall_seconds, st.stop_streams);
    return;
  }
  try {
    writer.headers().add<Http::Header::ContentType>(
        Http::Mime::MediaType::fromString(resp.content_type));
  } catch (const std::exception&) {
    writer.headers().add<Http::Header::ContentType>(MIME(Application, Json));
  }
  AddHeader(writer, "X-Request-Id", request_id);
  AddHeader(writer, "Cache-Control", "no-store");
  AddHeader(writer, "X-Content-Type-Options", "nosniff");
  for (const auto& [k, v] : resp.headers) AddHeader(writer, k, v);
  writer.send(static_cast<Http::Code>(resp.status), resp.body);
}

// Authenticates `req` for `route` and checks its roles; the refusal to send, if any.
std::optional<HttpResponse> Authorize(HttpServer::State& st, const Route& route, HttpRequest& req) {
  auto deny = [&](int status, const std::string& reason) {
    if (st.denied_hook) st.denied_hook(req, route, status, reason);
    HttpResponse r = ErrorResponse(status, reason);
    if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"safeflow\"");
    return r;
  };
  if (st.auth == nullptr) return deny(401, "authentication is not configured");
  absl::StatusOr<Principal> p = st.auth->Authenticate(req);
  if (!p.ok()) {
    if (absl::IsUnauthenticated(p.status())) {
      Log().info("request_id={} {} {} unauthenticated: {}", req.request_id, req.method, req.path,
                 p.status().message());
      return deny(401, std::string(p.status().message()));
    }
    Log().warn("request_id={} authentication failed: {}", req.request_id, p.status().message());
    return ErrorResponse(p.status());
  }
  req.principal = *std::move(p);
  const Principal& who = *req.principal;
  if (!route.access.roles.empty()) {
    bool ok = false;
    for (Role r : route.access.roles) ok |= who.Has(r);
    if (!ok) {
      std::string need;
      for (Role r : route.access.roles)
        need += (need.empty() ? "" : " or ") + std::string(RoleName(r));
      return deny(403, absl::StrCat("this needs the role ", need));
    }
  }
  if (route.access.write && who.read_only) {
    return deny(403, "this identity is read-only");
  }
  return std::nullopt;
}

// Pistache clones this per I/O thread; all clones share State.
class PistacheHandler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(PistacheHandler)
  explicit PistacheHandler(std::shared_ptr<HttpServer::State> state) : state_(std::move(state)) {}

  void onRequest(const Http::Request& preq, Http::ResponseWriter writer) override {
    const Clock::time_point start = Clock::now();
    std::string raw_line;
    if (std::shared_ptr<Pistache::Tcp::Peer> peer = writer.peer()) {
      if (auto lines = std::static_pointer_cast<RawLines>(peer->getData(kRawLinesKey))) {
        raw_line = std::move(lines->line);
        lines->line.clear();
        lines->expect_start = true;
      }
    }
    auto req = std::make_shared<HttpRequest>(Convert(preq, raw_line));
    HttpServer::State& st = *state_;
    auto finish = [state = state_, req, start](Http::ResponseWriter& w, const HttpResponse& resp,
                                               const std::string& route) {
      Send(w, resp, req->request_id, *state);
      const double secs = std::chrono::duration<double>(Clock::now() - start).count();
      state->metrics.ObserveRequest(req->method, route, resp.status, secs);
      Log().debug("request_id={} {} {} -> {} {:.1f}ms", req->request_id, req->method, req->path,
                  resp.status, secs * 1000);
    };
    if (st.draining.load()) {
      finish(writer, ErrorResponse(absl::UnavailableError("shutting down")), "unmatched");
      return;
    }
    if (req->body.size() > st.config.max_request_bytes) {
      finish(writer,
             ErrorResponse(
                 413, absl::StrCat("request body exceeds ", st.config.max_request_bytes, " bytes")),
             "unmatched");
      return;
    }
    RouteMatch m = st.router.Match(req->method, req->path);
    if (m.kind == RouteMatch::Kind::kNotFound) {
      finish(writer, ErrorResponse(404, absl::StrCat("no such endpoint: ", req->path)),
             "unmatched");
      return;
    }
    if (m.kind == RouteMatch::Kind::kMethodNotAllowed) {
      HttpResponse r = ErrorResponse(
          405,
          absl::StrCat(req->method, " not allowed; allowed: ", absl::StrJoin(m.allowed, ", ")));
      r.headers.emplace_back("Allow", absl::StrJoin(m.allowed, ", "));
      finish(writer, r, m.route ? m.route->pattern : "unmatched");
      return;
    }
    req->path_params = std::move(m.params);
    const Route* route = m.route;
    auto run = [req, route, state = state_]() -> HttpResponse {
      try {
        if (route->access.authenticated) {
          if (std::optional<HttpResponse> refused = Authorize(*state, *route, *req)) {
            return *refused;
          }
        }
        return route->handler(*req);
      } catch (const std::exception& e) {
        Log().error("request_id={} {} {}: unhandled exception: {}", req->request_id, req->method,
                    req->path, e.what());
        return ErrorResponse(absl::InternalError("unhandled exception"));
      }
    };
    if (route->dispatch == Dispatch::kInline && !route->access.authenticated) {
      finish(writer, run(), route->pattern);
      return;
    }
    auto shared_writer = std::make_shared<Http::ResponseWriter>(std::move(writer));
    st.in_flight.fetch_add(1);
    bool queued = st.pool.TrySubmit([state = state_, shared_writer, run, finish, route] {
      finish(*shared_writer, run(), route->pattern);
      state->in_flight.fetch_sub(1);
    });
    if (!queued) {
      st.in_flight.fetch_sub(1);
      finish(*shared_writer, ErrorResponse(absl::UnavailableError("server busy, retry later")),
             route->pattern);
    }
  }

 private:
  std::shared_ptr<HttpServer::State> state_;
};

// Pistache's Tcp::Handler keeps its transport in a private member that only Transport sets.
// TapHandler needs its inner handler to share the outer one's transport; this reaches the
// member through the explicit-instantiation access rule ([temp.spec.general]/6), which is
// standard C++, and depends only on the member's name and type in Debian's Pistache 0.0.5.
struct TransportMemberTag {
  using type = Pistache::Tcp::Transport* Pistache::Tcp::Handler::*;
  friend type TransportMember(TransportMemberTag);
};
template <typename Tag, typename Tag::type Member>
struct MemberAccess {
  friend typename Tag::type TransportMember(Tag) { return Member; }
};
template struct MemberAccess<TransportMemberTag, &Pistache::Tcp::Handler::transport_>;

// What Pistache runs: records each request's raw request line in the peer's data, then hands
// the bytes to the real HTTP handler (PistacheHandler), whose onRequest reads the line.
// Http::Handler's own onInput is private, hence the inner handler instead of a base call.
class TapHandler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(TapHandler)
  explicit TapHandler(std::shared_ptr<HttpServer::State> state)
      : state_(state), inner_(std::make_shared<PistacheHandler>(std::move(state))) {}
  // Pistache clones the prototype per I/O thread: each clone gets its own inner handler.
  TapHandler(const TapHandler& other)
      : Http::Handler(other),
        state_(other.state_),
        inner_(std::make_shared<PistacheHandler>(other.state_)) {}

  void onRequest(const Http::Request&, Http::ResponseWriter) override {}  // inner_ answers

 private:
  void Attach() {
    if (attached_) return;
    (*inner_).*TransportMember(TransportMemberTag{}) = transport();
    inner_->setMaxRequestSize(getMaxRequestSize());
    inner_->setMaxResponseSize(getMaxResponseSize());
    inner_->setHeaderTimeout(getHeaderTimeout());
    inner_->setBodyTimeout(getBodyTimeout());
    attached_ = true;
  }
  Pistache::Tcp::Handler& Inner() { return *inner_; }

  void onConnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override {
    Attach();
    peer->putData(kRawLinesKey, std::make_shared<RawLines>());
    Inner().onConnection(peer);
  }
  void onDisconnection(const std::shared_ptr<Pistache::Tcp::Peer>& peer) override {
    Inner().onDisconnection(peer);
  }
  void onInput(const char* buffer, size_t len,
               const std::shared_ptr<Pistache::Tcp::Peer>& peer) override {
    Attach();
    auto lines = std::static_pointer_cast<RawLines>(peer->getData(kRawLinesKey));
    if (lines) {
      if (lines->rejected) return;
      if (lines->expect_start) {
        lines->expect_start = false;
        lines->in_head = true;
        lines->head.clear();
        lines->line.clear();
      }
      if (lines->in_head) {
        const size_t before = lines->head.size();
        lines->head.append(buffer, std::min(len, kMaxRequestHead + 4 - before));
        const size_t end = lines->head.find("\r\n\r\n");
        if (end != std::string::npos || lines->head.size() > kMaxRequestHead) {
          lines->in_head = false;
          const std::string head = lines->head.substr(0, end);
          lines->head.clear();
          lines->line = head.substr(0, head.find("\r\n"));
          if (lines->line.size() > kMaxRequestLine) lines->line.clear();
          std::optional<std::uint64_t> length = ContentLength(head);
          if (length && *length > state_->config.max_request_bytes) {
            lines->rejected = true;
            RejectOversize(peer, *length);
            return;
          }
        }
      }
    }
    Inner().onInput(buffer, len, peer);
  }

  std::shared_ptr<HttpServer::State> state_;
  std::shared_ptr<PistacheHandler> inner_;
  bool attached_ = false;
};

}  // namespace

HttpServer::HttpServer(const ServerConfig& config, Metrics& metrics)
    : state_(std::make_shared<State>(config, metrics)) {
  state_->metrics.AddGauge("safeflow_http_handler_queue", "Requests waiting for a handler thread.",
                           "",
                           [s = state_.get()] { return static_cast<double>(s->pool.queued()); });
  state_->metrics.AddGauge("safeflow_http_handlers_busy", "Handler threads running a request.", "",
                           [s = state_.get()] { return static_cast<double>(s->pool.busy()); });
}

HttpServer::~HttpServer() { Shutdown(); }

absl::Status HttpServer::Handle(std::string method, std::string pattern, Handler handler,
                                Dispatch dispatch, Access access) {
  return state_->router.Add(Route{std::move(method), std::move(pattern), std::move(handler),
                                  dispatch, std::move(access)});
}

absl::Status HttpServer::HandleAll(const std::vector<PooledRoute>& routes) {
  for (const PooledRoute& r : routes) {
    if (absl::Status s = Handle(r.method, r.pattern, r.handler, Dispatch::kPool, r.access);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

void HttpServer::SetAuthenticator(const AuthChain* auth) { state_->auth = auth; }

void HttpServer::SetDeniedHook(DeniedHook hook) { state_->denied_hook = std::move(hook); }

absl::Status HttpServer::Start() {
  absl::StatusOr<HostPort> hp = ParseHostPort(state_->config.listen);
  if (!hp.ok()) return hp.status();
  try {
    auto opts = Http::Endpoint::options()
                    .threads(state_->config.io_threads)
                    .flags(Pistache::Tcp::Options::ReuseAddr)
                    // Pistache needs room for the headers on top of the body; our own check
                    // answers oversize bodies with a JSON 413.
                    .maxRequestSize(state_->config.max_request_bytes + 64 * 1024)
                    .headerTimeout(std::chrono::seconds(state_->config.header_timeout_seconds))
                    .bodyTimeout(std::chrono::seconds(state_->config.body_timeout_seconds));
    state_->endpoint = std::make_unique<Http::Endpoint>(
        Pistache::Address(hp->host, Pistache::Port(static_cast<uint16_t>(hp->port))));
    state_->endpoint->init(opts);
    state_->endpoint->setHandler(Http::make_handler<TapHandler>(state_));
    state_->endpoint->serveThreaded();
    state_->host = hp->host;
    state_->port = state_->endpoint->getPort();
  } catch (const std::exception& e) {
    state_->endpoint.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", state_->config.listen, ": ", e.what()));
  }
  return absl::OkStatus();
}

int HttpServer::port() const { return state_->port; }
std::string HttpServer::host() const { return state_->host; }

void HttpServer::Shutdown() {
  if (state_->draining.exchange(true)) return;
  const auto deadline = Clock::now() + std::chrono::seconds(state_->config.shutdown_grace_seconds);
  while (state_->in_flight.load() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (state_->in_flight.load() > 0) {
    Log().warn("shutdown: {} requests still running after the grace period",
               state_->in_flight.load());
  }
  state_->stop_streams.store(true);  // downloads still streaming end now
  state_->pool.Stop();               // running handlers answer while the endpoint still exists
  if (state_->endpoint) {
    try {
      state_->endpoint->shutdown();
    } catch (const std::exception& e) {
      Log().warn("shutdown: {}", e.what());
    }
    // The endpoint holds handler clones that hold State: break the cycle.
    state_->endpoint.reset();
  }
}

}  // namespace safeflow::service
