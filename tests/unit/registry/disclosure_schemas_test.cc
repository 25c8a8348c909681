// The JSON Schemas of schemas/disclosure/ against the C++ that reads and writes those formats
// (executor/disclosure/), and the sample workflows' output declarations against the schema.
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "executor/disclosure/declaration.h"
#include "executor/disclosure/profile.h"
#include "executor/disclosure/report.h"
#include "service/registry/json_schema.h"
#include "tests/testing/status_matchers.h"

namespace safeflow::service::registry {
namespace {

namespace disclosure = executor::disclosure;
using nlohmann::json;
using ::safeflow::testing::IsOk;
using ::testing::IsEmpty;
using ::testing::Not;

std::string SchemaPath(const std::string& name) {
  return std::string(SAFEFLOW_SOURCE_DIR) + "/schemas/disclosure/" + name + ".schema.json";
}

json ReadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream buffer;
  buffer << in.rdbuf();
  json j = json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << path << " is not JSON";
  return j;
}

class DisclosureSchemasTest : public ::testing::Test {
 protected:
  static std::shared_ptr<const CompiledSchema> Load(const std::string& name) {
    absl::StatusOr<std::shared_ptr<const CompiledSchema>> s =
        CompiledSchema::Compile(ReadJson(SchemaPath(name)));
    EXPECT_THAT(s, IsOk()) << name;
    return s.ok() ? *s : nullptr;
  }
  // "" when `doc` conforms, else the violations, one per line.
  static std::string Violations(const std::shared_ptr<const CompiledSchema>& schema,
                                const json& doc) {
    if (schema == nullptr) return "no schema";
    std::string out;
    for (const std::string& v : schema->Validate(doc)) out += v + "\n";
    return out;
  }
};

TEST_F(DisclosureSchemasTest, EverySchemaIsStrictDraft07WithIdTitleAndDescription) {
  for (const std::string name : {"output-declaration", "evidence", "report", "profile"}) {
    SCOPED_TRACE(name);
    const json s = ReadJson(SchemaPath(name));
    ASSERT_TRUE(s.is_object());
    EXPECT_EQ(s.value("$schema", ""), "http://json-schema.org/draft-07/schema#");
    EXPECT_THAT(s.value("$id", ""), Not(IsEmpty()));
    EXPECT_THAT(s.value("title", ""), Not(IsEmpty()));
    EXPECT_THAT(s.value("description", ""), Not(IsEmpty()));
    EXPECT_EQ(s.value("additionalProperties", true), false);
    std::shared_ptr<const CompiledSchema> compiled = Load(name);
    ASSERT_NE(compiled, nullptr);
    ASSERT_TRUE(s.contains("examples"));
    for (const json& example : s["examples"]) {
      EXPECT_EQ(Violations(compiled, example), "") << example.dump();
    }
  }
}

// --- output declarations: the schema and ParseDeclaration agree.

TEST_F(DisclosureSchemasTest, OutputDeclarationTypesAreTheParsersTypes) {
  const json s = ReadJson(SchemaPath("output-declaration"));
  std::vector<std::string> names;
  for (std::string_view n : disclosure::OutputTypeNames()) names.emplace_back(n);
  EXPECT_EQ(s["properties"]["type"]["enum"], json(names));
  names.push_back("undeclared");
  EXPECT_EQ(ReadJson(SchemaPath("report"))["properties"]["type"]["enum"], json(names));
}

TEST_F(DisclosureSchemasTest, OutputDeclarationGoodAndBadExamples) {
  auto schema = Load("output-declaration");
  const std::vector<std::string> good = {
      R"({"name": "counts", "path": "counts.csv", "type": "frequency_table",
          "table": {"keys": ["age_band", "sex"], "counts": ["count"], "rounding": 5,
                    "total_label": "Total"}})",
      R"({"name": "h", "path": "out/h.tsv", "type": "histogram",
          "table": {"counts": ["n"], "delimiter": "\t"}, "evidence": "out/h.evidence.json"})",
      R"({"name": "summary", "path": "summary_statistics.csv", "type": "mean_table",
          "table": {"keys": ["variable"], "counts": ["n"], "statistics": ["mean", "sd"]},
          "evidence": "summary_statistics.evidence.json"})",
      R"({"name": "km", "path": "km.csv", "type": "survival_table",
          "table": {"time": "t", "at_risk": "n_risk", "events": "n_event", "censored": "n_cens"}})",
      R"({"name": "model", "path": "model.json", "type": "regression", "description": "OLS"})",
      R"({"name": "A.b_c-9", "path": "..a/b..", "type": "figure"})",
      R"({"name": "rows", "path": "rows.csv", "type": "data_extract"})",
  };
  for (const std::string& text : good) {
    const json j = json::parse(text);
    EXPECT_EQ(Violations(schema, j), "") << text;
    absl::StatusOr<disclosure::Declaration> d = disclosure::ParseDeclaration(j);
    ASSERT_THAT(d, IsOk()) << text;
    // What the service writes back conforms too.
    EXPECT_EQ(Violations(schema, disclosure::ToJson(*d)), "") << text;
  }
  const std::vector<std::string> bad = {
      R"({"name": "counts", "path": "counts.csv", "disclosure": "frequency-table"})",
      R"({"name": "counts", "path": "counts.csv", "type": "frequency-table"})",
      R"({"path": "a.txt", "type": "text"})",
      R"({"name": "_a", "path": "a.txt", "type": "text"})",
      R"({"name": "a", "path": "/etc/passwd", "type": "text"})",
      R"({"name": "a", "path": "../a.txt", "type": "text"})",
      R"({"name": "a", "path": "x/./a.txt", "type": "text"})",
      R"({"name": "a", "path": "x//a.txt", "type": "text"})",
      R"({"name": "a", "path": "x/", "type": "text"})",
      R"({"name": "a", "path": "x\\a.txt", "type": "text"})",
      R"({"name": "a", "path": "x\u0001a.txt", "type": "text"})",
      R"({"name": "a", "path": "a.txt", "type": "text", "table": {}})",
      R"({"name": "a", "path": "a.txt", "type": "regression", "evidence": "e.json"})",
      R"({"name": "a", "path": "a.csv", "type": "frequency_table"})",
      R"({"name": "a", "path": "a.csv", "type": "frequency_table", "table": {"counts": []}})",
      R"({"name": "a", "path": "a.csv", "type": "histogram", "table": {"keys": ["bin"]}})",
      R"({"name": "a", "path": "a.csv", "type": "magnitude_table",
          "table": {"statistics": ["cost"]}})",
      R"({"name": "a", "path": "a.csv", "type": "mean_table", "table": {}, "evidence": "e.json"})",
      R"({"name": "a", "path": "a.csv", "type": "survival_table", "table": {"time": "t"}})",
      R"({"name": "a", "path": "a.csv", "type": "frequency_table",
          "table": {"counts": ["n", "n"]}})",
      R"({"name": "a", "path": "a.csv", "type": "frequency_table",
          "table": {"counts": ["n"], "delimiter": ";"}})",
      R"({"name": "a", "path": "a.csv", "type": "frequency_table",
          "table": {"counts": ["n"], "rounding": 1001}})",
      R"({"name": "a", "path": "a.csv", "type": "frequency_table",
          "table": {"counts": ["n"], "weights": ["w"]}})",
      R"({"name": "a", "path": "a.csv", "type": "frequency_table",
          "table": {"counts": [""]}})",
  };
  for (const std::string& text : bad) {
    const json j = json::parse(text);
    EXPECT_NE(Violations(schema, j), "") << text;
    EXPECT_FALSE(disclosure::ParseDeclaration(j).ok()) << text;
  }
}

TEST_F(DisclosureSchemasTest, OutputDeclarationLengthLimits) {
  auto schema = Load("output-declaration");
  json j = {{"name", std::string(64, 'n')}, {"path", std::string(255, 'p')}, {"type", "text"}};
  EXPECT_EQ(Violations(schema, j), "");
  EXPECT_THAT(disclosure::ParseDeclaration(j), IsOk());
  j["name"] = std::string(65, 'n');
  EXPECT_NE(Violations(schema, j), "");
  EXPECT_FALSE(disclosure::ParseDeclaration(j).ok());
  j["name"] = "n";
  j["path"] = std::string(256, 'p');
  EXPECT_NE(Violations(schema, j), "");
  EXPECT_FALSE(disclosure::ParseDeclaration(j).ok());
}

// Every output the sample workflows declare conforms, and the service accepts it.
TEST_F(DisclosureSchemasTest, SampleWorkflowOutputsConform) {
  auto schema = Load("output-declaration");
  int manifests = 0, outputs = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(SAFEFLOW_SOURCE_DIR) + "/workflows")) {
    const std::filesystem::path manifest = entry.path() / "safeflow-manifest.json";
    if (!entry.is_directory() || !std::filesystem::exists(manifest)) continue;
    ++manifests;
    const json m = ReadJson(manifest.string());
    ASSERT_TRUE(m.contains("outputs") && m["outputs"].is_array()) << manifest;
    for (const json& o : m["outputs"]) {
      ++outputs;
      EXPECT_EQ(Violations(schema, o), "") << manifest << ": " << o.dump();
      EXPECT_THAT(disclosure::ParseDeclaration(o), IsOk()) << manifest << ": " << o.dump();
    }
  }
  EXPECT_GE(manifests, 2);
  EXPECT_GE(outputs, 4);
}

// --- evidence

TEST_F(DisclosureSchemasTest, EvidenceGoodAndBadExamples) {
  auto schema = Load("evidence");
  const std::vector<std::string> good = {
      R"({"version": 1, "cells": []})",
      R"({"version": 1, "cells": [
          {"row": 0, "column": "total_cost", "n": 12, "sum": 3400.5, "largest": [800, 650]},
          {"row": 0, "column": "mean", "n": 1, "sum": -2.5, "largest": [2.5], "negatives": 1},
          {"row": 3, "column": "mean", "n": 0, "sum": 0, "largest": []}]})",
  };
  for (const std::string& text : good) {
    const json j = json::parse(text);
    EXPECT_EQ(Violations(schema, j), "") << text;
    EXPECT_THAT(disclosure::ParseEvidence(j), IsOk()) << text;
  }
  const std::vector<std::string> bad = {
      R"({"cells": []})",
      R"({"version": 2, "cells": []})",
      R"({"version": 1})",
      R"({"version": 1, "cells": [], "extra": true})",
      R"({"version": 1, "cells": [{"row": -1, "column": "c", "n": 1, "sum": 1, "largest": [1]}]})",
      R"({"version": 1, "cells": [{"row": 0, "column": "", "n": 1, "sum": 1, "largest": [1]}]})",
      R"({"version": 1, "cells": [{"row": 0, "column": "c", "n": 1.5, "sum": 1, "largest": [1]}]})",
      R"({"version": 1, "cells": [{"row": 0, "column": "c", "n": 1, "sum": "1", "largest": [1]}]})",
      R"({"version": 1, "cells": [{"row": 0, "column": "c", "n": 1, "sum": 1, "largest": ["1"]}]})",
      R"({"version": 1, "cells": [{"row": 0, "column": "c", "n": 1, "sum": 1}]})",
      R"({"version": 1, "cells": [{"row": 0, "column": "c", "n": 1, "sum": 1, "largest": [1],
                                   "negatives": -1}]})",
      R"({"version": 1, "cells": [{"row": 0, "column": "c", "n": 1, "sum": 1, "largest": [1],
                                   "weight": 1}]})",
  };
  for (const std::string& text : bad) {
    const json j = json::parse(text);
    EXPECT_NE(Violations(schema, j), "") << text;
    EXPECT_FALSE(disclosure::ParseEvidence(j).ok()) << text;
  }
}

// --- reports: what ToJson(FileReport) writes conforms.

TEST_F(DisclosureSchemasTest, ReportWrittenByTheServiceConforms) {
  auto schema = Load("report");
  disclosure::FileReport r;
  r.name = "counts";
  r.path = "counts_by_age_sex.csv";
  r.sha256 = std::string(64, 'a');
  r.size_bytes = 312;
  r.type = "frequency_table";
  r.profile = "acro-default";
  r.verdict = disclosure::Verdict::kReview;
  r.rules_applied = {"size_limit", "min_cell_count"};
  disclosure::Finding pass;
  pass.rule = "size_limit";
  pass.outcome = disclosure::Verdict::kPass;
  pass.message = "Within the limits.";
  disclosure::Finding review;
  review.rule = "min_cell_count";
  review.outcome = disclosure::Verdict::kReview;
  review.message = "Too few people.";
  review.parameters = {{"threshold", 10}};
  for (std::size_t i = 0; i < disclosure::kMaxCellsPerFinding + 5; ++i) {
    review.AddCell({i, "count", "4", "fewer than 10 people"});
  }
  r.findings = {pass, review};
  const json j = disclosure::ToJson(r);
  EXPECT_EQ(Violations(schema, j), "") << j.dump();

  json undeclared = j;
  undeclared["type"] = "undeclared";
  EXPECT_EQ(Violations(schema, undeclared), "");

  // And the schema refuses what the service would not write.
  auto broken = [&](auto&& change) {
    json b = j;
    change(b);
    return Violations(schema, b);
  };
  EXPECT_NE(broken([](json& b) { b.erase("verdict"); }), "");
  EXPECT_NE(broken([](json& b) { b["verdict"] = "maybe"; }), "");
  EXPECT_NE(broken([](json& b) { b["sha256"] = "ABC"; }), "");
  EXPECT_NE(broken([](json& b) { b["type"] = "frequency-table"; }), "");
  EXPECT_NE(broken([](json& b) { b["extra"] = 1; }), "");
  EXPECT_NE(broken([](json& b) { b["size_bytes"] = -1; }), "");
  EXPECT_NE(broken([](json& b) { b["findings"][0]["outcome"] = "ok"; }), "");
  EXPECT_NE(broken([](json& b) { b["findings"][0].erase("cells_total"); }), "");
  EXPECT_NE(broken([](json& b) { b["findings"][1]["cells"][0]["masked"] = true; }), "");
  EXPECT_NE(
      broken([](json& b) { b["findings"][1]["cells"].push_back(b["findings"][1]["cells"][0]); }),
      "");  // 101 cells
}

// --- profiles: the built-ins as the service writes them, and config overrides.

TEST_F(DisclosureSchemasTest, ProfilesConform) {
  auto schema = Load("profile");
  for (std::string_view name : disclosure::BuiltinProfileNames()) {
    absl::StatusOr<disclosure::Profile> p = disclosure::BuiltinProfile(name);
    ASSERT_THAT(p, IsOk());
    EXPECT_EQ(Violations(schema, disclosure::ToJson(*p)), "") << name;
  }
  const std::vector<std::string> good = {
      R"({})",
      R"({"base": "strict", "threshold": 5, "statistical_outcome": "fail"})",
      R"({"base": "datashield", "max_params_ratio": 0.33, "dominance_n": 0, "dominance_k": 1,
          "p_percent": 0, "zeros_disclosive": false, "required_rounding": 5,
          "differencing_threshold": 10, "check_identifiers": true, "allow_data_extract": false,
          "allowed_extensions": [".csv", ".txt"], "max_file_bytes": 1048576, "max_rows": 1000,
          "residual_dof": 20})",
  };
  for (const std::string& text : good) {
    const json j = json::parse(text);
    EXPECT_EQ(Violations(schema, j), "") << text;
    EXPECT_THAT(disclosure::ProfileFromJson("local", j), IsOk()) << text;
  }
  const std::vector<std::string> bad = {
      R"({"base": "lenient"})",
      R"({"statistical_outcome": "pass"})",
      R"({"threshold": 0})",
      R"({"threshold": 1001})",
      R"({"dominance_k": 0})",
      R"({"dominance_k": 1.5})",
      R"({"p_percent": 1})",
      R"({"dominance_n": 11})",
      R"({"zeros_disclosive": "yes"})",
      R"({"allowed_extensions": ["csv"]})",
      R"({"allowed_extensions": [".a/b"]})",
      R"({"max_rows": 0})",
      R"({"unknown_rule": 1})",
  };
  for (const std::string& text : bad) {
    const json j = json::parse(text);
    EXPECT_NE(Violations(schema, j), "") << text;
    EXPECT_FALSE(disclosure::ProfileFromJson("local", j).ok()) << text;
  }
}

}  // namespace
}  // namespace safeflow::service::registry
