#include "service/registry/json_schema.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/testing/status_matchers.h"

namespace safeflow::service::registry {
namespace {

using nlohmann::json;
using ::safeflow::testing::IsOk;
using ::safeflow::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

std::shared_ptr<const CompiledSchema> MustCompile(const json& schema) {
  absl::StatusOr<std::shared_ptr<const CompiledSchema>> s = CompiledSchema::Compile(schema);
  EXPECT_THAT(s, IsOk());
  return s.ok() ? *s : nullptr;
}

const json kPeople = json::parse(R"({
  "type": "object",
  "properties": {
    "cohort": {"type": "string"},
    "age_bands": {"type": "array", "items": {"type": "integer"}},
    "a/b~c": {"type": "boolean"},
    "nested": {"type": "object", "properties": {"n": {"type": "number", "minimum": 0}}}
  },
  "required": ["cohort"],
  "additionalProperties": false
})");

TEST(CompiledSchemaTest, ValidDocument) {
  auto s = MustCompile(kPeople);
  ASSERT_NE(s, nullptr);
  EXPECT_THAT(s->Validate({{"cohort", "file:///x"}, {"age_bands", {1, 2, 3}}}), IsEmpty());
  EXPECT_THAT(MustCompile(json::object())->Validate({{"anything", 1}}), IsEmpty());
}

TEST(CompiledSchemaTest, ViolationsHavePointers) {
  auto s = MustCompile(kPeople);
  ASSERT_NE(s, nullptr);
  std::vector<std::string> v = s->Validate(
      {{"cohort", 5}, {"age_bands", {1, "two", 3}}, {"a/b~c", "no"}, {"nested", {{"n", -1}}}});
  std::string all;
  for (const std::string& e : v) all += e + "\n";
  EXPECT_THAT(all, HasSubstr("/cohort: "));
  EXPECT_THAT(all, HasSubstr("/age_bands/1: "));
  EXPECT_THAT(all, HasSubstr("/a~1b~0c: "));
  EXPECT_THAT(all, HasSubstr("/nested/n: "));
  // Propagation notes ("Failed to validate item #1") are not repeated.
  EXPECT_THAT(all, ::testing::Not(HasSubstr("Failed to validate item")));
  for (const std::string& e : v) EXPECT_THAT(e, StartsWith("/")) << e;
}

TEST(CompiledSchemaTest, RootViolations) {
  auto s = MustCompile(kPeople);
  ASSERT_NE(s, nullptr);
  std::vector<std::string> v = s->Validate(json::array());
  ASSERT_FALSE(v.empty());
  EXPECT_THAT(v[0], StartsWith("/: "));
  v = s->Validate({{"unknown", 1}});
  ASSERT_FALSE(v.empty());  // missing cohort, additional property
}

TEST(CompiledSchemaTest, LocalRefsWork) {
  auto s = MustCompile(json::parse(R"({
    "definitions": {"band": {"type": "integer", "minimum": 0}},
    "type": "object",
    "properties": {"band": {"$ref": "#/definitions/band"}}
  })"));
  ASSERT_NE(s, nullptr);
  EXPECT_THAT(s->Validate({{"band", 3}}), IsEmpty());
  EXPECT_THAT(s->Validate({{"band", -3}}), ElementsAre(StartsWith("/band: ")));
}

TEST(CompiledSchemaTest, RemoteRefsAreRefused) {
  for (const char* ref :
       {"http://example.org/schema.json", "other.json#/x", "file:///etc/passwd", "//host/x", ""}) {
    json schema = {{"type", "object"}, {"properties", {{"x", {{"$ref", ref}}}}}};
    absl::StatusOr<std::shared_ptr<const CompiledSchema>> s = CompiledSchema::Compile(schema);
    ASSERT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument)) << ref;
    EXPECT_THAT(std::string(s.status().message()),
                HasSubstr("/properties/x/$ref: remote references are not allowed"))
        << ref;
  }
  // "$ref" as data (an enum value) or as a property name is not a reference.
  EXPECT_THAT(CompiledSchema::Compile({{"enum", {{{"$ref", "http://x"}}}},
                                       {"properties", {{"$ref", {{"type", "string"}}}}}}),
              IsOk());
}

TEST(CompiledSchemaTest, BadSchemasAreRefused) {
  for (const json& bad : {json("string"), json(5), json::array(), json{{"type", 5}},
                          json{{"type", "strnig"}}, json{{"properties", 3}},
                          json{{"$ref", "#/definitions/missing"}}, json{{"minimum", "zero"}}}) {
    EXPECT_THAT(CompiledSchema::Compile(bad), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad.dump();
  }
}

TEST(CompiledSchemaTest, DeeplyNestedIsRefused) {
  json schema = {{"type", "string"}};
  for (int i = 0; i < 200; ++i) schema = {{"properties", {{"x", schema}}}};
  EXPECT_THAT(CompiledSchema::Compile(schema), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CompiledSchemaTest, ThreadSafeValidation) {
  auto s = MustCompile(kPeople);
  ASSERT_NE(s, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (!s->Validate({{"cohort", "x"}}).empty()) ++failures;
        if (s->Validate({{"cohort", 1}}).empty()) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace safeflow::service::registry
