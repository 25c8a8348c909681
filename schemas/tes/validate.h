// schemas/tes/validate.h. Parsing and validation of a TES 1.1 CreateTask request body.
// Pure code: no I/O, threads or logging. Thread-safe (no shared state); never throws.
//
// ParseCreateTask() reports every problem it finds, each with the JSON path of the offending
// value, in a stable order: the spec's property order (tesTask: name, description, inputs,
// outputs, resources, executors, volumes, tags; inside each object, its properties in the spec's
// order), array elements by index, map entries by key. (nlohmann::json does not keep the body's
// key order, so the spec's order stands in for "document order".)
//
// Rules, beyond the schema's types and required fields:
//  - Unknown keys are ignored (clients send extras). The readOnly fields id, state, logs and
//    creation_time are ignored silently whatever they hold: the server never trusts them.
//  - JSON null counts as "absent" for an optional field, and as "required" for a required one.
//  - executors: required and non-empty. executor.image: required, non-empty, no whitespace or
//    control characters. executor.command: required, a non-empty array of strings without NUL.
//    env: names non-empty without '=' or NUL, values without NUL.
//  - input.path required; input.url required unless input.content is given; url and content
//    together is an error (the spec says the url would be ignored: we refuse to guess). content
//    requires type FILE. output.path and output.url required.
//  - Container paths (input/output path and path_prefix, executor workdir/stdin/stdout/stderr,
//    volumes): see CheckContainerPath(). Output paths may contain glob characters (* ? [);
//    path_prefix, when given, must be a valid container path without glob characters and a
//    whole-segment prefix of the output path ("/work" for "/work/*"; not "/wo").
//  - URLs: see CheckUrl().
//  - resources: cpu_cores an int32 >= 1 (an integral JSON number such as 2.0 is accepted),
//    ram_gb and disk_gb finite numbers > 0 (fractions welcome), booleans are JSON booleans.
//  - type is exactly "FILE" or "DIRECTORY".
//  - Every string must be valid UTF-8; ValidationLimits bound counts and sizes. An array or map
//    over its limit is reported once and its elements are not inspected.
#ifndef SAFEFLOW_SCHEMAS_TES_VALIDATE_H_
#define SAFEFLOW_SCHEMAS_TES_VALIDATE_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

#include "schemas/tes/task.h"

namespace safeflow::schemas::tes {

// One problem in a request body. `path` is like "executors[0].image", "inputs[2].url",
// "tags[\"key\"]" (map keys are JSON-quoted), or "" for the body itself.
struct FieldError {
  std::string path;
  std::string message;
  friend bool operator==(const FieldError&, const FieldError&) = default;
};

struct ValidationLimits {
  std::size_t max_executors = 64, max_inputs = 1024, max_outputs = 1024, max_command_args = 4096,
              max_tags = 256, max_env = 512, max_volumes = 256;
  std::size_t max_string_bytes = 64 * 1024;     // every string and map key, except input content
  std::size_t max_content_bytes = 1024 * 1024;  // input content (the spec asks for >= 128 KiB)
  std::size_t max_zones = 256, max_backend_parameters = 256;
  // After this many errors, one last root error says the list was cut short.
  std::size_t max_errors = 256;
  // The spec lists "/path/to/my/file" among tesInput.url examples, and Cromwell sends local
  // inputs that way. When true, a URL without a scheme is accepted if it is a valid container
  // path (absolute, normalised); when false (the default) a scheme is required.
  bool allow_bare_path_urls = false;
};

struct ParseResult {
  std::optional<Task> task;  // set iff errors is empty; state kUnknown, id empty, no logs
  std::vector<FieldError> errors;
};

// Parses and validates a CreateTask request body (see the rules above).
[[nodiscard]] ParseResult ParseCreateTask(const nlohmann::json& body,
                                          const ValidationLimits& limits = {});

// "executors[0].image: required; inputs[1].path: must be absolute", in the order given. An error
// with an empty path is rendered as its message alone.
[[nodiscard]] std::string FormatErrors(const std::vector<FieldError>& errors);

// True when `path` contains a POSIX glob character: '*', '?' or '['.
[[nodiscard]] bool IsWildcard(std::string_view path);

// Container path rule: "" when ok, else the reason. A container path is non-empty, has no NUL or
// other control character, starts with '/', and is normalised: no empty segment ("//"), no "."
// or ".." segment, no trailing '/' (except "/" itself). Messages:
//   "must not be empty", "must not contain NUL", "must not contain control characters",
//   "must be absolute", "must not contain '//'", "must not contain '.' segments",
//   "must not contain '..' segments", "must not end with '/'".
[[nodiscard]] std::string CheckContainerPath(std::string_view path);

// URL rule: "" when ok, else the reason. A URL is non-empty, has no whitespace or control
// character, and starts with a scheme (RFC 3986: ALPHA *(ALPHA / DIGIT / "+" / "-" / ".") ":").
// Any scheme is kept (the service decides what it supports). For file: URLs (scheme compared
// case-insensitively) the host must be empty or "localhost", and the path, after
// percent-decoding, must be absolute, have no ".." segment and no NUL; malformed
// percent-escapes are rejected. So "file:///a/../b", "file:///a/%2e%2E/b" and
// "file:///a/..%2Fb" are all refused.
[[nodiscard]] std::string CheckUrl(std::string_view url);

}  // namespace safeflow::schemas::tes

#endif  // SAFEFLOW_SCHEMAS_TES_VALIDATE_H_
