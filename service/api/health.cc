#include "service/api/health.h"

#include "nlohmann/json.hpp"

#include "service/log.h"

namespace safeflow::service {

absl::Status RegisterHealthRoutes(HttpServer& server, store::Store& store, Metrics& metrics,
                                  BackendHealthFn backends) {
  if (absl::Status s = server.Handle(
          "GET", "/healthz",
          [](HttpRequest&) { return HttpResponse::Json(200, R"({"status":"alive"})"); });
      !s.ok()) {
    return s;
  }
  if (absl::Status s = server.Handle(
          "GET", "/readyz",
          [&store, backends](HttpRequest& req) {
            absl::Status ping = store.Ping();
            if (!ping.ok()) {
              Log().warn("request_id={} readyz: {}", req.request_id, ping.message());
              return ErrorResponse(absl::UnavailableError("database unreachable"));
            }
            absl::StatusOr<int> version = store.SchemaVersion();
            if (!version.ok()) return ErrorResponse(absl::UnavailableError("database unreachable"));
            nlohmann::json body = {{"status", "ready"}, {"schema_version", *version}};
            if (backends) {
              nlohmann::json b = nlohmann::json::object();
              for (const auto& [name, h] : backends()) {
                b[name] = {{"status", h.ok ? "ok" : "degraded"}};
                if (!h.ok) {
                  b[name]["detail"] = h.detail;
                  body["status"] = "degraded";
                }
              }
              body["backends"] = std::move(b);
            }
            return HttpResponse::Json(200, body.dump());
          },
          Dispatch::kPool);
      !s.ok()) {
    return s;
  }
  return server.Handle("GET", "/metrics", [&metrics](HttpRequest&) {
    return HttpResponse::Text(200, metrics.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace safeflow::service
