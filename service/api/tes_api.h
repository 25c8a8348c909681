// service/api/tes_api.h. The GA4GH TES 1.1 API, served under /ga4gh/tes/v1 and /v1 (py-tes and
// the compliance runner use the latter): create, get, list, cancel tasks and service-info.
// Handlers are thin: parse and validate (schemas/tes), admit (approved images, storage rules,
// resource limits, backend parameters), then call the TaskStore.
#ifndef SAFEFLOW_SERVICE_API_TES_API_H_
#define SAFEFLOW_SERVICE_API_TES_API_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

#include "schemas/tes/task.h"
#include "service/api/http_server.h"
#include "service/config/config.h"
#include "service/store/audit_store.h"
#include "service/store/task_store.h"

namespace safeflow::service {

struct TesApiOptions {
  // Storage rules, decided before a task is accepted (see executor/transfer/).
  std::function<absl::Status(std::string_view)> check_input_url;
  std::function<absl::Status(std::string_view)> check_output_url;
  // Backends that can run tasks, by name, with the backend_parameters each accepts.
  std::map<std::string, std::vector<std::string>> backends = {{"local", {}}};
  std::string default_backend = "local";
  std::map<std::string, std::string> project_backends;  // a project's default backend
  // Checks the values of a backend's parameters; returns one problem per bad value.
  std::map<std::string,
           std::function<std::vector<std::string>(const std::map<std::string, std::string>&)>>
      check_backend_parameters;
  // service-info "safeflow_backends": each backend's parameters and health.
  std::function<nlohmann::json()> backends_info;
  // Checks that an approved image is still approved (registry environments can be revoked
  // while safeflowd runs); PermissionDenied says why not. Unset: configured images only.
  std::function<absl::Status(const std::string& image)> check_image;
  std::string started_at;  // RFC 3339, for service-info createdAt/updatedAt
  int cpus = 1;            // this host's CPUs: the cpu_cores limit when local.max_cpu_cores is 0
  // Where outputs addressed "airlock:<path>" (outside the zone) are staged in the zone, as
  // <dir>/<project>/<random>/<path>; they leave only through the airlock. Empty: refused.
  std::string airlock_staging_dir;
  // The attestation policy shown in service-info (never key material).
  nlohmann::json attestation = nlohmann::json::object();
};

// Checks a parsed task against the zone's rules: every executor image is an approved
// environment; container paths avoid the sandbox's system directories; resources within the
// configured limits; URLs allowed by the storage rules; backend_parameters known when strict.
// Returns every problem at once (InvalidArgument, or PermissionDenied when the only problems
// are storage permissions).
[[nodiscard]] absl::Status AdmitTask(const schemas::tes::Task& task, const std::string& project,
                                     const Config& config, const TesApiOptions& options);

// The URL scheme of outputs addressed outside the zone ("airlock:results/table.csv"). Such an
// output must be a single FILE (no path_prefix); its description may hold its disclosure
// declaration as JSON (executor/disclosure/declaration.h, without name and path).
inline constexpr std::string_view kAirlockScheme = "airlock:";

// The backend a task runs on: backend_parameters["backend"], else its project's default, else
// the default.
std::string BackendOf(const schemas::tes::Task& task, const std::string& project,
                      const TesApiOptions& options);

// The project a task belongs to: its "project" tag, else the caller's default project.
std::string ProjectOf(const schemas::tes::Task& task, const Principal& caller);

// Creating and canceling need the researcher role; reading, researcher or auditor. Every
// query is limited to the caller's projects (another project's task answers 404).
[[nodiscard]] absl::Status RegisterTesRoutes(HttpServer& server, store::TaskStore& tasks,
                                             store::AuditStore& audit, const Config& config,
                                             TesApiOptions options);

// GA4GH TES service-info document.
nlohmann::json TesServiceInfo(const Config& config, const TesApiOptions& options);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_TES_API_H_
