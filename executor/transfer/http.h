// executor/transfer/http.h. One bounded libcurl request at a time, and http(s) inputs on top.
// Internal to executor/transfer/. Thread-safe: every call uses its own curl handle.
#ifndef SAFEFLOW_EXECUTOR_TRANSFER_HTTP_H_
#define SAFEFLOW_EXECUTOR_TRANSFER_HTTP_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "executor/transfer/local_files.h"
#include "executor/transfer/transfer.h"
#include "executor/transfer/url.h"

namespace safeflow::executor::transfer::detail {

struct HttpRequest {
  std::string url;
  std::string method = "GET";        // "GET" or "PUT"
  std::vector<std::string> headers;  // "Name: value"
  std::string aws_sigv4;             // CURLOPT_AWS_SIGV4 ("aws:amz:REGION:s3"); empty: unsigned
  std::string username;              // with aws_sigv4: the access key id
  std::string password;              // with aws_sigv4: the secret access key
  int upload_fd = -1;                // PUT: the body, upload_size bytes from its offset
  std::uint64_t upload_size = 0;
  // A 2xx body goes to body_fd, or else to body_string; more than body_limit bytes is
  // ResourceExhausted.
  int body_fd = -1;
  std::string* body_string = nullptr;
  std::uint64_t body_limit = 0;
  std::string ca_bundle;  // CURLOPT_CAINFO when not empty
};

struct HttpResponse {
  long status = 0;
  std::string redirect_url;      // 3xx: the absolute target of Location
  std::string error_body;        // a non-2xx body, at most 64 KiB
  std::uint64_t body_bytes = 0;  // 2xx body bytes delivered
};

// Sends one request (redirects are not followed) within the deadline. Any HTTP status is a
// response; transport failures become DeadlineExceeded, Unavailable, ResourceExhausted (body
// over the limit) or Internal.
[[nodiscard]] absl::StatusOr<HttpResponse> PerformHttp(const HttpRequest& request,
                                                       const Deadline& deadline,
                                                       std::string_view what);

// The status for a non-2xx HTTP response: 404/410 NotFound, 401/403 PermissionDenied,
// 408/429/5xx Unavailable, 400 InvalidArgument, other FailedPrecondition.
absl::Status HttpErrorStatus(long status, std::string_view what, std::string_view detail);

// Whether the http(s) URL's host is in config.http_allow_hosts ("host" or "host:port").
bool HostAllowed(const TransferConfig& config, const TransferUrl& url);

// An http(s) input into the file `dest`, following at most 5 redirects, each checked like the
// original URL and never from https to http.
[[nodiscard]] absl::StatusOr<std::uint64_t> FetchHttp(const TransferConfig& config,
                                                      const TransferUrl& url,
                                                      const std::string& dest,
                                                      const Deadline& deadline);

}  // namespace safeflow::executor::transfer::detail

#endif  // SAFEFLOW_EXECUTOR_TRANSFER_HTTP_H_
