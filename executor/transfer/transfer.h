// executor/transfer/transfer.h. Moves task inputs from the secure zone's storage into a task's
// staging directory, and task outputs back. Every URL is checked against TransferConfig before
// anything moves:
//   file://   inputs must resolve (realpath, every symlink followed) under an input root,
//             outputs are written under an output root; symlinks never lead out of a root.
//   http(s):// inputs only, from allow-listed hosts; TLS verified; a redirect is followed only
//             to another allow-listed http(s) URL and never from https down to http.
//   s3://     inputs and outputs on the one configured S3 endpoint (SigV4, path-style).
// Errors: InvalidArgument (malformed URL, unsupported scheme, "." or "..", percent-encoded
// traversal), PermissionDenied (outside the roots, host not allow-listed, symlink escaping a
// root, s3 not configured, server said 401/403), NotFound, ResourceExhausted (max_input_bytes),
// DeadlineExceeded (timeout), Unavailable (connection or server failure), AlreadyExists (the
// destination is a non-empty directory).
// All functions are safe to call from multiple threads; each transfer is synchronous.
#ifndef SAFEFLOW_EXECUTOR_TRANSFER_TRANSFER_H_
#define SAFEFLOW_EXECUTOR_TRANSFER_TRANSFER_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace safeflow::executor::transfer {

struct S3Config {
  std::string endpoint;  // "http://127.0.0.1:4568" or "https://minio.example:9000", no path
  std::string region = "us-east-1";
  std::string access_key_id;
  std::string secret_access_key;
  bool path_style = true;     // endpoint/bucket/key; false: bucket.host/key (virtual-hosted)
  int list_page_size = 1000;  // keys per ListObjectsV2 request (1..1000; S3 caps at 1000)
};

struct TransferConfig {
  std::vector<std::string> input_roots;         // file:// inputs must resolve (realpath) under one
  std::vector<std::string> output_roots;        // file:// outputs must be written under one
  std::vector<std::string> http_allow_hosts;    // exact host names, or host:port, for http(s)
  std::optional<S3Config> s3;                   // s3:// inputs/outputs need it
  std::uint64_t max_input_bytes = 64ull << 30;  // per input (file or directory total)
  std::chrono::seconds timeout{3600};           // per transfer (a directory is one transfer)
  std::string ca_bundle;  // PEM file of trusted CAs for https and S3; empty: system store
};

// Startup validation of `config`, reporting every problem at once (InvalidArgument): roots
// absolute without "..", allow-list entries "host" or "host:port", an http(s) S3 endpoint
// without path, query or user info, credentials present, positive limits.
[[nodiscard]] absl::Status ValidateTransferConfig(const TransferConfig& config);

// Where a URL may be read from / written to, decided before anything moves. Used at task
// submission for an early 400/403 and again at transfer time. For file:// inputs the path is
// resolved if it exists (a missing input is not an error here: FetchInput reports NotFound),
// else its deepest existing ancestor must resolve under an input root. For file:// outputs
// the deepest existing ancestor must resolve under an output root. http(s) is input only.
[[nodiscard]] absl::Status CheckInputUrl(const TransferConfig& config, std::string_view url);
[[nodiscard]] absl::Status CheckOutputUrl(const TransferConfig& config, std::string_view url);

// Copies the input at `url` to the local path `dest` (a file, or a directory tree when
// `is_directory`; an s3 "directory" is every key under the prefix "key/"). Parent directories
// of `dest` are created. The data lands in a temporary name next to `dest` that is renamed
// into place at the end, so a failed fetch leaves nothing behind; `dest` may already exist as
// a file or an empty directory. Files are created 0644, directories 0755. Returns the bytes
// copied. Never follows a symlink out of the input roots (every entry's real path is checked
// on the opened descriptor), enforces max_input_bytes and the timeout.
[[nodiscard]] absl::StatusOr<std::uint64_t> FetchInput(const TransferConfig& config,
                                                       std::string_view url,
                                                       const std::string& dest, bool is_directory);

// Uploads the local regular file `src` to `url` and returns the bytes written. `src` is task
// output: it must be reached without any symlink (a task cannot link its outputs to host
// files). file:// outputs: parent directories are created (0750) under the output root, and
// the data is written to a temporary name (0640) in the same directory, synced, then renamed.
// s3:// outputs: one PUT (at most 5 GiB).
[[nodiscard]] absl::StatusOr<std::uint64_t> PutOutput(const TransferConfig& config,
                                                      const std::string& src, std::string_view url);

// `base` + '/' + `relative` with exactly one slash between them, for wildcard and directory
// outputs. `relative` is a local relative path: for file:// and http(s):// bases its bytes
// are percent-encoded where URLs need it ("a b%" -> "a%20b%25"), so that parsing the result
// yields the local name again; for s3:// it is appended as is (s3 keys are literal).
std::string JoinUrl(std::string_view base, std::string_view relative);

}  // namespace safeflow::executor::transfer

#endif  // SAFEFLOW_EXECUTOR_TRANSFER_TRANSFER_H_
