// service/api/multipart.h. A streaming multipart/form-data parser (RFC 7578 over RFC 2046) for the
// WES 1.1 POST /runs endpoint, plus helpers for the Content-Type boundary and for the relative
// paths that `workflow_attachment` file parts carry. Pure code: no Pistache, no I/O.
//
// Wire format accepted:
// - Line endings are CRLF only. A bare LF is never a line ending: in a header block it is a
//   "bad header line"; in part data it is data. (Clients in the wild that send bare LF are not
//   WES clients; accepting both would make the delimiter ambiguous.)
// - The body may begin with the first delimiter ("--boundary") or with a preamble, which is
//   ignored. A delimiter is CRLF "--" boundary, followed by optional transport padding (spaces,
//   tabs) and CRLF; the close delimiter is CRLF "--" boundary "--", optionally followed by
//   padding, and then either the end of the body or CRLF and an epilogue, which is ignored.
//   Any other bytes after "--boundary" are an error (RFC 2046 forbids the delimiter inside data).
// - Header names are case-insensitive; obsolete line folding is refused. Only
//   Content-Disposition (required: "form-data" with a `name`) and Content-Type are interpreted;
//   other headers (e.g. Content-Transfer-Encoding, deprecated by RFC 7578) are ignored.
//   Parameters may be tokens or quoted strings (with backslash quoted-pairs).
//   `filename*` (RFC 5987) is refused: RFC 7578 section 4.2 says senders must not use it.
//
// Errors: InvalidArgument with a message naming the problem; ResourceExhausted naming the
// MultipartLimits field that was exceeded.
#ifndef SAFEFLOW_SERVICE_API_MULTIPART_H_
#define SAFEFLOW_SERVICE_API_MULTIPART_H_

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace safeflow::service {

// Limits, all explicit; exceeding one is a ResourceExhausted error naming it.
struct MultipartLimits {
  std::size_t max_parts = 1000;
  std::size_t max_header_bytes = 16 * 1024;  // per part, all header lines with their CRLFs
  std::size_t max_field_bytes = 1 << 20;     // a non-file part's value
  std::size_t max_file_bytes = 256u << 20;   // one file part
  std::size_t max_total_bytes = 1u << 30;    // the whole body, preamble and epilogue included
};

struct MultipartPart {
  std::string name;                     // Content-Disposition name (required)
  std::optional<std::string> filename;  // present for file parts (may contain '/': relative paths)
  std::string content_type = "text/plain";
  std::string data;
};

// Extracts the boundary from a Content-Type header value ("multipart/form-data; boundary=...",
// token or quoted, parameter names case-insensitive). InvalidArgument for another media type, a
// missing, empty, duplicated or too long (> 70 chars, RFC 2046) boundary, or characters outside
// RFC 2046's bchars (a space is allowed only inside, not last, and only when quoted).
[[nodiscard]] absl::StatusOr<std::string> MultipartBoundary(std::string_view content_type);

// Incremental parser. Feed() any chunking of the body (one byte at a time works), then Finish().
// Each completed part is passed to the callback as soon as its closing delimiter is seen, so
// memory is bounded by the current part (and at most a delimiter's worth of lookahead). A
// non-OK status from the callback aborts parsing and is returned. After an error, every later
// call returns that error. Not thread-safe; one parser per request.
class MultipartParser {
 public:
  using PartCallback = std::function<absl::Status(MultipartPart part)>;

  // `boundary` as returned by MultipartBoundary(); it is not validated again here beyond being
  // non-empty (an empty boundary makes every call fail with InvalidArgument).
  MultipartParser(std::string_view boundary, const MultipartLimits& limits, PartCallback on_part);
  MultipartParser(const MultipartParser&) = delete;
  MultipartParser& operator=(const MultipartParser&) = delete;

  [[nodiscard]] absl::Status Feed(std::string_view chunk);
  // Declares the end of the body: InvalidArgument unless the close delimiter was seen.
  [[nodiscard]] absl::Status Finish();

  // Number of parts delivered so far.
  std::size_t parts() const { return parts_; }

 private:
  enum class State {
    kPreamble,        // looking for the first delimiter
    kAfterDelimiter,  // just read CRLF--boundary: "--", padding or CRLF follows
    kHeaders,         // reading a part's header lines
    kBody,            // reading a part's data
    kAfterClose,      // read the close delimiter: padding, then end or CRLF
    kEpilogue,        // ignoring everything
    kFinished,        // Finish() succeeded
  };

  absl::Status Run();
  absl::Status Fail(absl::Status status);
  absl::Status HeaderLine(std::string_view line);
  absl::Status EndHeaders();
  absl::Status AppendData(std::string_view data);

  const std::string delimiter_;  // CRLF "--" boundary
  const MultipartLimits limits_;
  const PartCallback on_part_;

  State state_ = State::kPreamble;
  absl::Status error_;
  std::string buf_;               // unconsumed input
  std::size_t total_bytes_ = 0;   // bytes fed so far
  std::size_t parts_ = 0;         // parts delivered
  std::size_t header_bytes_ = 0;  // header bytes of the current part
  bool padding_seen_ = false;     // transport padding after the current delimiter
  bool have_disposition_ = false;
  bool have_content_type_ = false;
  MultipartPart part_;  // the part being read
};

// Convenience: parses a whole body.
[[nodiscard]] absl::StatusOr<std::vector<MultipartPart>> ParseMultipart(
    std::string_view body, std::string_view boundary, const MultipartLimits& limits = {});

// For workflow_attachment filenames: checks that `filename` is a safe relative path. Refuses
// empty names, absolute paths, "." and ".." components, empty components ("a//b", trailing "/"),
// backslashes, NUL and other control characters, percent-encoded '.', '/', '\', '%' or control
// characters (so "%2e%2e/x" and "%252e" are refused), components over 255 bytes and paths over
// 4096 bytes. Since every non-canonical spelling is refused, the normalized path returned is the
// input itself. InvalidArgument names the problem.
[[nodiscard]] absl::StatusOr<std::string> SafeRelativePath(std::string_view filename);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_MULTIPART_H_
