// service/cli/client.h. What the safeflow CLI's server commands share: one HTTP call to the
// server (token as a bearer, CA bundle from $SAFEFLOW_CA_BUNDLE), the server's error message,
// reading a bundle directory and building multipart/form-data bodies. Not thread-safe: the CLI
// is one thread (curl_global_init is main's).
#ifndef SAFEFLOW_SERVICE_CLI_CLIENT_H_
#define SAFEFLOW_SERVICE_CLI_CLIENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "service/registry/bundle.h"

namespace safeflow::cli {

struct Response {
  long status = 0;  // 0: the request failed (see error)
  std::string body, error;
};

// One request to `url` (method GET or POST); `token` as a bearer token unless empty.
Response Call(const std::string& method, const std::string& url, const std::string& token,
              const std::string& content_type = "", const std::string& body = "");

// What a download did: the file's size and SHA-256 (lowercase hex), and the byte it resumed
// from (0 for a whole download).
struct DownloadInfo {
  std::uint64_t bytes = 0;
  std::string sha256;
  std::uint64_t resumed_from = 0;
};

// GETs `url` straight into the file `out_path`, hashing as it arrives. The bytes go to
// `out_path`.part (mode 0600, never through a symlink), which is renamed to `out_path` only
// when the file is complete and its SHA-256 (lowercase hex) equals `expect_sha256`; the answer
// then has status 200. A part file left by an interrupted download is resumed with a Range
// request (a 200 instead of 206 starts it again). A transfer cut short keeps the part file;
// an HTTP error, a failed write or a SHA-256 mismatch removes it and is an error: the
// Response's status and error body (at most 64 KiB kept), or `error`. Gives up when less than
// 1 byte/s arrives for 60 s (no overall time limit).
Response Download(const std::string& url, const std::string& token, const std::string& out_path,
                  const std::string& expect_sha256, DownloadInfo& info);

// "HTTP <status>: <the server's msg>" (or the raw body), or the transport error.
std::string ErrorOf(const Response& r);

// A path segment with everything but unreserved characters, '@' and ':' percent-encoded.
std::string EscapeSegment(const std::string& s);

// Prints `body` as indented JSON, or as it is when it is not JSON.
void PrintJson(const std::string& body);

// The regular files under `dir`, sorted by their '/'-separated path relative to `dir`.
// Symbolic links and special files are refused (InvalidArgument).
[[nodiscard]] absl::StatusOr<std::vector<service::registry::BundleFile>> ReadBundleDir(
    const std::string& dir);

// One part of a multipart/form-data body; files (with a filename) are application/octet-stream.
struct FormPart {
  std::string name;
  std::string content;
  std::optional<std::string> filename;
};

struct Form {
  std::string content_type;  // "multipart/form-data; boundary=..."
  std::string body;
};

// The body of `parts` with a random boundary. InvalidArgument when a name or filename has a
// quote, backslash or control character.
[[nodiscard]] absl::StatusOr<Form> MultipartForm(const std::vector<FormPart>& parts);

}  // namespace safeflow::cli

#endif  // SAFEFLOW_SERVICE_CLI_CLIENT_H_
