// valijson calls abort() on a schema it cannot parse unless this is set; define it before every
// valijson include (tests/testing/spec_validator.cc does the same) so that the definitions of
// its inline functions stay consistent.
#define VALIJSON_USE_EXCEPTIONS 1

#include "service/registry/json_schema.h"

#include <exception>
#include <optional>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "valijson/adapters/nlohmann_json_adapter.hpp"
#include "valijson/schema.hpp"
#include "valijson/schema_parser.hpp"
#include "valijson/validation_results.hpp"
#include "valijson/validator.hpp"

namespace safeflow::service::registry {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 64;

// Keywords whose values are data, not schemas: a "$ref" member inside them is not a reference.
bool IsDataKeyword(std::string_view key) {
  return key == "enum" || key == "const" || key == "default" || key == "examples";
}

// The first problem with `node`: a $ref that is not local to the document (remote documents
// are never fetched), or nesting deeper than kMaxDepth.
std::optional<std::string> RefProblem(const json& node, const std::string& where, int depth) {
  if (depth > kMaxDepth) return absl::StrCat("nested deeper than ", kMaxDepth, " levels");
  if (node.is_object()) {
    for (const auto& [key, child] : node.items()) {
      if (key == "$ref" && child.is_string()) {
        const std::string& ref = child.get_ref<const std::string&>();
        if (ref.empty() || ref.front() != '#') {
          return absl::StrCat(where, "/$ref: remote references are not allowed ('",
                              ref.substr(0, 80), "'); use a local '#/...' reference");
        }
        continue;
      }
      if (IsDataKeyword(key)) continue;
      if (auto p = RefProblem(child, absl::StrCat(where, "/", key), depth + 1)) return p;
    }
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (auto p = RefProblem(node[i], absl::StrCat(where, "/", i), depth + 1)) return p;
    }
  }
  return std::nullopt;
}

// valijson's context ["<root>", "[age_bands]", "[0]"] as a JSON pointer "/age_bands/0".
std::string Pointer(const std::vector<std::string>& context) {
  std::string out;
  for (const std::string& part : context) {
    if (part == "<root>") continue;
    std::string_view token = part;
    if (token.size() >= 2 && token.front() == '[' && token.back() == ']') {
      token = token.substr(1, token.size() - 2);
    }
    out.push_back('/');
    for (char c : token) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out.push_back(c);
      }
    }
  }
  return out.empty() ? "/" : out;
}

// valijson's notes that only say a child failed: the child's own error is reported too.
bool IsPropagationNote(const std::string& description) {
  return description.rfind("Failed to validate against schema associated with property", 0) == 0 ||
         description.rfind("Failed to validate item #", 0) == 0 ||
         description.rfind("Failed to validate against child schema", 0) == 0;
}

}  // namespace

struct CompiledSchema::Impl {
  json root;  // kept alive for as long as the schema
  valijson::Schema schema;
};

CompiledSchema::CompiledSchema() : impl_(std::make_unique<Impl>()) {}
CompiledSchema::~CompiledSchema() = default;

absl::StatusOr<std::shared_ptr<const CompiledSchema>> CompiledSchema::Compile(const json& schema) {
  if (!schema.is_object() && !schema.is_boolean()) {
    return absl::InvalidArgumentError("not a JSON Schema: must be an object");
  }
  if (std::optional<std::string> p = RefProblem(schema, "", 0)) {
    return absl::InvalidArgumentError(*p);
  }
  std::shared_ptr<CompiledSchema> out(new CompiledSchema());
  out->impl_->root = schema;
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(out->impl_->root);
    parser.populateSchema(adapter, out->impl_->schema);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not a valid JSON Schema: ", e.what()));
  }
  return std::shared_ptr<const CompiledSchema>(std::move(out));
}

std::vector<std::string> CompiledSchema::Validate(const json& doc) const {
  valijson::Validator validator;  // holds a regex cache: one per call keeps this thread-safe
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(doc);
  try {
    if (validator.validate(impl_->schema, target, &results)) return {};
  } catch (const std::exception& e) {
    return {absl::StrCat("/: cannot be checked against the schema: ", e.what())};
  }
  std::vector<std::string> out, notes;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    std::string line = absl::StrCat(Pointer(error.context), ": ", error.description);
    if (IsPropagationNote(error.description)) {
      notes.push_back(std::move(line));
    } else {
      out.push_back(std::move(line));
    }
  }
  if (out.empty()) out = std::move(notes);
  if (out.empty()) out.push_back("/: does not conform to the schema");
  return out;
}

}  // namespace safeflow::service::registry
