// tests/testing/spec_validator.h. Checks a JSON document against a schema of one of the GA4GH
// OpenAPI documents in ../shared/ga4gh/ (valijson, JSON Schema draft 7). For tests only.
// Thread-safe: parsed schemas are cached under a mutex and never freed.
//
// OpenAPI 3.0 schema objects are "almost" JSON Schema. What the helper does about the difference:
//  - The root document is {"$ref": "#/components/schemas/<name>", "components": <spec's>}, so
//    the spec's internal "#/components/schemas/..." refs resolve unchanged.
//  - `nullable: true` (WES RunLog.task_logs) is rewritten to `type: [<type>, "null"]`; valijson
//    would ignore it and reject null.
//  - readOnly, writeOnly, example, deprecated, discriminator, xml and x-* are annotations for
//    valijson: left in place, ignored.
//  - `format`: valijson checks only date, time and date-time (RFC 3339) and lets every other
//    format (int32, int64, double, boolean, uri) through. Left as is.
//  - valijson reports problems by calling abort() unless VALIJSON_USE_EXCEPTIONS is set, so
//    spec_validator.cc sets it (it is the only file that includes valijson) and turns a schema it
//    cannot parse into an Internal status.
#ifndef SAFEFLOW_TESTS_TESTING_SPEC_VALIDATOR_H_
#define SAFEFLOW_TESTS_TESTING_SPEC_VALIDATOR_H_

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace safeflow::testing {

struct SpecValidationOptions {
  // The GA4GH schemas allow any extra property. When true, every object schema that declares
  // `properties` and no `additionalProperties` gets `additionalProperties: false`, so a response
  // that carries a field the spec does not define fails. Schemas used as allOf members (and the
  // components they $ref) are left open, since allOf merges several of them.
  bool forbid_unknown_properties = false;
};

// OK when `doc` conforms to components.schemas.<schema_name> of `spec_file` ("tes.openapi.resolved
// .json", "wes.openapi.resolved.json", or an absolute path). InvalidArgument listing every
// violation ("<root> [executors] [0] -> Missing required property 'image'.; ..."); NotFound when
// the file or the schema is missing; Internal when the spec cannot be parsed.
[[nodiscard]] absl::Status ValidateAgainstSpec(const nlohmann::json& doc,
                                               const std::string& spec_file,
                                               const std::string& schema_name,
                                               const SpecValidationOptions& options = {});

}  // namespace safeflow::testing

#endif  // SAFEFLOW_TESTS_TESTING_SPEC_VALIDATOR_H_
