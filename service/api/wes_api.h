// service/api/wes_api.h. The GA4GH WES 1.1 API under /ga4gh/wes/v1, for admin-approved
// workflows only:
//   GET  /service-info                      public
//   GET  /runs                              researcher, auditor: RunSummary pages (caller's
//   projects) POST /runs                              researcher: multipart/form-data RunRequest ->
//   {run_id} GET  /runs/{id}, /runs/{id}/status      researcher, auditor POST /runs/{id}/cancel
//   researcher GET  /runs/{id}/tasks[/{task_id}]       researcher, auditor: the engine task and the
//   steps
//                                           its log reports (TaskLog, tes_uri of the engine task)
//   GET  /runs/{id}/logs/{stdout|stderr}    researcher, auditor: the run's capped engine log
//                                           (text/plain; the URLs in Log.stdout/stderr)
// Admission (POST /runs): workflow_url "safeflow:<name>@<version>" of an approved workflow, or
// workflow_attachment files whose bundle digest is an approved workflow's (then workflow_url
// names its entry point). Anything else is 403 naming what is not approved; params that fail
// the approved JSON Schema, or engine parameters the manifest does not let callers set, are 400.
// Every refusal is audited ("run.create", outcome "denied" or "invalid").
#ifndef SAFEFLOW_SERVICE_API_WES_API_H_
#define SAFEFLOW_SERVICE_API_WES_API_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

#include "service/api/http_server.h"
#include "service/api/tes_api.h"
#include "service/config/config.h"
#include "service/registry/bundle.h"
#include "service/store/audit_store.h"
#include "service/store/registry_store.h"
#include "service/store/run_store.h"
#include "service/wes/engine.h"

namespace safeflow::service {

struct WesApiOptions {
  std::vector<wes::EngineInfo> engines;  // installed (service-info lists only these)
  TesApiOptions tes;                     // admission rules shared with TES
  std::string outputs_dir;               // resolved: outputs go to <dir>/<project>/<run id>/
  std::string public_url;                // base of log URLs; empty: from the request
  std::uint64_t max_params_bytes = 1 << 20;
  registry::BundleLimits limits;
};

[[nodiscard]] absl::Status RegisterWesRoutes(HttpServer& server, store::RunStore& runs,
                                             store::RegistryStore& registry,
                                             store::AuditStore& audit, const Config& config,
                                             WesApiOptions options);

// The WES service-info document; `counts` are runs per state.
nlohmann::json WesServiceInfo(const Config& config, const WesApiOptions& options,
                              const std::map<std::string, long long>& counts);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_WES_API_H_
