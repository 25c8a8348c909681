// schemas/tes/decode.h. Internal to schemas/tes: the one JSON -> Task walker behind both
// ParseCreateTask() (validating) and FromStoredJson() (trusting). Pure code; never throws.
#ifndef SAFEFLOW_SCHEMAS_TES_DECODE_H_
#define SAFEFLOW_SCHEMAS_TES_DECODE_H_

#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

#include "schemas/tes/task.h"
#include "schemas/tes/validate.h"

namespace safeflow::schemas::tes::detail {

enum class DecodeMode {
  // A client's CreateTask body: readOnly fields (id, state, logs, creation_time) are ignored,
  // every rule and limit of validate.h applies, all errors are collected.
  kCreateRequest,
  // A task written by ToStoredJson(): everything is read, only JSON types (and state/type names)
  // are checked, only the first error is kept. Pass limits with every count unlimited.
  kStored,
};

struct Decoded {
  Task task;  // meaningful only when `errors` is empty
  std::vector<FieldError> errors;
};

[[nodiscard]] Decoded DecodeTask(const nlohmann::json& j, DecodeMode mode,
                                 const ValidationLimits& limits);

// JSON paths: JoinPath("executors[0]", "image") == "executors[0].image" (and "image" for an
// empty parent), IndexPath("inputs", 2) == "inputs[2]", KeyPath("tags", "a") == "tags[\"a\"]"
// (the key JSON-quoted, ASCII-escaped, cut at 64 bytes).
[[nodiscard]] std::string JoinPath(std::string_view parent, std::string_view key);
[[nodiscard]] std::string IndexPath(std::string_view parent, std::size_t index);
[[nodiscard]] std::string KeyPath(std::string_view parent, std::string_view key);

// Well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
[[nodiscard]] bool IsValidUtf8(std::string_view s);

}  // namespace safeflow::schemas::tes::detail

#endif  // SAFEFLOW_SCHEMAS_TES_DECODE_H_
