#include "service/api/refusal.h"

#include "service/api/request_context.h"
#include "service/log.h"

namespace safeflow::service {

HttpResponse FailResponse(const HttpRequest& req, const absl::Status& s) {
  if (!absl::IsNotFound(s) && !absl::IsInvalidArgument(s) && !absl::IsPermissionDenied(s) &&
      !absl::IsAlreadyExists(s) && !absl::IsFailedPrecondition(s) && !absl::IsUnavailable(s)) {
    Log().error("request_id={} {} {}: {}", req.request_id, req.method, req.path, s.message());
  }
  return ErrorResponse(s);
}

std::string RefusalOutcome(const absl::Status& s) {
  if (absl::IsNotFound(s)) return "not_found";
  if (absl::IsPermissionDenied(s) || absl::IsFailedPrecondition(s)) return "denied";
  if (absl::IsInvalidArgument(s) || absl::IsAlreadyExists(s) || absl::IsResourceExhausted(s)) {
    return "invalid";
  }
  return "error";
}

void AuditRefusal(store::AuditStore& audit, const HttpRequest& req, const std::string& action,
                  const absl::Status& why, const std::string& object_type,
                  const std::string& object_id, const nlohmann::json& details) {
  store::AuditEntry e = AuditOf(req, action, RefusalOutcome(why));
  e.object_type = object_type;
  e.object_id = object_id;
  for (const auto& [k, v] : details.items()) e.details[k] = v;
  std::string reason(why.message());
  if (reason.size() > 2000) reason = reason.substr(0, 2000) + "...";
  e.details["reason"] = reason;
  if (absl::Status s = audit.Append(e); !s.ok()) {
    Log().error("request_id={} audit of {} failed: {}", req.request_id, action, s.message());
  }
}

}  // namespace safeflow::service
