// service/api/health.h. Operational endpoints: GET /healthz (the process is alive; never
// touches the database), GET /readyz (200 when PostgreSQL answers, else 503 with Retry-After),
// GET /metrics (Prometheus text format).
#ifndef SAFEFLOW_SERVICE_API_HEALTH_H_
#define SAFEFLOW_SERVICE_API_HEALTH_H_

#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"

#include "executor/backend.h"
#include "service/api/http_server.h"
#include "service/api/metrics.h"
#include "service/store/store.h"

namespace safeflow::service {

using BackendHealthFn = std::function<std::map<std::string, executor::BackendHealth>()>;

[[nodiscard]] absl::Status RegisterHealthRoutes(HttpServer& server, store::Store& store,
                                                Metrics& metrics, BackendHealthFn backends = {});

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_HEALTH_H_
