// executor/transfer/url.h. Parses the URLs of TES inputs and outputs into what a transfer
// needs, rejecting anything ambiguous. Pure: no I/O. Internal to executor/transfer/ (tests use
// it directly).
//
//   file:///abs/path, file://localhost/abs/path  percent-decoded; no '?', '#', "%2F" or NUL
//   http(s)://host[:port]/path?query            no user info; the URL libcurl will fetch
//   s3://bucket/key                              the key is taken literally (as the AWS CLI
//                                                does): "my file" is the key "my file"
// Every scheme: no control characters, no "." or ".." path segments, written or
// percent-encoded ("%2e%2e"), as those are how traversal is attempted.
#ifndef SAFEFLOW_EXECUTOR_TRANSFER_URL_H_
#define SAFEFLOW_EXECUTOR_TRANSFER_URL_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace safeflow::executor::transfer {

enum class Scheme { kFile, kHttp, kHttps, kS3 };

struct TransferUrl {
  Scheme scheme = Scheme::kFile;
  std::string path;    // kFile: decoded absolute path, without "//" or a trailing '/'
  std::string url;     // kHttp(s): the URL to fetch (no fragment)
  std::string host;    // kHttp(s): lower-case host ("[::1]" for IPv6)
  int port = 0;        // kHttp(s): the explicit or default port
  std::string bucket;  // kS3
  std::string key;     // kS3: may be empty or end in '/'
};

// InvalidArgument (with the reason) for anything malformed, unsupported or traversing.
[[nodiscard]] absl::StatusOr<TransferUrl> ParseTransferUrl(std::string_view url);

// The URL without query, fragment and user info, for messages and logs (a presigned query
// string is a credential).
std::string RedactUrl(std::string_view url);

// True when `path` is `root` or below it; both absolute and normalized (no trailing '/').
bool PathIsUnder(std::string_view path, std::string_view root);

// Lexically normalizes an absolute path: collapses "//", drops "." segments and a trailing
// '/'. InvalidArgument for a relative path or a ".." segment.
[[nodiscard]] absl::StatusOr<std::string> NormalizeAbsolutePath(std::string_view path);

// True for S3 bucket names (3-63 of a-z 0-9 . -, starting and ending alphanumeric).
bool IsValidBucketName(std::string_view bucket);

}  // namespace safeflow::executor::transfer

#endif  // SAFEFLOW_EXECUTOR_TRANSFER_URL_H_
