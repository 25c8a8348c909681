#include <algorithm>

#include "absl/strings/numbers.h"
#include "nlohmann/json.hpp"

#include "service/api/http.h"

namespace safeflow::service {

std::optional<std::string> HttpRequest::Query(const std::string& name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::optional<std::string> HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

HttpResponse ErrorResponse(int http_status, const std::string& msg) {
  nlohmann::json body = {{"msg", msg}, {"status_code", http_status}};
  return HttpResponse::Json(http_status,
                            body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

HttpResponse ErrorResponse(const absl::Status& status) {
  const int code = HttpStatusFor(status.code());
  std::string msg(status.message());
  if (code == 500) msg = "internal error";  // details are logged by the caller, never sent
  if (code == 503 && msg.empty()) msg = "service unavailable";
  HttpResponse r = ErrorResponse(code, msg);
  if (code == 503) r.headers.emplace_back("Retry-After", "5");
  return r;
}

RangeRequest ParseRange(std::string_view header, std::uint64_t size) {
  RangeRequest out;
  auto trim = [](std::string_view t) {
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    return t;
  };
  std::string_view v = trim(header);
  if (v.substr(0, 6) != "bytes=") return out;
  v.remove_prefix(6);
  const std::size_t dash = v.find('-');
  if (dash == std::string_view::npos || v.find(',') != std::string_view::npos) return out;
  const std::string_view a = trim(v.substr(0, dash));
  const std::string_view b = trim(v.substr(dash + 1));
  auto number = [](std::string_view t, std::uint64_t& n) {
    if (t.empty() || t.size() > 19) return false;
    for (char c : t) {
      if (c < '0' || c > '9') return false;
    }
    return absl::SimpleAtoi(absl::string_view(t.data(), t.size()), &n);
  };
  std::uint64_t first = 0, last = 0;
  if (a.empty()) {  // suffix: the last N bytes
    if (!number(b, last) || last == 0) return out;
    if (size == 0) {
      out.unsatisfiable = true;
      return out;
    }
    const std::uint64_t n = std::min(last, size);
    out.range = ByteRange{size - n, n};
    return out;
  }
  if (!number(a, first)) return out;
  if (!b.empty() && (!number(b, last) || last < first)) return out;
  if (first >= size) {
    out.unsatisfiable = true;
    return out;
  }
  const std::uint64_t end = b.empty() ? size - 1 : std::min(last, size - 1);
  out.range = ByteRange{first, end - first + 1};
  return out;
}

}  // namespace safeflow::service
