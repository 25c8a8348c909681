// service/api/request_context.h. What handlers derive from the authenticated caller: the
// project scope of its queries and the audit record of its actions.
#ifndef SAFEFLOW_SERVICE_API_REQUEST_CONTEXT_H_
#define SAFEFLOW_SERVICE_API_REQUEST_CONTEXT_H_

#include <string>

#include "service/api/http.h"
#include "service/store/audit_store.h"
#include "service/store/task_store.h"

namespace safeflow::service {

// The projects the caller may see (nothing, for a request without a principal).
inline store::ProjectScope ScopeOf(const HttpRequest& req) {
  if (!req.principal) return store::ProjectScope::Only({});
  if (req.principal->all_projects) return store::ProjectScope::All();
  return store::ProjectScope::Only(req.principal->projects);
}

// An audit entry for `action` by the caller of `req`; the store fills in object and project.
inline store::AuditEntry AuditOf(const HttpRequest& req, std::string action,
                                 std::string outcome = "success") {
  store::AuditEntry e;
  e.request_id = req.request_id;
  if (req.principal) {
    e.actor = req.principal->subject;
    e.auth_method = req.principal->auth_method;
    e.role = req.principal->RolesString();
    if (!req.principal->credential_id.empty())
      e.details["credential"] = req.principal->credential_id;
  } else {
    e.actor = "unauthenticated";
    e.auth_method = "none";
  }
  e.action = std::move(action);
  e.outcome = std::move(outcome);
  e.details["peer"] = req.peer;
  return e;
}

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_REQUEST_CONTEXT_H_
