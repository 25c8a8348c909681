#include "executor/transfer/http.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <unistd.h>

#include "fmt/format.h"
#include <curl/curl.h>

#include "executor/log.h"

namespace safeflow::executor::transfer::detail {
namespace {

constexpr size_t kMaxErrorBody = size_t{64} * 1024;
constexpr int kMaxRedirects = 5;

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      Log().error("transfer: curl_global_init failed");
    }
  });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Transfer {
  CURL* curl = nullptr;
  const HttpRequest* request = nullptr;
  HttpResponse response;
  absl::Status status;  // set by a callback that aborts the transfer
  std::uint64_t upload_left = 0;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  if (code < 200 || code > 299) {
    const size_t keep =
        std::min(len, kMaxErrorBody - std::min(kMaxErrorBody, t->response.error_body.size()));
    t->response.error_body.append(data, keep);
    return len;
  }
  const HttpRequest& r = *t->request;
  if (len > r.body_limit - t->response.body_bytes) {
    t->status = absl::ResourceExhaustedError(
        fmt::format("larger than the limit of {} bytes", r.body_limit));
    return 0;
  }
  if (r.body_fd >= 0) {
    size_t done = 0;
    while (done < len) {
      const ssize_t w = ::write(r.body_fd, data + done, len - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        const int err = errno;
        t->status = (err == ENOSPC || err == EDQUOT)
                        ? absl::ResourceExhaustedError(std::strerror(err))
                        : absl::InternalError(fmt::format("writing: {}", std::strerror(err)));
        return 0;
      }
      done += static_cast<size_t>(w);
    }
  } else if (r.body_string != nullptr) {
    r.body_string->append(data, len);
  }
  t->response.body_bytes += len;
  return len;
}

size_t OnUpload(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t want = static_cast<size_t>(std::min<std::uint64_t>(size * n, t->upload_left));
  if (want == 0) return 0;
  while (true) {
    const ssize_t r = ::read(t->request->upload_fd, buffer, want);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      t->status = absl::InternalError(fmt::format("reading the upload: {}", std::strerror(errno)));
      return CURL_READFUNC_ABORT;
    }
    if (r == 0) {
      t->status = absl::AbortedError("the file to upload shrank while it was being sent");
      return CURL_READFUNC_ABORT;
    }
    t->upload_left -= static_cast<std::uint64_t>(r);
    return static_cast<size_t>(r);
  }
}

absl::Status CurlErrorStatus(CURLcode rc, const char* detail, std::string_view what) {
  const std::string msg =
      fmt::format("{}: {}", what, (detail != nullptr && *detail) ? detail : curl_easy_strerror(rc));
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(msg);
    case CURLE_FILESIZE_EXCEEDED:
      return absl::ResourceExhaustedError(msg);
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return absl::InvalidArgumentError(msg);
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

bool IsRedirect(long status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace

absl::StatusOr<HttpResponse> PerformHttp(const HttpRequest& request, const Deadline& deadline,
                                         std::string_view what) {
  EnsureCurlInitialized();
  const long timeout_ms = static_cast<long>(deadline.Remaining().count());
  if (timeout_ms <= 0) {
    return absl::DeadlineExceededError(fmt::format("{}: the transfer timed out", what));
  }
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  Transfer t;
  t.curl = curl.get();
  t.request = &request;
  t.upload_left = request.upload_size;
  char error[CURL_ERROR_SIZE] = {0};

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  for (const std::string& h : request.headers) {
    curl_slist* l = curl_slist_append(headers.get(), h.c_str());
    if (l == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
    (void)headers.release();  // now owned by `l`, the same list
    headers.reset(l);
  }

  CURLcode rc = CURLE_OK;
  auto set = [&](CURLoption option, auto value) {
    if (rc == CURLE_OK) rc = curl_easy_setopt(curl.get(), option, value);
  };
  CURL* c = curl.get();
  set(CURLOPT_URL, request.url.c_str());
  set(CURLOPT_NOSIGNAL, 1L);
  set(CURLOPT_PROTOCOLS_STR, "http,https");
  set(CURLOPT_FOLLOWLOCATION, 0L);
  set(CURLOPT_TIMEOUT_MS, timeout_ms);
  set(CURLOPT_SSL_VERIFYPEER, 1L);
  set(CURLOPT_SSL_VERIFYHOST, 2L);
  if (!request.ca_bundle.empty()) set(CURLOPT_CAINFO, request.ca_bundle.c_str());
  set(CURLOPT_USERAGENT, "safeflow-transfer");
  set(CURLOPT_ERRORBUFFER, error);
  set(CURLOPT_WRITEFUNCTION, OnBody);
  set(CURLOPT_WRITEDATA, &t);
  if (headers != nullptr) set(CURLOPT_HTTPHEADER, headers.get());
  if (!request.aws_sigv4.empty()) {
    set(CURLOPT_AWS_SIGV4, request.aws_sigv4.c_str());
    set(CURLOPT_USERNAME, request.username.c_str());
    set(CURLOPT_PASSWORD, request.password.c_str());
  }
  if (request.method == "PUT") {
    set(CURLOPT_UPLOAD, 1L);
    set(CURLOPT_READFUNCTION, OnUpload);
    set(CURLOPT_READDATA, &t);
    set(CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.upload_size));
  } else if (request.method == "GET") {
    set(CURLOPT_HTTPGET, 1L);
  } else {
    return absl::InvalidArgumentError(fmt::format("unsupported method {}", request.method));
  }
  if (rc != CURLE_OK) {
    return absl::InternalError(fmt::format("{}: curl setup: {}", what, curl_easy_strerror(rc)));
  }

  rc = curl_easy_perform(c);
  if (!t.status.ok()) {
    return absl::Status(t.status.code(), fmt::format("{}: {}", what, t.status.message()));
  }
  if (rc != CURLE_OK) return CurlErrorStatus(rc, error, what);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.response.status);
  if (IsRedirect(t.response.status)) {
    char* location = nullptr;
    if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location) == CURLE_OK && location) {
      t.response.redirect_url = location;
    }
  }
  return std::move(t.response);
}

absl::Status HttpErrorStatus(long status, std::string_view what, std::string_view detail) {
  const std::string msg = detail.empty() ? fmt::format("{}: HTTP {}", what, status)
                                         : fmt::format("{}: HTTP {} ({})", what, status, detail);
  if (status == 404 || status == 410) return absl::NotFoundError(msg);
  if (status == 401 || status == 403) return absl::PermissionDeniedError(msg);
  if (status == 408 || status == 429 || status >= 500) return absl::UnavailableError(msg);
  if (status == 400) return absl::InvalidArgumentError(msg);
  return absl::FailedPreconditionError(msg);
}

bool HostAllowed(const TransferConfig& config, const TransferUrl& url) {
  const std::string with_port = fmt::format("{}:{}", url.host, url.port);
  for (const std::string& entry : config.http_allow_hosts) {
    std::string lower = entry;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (lower == url.host || lower == with_port) return true;
  }
  return false;
}

absl::StatusOr<std::uint64_t> FetchHttp(const TransferConfig& config, const TransferUrl& url,
                                        const std::string& dest, const Deadline& deadline) {
  absl::StatusOr<StagedDest> staged = StagedDest::Create(dest, false);
  if (!staged.ok()) return staged.status();
  TransferUrl current = url;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    if (!HostAllowed(config, current)) {
      return absl::PermissionDeniedError(fmt::format("host {} is not in the http allow-list ({})",
                                                     current.host, RedactUrl(current.url)));
    }
    if (::ftruncate(staged->fd(), 0) != 0 || ::lseek(staged->fd(), 0, SEEK_SET) != 0) {
      return absl::InternalError(fmt::format("resetting {}: {}", dest, std::strerror(errno)));
    }
    const std::string what = RedactUrl(current.url);
    HttpRequest request{.url = current.url,
                        .body_fd = staged->fd(),
                        .body_limit = config.max_input_bytes,
                        .ca_bundle = config.ca_bundle};
    absl::StatusOr<HttpResponse> response = PerformHttp(request, deadline, what);
    if (!response.ok()) return response.status();
    if (response->status >= 200 && response->status <= 299) {
      if (absl::Status s = staged->Commit(); !s.ok()) return s;
      return response->body_bytes;
    }
    if (!IsRedirect(response->status) || response->redirect_url.empty()) {
      return HttpErrorStatus(response->status, what, "");
    }
    absl::StatusOr<TransferUrl> next = ParseTransferUrl(response->redirect_url);
    if (!next.ok()) {
      return absl::PermissionDeniedError(
          fmt::format("{} redirects to an unusable URL: {}", what, next.status().message()));
    }
    if (next->scheme != Scheme::kHttp && next->scheme != Scheme::kHttps) {
      return absl::PermissionDeniedError(fmt::format("{} redirects to a non-http(s) URL", what));
    }
    if (current.scheme == Scheme::kHttps && next->scheme == Scheme::kHttp) {
      return absl::PermissionDeniedError(fmt::format("{} redirects from https to http", what));
    }
    if (!HostAllowed(config, *next)) {
      return absl::PermissionDeniedError(fmt::format(
          "{} redirects to host {}, which is not in the http allow-list", what, next->host));
    }
    current = *std::move(next);
  }
  return absl::UnavailableError(
      fmt::format("{}: more than {} redirects", RedactUrl(url.url), kMaxRedirects));
}

}  // namespace safeflow::executor::transfer::detail
