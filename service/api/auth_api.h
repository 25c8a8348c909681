// service/api/auth_api.h. Identity and audit endpoints:
//   GET  /auth/v1/whoami                               any authenticated caller
//   POST /auth/v1/access-keys                          a key for yourself, in one of your
//                                                      projects, with a subset of your roles
//   POST /auth/v1/access-keys/{id}:revoke              the key's owner or a workflow-admin
//   GET  /admin/v1/access-keys[?project=]              workflow-admin, auditor
//   GET  /admin/v1/certificates                        workflow-admin, auditor
//   POST /admin/v1/certificates                        workflow-admin (register a fingerprint)
//   POST /admin/v1/certificates/{fingerprint}:revoke   workflow-admin
//   GET  /admin/v1/projects/{project}/members          workflow-admin, auditor
//   PUT|DELETE /admin/v1/projects/{project}/members/{subject}   workflow-admin
//   GET  /admin/v1/audit                               auditor (paged, filterable)
//   GET  /admin/v1/audit/verify                        auditor (first broken link, if any)
#ifndef SAFEFLOW_SERVICE_API_AUTH_API_H_
#define SAFEFLOW_SERVICE_API_AUTH_API_H_

#include "absl/status/status.h"

#include "service/api/http_server.h"
#include "service/config/config.h"
#include "service/store/audit_store.h"
#include "service/store/auth_store.h"

namespace safeflow::service {

[[nodiscard]] absl::Status RegisterAuthRoutes(HttpServer& server, store::AuthStore& auth,
                                              store::AuditStore& audit, const AuthConfig& config);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_AUTH_API_H_
