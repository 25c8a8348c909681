// executor/paths.h. Small, pure helpers for slash-separated paths, shared by the sandbox, the
// worker protocol and the transfers.
#ifndef SAFEFLOW_EXECUTOR_PATHS_H_
#define SAFEFLOW_EXECUTOR_PATHS_H_

#include <cstddef>
#include <string_view>
#include <vector>

namespace safeflow::executor {

// "a/b//c" -> {"a", "b", "", "c"}; "" -> {""}. Empty parts are kept.
inline std::vector<std::string_view> SplitSlash(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t pos = s.find('/', start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

// Absolute, no empty/"."/".." components, no trailing slash (except "/" itself), no NUL.
inline bool IsNormalizedAbsolute(std::string_view p) {
  if (p.empty() || p[0] != '/' || p.find('\0') != std::string_view::npos) return false;
  if (p == "/") return true;
  if (p.back() == '/') return false;
  for (std::string_view part : SplitSlash(p.substr(1))) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

}  // namespace safeflow::executor

#endif  // SAFEFLOW_EXECUTOR_PATHS_H_
