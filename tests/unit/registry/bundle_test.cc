#include "service/registry/bundle.h"

#include <string>
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
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// --- digests

TEST(BundleDigestTest, IsTheDocumentedConstruction) {
  const std::vector<BundleFile> files = {{"b.txt", "B"}, {"a.txt", "hello"}};
  std::string canonical = "safeflow-bundle-v1\n";
  for (const auto& [path, content] :
       std::vector<std::pair<std::string, std::string>>{{"a.txt", "hello"}, {"b.txt", "B"}}) {
    canonical += path + std::string(1, '\0') + std::to_string(content.size()) +
                 std::string(1, '\0') + Sha256Hex(content) + "\n";
  }
  EXPECT_EQ(BundleDigest(files), "sha256:" + Sha256Hex(canonical));
  EXPECT_EQ(Sha256Hex("hello"), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}

TEST(BundleDigestTest, OrderIndependent) {
  std::vector<BundleFile> a = {
      {"Snakefile", "rule all:"}, {"safeflow-manifest.json", "{}"}, {"scripts/x.py", "print(1)"}};
  std::vector<BundleFile> b = {a[2], a[0], a[1]};
  EXPECT_EQ(BundleDigest(a), BundleDigest(b));
  EXPECT_THAT(BundleDigest(a), ::testing::StartsWith("sha256:"));
  EXPECT_EQ(BundleDigest(a).size(), 7u + 64u);
}

TEST(BundleDigestTest, OneByteChangesIt) {
  std::vector<BundleFile> a = {{"Snakefile", "rule all:"}, {"safeflow-manifest.json", "{}"}};
  std::vector<BundleFile> b = a;
  b[1].content = "{ }";
  std::vector<BundleFile> c = a;
  c[0].content[0] = 'R';
  EXPECT_NE(BundleDigest(a), BundleDigest(b));
  EXPECT_NE(BundleDigest(a), BundleDigest(c));
  EXPECT_NE(BundleDigest(b), BundleDigest(c));
}

TEST(BundleDigestTest, PathChangesIt) {
  std::vector<BundleFile> a = {{"Snakefile", "rule all:"}};
  std::vector<BundleFile> b = {{"workflow/Snakefile", "rule all:"}};
  EXPECT_NE(BundleDigest(a), BundleDigest(b));
  // Moving bytes between path and content cannot collide (NUL separators and sizes).
  EXPECT_NE(BundleDigest({{"ab", "c"}}), BundleDigest({{"a", "bc"}}));
  EXPECT_NE(BundleDigest({}), BundleDigest({{"a", ""}}));
}

TEST(EnvironmentDigestTest, CanonicalManifest) {
  EnvironmentManifest m;
  m.name = "ubuntu:22.04";
  m.version = "1";
  m.aliases = {"ubuntu"};
  const std::string canonical =
      R"({"aliases":["ubuntu"],"description":"","name":"ubuntu:22.04","root":"/","version":"1"})";
  EXPECT_EQ(EnvironmentDigest(m), BundleDigest({{"environment.json", canonical}}));
  EnvironmentManifest other = m;
  other.root = "/opt/envs/ubuntu";
  EXPECT_NE(EnvironmentDigest(m), EnvironmentDigest(other));
}

// --- engines

TEST(EngineTest, ParametersAndTypes) {
  EXPECT_EQ(EngineOfType("SMK"), "snakemake");
  EXPECT_EQ(EngineOfType("CWL"), "cwltool");
  EXPECT_EQ(EngineOfType("NFL"), "nextflow");
  EXPECT_EQ(EngineOfType("WDL"), "");
  ASSERT_EQ(EngineParameters("snakemake").size(), 2u);
  EXPECT_EQ(EngineParameters("snakemake")[0].name, "cores");
  EXPECT_EQ(EngineParameters("snakemake")[0].type, "int");
  EXPECT_EQ(EngineParameters("snakemake")[0].default_value, "1");
  EXPECT_EQ(EngineParameters("snakemake")[1].name, "keep-going");
  EXPECT_EQ(EngineParameters("snakemake")[1].default_value, "false");
  ASSERT_EQ(EngineParameters("cwltool").size(), 1u);
  EXPECT_EQ(EngineParameters("cwltool")[0].name, "parallel");
  EXPECT_TRUE(EngineParameters("nextflow").empty());
  EXPECT_TRUE(EngineParameters("other").empty());
}

// --- workflow manifests

json GoodSmk() {
  return json::parse(R"({
    "name": "age-histogram",
    "version": "1.0.0",
    "description": "Counts people per age band",
    "workflow_type": "SMK",
    "workflow_type_version": "7.21",
    "entry_point": "Snakefile",
    "environment": "host",
    "engine_parameters": {"cores": "2"},
    "caller_engine_parameters": {"keep-going": {"type": "string", "enum": ["true", "false"]}},
    "params_schema": {
      "type": "object",
      "properties": {
        "cohort": {"type": "string"},
        "bands": {"type": "array", "items": {"type": "integer"}}
      },
      "required": ["cohort"],
      "additionalProperties": false
    },
    "inputs": [{"param": "cohort", "path": "cohort.csv"}],
    "outputs": [{"name": "histogram", "path": "histogram.csv", "type": "histogram",
                 "table": {"keys": ["age_band"], "counts": ["n"]}}],
    "cpu_cores": 2,
    "ram_gb": 4,
    "disk_gb": 1.5,
    "max_run_minutes": 30
  })");
}

const std::vector<std::string> kSmkPaths = {"Snakefile", "safeflow-manifest.json",
                                            "scripts/hist.py"};

TEST(WorkflowManifestTest, GoodSnakemake) {
  absl::StatusOr<WorkflowManifest> m = ParseWorkflowManifest(GoodSmk(), kSmkPaths);
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->name, "age-histogram");
  EXPECT_EQ(m->version, "1.0.0");
  EXPECT_EQ(m->workflow_type, "SMK");
  EXPECT_EQ(m->engine, "snakemake");
  EXPECT_EQ(m->entry_point, "Snakefile");
  EXPECT_EQ(m->engine_parameters.at("cores"), "2");
  ASSERT_TRUE(m->caller_engine_parameters.contains("keep-going"));
  ASSERT_EQ(m->inputs.size(), 1u);
  EXPECT_EQ(m->inputs[0].param, "cohort");
  EXPECT_EQ(m->inputs[0].path, "cohort.csv");
  ASSERT_EQ(m->outputs.size(), 1u);
  EXPECT_EQ(m->outputs[0].name, "histogram");
  EXPECT_EQ(m->outputs[0].path, "histogram.csv");
  EXPECT_EQ(m->outputs[0].type, executor::disclosure::OutputType::kHistogram);
  EXPECT_EQ(m->outputs[0].table.counts, std::vector<std::string>{"n"});
  EXPECT_EQ(m->cpu_cores, 2);
  EXPECT_EQ(m->ram_gb, 4.0);
  EXPECT_EQ(m->disk_gb, 1.5);
  EXPECT_EQ(m->max_run_minutes, 30);
}

TEST(WorkflowManifestTest, GoodCwlWithDefaults) {
  json j = {{"name", "summary"},
            {"version", "v2"},
            {"workflow_type", "CWL"},
            {"workflow_type_version", "v1.2"},
            {"engine", "cwltool"},
            {"entry_point", "wf/main.cwl"},
            {"engine_parameters", {{"parallel", true}}},
            {"outputs",
             {{{"name", "stats"},
               {"path", "out/stats.csv"},
               {"type", "mean_table"},
               {"table", {{"keys", {"variable"}}, {"statistics", {"mean"}}}},
               {"evidence", "out/stats.evidence.json"}},
              {{"name", "plot"}, {"path", "out/plot.png"}, {"type", "figure"}}}}};
  absl::StatusOr<WorkflowManifest> m =
      ParseWorkflowManifest(j, {"wf/main.cwl", "safeflow-manifest.json"});
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->engine, "cwltool");
  EXPECT_EQ(m->environment, "host");
  EXPECT_EQ(m->engine_parameters.at("parallel"), "true");
  EXPECT_EQ(m->params_schema, json::object());
  EXPECT_EQ(m->max_run_minutes, 60);
  EXPECT_FALSE(m->cpu_cores.has_value());
  EXPECT_FALSE(m->ram_gb.has_value());
  ASSERT_EQ(m->outputs.size(), 2u);
  EXPECT_EQ(m->outputs[0].type, executor::disclosure::OutputType::kMeanTable);
  EXPECT_EQ(m->outputs[0].evidence, "out/stats.evidence.json");
  EXPECT_EQ(m->outputs[1].type, executor::disclosure::OutputType::kFigure);
  // Written back as declarations.
  EXPECT_EQ(ToJson(*m)["outputs"], j["outputs"]);
}

TEST(WorkflowManifestTest, ToJsonRoundTrips) {
  absl::StatusOr<WorkflowManifest> m = ParseWorkflowManifest(GoodSmk(), kSmkPaths);
  ASSERT_THAT(m, IsOk());
  const json j = ToJson(*m);
  EXPECT_EQ(j["engine"], "snakemake");
  absl::StatusOr<WorkflowManifest> again = ParseWorkflowManifest(j, kSmkPaths);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(ToJson(*again), j);
  // Without optional resources, too.
  json minimal = GoodSmk();
  minimal.erase("cpu_cores");
  minimal.erase("ram_gb");
  minimal.erase("disk_gb");
  absl::StatusOr<WorkflowManifest> m2 = ParseWorkflowManifest(minimal, kSmkPaths);
  ASSERT_THAT(m2, IsOk());
  EXPECT_FALSE(ToJson(*m2).contains("cpu_cores"));
  absl::StatusOr<WorkflowManifest> m3 = ParseWorkflowManifest(ToJson(*m2), kSmkPaths);
  ASSERT_THAT(m3, IsOk());
  EXPECT_EQ(ToJson(*m3), ToJson(*m2));
}

// Parses `j` and returns the error message ("" when it parsed).
std::string Problems(const json& j, const std::vector<std::string>& paths = kSmkPaths) {
  absl::StatusOr<WorkflowManifest> m = ParseWorkflowManifest(j, paths);
  if (m.ok()) return "";
  EXPECT_THAT(m, StatusIs(absl::StatusCode::kInvalidArgument));
  return std::string(m.status().message());
}

TEST(WorkflowManifestTest, EachProblem) {
  struct Case {
    const char* what;
    std::function<void(json&)> edit;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"not an object", [](json& j) { j = json::array(); }, "manifest: must be a JSON object"},
      {"unknown key", [](json& j) { j["colour"] = "red"; }, "manifest.colour: unknown field"},
      {"missing name", [](json& j) { j.erase("name"); }, "manifest.name: required"},
      {"bad name", [](json& j) { j["name"] = "Bad Name"; }, "manifest.name: 'Bad Name' is not"},
      {"bad version", [](json& j) { j["version"] = "-1"; }, "manifest.version:"},
      {"missing type", [](json& j) { j.erase("workflow_type"); },
       "manifest.workflow_type: required"},
      {"bad type", [](json& j) { j["workflow_type"] = "WDL"; },
       "manifest.workflow_type: 'WDL' is not SMK, CWL or NFL"},
      {"missing type version", [](json& j) { j.erase("workflow_type_version"); },
       "manifest.workflow_type_version: required"},
      {"engine mismatch", [](json& j) { j["engine"] = "cwltool"; },
       "manifest.engine: 'cwltool' does not match workflow_type SMK"},
      {"entry point not in bundle", [](json& j) { j["entry_point"] = "Missing"; },
       "manifest.entry_point: 'Missing' is not a file of the bundle"},
      {"entry point unsafe", [](json& j) { j["entry_point"] = "../Snakefile"; },
       "manifest.entry_point: path: '..' component"},
      {"bad environment", [](json& j) { j["environment"] = "has space"; }, "manifest.environment:"},
      {"unknown engine parameter", [](json& j) { j["engine_parameters"]["jobs"] = "3"; },
       "manifest.engine_parameters.jobs: unknown snakemake parameter (known: cores, keep-going)"},
      {"bad engine parameter value", [](json& j) { j["engine_parameters"]["cores"] = "many"; },
       "manifest.engine_parameters.cores: 'many' is not an integer"},
      {"fixed and caller-settable",
       [](json& j) {
         j["caller_engine_parameters"]["cores"] = {{"type", "string"}};
       },
       "manifest.caller_engine_parameters.cores: is also fixed in engine_parameters"},
      {"unknown caller parameter",
       [](json& j) {
         j["caller_engine_parameters"]["x"] = {{"type", "string"}};
       },
       "manifest.caller_engine_parameters.x: unknown snakemake parameter"},
      {"caller parameter schema does not compile",
       [](json& j) {
         j["caller_engine_parameters"]["keep-going"] = {{"type", 5}};
       },
       "manifest.caller_engine_parameters.keep-going:"},
      {"params schema not an object", [](json& j) { j["params_schema"] = "x"; },
       "manifest.params_schema: must be a JSON Schema"},
      {"params schema remote ref",
       [](json& j) {
         j["params_schema"] = {{"$ref", "http://evil.example/s.json"}};
       },
       "manifest.params_schema: /$ref: remote references are not allowed"},
      {"input not in schema", [](json& j) { j["inputs"][0]["param"] = "other"; },
       "manifest.inputs[0].param: 'other' must be a property of params_schema with type string"},
      {"input not a string", [](json& j) { j["inputs"][0]["param"] = "bands"; },
       "manifest.inputs[0].param: 'bands' must be a property of params_schema"},
      {"input path unsafe", [](json& j) { j["inputs"][0]["path"] = "/etc/passwd"; },
       "manifest.inputs[0].path: path: absolute"},
      {"input unknown key", [](json& j) { j["inputs"][0]["mode"] = "ro"; },
       "manifest.inputs[0].mode: unknown field"},
      {"outputs not an array", [](json& j) { j["outputs"] = json::object(); },
       "manifest.outputs: must be an array of output declarations"},
      {"output not an object", [](json& j) { j["outputs"][0] = "histogram.csv"; },
       "manifest.outputs[0]: must be a JSON object"},
      {"output path unsafe", [](json& j) { j["outputs"][0]["path"] = "a/../../x"; },
       "manifest.outputs[0].path: must not contain '..' segments"},
      {"output name bad", [](json& j) { j["outputs"][0]["name"] = "_h"; },
       "manifest.outputs[0].name: '_h' is not a name"},
      {"output duplicate path",
       [](json& j) {
         j["outputs"].push_back({{"name", "other"}, {"path", "histogram.csv"}, {"type", "figure"}});
       },
       "manifest.outputs[1].path: 'histogram.csv' is declared twice"},
      {"output duplicate name",
       [](json& j) {
         j["outputs"].push_back({{"name", "histogram"}, {"path", "b.csv"}, {"type", "figure"}});
       },
       "manifest.outputs[1].name: 'histogram' is declared twice"},
      {"old disclosure key", [](json& j) { j["outputs"][0]["disclosure"] = "frequency-table"; },
       "manifest.outputs[0].disclosure: unknown member"},
      {"bad type", [](json& j) { j["outputs"][0]["type"] = "raw-data"; },
       "manifest.outputs[0].type: 'raw-data' is not one of frequency_table, magnitude_table"},
      {"table member missing", [](json& j) { j["outputs"][0]["table"].erase("counts"); },
       "manifest.outputs[0].table.counts: required for type histogram"},
      {"mean table without evidence",
       [](json& j) {
         j["outputs"][0]["type"] = "mean_table";
         j["outputs"][0]["table"] = {{"statistics", {"mean"}}};
       },
       "manifest.outputs[0].evidence: required for type mean_table"},
      {"evidence is an output's path",
       [](json& j) {
         j["outputs"][0]["evidence"] = "plot.png";
         j["outputs"].push_back({{"name", "plot"}, {"path", "plot.png"}, {"type", "figure"}});
       },
       "manifest.outputs[0].evidence: 'plot.png' is the path of an output"},
      {"evidence shared",
       [](json& j) {
         j["outputs"][0]["evidence"] = "e.json";
         j["outputs"].push_back({{"name", "h2"},
                                 {"path", "h2.csv"},
                                 {"type", "histogram"},
                                 {"table", {{"counts", {"n"}}}},
                                 {"evidence", "e.json"}});
       },
       "manifest.outputs[1].evidence: 'e.json' is the evidence of another output too"},
      {"output named like a sidecar",
       [](json& j) {
         j["outputs"][0]["evidence"] = "e.json";
         j["outputs"].push_back(
             {{"name", "histogram.evidence"}, {"path", "x.txt"}, {"type", "text"}});
       },
       "manifest.outputs[0].evidence: output 'histogram.evidence' exists"},
      {"cpu_cores too many", [](json& j) { j["cpu_cores"] = 65; },
       "manifest.cpu_cores: must be an integer from 1 to 64"},
      {"cpu_cores zero", [](json& j) { j["cpu_cores"] = 0; }, "manifest.cpu_cores:"},
      {"ram zero", [](json& j) { j["ram_gb"] = 0; }, "manifest.ram_gb: must be a number greater"},
      {"disk negative", [](json& j) { j["disk_gb"] = -1; }, "manifest.disk_gb:"},
      {"max_run_minutes", [](json& j) { j["max_run_minutes"] = 10081; },
       "manifest.max_run_minutes: must be an integer from 1 to 10080"},
  };
  for (const Case& c : cases) {
    json j = GoodSmk();
    c.edit(j);
    EXPECT_THAT(Problems(j), HasSubstr(c.expected)) << c.what;
  }
}

TEST(WorkflowManifestTest, ReportsEveryProblemAtOnce) {
  json j = GoodSmk();
  j["name"] = "BAD";
  j["workflow_type"] = "WDL";
  j["entry_point"] = "nope";
  j["outputs"][0]["type"] = "everything";
  j["outputs"][0]["path"] = "/abs";
  j["cpu_cores"] = 100;
  j["extra"] = 1;
  const std::string p = Problems(j);
  EXPECT_THAT(p, AllOf(HasSubstr("manifest.name:"), HasSubstr("manifest.workflow_type:"),
                       HasSubstr("manifest.entry_point:"), HasSubstr("manifest.outputs[0].type:"),
                       HasSubstr("manifest.outputs[0].path:"), HasSubstr("manifest.cpu_cores:"),
                       HasSubstr("manifest.extra: unknown")));
  EXPECT_GE(std::count(p.begin(), p.end(), ';'), 5);
}

TEST(WorkflowManifestTest, NextflowHasNoEngineParameters) {
  json j = GoodSmk();
  j["workflow_type"] = "NFL";
  j["workflow_type_version"] = "23.04";
  j["engine_parameters"] = json::object();
  j["caller_engine_parameters"] = json::object();
  EXPECT_EQ(Problems(j), "");
  j["engine_parameters"]["cores"] = "2";
  EXPECT_THAT(Problems(j), HasSubstr("unknown nextflow parameter (nextflow has none)"));
}

// --- environment manifests

TEST(EnvironmentManifestTest, GoodAndRoundTrip) {
  json j = {{"name", "rocker/r-ver:4.3"},
            {"version", "2024.1"},
            {"description", "R"},
            {"root", "/opt/envs/r"},
            {"aliases", {"r", "R:4.3"}}};
  absl::StatusOr<EnvironmentManifest> m = ParseEnvironmentManifest(j);
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->name, "rocker/r-ver:4.3");
  EXPECT_EQ(m->root, "/opt/envs/r");
  EXPECT_EQ(ToJson(*m), j);
  absl::StatusOr<EnvironmentManifest> d =
      ParseEnvironmentManifest({{"name", "x"}, {"version", "1"}});
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->root, "/");
}

TEST(EnvironmentManifestTest, Problems) {
  json j = {{"name", "bad name"},
            {"root", "relative/../x"},
            {"aliases", {"ok", "ok", "bad alias"}},
            {"colour", 1}};
  absl::StatusOr<EnvironmentManifest> m = ParseEnvironmentManifest(j);
  ASSERT_THAT(m, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      std::string(m.status().message()),
      AllOf(HasSubstr("manifest.name:"), HasSubstr("manifest.version: required"),
            HasSubstr("manifest.root:"), HasSubstr("manifest.aliases[1]: 'ok' is named twice"),
            HasSubstr("manifest.aliases[2]:"), HasSubstr("manifest.colour: unknown field")));
  EXPECT_THAT(ParseEnvironmentManifest({{"name", "x"}, {"version", "1"}, {"root", "/a/../b"}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseEnvironmentManifest(json::array()), Not(IsOk()));
}

}  // namespace
}  // namespace safeflow::service::registry
