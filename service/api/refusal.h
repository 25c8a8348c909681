// service/api/refusal.h. What handlers that audit their refusals share: the error answer (with
// unexpected codes logged), the audit outcome of a refusal, and recording it.
#ifndef SAFEFLOW_SERVICE_API_REFUSAL_H_
#define SAFEFLOW_SERVICE_API_REFUSAL_H_

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

#include "service/api/http.h"
#include "service/store/audit_store.h"

namespace safeflow::service {

// ErrorResponse(s); codes a client can cause (not found, invalid, denied, conflict,
// precondition, unavailable) are not logged, anything else is logged as an error.
HttpResponse FailResponse(const HttpRequest& req, const absl::Status& s);

// The audit outcome of a refusal with status `s`: not_found, denied, invalid or error.
std::string RefusalOutcome(const absl::Status& s);

// Records a refused action in the audit log (the reason capped at 2000 bytes, `details` added);
// a failure to record it is logged.
void AuditRefusal(store::AuditStore& audit, const HttpRequest& req, const std::string& action,
                  const absl::Status& why, const std::string& object_type,
                  const std::string& object_id,
                  const nlohmann::json& details = nlohmann::json::object());

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_REFUSAL_H_
