#include "service/api/http_server.h"

#include <atomic>
#include <chrono>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pistache/endpoint.h"
#include "pistache/http.h"

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
  std::string host;
  int port = 0;
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

HttpRequest Convert(const Http::Request& req) {
  HttpRequest r;
  r.method = Http::methodString(req.method());
  r.path = req.resource();
  for (auto it = req.query().parameters_begin(); it != req.query().parameters_end(); ++it) {
    r.query.emplace_back(it->first, it->second);
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

void Send(Http::ResponseWriter& writer, const HttpResponse& resp, const std::string& request_id) {
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

// Pistache clones this per I/O thread; all clones share State.
class PistacheHandler final : public Http::Handler {
 public:
  HTTP_PROTOTYPE(PistacheHandler)
  explicit PistacheHandler(std::shared_ptr<HttpServer::State> state) : state_(std::move(state)) {}

  void onRequest(const Http::Request& preq, Http::ResponseWriter writer) override {
    const Clock::time_point start = Clock::now();
    auto req = std::make_shared<HttpRequest>(Convert(preq));
    HttpServer::State& st = *state_;
    auto finish = [state = state_, req, start](Http::ResponseWriter& w, const HttpResponse& resp,
                                               const std::string& route) {
      Send(w, resp, req->request_id);
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
    auto run = [req, route]() -> HttpResponse {
      try {
        return route->handler(*req);
      } catch (const std::exception& e) {
        Log().error("request_id={} {} {}: unhandled exception: {}", req->request_id, req->method,
                    req->path, e.what());
        return ErrorResponse(absl::InternalError("unhandled exception"));
      }
    };
    if (route->dispatch == Dispatch::kInline) {
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
                                Dispatch dispatch) {
  return state_->router.Add(
      Route{std::move(method), std::move(pattern), std::move(handler), dispatch});
}

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
    state_->endpoint->setHandler(Http::make_handler<PistacheHandler>(state_));
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
  state_->pool.Stop();  // running handlers answer while the endpoint still exists
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
