#include "service/api/router.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace safeflow::service {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  if (path.empty() || path.front() != '/') return parts;
  path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

bool PercentDecode(std::string_view in, bool plus_is_space, std::string& out) {
  out.clear();
  out.reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return true;
}

absl::Status Router::Add(Route route) {
  if (route.pattern.empty() || route.pattern.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("route pattern must start with /: ", route.pattern));
  }
  Compiled c;
  for (std::string_view part : SplitPath(route.pattern)) {
    if (!part.empty() && part.front() == '{') {
      size_t close = part.find('}');
      if (close == std::string_view::npos || close < 2) {
        return absl::InvalidArgumentError(absl::StrCat("bad parameter in ", route.pattern));
      }
      std::string_view suffix = part.substr(close + 1);
      if (!suffix.empty() && (suffix.front() != ':' || suffix.size() < 2)) {
        return absl::InvalidArgumentError(absl::StrCat("bad suffix in ", route.pattern));
      }
      c.segments.push_back(
          {Segment::Kind::kParam, std::string(part.substr(1, close - 1)), std::string(suffix)});
      if (!suffix.empty()) c.specificity += 1;
    } else {
      c.segments.push_back({Segment::Kind::kLiteral, std::string(part), ""});
      c.specificity += 2;
    }
  }
  for (const Compiled& other : routes_) {
    if (other.route.method == route.method && other.route.pattern == route.pattern) {
      return absl::AlreadyExistsError(
          absl::StrCat("duplicate route ", route.method, " ", route.pattern));
    }
  }
  c.route = std::move(route);
  routes_.push_back(std::move(c));
  // Most specific first: a literal segment beats a parameter, "{id}:verb" beats "{id}".
  std::stable_sort(routes_.begin(), routes_.end(), [](const Compiled& a, const Compiled& b) {
    return a.specificity > b.specificity;
  });
  return absl::OkStatus();
}

bool Router::MatchSegments(const Compiled& c, const std::vector<std::string_view>& parts,
                           std::map<std::string, std::string>& params) const {
  if (c.segments.size() != parts.size()) return false;
  params.clear();
  for (size_t i = 0; i < parts.size(); ++i) {
    const Segment& s = c.segments[i];
    std::string_view p = parts[i];
    if (s.kind == Segment::Kind::kLiteral) {
      if (p != s.text) return false;
      continue;
    }
    if (!s.suffix.empty()) {
      if (p.size() <= s.suffix.size() || p.substr(p.size() - s.suffix.size()) != s.suffix) {
        return false;
      }
      p.remove_suffix(s.suffix.size());
    }
    std::string decoded;
    if (p.empty() || !PercentDecode(p, false, decoded)) return false;
    params[s.text] = std::move(decoded);
  }
  return true;
}

RouteMatch Router::Match(std::string_view method, std::string_view path) const {
  RouteMatch m;
  const std::vector<std::string_view> parts = SplitPath(path);
  if (parts.empty()) return m;
  std::set<std::string> allowed;
  std::map<std::string, std::string> params;
  for (const Compiled& c : routes_) {
    if (!MatchSegments(c, parts, params)) continue;
    if (c.route.method == method) {
      m.kind = RouteMatch::Kind::kFound;
      m.route = &c.route;
      m.params = std::move(params);
      return m;
    }
    allowed.insert(c.route.method);
  }
  if (!allowed.empty()) {
    m.kind = RouteMatch::Kind::kMethodNotAllowed;
    m.allowed.assign(allowed.begin(), allowed.end());
  }
  return m;
}

}  // namespace safeflow::service
