#include "tests/testing/spec_validator.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "tests/testing/status_matchers.h"

namespace safeflow::testing {
namespace {

using ::nlohmann::json;
using ::testing::HasSubstr;

constexpr char kTes[] = "tes.openapi.resolved.json";
constexpr char kWes[] = "wes.openapi.resolved.json";

json Task() {
  return json::parse(R"({"id": "t", "state": "QUEUED",
                         "executors": [{"image": "alpine", "command": ["true"]}]})");
}

TEST(SpecValidatorTest, AcceptsAConformingDocument) {
  EXPECT_THAT(ValidateAgainstSpec(Task(), kTes, "tesTask"), IsOk());
  EXPECT_THAT(ValidateAgainstSpec(json{{"id", "t"}}, kTes, "tesCreateTaskResponse"), IsOk());
  EXPECT_THAT(ValidateAgainstSpec(json::object(), kTes, "tesCancelTaskResponse"), IsOk());
}

TEST(SpecValidatorTest, ReportsEveryViolationWithItsLocation) {
  json doc = Task();
  doc["executors"][0]["command"] = "true";      // string where an array is expected
  doc["state"] = "DONE";                        // not in the enum
  doc["executors"][0].erase("image");           // required
  doc["resources"] = {{"cpu_cores", 1.5}};      // integer
  doc["logs"] = json::array({json::object()});  // tesTaskLog requires logs and outputs
  absl::Status s = ValidateAgainstSpec(doc, kTes, "tesTask");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.message(), HasSubstr("[executors] [0] [command]"));
  EXPECT_THAT(s.message(), HasSubstr("image"));
  EXPECT_THAT(s.message(), HasSubstr("[state]"));
  EXPECT_THAT(s.message(), HasSubstr("[cpu_cores]"));
  EXPECT_THAT(s.message(), HasSubstr("outputs"));
}

TEST(SpecValidatorTest, StrictModeRejectsPropertiesTheSpecDoesNotDefine) {
  json doc = Task();
  doc["executors"][0]["ports"] = json::array();
  doc["owner"] = "alice";
  EXPECT_THAT(ValidateAgainstSpec(doc, kTes, "tesTask"), IsOk());  // the spec allows extras
  absl::Status s = ValidateAgainstSpec(doc, kTes, "tesTask", {.forbid_unknown_properties = true});
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(s.message(), HasSubstr("owner"));
  EXPECT_THAT(s.message(), HasSubstr("ports"));
  // Free-form maps stay free-form.
  json tagged = Task();
  tagged["tags"] = {{"anything", "goes"}};
  EXPECT_THAT(ValidateAgainstSpec(tagged, kTes, "tesTask", {.forbid_unknown_properties = true}),
              IsOk());
}

TEST(SpecValidatorTest, StrictModeKeepsAllOfCompositionsWorking) {
  const json service_info = json::parse(R"({
    "id": "org.example.safeflow", "name": "SafeFlow",
    "type": {"group": "org.ga4gh", "artifact": "tes", "version": "1.1.0"},
    "organization": {"name": "Example", "url": "https://example.org"},
    "version": "0.1.0", "createdAt": "2024-01-02T03:04:05Z",
    "storage": ["file:///srv/data"], "tesResources_backend_parameters": ["partition"]})");
  EXPECT_THAT(ValidateAgainstSpec(service_info, kTes, "tesServiceInfo"), IsOk());
  EXPECT_THAT(ValidateAgainstSpec(service_info, kTes, "tesServiceInfo",
                                  {.forbid_unknown_properties = true}),
              IsOk());
  json wrong_artifact = service_info;
  wrong_artifact["type"]["artifact"] = "wes";
  EXPECT_THAT(ValidateAgainstSpec(wrong_artifact, kTes, "tesServiceInfo"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  json bad_time = service_info;
  bad_time["createdAt"] = "yesterday";  // format: date-time is checked
  EXPECT_THAT(ValidateAgainstSpec(bad_time, kTes, "tesServiceInfo"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SpecValidatorTest, OpenApiNullableIsHonoured) {
  // WES RunLog.task_logs is `nullable: true`.
  EXPECT_THAT(ValidateAgainstSpec(json{{"run_id", "r"}, {"task_logs", nullptr}}, kWes, "RunLog"),
              IsOk());
  EXPECT_THAT(ValidateAgainstSpec(json{{"run_id", nullptr}}, kWes, "RunLog"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(SpecValidatorTest, MissingSchemaOrFileIsNotFound) {
  EXPECT_THAT(ValidateAgainstSpec(Task(), kTes, "noSuchSchema"),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ValidateAgainstSpec(Task(), "no-such-spec.json", "tesTask"),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace safeflow::testing
