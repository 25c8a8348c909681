// executor/transfer/s3.h. s3:// inputs and outputs on the configured endpoint: GET and PUT of
// objects and ListObjectsV2 for "directories", signed by libcurl (CURLOPT_AWS_SIGV4) with the
// x-amz-content-sha256 header always sent. Keys are percent-encoded per S3's rules (every byte
// but A-Z a-z 0-9 - . _ ~ and '/'), and query strings are written in SigV4's canonical order,
// because libcurl 7.88 signs the path and query exactly as given.
// Internal to executor/transfer/. Thread-safe.
#ifndef SAFEFLOW_EXECUTOR_TRANSFER_S3_H_
#define SAFEFLOW_EXECUTOR_TRANSFER_S3_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

#include "executor/transfer/local_files.h"
#include "executor/transfer/transfer.h"
#include "executor/transfer/url.h"

namespace safeflow::executor::transfer::detail {

// endpoint/bucket/key (path style) or scheme://bucket.host/key (virtual-hosted).
std::string S3ObjectUrl(const S3Config& s3, std::string_view bucket, std::string_view key);
// A ListObjectsV2 request for keys under `prefix`, after `continuation_token` if not empty.
std::string S3ListUrl(const S3Config& s3, std::string_view bucket, std::string_view prefix,
                      std::string_view continuation_token, int max_keys);

struct S3Object {
  std::string key;
  std::uint64_t size = 0;
};
struct S3ListPage {
  std::vector<S3Object> objects;
  bool truncated = false;
  std::string next_continuation_token;
};
// Extracts <Contents><Key>/<Size>, <IsTruncated> and <NextContinuationToken> from a
// ListObjectsV2 response; keys are URL-decoded when it says <EncodingType>url</EncodingType>.
// InvalidArgument for a document that is not one, or lacks a key or size.
[[nodiscard]] absl::StatusOr<S3ListPage> ParseListObjectsV2(std::string_view xml);

// Text content with the XML entities (&amp; &lt; &gt; &quot; &apos; &#N; &#xH;) and CDATA
// sections decoded; an unknown or malformed entity is kept as written.
std::string DecodeXmlText(std::string_view text);
// "Code: Message" from an S3 error document, or "" when there is none.
std::string S3ErrorSummary(std::string_view xml);

// An s3 input (one object, or every key under "key/" when `is_directory`) into `dest`.
[[nodiscard]] absl::StatusOr<std::uint64_t> FetchS3(const TransferConfig& config,
                                                    const TransferUrl& url, const std::string& dest,
                                                    bool is_directory, const Deadline& deadline);
// Task output `src` to the s3 object `url`. Over plain http the payload is hashed and signed;
// over https it is sent as UNSIGNED-PAYLOAD (TLS protects it) to avoid reading it twice.
[[nodiscard]] absl::StatusOr<std::uint64_t> PutS3(const TransferConfig& config,
                                                  const std::string& src, const TransferUrl& url,
                                                  const Deadline& deadline);

}  // namespace safeflow::executor::transfer::detail

#endif  // SAFEFLOW_EXECUTOR_TRANSFER_S3_H_
