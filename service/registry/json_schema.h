// service/registry/json_schema.h. JSON Schema (draft 7) validation of workflow parameters
// against an approved workflow's schema, with valijson (Debian's libvalijson-dev) through its
// nlohmann adapter. This file's .cc is the only one in service/ that includes valijson.
// Thread-safe: a CompiledSchema is immutable after Compile.
#ifndef SAFEFLOW_SERVICE_REGISTRY_JSON_SCHEMA_H_
#define SAFEFLOW_SERVICE_REGISTRY_JSON_SCHEMA_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace safeflow::service::registry {

class CompiledSchema {
 public:
  // InvalidArgument (why) when `schema` is not a schema valijson can compile; remote $refs are
  // refused (no fetching).
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<const CompiledSchema>> Compile(
      const nlohmann::json& schema);
  ~CompiledSchema();
  // Every violation, each as "<JSON pointer of the value>: <what is wrong>"
  // (e.g. "/age_bands/0: expected integer"; the document itself is "/"); empty when `doc`
  // conforms.
  std::vector<std::string> Validate(const nlohmann::json& doc) const;

 private:
  CompiledSchema();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace safeflow::service::registry

#endif  // SAFEFLOW_SERVICE_REGISTRY_JSON_SCHEMA_H_
