#include "schemas/tes/validate.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

#include "schemas/tes/decode.h"

namespace safeflow::schemas::tes {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

char ToLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  const char l = ToLower(c);
  if (l >= 'a' && l <= 'f') return l - 'a' + 10;
  return -1;
}

// Percent-decodes `s`; nullopt on a malformed escape ("%", "%4", "%zz").
std::optional<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = HexValue(s[i + 1]);
    const int lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// True when `path` has a ".." segment, counting '\\' (WHATWG URL parsers treat it as '/' in file
// URLs) and '?' '#' (where a query or fragment would start) as separators too.
bool HasDotDotSegment(std::string_view path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find_first_of("/\\?#", start);
    if (end == std::string_view::npos) end = path.size();
    if (path.substr(start, end - start) == "..") return true;
    start = end + 1;
  }
  return false;
}

// The rules for the path part of a file: URL (see CheckUrl).
std::string CheckFileUrlPath(std::string_view raw) {
  std::optional<std::string> decoded = PercentDecode(raw);
  if (!decoded) return "file URL has a malformed percent-escape";
  if (decoded->find('\0') != std::string::npos) return "file URL path must not contain NUL";
  if (decoded->empty() || decoded->front() != '/') return "file URL path must be absolute";
  if (HasDotDotSegment(raw) || HasDotDotSegment(*decoded)) {
    return "file URL path must not contain '..' segments (also percent-encoded)";
  }
  // Defence in depth against servers that decode twice ("%252e%252e").
  if (std::optional<std::string> twice = PercentDecode(*decoded);
      twice && HasDotDotSegment(*twice)) {
    return "file URL path must not contain '..' segments (also percent-encoded)";
  }
  return "";
}

}  // namespace

bool IsWildcard(std::string_view path) {
  return path.find_first_of("*?[") != std::string_view::npos;
}

std::string CheckContainerPath(std::string_view path) {
  if (path.empty()) return "must not be empty";
  if (path.find('\0') != std::string_view::npos) return "must not contain NUL";
  for (char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "must not contain control characters";
  }
  if (path.front() != '/') return "must be absolute";
  if (path == "/") return "";
  bool has_dot = false;
  bool has_empty = false;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (segment == "..") return "must not contain '..' segments";
    if (segment == ".") has_dot = true;
    if (segment.empty() && end != path.size()) has_empty = true;
    start = end + 1;
  }
  if (has_dot) return "must not contain '.' segments";
  if (has_empty) return "must not contain '//'";
  if (path.back() == '/') return "must not end with '/'";
  return "";
}

std::string CheckUrl(std::string_view url) {
  if (url.empty()) return "must not be empty";
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return "must not contain whitespace or control characters";
  }
  const std::size_t colon = url.find(':');
  bool scheme_ok = colon != std::string_view::npos && colon > 0 && IsAlpha(url[0]);
  for (std::size_t i = 1; scheme_ok && i < colon; ++i) {
    const char c = url[i];
    scheme_ok = IsAlpha(c) || IsDigit(c) || c == '+' || c == '-' || c == '.';
  }
  if (!scheme_ok) return "must start with a scheme, like file://, https:// or s3://";
  if (!EqualsIgnoreCase(url.substr(0, colon), "file")) return "";

  std::string_view rest = url.substr(colon + 1);
  if (rest.substr(0, 2) == "//") {
    rest.remove_prefix(2);
    const std::size_t slash = rest.find('/');
    const std::string_view host = rest.substr(0, slash);
    if (!host.empty() && !EqualsIgnoreCase(host, "localhost")) {
      return "file URL host must be empty or localhost (file:///absolute/path)";
    }
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  return CheckFileUrlPath(rest);
}

std::string FormatErrors(const std::vector<FieldError>& errors) {
  std::string out;
  for (const FieldError& e : errors) {
    if (!out.empty()) out += "; ";
    if (!e.path.empty()) {
      out += e.path;
      out += ": ";
    }
    out += e.message;
  }
  return out;
}

ParseResult ParseCreateTask(const nlohmann::json& body, const ValidationLimits& limits) {
  ParseResult result;
  try {
    detail::Decoded decoded = detail::DecodeTask(body, detail::DecodeMode::kCreateRequest, limits);
    result.errors = std::move(decoded.errors);
    if (result.errors.empty()) result.task = std::move(decoded.task);
  } catch (const nlohmann::json::exception& e) {
    // Not expected: the decoder checks every type before reading it.
    result.task.reset();
    result.errors.push_back({"", std::string("could not read the task: ") + e.what()});
  }
  return result;
}

}  // namespace safeflow::schemas::tes
