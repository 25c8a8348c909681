// valijson calls abort() on a schema it cannot parse unless this is set; this file is the only
// one that includes valijson, so the definitions of its inline functions stay consistent.
#define VALIJSON_USE_EXCEPTIONS 1

#include "tests/testing/spec_validator.h"

#include <exception>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "valijson/adapters/nlohmann_json_adapter.hpp"
#include "valijson/schema.hpp"
#include "valijson/schema_parser.hpp"
#include "valijson/validation_results.hpp"
#include "valijson/validator.hpp"

namespace safeflow::testing {
namespace {

using nlohmann::json;

std::string SpecPath(const std::string& spec_file) {
  if (!spec_file.empty() && spec_file.front() == '/') return spec_file;
  return std::string(SAFEFLOW_SOURCE_DIR) + "/../shared/ga4gh/" + spec_file;
}

// OpenAPI 3.0 `nullable: true` -> JSON Schema `type: [<type>, "null"]`, everywhere.
void RewriteNullable(json& node) {
  if (node.is_object()) {
    auto nullable = node.find("nullable");
    if (nullable != node.end() && nullable->is_boolean()) {
      const bool is_nullable = nullable->get<bool>();
      node.erase(nullable);
      auto type = node.find("type");
      if (is_nullable && type != node.end() && type->is_string()) {
        *type = json::array({*type, "null"});
      }
    }
    for (auto& [key, child] : node.items()) {
      if (key != "example" && key != "default" && key != "enum") RewriteNullable(child);
    }
  } else if (node.is_array()) {
    for (json& child : node) RewriteNullable(child);
  }
}

// Names of components.schemas that some allOf $refs directly.
void CollectAllOfRefs(const json& node, std::set<std::string>& names) {
  constexpr std::string_view kPrefix = "#/components/schemas/";
  if (node.is_object()) {
    if (auto all_of = node.find("allOf"); all_of != node.end() && all_of->is_array()) {
      for (const json& member : *all_of) {
        auto ref = member.find("$ref");
        if (ref != member.end() && ref->is_string()) {
          const std::string& target = ref->get_ref<const std::string&>();
          if (target.rfind(kPrefix, 0) == 0) names.insert(target.substr(kPrefix.size()));
        }
      }
    }
    for (const auto& item : node.items()) CollectAllOfRefs(item.value(), names);
  } else if (node.is_array()) {
    for (const json& child : node) CollectAllOfRefs(child, names);
  }
}

// Adds additionalProperties: false to closed-able object schemas (see SpecValidationOptions).
void CloseObjects(json& node, bool is_all_of_member) {
  if (node.is_object()) {
    if (!is_all_of_member && node.contains("properties") && node["properties"].is_object() &&
        !node.contains("additionalProperties")) {
      node["additionalProperties"] = false;
    }
    for (auto& [key, child] : node.items()) {
      if (key == "example" || key == "default" || key == "enum") continue;
      if (key == "properties" && child.is_object()) {
        // Property names are not keywords: walk their schemas only.
        for (auto& property : child) CloseObjects(property, false);
      } else if (key == "allOf" && child.is_array()) {
        for (json& member : child) CloseObjects(member, true);
      } else {
        CloseObjects(child, false);
      }
    }
  } else if (node.is_array()) {
    for (json& child : node) CloseObjects(child, false);
  }
}

struct CachedSchema {
  json root;  // kept alive for as long as the schema, to be safe
  valijson::Schema schema;
};

absl::StatusOr<json> LoadSpec(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open spec " + path);
  json spec = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded() || !spec.is_object()) {
    return absl::InternalError("spec " + path + " is not a JSON object");
  }
  return spec;
}

absl::StatusOr<const valijson::Schema*> GetSchema(const std::string& spec_file,
                                                  const std::string& schema_name,
                                                  const SpecValidationOptions& options) {
  static std::mutex mu;
  // guarded by mu; entries are never erased, so pointers to them stay valid.
  static std::map<std::tuple<std::string, std::string, bool>, std::unique_ptr<CachedSchema>> cache;
  std::scoped_lock lock(mu);
  const auto key =
      std::make_tuple(SpecPath(spec_file), schema_name, options.forbid_unknown_properties);
  if (auto it = cache.find(key); it != cache.end()) return &it->second->schema;

  absl::StatusOr<json> spec = LoadSpec(std::get<0>(key));
  if (!spec.ok()) return spec.status();
  if (!spec->contains("components") || !(*spec)["components"].contains("schemas") ||
      !(*spec)["components"]["schemas"].contains(schema_name)) {
    return absl::NotFoundError("no schema components.schemas." + schema_name + " in " +
                               std::get<0>(key));
  }
  json components = std::move((*spec)["components"]);
  RewriteNullable(components);
  if (options.forbid_unknown_properties) {
    std::set<std::string> open;
    CollectAllOfRefs(components, open);
    for (auto& [name, schema] : components["schemas"].items()) {
      CloseObjects(schema, open.count(name) > 0);
    }
  }
  auto entry = std::make_unique<CachedSchema>();
  entry->root =
      json{{"$ref", "#/components/schemas/" + schema_name}, {"components", std::move(components)}};
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(entry->root);
    parser.populateSchema(adapter, entry->schema);
  } catch (const std::exception& e) {
    return absl::InternalError("valijson cannot parse " + schema_name + " of " + std::get<0>(key) +
                               ": " + e.what());
  }
  const valijson::Schema* schema = &entry->schema;
  cache.emplace(key, std::move(entry));
  return schema;
}

}  // namespace

absl::Status ValidateAgainstSpec(const nlohmann::json& doc, const std::string& spec_file,
                                 const std::string& schema_name,
                                 const SpecValidationOptions& options) {
  absl::StatusOr<const valijson::Schema*> schema = GetSchema(spec_file, schema_name, options);
  if (!schema.ok()) return schema.status();
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(doc);
  bool ok = false;
  try {
    ok = validator.validate(**schema, target, &results);
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("valijson failed: ") + e.what());
  }
  if (ok) return absl::OkStatus();
  std::string message = "does not conform to " + schema_name + ":";
  valijson::ValidationResults::Error error;
  bool first = true;
  while (results.popError(error)) {
    // Skip valijson's propagation notes ("Failed to validate item #0 in array."): the error
    // that caused them is reported at its own, deeper location.
    if (error.description.rfind("Failed to validate against schema associated with property", 0) ==
            0 ||
        error.description.rfind("Failed to validate item #", 0) == 0) {
      continue;
    }
    message += first ? " " : "; ";
    first = false;
    for (const std::string& part : error.context) message += part + " ";
    message += "-> " + error.description;
  }
  return absl::InvalidArgumentError(message);
}

}  // namespace safeflow::testing
