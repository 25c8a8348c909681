// service/api/http_server.h. safeflowd's HTTP front: Pistache's endpoint, our Router, request
// ids, body limit, JSON errors for 404/405/413, metrics per route, and a pool for handlers
// that block. TLS is nginx's job (see deploy/nginx/). Thread-safe once started.
#ifndef SAFEFLOW_SERVICE_API_HTTP_SERVER_H_
#define SAFEFLOW_SERVICE_API_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"

#include "service/api/metrics.h"
#include "service/api/router.h"
#include "service/auth/authenticator.h"
#include "service/config/config.h"

namespace safeflow::service {

class HttpServer {
 public:
  HttpServer(const ServerConfig& config, Metrics& metrics);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer();

  // Registers a route; call before Start(). Errors on malformed or duplicate patterns.
  // Authenticated routes always run on the handler pool.
  [[nodiscard]] absl::Status Handle(std::string method, std::string pattern, Handler handler,
                                    Dispatch dispatch = Dispatch::kInline,
                                    Access access = Access::Public());

  // A route table entry for HandleAll: every entry runs on the handler pool.
  struct PooledRoute {
    const char* method;
    std::string pattern;
    Handler handler;
    Access access;
  };
  // Registers each route of `routes` (Dispatch::kPool); the first error stops it.
  [[nodiscard]] absl::Status HandleAll(const std::vector<PooledRoute>& routes);

  // The authentication for non-public routes (must outlive the server). Without one, every
  // non-public route answers 401.
  void SetAuthenticator(const AuthChain* auth);
  // Called for every refused request (401 and 403) after routing, e.g. to audit it. Runs on a
  // handler thread; must not throw.
  using DeniedHook = std::function<void(const HttpRequest& req, const Route& route, int status,
                                        const std::string& reason)>;
  void SetDeniedHook(DeniedHook hook);

  // Binds and starts serving on background threads. Unavailable when the address is taken.
  [[nodiscard]] absl::Status Start();
  // The bound port (useful with port 0). Valid after Start().
  int port() const;
  std::string host() const;

  // Graceful stop: new requests get 503, queued and running handlers finish (up to the grace
  // period), then the listener and I/O threads stop. Idempotent.
  void Shutdown();

  struct State;  // implementation detail, defined in the .cc

 private:
  std::shared_ptr<State> state_;  // shared with Pistache's per-thread handler clones
};

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_HTTP_SERVER_H_
