// executor/log_format.h. Lets fmt/spdlog format absl::string_view (Debian's abseil 20220623
// is built with its own string_view, which fmt does not know), e.g. status.message().
#ifndef SAFEFLOW_EXECUTOR_LOG_FORMAT_H_
#define SAFEFLOW_EXECUTOR_LOG_FORMAT_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fmt/format.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename Ctx>
  auto format(absl::string_view s, Ctx& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(s.data(), s.size()), ctx);
  }
};

template <>
struct fmt::formatter<absl::Status> : fmt::formatter<fmt::string_view> {
  template <typename Ctx>
  auto format(const absl::Status& s, Ctx& ctx) const {
    const std::string text = s.ToString();
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(text), ctx);
  }
};

#endif  // SAFEFLOW_EXECUTOR_LOG_FORMAT_H_
