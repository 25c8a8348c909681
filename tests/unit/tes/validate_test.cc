#include "schemas/tes/validate.h"

#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#include "schemas/tes/task.h"

namespace safeflow::schemas::tes {
namespace {

using ::nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// The py-tes "hello world".
json Minimal() {
  return json::parse(R"({"executors":[{"image":"alpine","command":["echo","hi"]}]})");
}

// A valid body with one of everything, to be broken one field at a time.
json Complete() {
  return json::parse(R"({
    "name": "n", "description": "d",
    "inputs": [{"name": "in", "description": "d", "url": "s3://b/in", "path": "/data/in",
                "type": "FILE", "streamable": true}],
    "outputs": [{"name": "out", "description": "d", "url": "s3://b/out", "path": "/data/out",
                 "type": "FILE"}],
    "resources": {"cpu_cores": 2, "preemptible": false, "ram_gb": 4, "disk_gb": 10.5,
                  "zones": ["z1"], "backend_parameters": {"VmSize": "big"},
                  "backend_parameters_strict": true},
    "executors": [{"image": "ubuntu:20.04", "command": ["md5sum", "/data/in"], "workdir": "/data",
                   "stdin": "/data/in", "stdout": "/data/stdout", "stderr": "/data/stderr",
                   "env": {"A": "1"}, "ignore_error": false}],
    "volumes": ["/vol/A"],
    "tags": {"k": "v"}
  })");
}

// The errors of parsing `body`, formatted; "" when it parses. Also checks the result's invariant.
std::string Errors(const json& body, const ValidationLimits& limits = {}) {
  ParseResult r = ParseCreateTask(body, limits);
  EXPECT_EQ(r.task.has_value(), r.errors.empty());
  return FormatErrors(r.errors);
}

// `body` with the value at JSON pointer `pointer` replaced (or added).
json With(json body, const std::string& pointer, json value) {
  body[json::json_pointer(pointer)] = std::move(value);
  return body;
}

json Without(json body, const std::string& parent_pointer, const std::string& key) {
  body[json::json_pointer(parent_pointer)].erase(key);
  return body;
}

TEST(ParseCreateTaskTest, PyTesMinimalTaskParses) {
  ParseResult r = ParseCreateTask(Minimal());
  ASSERT_TRUE(r.task) << FormatErrors(r.errors);
  EXPECT_THAT(r.errors, ElementsAre());
  Task expected;
  expected.executors = {Executor{.image = "alpine", .command = {"echo", "hi"}}};
  EXPECT_EQ(*r.task, expected);
  EXPECT_EQ(r.task->state, State::kUnknown);
  EXPECT_EQ(r.task->id, "");
}

TEST(ParseCreateTaskTest, CompleteTaskParsesIntoEveryField) {
  ParseResult r = ParseCreateTask(Complete());
  ASSERT_TRUE(r.task) << FormatErrors(r.errors);
  const Task& t = *r.task;
  EXPECT_EQ(t.name, "n");
  EXPECT_EQ(t.description, "d");
  EXPECT_EQ(t.inputs.at(0), (Input{.name = "in",
                                   .description = "d",
                                   .url = "s3://b/in",
                                   .path = "/data/in",
                                   .type = FileType::kFile,
                                   .streamable = true}));
  EXPECT_EQ(t.outputs.at(0),
            (Output{.name = "out", .description = "d", .url = "s3://b/out", .path = "/data/out"}));
  EXPECT_EQ(*t.resources, (Resources{.cpu_cores = 2,
                                     .preemptible = false,
                                     .ram_gb = 4.0,
                                     .disk_gb = 10.5,
                                     .zones = {"z1"},
                                     .backend_parameters = {{"VmSize", "big"}},
                                     .backend_parameters_strict = true}));
  EXPECT_EQ(t.executors.at(0), (Executor{.image = "ubuntu:20.04",
                                         .command = {"md5sum", "/data/in"},
                                         .workdir = "/data",
                                         .stdin_path = "/data/in",
                                         .stdout_path = "/data/stdout",
                                         .stderr_path = "/data/stderr",
                                         .env = {{"A", "1"}},
                                         .ignore_error = false}));
  EXPECT_THAT(t.volumes, ElementsAre("/vol/A"));
  EXPECT_EQ(t.tags, (std::map<std::string, std::string>{{"k", "v"}}));
}

// What nf-ga4gh's TesTaskHandler sends (Gson omits nulls).
TEST(ParseCreateTaskTest, NextflowTaskParses) {
  const json body = json::parse(R"json({
    "name": "FASTQC (sample_1)",
    "inputs": [
      {"url": "file:///home/u/work/ab/cdef/.command.sh", "path": "/work/.command.sh", "type": "FILE"},
      {"url": "file:///home/u/work/ab/cdef/.command.run", "path": "/work/.command.run",
       "type": "FILE"},
      {"url": "s3://bucket/reads/sample%201.fq.gz", "path": "/work/sample 1.fq.gz", "type": "FILE"},
      {"url": "file:///home/u/project/bin/helper.py", "path": "/home/u/project/bin/helper.py",
       "type": "FILE"},
      {"url": "file:///home/u/ref", "path": "/work/ref", "type": "DIRECTORY"}
    ],
    "outputs": [
      {"path": "/work/.command.out", "url": "file:///home/u/work/ab/cdef/.command.out"},
      {"path": "/work/.command.err", "url": "file:///home/u/work/ab/cdef/.command.err"},
      {"path": "/work/.exitcode", "url": "file:///home/u/work/ab/cdef/.exitcode"},
      {"path": "/work/*", "path_prefix": "/work", "url": "file:///home/u/work/ab/cdef",
       "type": "FILE"},
      {"path": "/work/out/*.{zip,html}", "path_prefix": "/work",
       "url": "file:///home/u/work/ab/cdef", "type": "FILE"},
      {"path": "/work/results", "url": "file:///home/u/work/ab/cdef/results", "type": "DIRECTORY"}
    ],
    "resources": {"cpu_cores": 1, "ram_gb": 0.5, "disk_gb": 1.5,
                  "backend_parameters_strict": false},
    "executors": [{
      "image": "quay.io/biocontainers/fastqc:0.11.9--0",
      "command": ["bash", "-o", "pipefail", "-c",
                  "bash /work/.command.run 2>&1 | tee /work/.command.log"],
      "workdir": "/work"
    }]
  })json");
  ParseResult r = ParseCreateTask(body);
  ASSERT_TRUE(r.task) << FormatErrors(r.errors);
  EXPECT_EQ(r.task->resources->ram_gb, 0.5);
  EXPECT_EQ(r.task->resources->cpu_cores, 1);
  EXPECT_EQ(r.task->resources->backend_parameters_strict, false);
  EXPECT_EQ(r.task->outputs.at(3).path_prefix, "/work");
  EXPECT_TRUE(IsWildcard(r.task->outputs.at(3).path));
  EXPECT_THAT(r.task->executors.at(0).command, SizeIs(5));
  EXPECT_EQ(r.task->inputs.at(4).type, FileType::kDirectory);
}

TEST(ParseCreateTaskTest, ReadOnlyFieldsAreIgnoredWhateverTheyHold) {
  json body = Minimal();
  body["id"] = "client-chosen";
  body["state"] = "COMPLETE";
  body["logs"] = json::parse(R"([{"logs": [{"exit_code": 0}], "outputs": []}])");
  body["creation_time"] = "2020-01-01T00:00:00Z";
  ParseResult r = ParseCreateTask(body);
  ASSERT_TRUE(r.task) << FormatErrors(r.errors);
  EXPECT_EQ(r.task->id, "");
  EXPECT_EQ(r.task->state, State::kUnknown);
  EXPECT_THAT(r.task->logs, ElementsAre());
  EXPECT_EQ(r.task->creation_time, std::nullopt);

  // Even garbage in them.
  body["id"] = 5;
  body["state"] = "HACKED";
  body["logs"] = "x";
  body["creation_time"] = json::array();
  EXPECT_EQ(Errors(body), "");
}

TEST(ParseCreateTaskTest, UnknownKeysAreIgnoredEverywhere) {
  json body = Complete();
  body["x-extra"] = {{"a", 1}};
  body["inputs"][0]["checksum"] = "md5:0";
  body["outputs"][0]["extra"] = 1;
  body["resources"]["gpus"] = 2;
  body["executors"][0]["ports"] = json::array({80});
  EXPECT_EQ(Errors(body), "");
}

TEST(ParseCreateTaskTest, NullMeansAbsentForOptionalFields) {
  json body = Minimal();
  for (const char* key :
       {"name", "description", "inputs", "outputs", "resources", "volumes", "tags"}) {
    body[key] = nullptr;
  }
  body["executors"][0]["workdir"] = nullptr;
  body["executors"][0]["env"] = nullptr;
  body["executors"][0]["ignore_error"] = nullptr;
  ParseResult r = ParseCreateTask(body);
  ASSERT_TRUE(r.task) << FormatErrors(r.errors);
  EXPECT_EQ(r.task->name, std::nullopt);
  EXPECT_EQ(r.task->resources, std::nullopt);

  json input = json::parse(R"({"url": null, "content": "hello", "path": "/a", "type": null})");
  EXPECT_EQ(Errors(With(Minimal(), "/inputs/0", input)), "");
}

TEST(ParseCreateTaskTest, BodyMustBeAnObject) {
  for (const json& body : {json::array(), json("task"), json(nullptr), json(3)}) {
    ParseResult r = ParseCreateTask(body);
    EXPECT_FALSE(r.task);
    EXPECT_THAT(r.errors, ElementsAre(FieldError{"", "must be a JSON object (a tesTask)"}));
  }
}

TEST(ParseCreateTaskTest, EveryRequiredFieldHasItsPath) {
  EXPECT_EQ(Errors(json::object()), "executors: required");
  EXPECT_EQ(Errors(json{{"executors", nullptr}}), "executors: required");
  EXPECT_EQ(Errors(json{{"executors", json::array()}}), "executors: must not be empty");
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0", json::object())),
            "executors[0].image: required; executors[0].command: required");
  EXPECT_EQ(Errors(Without(Minimal(), "/executors/0", "image")), "executors[0].image: required");
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0/image", "")),
            "executors[0].image: must not be empty");
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0/command", json::array())),
            "executors[0].command: must not be empty");
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0/command", nullptr)),
            "executors[0].command: required");

  EXPECT_EQ(Errors(With(Minimal(), "/inputs/0", json::object())),
            "inputs[0].url: required unless content is given; inputs[0].path: required");
  EXPECT_EQ(Errors(With(Minimal(), "/inputs/0", json{{"url", "s3://b/k"}})),
            "inputs[0].path: required");
  EXPECT_EQ(Errors(With(Minimal(), "/inputs/0", json{{"path", "/a"}})),
            "inputs[0].url: required unless content is given");
  EXPECT_EQ(Errors(With(Minimal(), "/inputs/0",
                        json{{"path", "/a"}, {"url", "s3://b/k"}, {"content", "x"}})),
            "inputs[0].url: must not be given together with content");
  EXPECT_EQ(Errors(With(Minimal(), "/inputs/0", json{{"path", "/a"}, {"content", ""}})), "");

  EXPECT_EQ(Errors(With(Minimal(), "/outputs/0", json::object())),
            "outputs[0].url: required; outputs[0].path: required");
  EXPECT_EQ(Errors(With(Minimal(), "/outputs/0", json{{"path", "/a"}})),
            "outputs[0].url: required");
  EXPECT_EQ(Errors(With(Minimal(), "/outputs/0", json{{"url", "s3://b/k"}})),
            "outputs[0].path: required");
}

TEST(ParseCreateTaskTest, ReportsEveryErrorAtOnceInSpecOrder) {
  const json body = json::parse(R"({
    "tags": {"k": 1},
    "volumes": ["vol"],
    "executors": [
      {"image": "alpine", "command": "echo hi"},
      {"command": ["ls", 7], "workdir": "/a/../b"}
    ],
    "resources": {"cpu_cores": 0, "ram_gb": "1"},
    "outputs": [{"path": "out"}],
    "inputs": [{"url": "s3://b/k", "path": "/ok"}, {"url": "no-scheme", "path": "/in/"}],
    "name": 7
  })");
  ParseResult r = ParseCreateTask(body);
  EXPECT_FALSE(r.task);
  EXPECT_EQ(FormatErrors(r.errors),
            "name: must be a string; "
            "inputs[1].url: must start with a scheme, like file://, https:// or s3://; "
            "inputs[1].path: must not end with '/'; "
            "outputs[0].url: required; "
            "outputs[0].path: must be absolute; "
            "resources.cpu_cores: must be at least 1; "
            "resources.ram_gb: must be a number; "
            "executors[0].command: must be an array; "
            "executors[1].image: required; "
            "executors[1].command[1]: must be a string; "
            "executors[1].workdir: must not contain '..' segments; "
            "volumes[0]: must be absolute; "
            "tags[\"k\"]: must be a string");
  EXPECT_THAT(r.errors, SizeIs(13));
  EXPECT_EQ(r.errors[0], (FieldError{"name", "must be a string"}));
}

struct TypeCase {
  std::string pointer;
  json value;
  std::string expected;
};

TEST(ParseCreateTaskTest, WrongTypesEverywhere) {
  const std::vector<TypeCase> cases = {
      {"/name", 5, "name: must be a string"},
      {"/description", json::array(), "description: must be a string"},
      {"/inputs", "x", "inputs: must be an array"},
      {"/inputs", json::object(), "inputs: must be an array"},
      {"/inputs/0", 5, "inputs[0]: must be an object"},
      {"/inputs/0/name", true, "inputs[0].name: must be a string"},
      {"/inputs/0/description", 1.5, "inputs[0].description: must be a string"},
      {"/inputs/0/url", json::array({"s3://b/k"}), "inputs[0].url: must be a string"},
      {"/inputs/0/path", 1, "inputs[0].path: must be a string"},
      {"/inputs/0/type", "file", "inputs[0].type: must be one of FILE, DIRECTORY"},
      {"/inputs/0/type", 0, "inputs[0].type: must be a string"},
      {"/inputs/0/streamable", "true", "inputs[0].streamable: must be a boolean"},
      {"/inputs/0/streamable", 1, "inputs[0].streamable: must be a boolean"},
      {"/outputs", "x", "outputs: must be an array"},
      {"/outputs/0", json::array(), "outputs[0]: must be an object"},
      {"/outputs/0/url", 3, "outputs[0].url: must be a string"},
      {"/outputs/0/path", json::object(), "outputs[0].path: must be a string"},
      {"/outputs/0/path_prefix", false, "outputs[0].path_prefix: must be a string"},
      {"/outputs/0/type", "Directory", "outputs[0].type: must be one of FILE, DIRECTORY"},
      {"/resources", json::array(), "resources: must be an object"},
      {"/resources", "big", "resources: must be an object"},
      {"/resources/cpu_cores", "2", "resources.cpu_cores: must be an integer"},
      {"/resources/cpu_cores", 1.5, "resources.cpu_cores: must be an integer"},
      {"/resources/cpu_cores", true, "resources.cpu_cores: must be an integer"},
      {"/resources/cpu_cores", 3000000000LL,
       "resources.cpu_cores: must be a 32-bit integer (-2147483648..2147483647)"},
      {"/resources/preemptible", "false", "resources.preemptible: must be a boolean"},
      {"/resources/ram_gb", "4", "resources.ram_gb: must be a number"},
      {"/resources/disk_gb", json::object(), "resources.disk_gb: must be a number"},
      {"/resources/zones", "z1", "resources.zones: must be an array"},
      {"/resources/zones", json::array({1}), "resources.zones[0]: must be a string"},
      {"/resources/backend_parameters", json::array(),
       "resources.backend_parameters: must be an object mapping strings to strings"},
      {"/resources/backend_parameters", json{{"VmSize", 64}},
       "resources.backend_parameters[\"VmSize\"]: must be a string"},
      {"/resources/backend_parameters_strict", "no",
       "resources.backend_parameters_strict: must be a boolean"},
      {"/executors", json::object(), "executors: must be an array"},
      {"/executors", "alpine", "executors: must be an array"},
      {"/executors/0", "alpine", "executors[0]: must be an object"},
      {"/executors/0/image", 1, "executors[0].image: must be a string"},
      {"/executors/0/command", "echo hi", "executors[0].command: must be an array"},
      {"/executors/0/command", json::array({"echo", nullptr}),
       "executors[0].command[1]: must be a string"},
      {"/executors/0/command", json::array({json::array({"echo"})}),
       "executors[0].command[0]: must be a string"},
      {"/executors/0/workdir", 1, "executors[0].workdir: must be a string"},
      {"/executors/0/stdin", json::array(), "executors[0].stdin: must be a string"},
      {"/executors/0/stdout", false, "executors[0].stdout: must be a string"},
      {"/executors/0/stderr", 2.5, "executors[0].stderr: must be a string"},
      {"/executors/0/env", json::array({"A=1"}),
       "executors[0].env: must be an object mapping strings to strings"},
      {"/executors/0/env", json{{"A", 1}}, "executors[0].env[\"A\"]: must be a string"},
      {"/executors/0/ignore_error", "yes", "executors[0].ignore_error: must be a boolean"},
      {"/volumes", "/vol/A", "volumes: must be an array"},
      {"/volumes", json::array({1}), "volumes[0]: must be a string"},
      {"/tags", json::array(), "tags: must be an object mapping strings to strings"},
      {"/tags", json{{"k", json::object()}}, "tags[\"k\"]: must be a string"},
      {"/tags", json{{"k", nullptr}}, "tags[\"k\"]: must be a string"},
  };
  for (const TypeCase& c : cases) {
    EXPECT_EQ(Errors(With(Complete(), c.pointer, c.value)), c.expected)
        << c.pointer << " = " << c.value.dump();
  }
}

TEST(ParseCreateTaskTest, ContainerPathsMustBeAbsoluteAndNormalised) {
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"/inputs/0/path", "inputs[0].path"},
      {"/outputs/0/path", "outputs[0].path"},
      {"/executors/0/workdir", "executors[0].workdir"},
      {"/executors/0/stdin", "executors[0].stdin"},
      {"/executors/0/stdout", "executors[0].stdout"},
      {"/executors/0/stderr", "executors[0].stderr"},
      {"/volumes/0", "volumes[0]"},
  };
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"data/in", "must be absolute"},
      {"../etc/passwd", "must be absolute"},
      {"./x", "must be absolute"},
      {"/data/../etc/passwd", "must not contain '..' segments"},
      {"/..", "must not contain '..' segments"},
      {"/data/..", "must not contain '..' segments"},
      {"/data/./in", "must not contain '.' segments"},
      {"/data//in", "must not contain '//'"},
      {"/data/in/", "must not end with '/'"},
      {"", "must not be empty"},
      {std::string("/data/in\0x", 10), "must not contain NUL"},
      {"/data/in\nx", "must not contain control characters"},
  };
  for (const auto& [pointer, path] : fields) {
    for (const auto& [value, message] : bad) {
      EXPECT_EQ(Errors(With(Complete(), pointer, value)), path + ": " + message)
          << pointer << " = " << json(value).dump();
    }
    EXPECT_EQ(Errors(With(Complete(), pointer, "/data/in...x/.hidden/a..b")), "") << pointer;
  }
  EXPECT_EQ(Errors(With(Complete(), "/volumes/0", "/")), "");
}

TEST(ParseCreateTaskTest, UrlsNeedASchemeAndSafeFileUrls) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"/data/in", "must start with a scheme, like file://, https:// or s3://"},
      {"data/in", "must start with a scheme, like file://, https:// or s3://"},
      {"://x", "must start with a scheme, like file://, https:// or s3://"},
      {"1s3://b/k", "must start with a scheme, like file://, https:// or s3://"},
      {"", "must not be empty"},
      {"s3://b/a key", "must not contain whitespace or control characters"},
      {"s3://b/key\t", "must not contain whitespace or control characters"},
      {"file:///data/../etc/passwd",
       "file URL path must not contain '..' segments (also percent-encoded)"},
      {"file:///data/%2e%2e/etc/passwd",
       "file URL path must not contain '..' segments (also percent-encoded)"},
      {"file:///data/%2E%2e/etc",
       "file URL path must not contain '..' segments (also percent-encoded)"},
      {"file:///data/..%2Fetc",
       "file URL path must not contain '..' segments (also percent-encoded)"},
      {"file:///data/%252e%252e/etc",
       "file URL path must not contain '..' segments (also percent-encoded)"},
      {"FILE:///data/..", "file URL path must not contain '..' segments (also percent-encoded)"},
      {"file://localhost/../etc",
       "file URL path must not contain '..' segments (also percent-encoded)"},
      {"file:///data/..?x=1",
       "file URL path must not contain '..' segments (also percent-encoded)"},
      {"file:///data\\..\\etc",
       "file URL path must not contain '..' segments (also percent-encoded)"},
      {"file:///data/%zz", "file URL has a malformed percent-escape"},
      {"file:///data/%2", "file URL has a malformed percent-escape"},
      {"file:///data/a%00b", "file URL path must not contain NUL"},
      {"file:data/in", "file URL path must be absolute"},
      {"file://data/in", "file URL host must be empty or localhost (file:///absolute/path)"},
      {"file://", "file URL path must be absolute"},
  };
  for (const auto& [url, message] : bad) {
    EXPECT_EQ(Errors(With(Complete(), "/inputs/0/url", url)), "inputs[0].url: " + message) << url;
    EXPECT_EQ(Errors(With(Complete(), "/outputs/0/url", url)), "outputs[0].url: " + message) << url;
  }
  for (const char* url :
       {"s3://b/k", "gs://bucket/file2", "https://example.org/a?b=c#d", "http://h:8080/x",
        "file:///path/to/my/file", "file://localhost/data/x", "FILE:///a", "file:/data/in",
        "ftp://h/x", "drs://example.org/314159", "az://container/blob", "file:///data/a%20b",
        "file:///data/...", "s3://b/../k" /* only file: paths are ours */}) {
    EXPECT_EQ(Errors(With(Complete(), "/inputs/0/url", url)), "") << url;
  }
}

TEST(ParseCreateTaskTest, BarePathUrlsOnlyWhenAllowed) {
  ValidationLimits lenient;
  lenient.allow_bare_path_urls = true;
  EXPECT_EQ(Errors(With(Complete(), "/inputs/0/url", "/shared/data/in"), lenient), "");
  EXPECT_EQ(Errors(With(Complete(), "/outputs/0/url", "/shared/out"), lenient), "");
  EXPECT_EQ(Errors(With(Complete(), "/inputs/0/url", "/shared/../etc"), lenient),
            "inputs[0].url: must not contain '..' segments");
  EXPECT_EQ(Errors(With(Complete(), "/inputs/0/url", "shared/in"), lenient),
            "inputs[0].url: must start with a scheme, like file://, https:// or s3://");
  EXPECT_EQ(Errors(With(Complete(), "/inputs/0/url", "/shared/in")),
            "inputs[0].url: must start with a scheme, like file://, https:// or s3://");
}

TEST(ParseCreateTaskTest, WildcardOutputsAndPathPrefix) {
  auto output = [](json path, json prefix) {
    json o = {{"url", "s3://b/dir/"}, {"path", std::move(path)}};
    if (!prefix.is_null()) o["path_prefix"] = std::move(prefix);
    return With(Minimal(), "/outputs/0", o);
  };
  EXPECT_EQ(Errors(output("/work/*.txt", nullptr)), "");  // the prefix is not required
  EXPECT_EQ(Errors(output("/work/*.txt", "/work")), "");
  EXPECT_EQ(Errors(output("/work/a/[0-9]?.txt", "/work/a")), "");
  EXPECT_EQ(Errors(output("/work/*", "/")), "");
  EXPECT_EQ(Errors(output("/work/out.txt", "/work")), "");  // ignored by the spec, still checked
  EXPECT_EQ(Errors(output("/work/*.txt", "/wo")),
            "outputs[0].path_prefix: must be a prefix of path, ending at a '/' of it");
  EXPECT_EQ(Errors(output("/work/*.txt", "/other")),
            "outputs[0].path_prefix: must be a prefix of path, ending at a '/' of it");
  EXPECT_EQ(Errors(output("/work/*.txt", "work")), "outputs[0].path_prefix: must be absolute");
  EXPECT_EQ(Errors(output("/work/*.txt", "/work/")),
            "outputs[0].path_prefix: must not end with '/'");
  EXPECT_EQ(Errors(output("/work/*.txt", "/work/../")),
            "outputs[0].path_prefix: must not contain '..' segments");
  EXPECT_EQ(Errors(output("/work/*/x", "/work/*")),
            "outputs[0].path_prefix: must not contain wildcards (* ? [)");
  EXPECT_EQ(Errors(output("/work/../*", "/work")),
            "outputs[0].path: must not contain '..' segments");
}

TEST(ParseCreateTaskTest, ResourceRanges) {
  EXPECT_EQ(Errors(With(Complete(), "/resources/cpu_cores", 0)),
            "resources.cpu_cores: must be at least 1");
  EXPECT_EQ(Errors(With(Complete(), "/resources/cpu_cores", -4)),
            "resources.cpu_cores: must be at least 1");
  EXPECT_EQ(Errors(With(Complete(), "/resources/ram_gb", 0)),
            "resources.ram_gb: must be greater than 0");
  EXPECT_EQ(Errors(With(Complete(), "/resources/ram_gb", -0.5)),
            "resources.ram_gb: must be greater than 0");
  EXPECT_EQ(Errors(With(Complete(), "/resources/disk_gb", 0.0)),
            "resources.disk_gb: must be greater than 0");

  ParseResult r = ParseCreateTask(
      With(With(Complete(), "/resources/cpu_cores", 2.0), "/resources/ram_gb", 0.001));
  ASSERT_TRUE(r.task) << FormatErrors(r.errors);
  EXPECT_EQ(r.task->resources->cpu_cores, 2);
  EXPECT_EQ(r.task->resources->ram_gb, 0.001);
  EXPECT_EQ(Errors(With(Complete(), "/resources/cpu_cores", 2147483647)), "");
  EXPECT_EQ(Errors(With(Minimal(), "/resources", json::object())), "");
}

TEST(ParseCreateTaskTest, ExecutorDetails) {
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0/image", "ubuntu 20.04")),
            "executors[0].image: must not contain whitespace or control characters");
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0/command/1", std::string("a\0b", 3))),
            "executors[0].command[1]: must not contain NUL");
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0/command/1", "")), "");  // "" is a fine argv entry
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0/env", json{{"", "x"}})),
            "executors[0].env[\"\"]: variable name must not be empty");
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0/env", json{{"A=B", "x"}})),
            "executors[0].env[\"A=B\"]: variable name must not contain '='");
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0/env", json{{"A", std::string("x\0y", 3)}})),
            "executors[0].env[\"A\"]: value must not contain NUL");
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0/env", json{{"A", ""}, {"lower_b", "1"}})), "");
}

TEST(ParseCreateTaskTest, ContentIsOnlyForFiles) {
  EXPECT_EQ(Errors(With(Minimal(), "/inputs/0",
                        json{{"path", "/a"}, {"content", "x"}, {"type", "DIRECTORY"}})),
            "inputs[0].content: is only allowed for type FILE");
  EXPECT_EQ(Errors(With(Minimal(), "/inputs/0", json{{"path", "/a"}, {"content", 5}})),
            "inputs[0].content: must be a string");
}

TEST(ParseCreateTaskTest, MapKeysInPathsAreQuotedAndEscaped) {
  EXPECT_EQ(Errors(With(Minimal(), "/tags", json{{"a\"b.c", 1}})),
            "tags[\"a\\\"b.c\"]: must be a string");
  const std::string long_key(100, 'k');
  ParseResult r = ParseCreateTask(With(Minimal(), "/tags", json{{long_key, 1}}));
  ASSERT_THAT(r.errors, SizeIs(1));
  EXPECT_EQ(r.errors[0].path, "tags[\"" + std::string(64, 'k') + "...\"]");
}

TEST(ParseCreateTaskTest, StringsMustBeUtf8) {
  EXPECT_EQ(Errors(With(Minimal(), "/name", std::string("bad \xff byte"))),
            "name: must be valid UTF-8");
  EXPECT_EQ(Errors(With(Minimal(), "/tags", json{{std::string("\xc0\xaf"), "v"}})),
            "tags[\"\\ufffd\\ufffd\"]: key must be valid UTF-8");
  EXPECT_EQ(Errors(With(Minimal(), "/name", "caf\xc3\xa9 \xf0\x9f\x92\xa9")), "");
}

// ---- limits ----------------------------------------------------------------------------------

json WithContent(std::size_t bytes) {
  return With(Minimal(), "/inputs/0", json{{"path", "/in"}, {"content", std::string(bytes, 'x')}});
}

TEST(ParseCreateTaskLimitsTest, ContentOf128KiBIsAcceptedByDefault) {
  EXPECT_EQ(Errors(WithContent(128 * 1024)), "");
  EXPECT_EQ(Errors(WithContent(ValidationLimits{}.max_content_bytes)), "");
}

TEST(ParseCreateTaskLimitsTest, ContentAboveTheLimitIsRejectedWithTheLimit) {
  EXPECT_EQ(Errors(WithContent(1024 * 1024 + 1)),
            "inputs[0].content: must be at most 1048576 bytes (got 1048577)");
  ValidationLimits small;
  small.max_content_bytes = 10;
  EXPECT_EQ(Errors(WithContent(11), small), "inputs[0].content: must be at most 10 bytes (got 11)");
  EXPECT_EQ(Errors(WithContent(10), small), "");
}

TEST(ParseCreateTaskLimitsTest, StringsAreLimitedExceptContent) {
  const std::size_t max = ValidationLimits{}.max_string_bytes;
  EXPECT_EQ(Errors(With(Minimal(), "/name", std::string(max, 'n'))), "");
  EXPECT_EQ(Errors(With(Minimal(), "/name", std::string(max + 1, 'n'))),
            "name: must be at most 65536 bytes (got 65537)");
  ValidationLimits small;
  small.max_string_bytes = 6;  // "alpine" still fits
  EXPECT_EQ(Errors(With(Minimal(), "/executors/0/command/0", "toolong"), small),
            "executors[0].command[0]: must be at most 6 bytes (got 7)");
  EXPECT_EQ(Errors(With(Minimal(), "/tags", json{{"longkey", "v"}}), small),
            "tags[\"longkey\"]: key must be at most 6 bytes (got 7)");
  EXPECT_EQ(Errors(WithContent(100), small), "");  // content has its own limit
}

TEST(ParseCreateTaskLimitsTest, CountsAreLimitedWithTheLimitInTheMessage) {
  ValidationLimits l;
  l.max_executors = 1;
  l.max_inputs = 1;
  l.max_outputs = 1;
  l.max_command_args = 2;
  l.max_tags = 1;
  l.max_env = 1;
  l.max_volumes = 1;
  l.max_zones = 1;
  l.max_backend_parameters = 1;
  EXPECT_EQ(Errors(Complete(), l), "");

  json body = Complete();
  body["inputs"].push_back(body["inputs"][0]);
  body["outputs"].push_back(body["outputs"][0]);
  body["resources"]["zones"].push_back("z2");
  body["resources"]["backend_parameters"]["Other"] = "x";
  body["executors"][0]["command"].push_back("extra");
  body["executors"][0]["env"]["B"] = "2";
  body["volumes"].push_back("/vol/B");
  body["tags"]["k2"] = "v2";
  EXPECT_EQ(Errors(body, l),
            "inputs: must have at most 1 items (got 2); "
            "outputs: must have at most 1 items (got 2); "
            "resources.zones: must have at most 1 items (got 2); "
            "resources.backend_parameters: must have at most 1 entries (got 2); "
            "executors[0].command: must have at most 2 items (got 3); "
            "executors[0].env: must have at most 1 entries (got 2); "
            "volumes: must have at most 1 items (got 2); "
            "tags: must have at most 1 entries (got 2)");

  body["executors"].push_back(body["executors"][0]);
  EXPECT_THAT(Errors(body, l), HasSubstr("executors: must have at most 1 items (got 2)"));
}

TEST(ParseCreateTaskLimitsTest, DefaultLimits) {
  const ValidationLimits l;
  EXPECT_EQ(l.max_executors, 64u);
  EXPECT_EQ(l.max_inputs, 1024u);
  EXPECT_EQ(l.max_outputs, 1024u);
  EXPECT_EQ(l.max_command_args, 4096u);
  EXPECT_EQ(l.max_tags, 256u);
  EXPECT_EQ(l.max_env, 512u);
  EXPECT_EQ(l.max_volumes, 256u);
  EXPECT_EQ(l.max_string_bytes, 64u * 1024);
  EXPECT_EQ(l.max_content_bytes, 1024u * 1024);
  EXPECT_FALSE(l.allow_bare_path_urls);

  json body = Minimal();
  body["executors"] = json::array();
  for (int i = 0; i < 65; ++i) body["executors"].push_back(Minimal()["executors"][0]);
  EXPECT_EQ(Errors(body), "executors: must have at most 64 items (got 65)");
  body["executors"].erase(body["executors"].begin());
  EXPECT_EQ(Errors(body), "");
}

TEST(ParseCreateTaskLimitsTest, TheErrorListIsCapped) {
  json body = Minimal();
  body["executors"][0]["command"] = json::array();
  for (int i = 0; i < 300; ++i) body["executors"][0]["command"].push_back(i);
  ParseResult r = ParseCreateTask(body);
  ASSERT_THAT(r.errors, SizeIs(257));
  EXPECT_EQ(r.errors[0], (FieldError{"executors[0].command[0]", "must be a string"}));
  EXPECT_EQ(r.errors[255], (FieldError{"executors[0].command[255]", "must be a string"}));
  EXPECT_EQ(r.errors[256], (FieldError{"", "too many errors: only the first 256 are reported"}));
}

// ---- helpers ---------------------------------------------------------------------------------

TEST(FormatErrorsTest, JoinsPathAndMessageInOrder) {
  EXPECT_EQ(FormatErrors({}), "");
  EXPECT_EQ(
      FormatErrors({{"executors[0].image", "required"}, {"inputs[1].path", "must be absolute"}}),
      "executors[0].image: required; inputs[1].path: must be absolute");
  EXPECT_EQ(FormatErrors({{"", "must be a JSON object"}, {"a", "b"}}),
            "must be a JSON object; a: b");
}

TEST(IsWildcardTest, GlobCharacters) {
  EXPECT_TRUE(IsWildcard("/work/*"));
  EXPECT_TRUE(IsWildcard("/work/file?.txt"));
  EXPECT_TRUE(IsWildcard("/work/[ab].txt"));
  EXPECT_FALSE(IsWildcard("/work/file.txt"));
  EXPECT_FALSE(IsWildcard("/work/{a,b}"));  // braces are not POSIX glob
  EXPECT_FALSE(IsWildcard(""));
}

TEST(CheckContainerPathTest, Rules) {
  EXPECT_EQ(CheckContainerPath("/"), "");
  EXPECT_EQ(CheckContainerPath("/a"), "");
  EXPECT_EQ(CheckContainerPath("/a/b.c/..d/.e/f.."), "");
  EXPECT_EQ(CheckContainerPath("/work/*.txt"), "");
  EXPECT_EQ(CheckContainerPath(""), "must not be empty");
  EXPECT_EQ(CheckContainerPath("a"), "must be absolute");
  EXPECT_EQ(CheckContainerPath(".."), "must be absolute");
  EXPECT_EQ(CheckContainerPath("/a/.."), "must not contain '..' segments");
  EXPECT_EQ(CheckContainerPath("/../a"), "must not contain '..' segments");
  EXPECT_EQ(CheckContainerPath("/a/../"), "must not contain '..' segments");  // worst first
  EXPECT_EQ(CheckContainerPath("/a/."), "must not contain '.' segments");
  EXPECT_EQ(CheckContainerPath("//a"), "must not contain '//'");
  EXPECT_EQ(CheckContainerPath("/a//"), "must not contain '//'");
  EXPECT_EQ(CheckContainerPath("/a/"), "must not end with '/'");
  EXPECT_EQ(CheckContainerPath(std::string_view("/a\0", 3)), "must not contain NUL");
  EXPECT_EQ(CheckContainerPath("/a\x7f"), "must not contain control characters");
}

TEST(CheckUrlTest, SchemesAreKeptAndFileUrlsChecked) {
  EXPECT_EQ(CheckUrl("s3://b/k"), "");
  EXPECT_EQ(CheckUrl("custom+scheme.v1-2:opaque"), "");
  EXPECT_EQ(CheckUrl("file:///a/b"), "");
  EXPECT_EQ(CheckUrl("file:///"), "");
  EXPECT_EQ(CheckUrl("file:///a/%2e%2e"),
            "file URL path must not contain '..' segments (also percent-encoded)");
  EXPECT_EQ(CheckUrl("file://LOCALHOST/a"), "");
  EXPECT_EQ(CheckUrl("file://host/a"),
            "file URL host must be empty or localhost (file:///absolute/path)");
  EXPECT_EQ(CheckUrl("no scheme"), "must not contain whitespace or control characters");
}

}  // namespace
}  // namespace safeflow::schemas::tes
