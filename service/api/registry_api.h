// service/api/registry_api.h. The registry of admin-approved workflows and execution
// environments:
//   POST /admin/v1/workflows                 workflow-admin: register a bundle
//   (multipart/form-data,
//                                            one `workflow_attachment` part per file, the filename
//                                            its relative path; safeflow-manifest.json among them)
//                                            -> 201 the item (state "pending")
//   GET  /admin/v1/workflows[?state=S]       workflow-admin, auditor: all; researcher: approved
//   only GET  /admin/v1/workflows/{ref}           ref: "sha256:<hex>" or "<name>@<version>" POST
//   /admin/v1/workflows/{ref}:approve   workflow-admin, never the author POST
//   /admin/v1/workflows/{ref}:revoke    workflow-admin: {"reason": "..."} POST
//   /admin/v1/environments              workflow-admin: JSON {name, version, description,
//                                            root, aliases} -> 201 (pending)
//   GET  /admin/v1/environments[?state=S], GET /admin/v1/environments/{ref},
//   POST /admin/v1/environments/{ref}:approve, POST /admin/v1/environments/{ref}:revoke
// Every change and every refusal (bad manifest, self-approval, approving a revoked item) is
// audited.
#ifndef SAFEFLOW_SERVICE_API_REGISTRY_API_H_
#define SAFEFLOW_SERVICE_API_REGISTRY_API_H_

#include "absl/status/status.h"

#include "service/api/http_server.h"
#include "service/registry/bundle.h"
#include "service/store/audit_store.h"
#include "service/store/registry_store.h"

namespace safeflow::service {

struct RegistryApiOptions {
  int required_approvals = 1;  // config registry.required_approvals
  registry::BundleLimits limits;
};

[[nodiscard]] absl::Status RegisterRegistryRoutes(HttpServer& server,
                                                  store::RegistryStore& registry,
                                                  store::AuditStore& audit,
                                                  RegistryApiOptions options);

// The JSON of an item as the API shows it: {id (the digest), kind, name, version, state,
// manifest, created_by, created_at, approvers, approved_at?, revoked_by?, revoked_at?,
// revoke_reason?, files: [{path, size, sha256}] (workflows)}.
nlohmann::json RegistryItemJson(const store::RegistryItem& item);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_REGISTRY_API_H_
