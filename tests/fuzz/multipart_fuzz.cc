// libFuzzer target for service/api/multipart.h. Not built by CI; see tests/fuzz/README.md.
// The first input byte selects the split point of the body between two Feed() calls; the body
// is also parsed with ParseMultipart(), and both must agree. The input is also given to
// SafeRelativePath() and MultipartBoundary().
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "service/api/multipart.h"

namespace {

using safeflow::service::MultipartLimits;
using safeflow::service::MultipartParser;
using safeflow::service::MultipartPart;

constexpr std::string_view kBoundary = "XyZzy";

MultipartLimits TightLimits() {
  MultipartLimits limits;
  limits.max_parts = 8;
  limits.max_header_bytes = 256;
  limits.max_field_bytes = 512;
  limits.max_file_bytes = 1024;
  limits.max_total_bytes = 3000;
  return limits;
}

bool SameParts(const std::vector<MultipartPart>& a, const std::vector<MultipartPart>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].filename != b[i].filename ||
        a[i].content_type != b[i].content_type || a[i].data != b[i].data) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const MultipartLimits limits = TightLimits();

  // Streaming, split in two at a point chosen by the first byte.
  std::string_view body = input;
  std::size_t split = 0;
  if (!body.empty()) {
    split = static_cast<unsigned char>(body.front());
    body.remove_prefix(1);
  }
  split = body.empty() ? 0 : split % (body.size() + 1);
  std::vector<MultipartPart> streamed;
  MultipartParser parser(kBoundary, limits, [&streamed](MultipartPart part) {
    streamed.push_back(std::move(part));
    return absl::OkStatus();
  });
  absl::Status status = parser.Feed(body.substr(0, split));
  if (status.ok()) status = parser.Feed(body.substr(split));
  if (status.ok()) status = parser.Finish();
  // Errors are sticky.
  if (!status.ok() && parser.Feed("x").code() != status.code()) std::abort();

  // Whole-body API: same verdict and parts regardless of chunking.
  absl::StatusOr<std::vector<MultipartPart>> whole =
      safeflow::service::ParseMultipart(body, kBoundary, limits);
  if (whole.ok() != status.ok()) std::abort();
  if (whole.ok() && !SameParts(*whole, streamed)) std::abort();
  if (whole.ok()) {
    for (const MultipartPart& part : *whole) {
      if (part.data.size() > (part.filename ? limits.max_file_bytes : limits.max_field_bytes)) {
        std::abort();
      }
    }
  }

  // Path and Content-Type helpers.
  absl::StatusOr<std::string> path = safeflow::service::SafeRelativePath(input);
  if (path.ok()) {
    // Every accepted path is relative, with no empty, "." or ".." component.
    if (*path != input || path->empty() || path->front() == '/' ||
        path->find('\\') != std::string::npos) {
      std::abort();
    }
    const std::string p = "/" + *path + "/";
    if (p.find("//") != std::string::npos || p.find("/./") != std::string::npos ||
        p.find("/../") != std::string::npos) {
      std::abort();
    }
  }
  absl::StatusOr<std::string> boundary = safeflow::service::MultipartBoundary(input);
  if (boundary.ok() && (boundary->empty() || boundary->size() > 70)) std::abort();
  return 0;
}
