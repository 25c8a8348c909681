// service/api/http.h. The HTTP vocabulary the handlers see: a parsed request and the response
// they return. Independent of Pistache so that handlers are testable without a socket.
#ifndef SAFEFLOW_SERVICE_API_HTTP_H_
#define SAFEFLOW_SERVICE_API_HTTP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
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

// Where a streamed body goes. Write returns once the bytes are on their way to the client,
// keeping only a few writes in flight, so a producer runs at the client's pace and holds no
// more than that in memory. An error (the client went away, read nothing for the server's
// stream_stall_seconds, or the server is shutting down and its grace period is over) means
// the producer must stop.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  [[nodiscard]] virtual absl::Status Write(std::string_view bytes) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  // A body too large to hold. When set, `body` is ignored: the response is sent with
  // Content-Length `stream_bytes` and "Connection: close", then `stream` is called, on the
  // handler's thread, to write exactly that many bytes. If it fails or writes a different
  // count, the connection is cut so that the client sees a short body, never a wrong one.
  std::function<absl::Status(BodyWriter&)> stream;
  std::uint64_t stream_bytes = 0;

  static HttpResponse Json(int status, std::string body);
  static HttpResponse Text(int status, std::string body, std::string content_type = "text/plain");
};

// One byte range of a body of known size (RFC 9110 14.1.2), for 206 Partial Content.
struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t count = 0;  // at least 1
};
struct RangeRequest {
  std::optional<ByteRange> range;  // unset: send the whole body (200)
  bool unsatisfiable = false;      // 416: the range starts at or past the end
};
// Reads a Range header value for a body of `size` bytes. Serves a single "bytes=FIRST-",
// "bytes=FIRST-LAST" or "bytes=-SUFFIX" range (LAST past the end is clipped); anything else
// (several ranges, other units, garbage) is ignored, as RFC 9110 allows, and the whole body
// is sent.
RangeRequest ParseRange(std::string_view header, std::uint64_t size);

// The GA4GH error body {"msg": ..., "status_code": ...} for `status`, with the HTTP status
// that matches its code. Internal errors answer a generic message (details are logged, never
// sent). Unavailable adds Retry-After.
HttpResponse ErrorResponse(const absl::Status& status);
HttpResponse ErrorResponse(int http_status, const std::string& msg);
int HttpStatusFor(absl::StatusCode code);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_HTTP_H_
