// service/api/router.h. Maps (method, path) to a route. Patterns are absolute paths whose
// segments are literals, "{name}" (one whole segment) or "{name}:verb" (a segment ending in a
// literal ":verb", as TES's "/tasks/{id}:cancel"). Literal segments win over parameters.
// Not thread-safe while routes are added; read-only (and thread-safe) once serving.
#ifndef SAFEFLOW_SERVICE_API_ROUTER_H_
#define SAFEFLOW_SERVICE_API_ROUTER_H_

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

#include "service/api/http.h"

namespace safeflow::service {

using Handler = std::function<HttpResponse(HttpRequest&)>;

// Where a handler runs: on the I/O thread (must not block: no database, no disk), or on the
// handler pool, which may block.
enum class Dispatch { kInline, kPool };

// Who may call a route. Public routes skip authentication; the others authenticate (off the
// I/O threads), need one of `roles` (any, when empty), and refuse read-only principals when
// `write`.
struct Access {
  bool authenticated = false;
  std::set<Role> roles;
  bool write = false;
  static Access Public() { return {}; }
  static Access Read(std::set<Role> roles) { return {true, std::move(roles), false}; }
  static Access Write(std::set<Role> roles) { return {true, std::move(roles), true}; }
};

struct Route {
  std::string method;
  std::string pattern;  // also the metrics label
  Handler handler;
  Dispatch dispatch = Dispatch::kInline;
  Access access;
};

struct RouteMatch {
  enum class Kind { kFound, kNotFound, kMethodNotAllowed } kind = Kind::kNotFound;
  const Route* route = nullptr;
  std::map<std::string, std::string> params;
  std::vector<std::string> allowed;  // for kMethodNotAllowed
};

class Router {
 public:
  // InvalidArgument for a malformed pattern; AlreadyExists for a duplicate (method, pattern).
  [[nodiscard]] absl::Status Add(Route route);
  RouteMatch Match(std::string_view method, std::string_view path) const;

 private:
  struct Segment {
    enum class Kind { kLiteral, kParam } kind;
    std::string text;    // the literal, or the parameter name
    std::string suffix;  // for kParam: required ":verb" suffix, may be empty
  };
  struct Compiled {
    Route route;
    std::vector<Segment> segments;
    int specificity = 0;  // 2 per literal segment, 1 per ":verb" suffix
  };
  bool MatchSegments(const Compiled& c, const std::vector<std::string_view>& parts,
                     std::map<std::string, std::string>& params) const;

  std::vector<Compiled> routes_;
};

// Splits "/a/b/c" into {"a","b","c"}; empty segments (double or trailing slashes) are kept, so
// "/a//b" does not match "/a/b".
std::vector<std::string_view> SplitPath(std::string_view path);

// Percent-decodes a path segment or query component; '+' becomes ' ' when `plus_is_space`.
// Returns false for a malformed escape.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string& out);

}  // namespace safeflow::service

#endif  // SAFEFLOW_SERVICE_API_ROUTER_H_
