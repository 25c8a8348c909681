// service/api/json_io.h. What JSON handlers share: writing a response body (invalid UTF-8
// replaced, never thrown) and reading a request body that must be a JSON object.
#ifndef SAFEFLOW_SERVICE_API_JSON_IO_H_
#define SAFEFLOW_SERVICE_API_JSON_IO_H_

#include <optional>
#include <string>

#include "nlohmann/json.hpp"

#include "service/api/http.h"

namespace safeflow::service {

inline std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline HttpResponse JsonOk(const nlohmann::json& j, int status = 200) {
  return HttpResponse::Json(status, DumpJson(j));
}

// Parses a JSON object body into `out`, or returns the 400 that says why not.
inline std::optional<HttpResponse> ParseJsonObjectBody(const HttpRequest& req,
                                                       nlohmann::json& out) {
  out = nlohmann::json::parse(req.body, nullptr, false);
  if (out.is_discarded()) return ErrorResponse(400, "request body is not valid JSON");
  if (!out.is_object()) return ErrorResponse(400, "request body must be a JSON object");
  return std::nullopt;
}

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_JSON_IO_H_
