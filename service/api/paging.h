// service/api/paging.h. The page_size query parameter that the list endpoints share.
#ifndef SAFEFLOW_SERVICE_API_PAGING_H_
#define SAFEFLOW_SERVICE_API_PAGING_H_

#include <charconv>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace safeflow::service {

// `default_size` when absent; InvalidArgument unless an integer from 1 to `max_size`.
inline absl::StatusOr<int> ParsePageSize(const std::optional<std::string>& v, int default_size,
                                         int max_size) {
  if (!v) return default_size;
  int n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc() || end != v->data() + v->size() || n < 1 || n > max_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size must be an integer from 1 to ", max_size));
  }
  return n;
}

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_PAGING_H_
