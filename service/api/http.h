// service/api/http.h. The HTTP vocabulary the handlers see: a parsed request and the response
// they return. Independent of Pistache so that handlers are testable without a socket.
#ifndef SAFEFLOW_SERVICE_API_HTTP_H_
#define SAFEFLOW_SERVICE_API_HTTP_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

#include "service/auth/principal.h"

namespace safeflow::service {

struct HttpRequest {
  std::string method;                                      // "GET", "POST", ...
  std::string path;                                        // without the query string
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::map<std::string, std::string> headers;              // names lower-cased
  std::string body;
  std::string peer;                                // remote address of the TCP peer
  std::string request_id;                          // X-Request-Id, sanitised or generated
  std::map<std::string, std::string> path_params;  // filled by the router
  std::optional<Principal> principal;              // set for authenticated routes

  // First value of a query parameter.
  std::optional<std::string> Query(const std::string& name) const;
  // A header by lower-case name.
  std::optional<std::string> Header(const std::string& lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse Json(int status, std::string body);
  static HttpResponse Text(int status, std::string body, std::string content_type = "text/plain");
};

// The GA4GH error body {"msg": ..., "status_code": ...} for `status`, with the HTTP status
// that matches its code. Internal errors answer a generic message (details are logged, never
// sent). Unavailable adds Retry-After.
HttpResponse ErrorResponse(const absl::Status& status);
HttpResponse ErrorResponse(int http_status, const std::string& msg);
int HttpStatusFor(absl::StatusCode code);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_HTTP_H_
