// A corpus of malformed TES requests: every one answered with a 4xx and a {msg, status_code}
// body, and the server keeps serving.
#include <signal.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "tests/integration/tes_api/tes_fixture.h"

namespace safeflow::testing {
namespace {

using nlohmann::json;

struct Case {
  std::string name;
  std::string method;
  std::string path;  // relative to the TES base
  std::string body;
  std::vector<std::string> headers = {"Content-Type: application/json"};
  std::set<long> expected = {400};
};

json Good() { return {{"executors", {{{"image", "ubuntu"}, {"command", {"echo", "hi"}}}}}}; }

json With(const std::string& pointer, const json& value) {
  json t = Good();
  t[json::json_pointer(pointer)] = value;
  return t;
}

json Without(const std::string& pointer) {
  json t = Good();
  json::json_pointer p(pointer);
  t[p.parent_pointer()].erase(p.back());
  return t;
}

std::vector<Case> Corpus(const std::string& in_root, const std::string& out_root) {
  std::vector<Case> c;
  auto post = [&](std::string name, const json& body, std::set<long> expected = {400}) {
    c.push_back({std::move(name),
                 "POST",
                 "/tasks",
                 body.dump(),
                 {"Content-Type: application/json"},
                 std::move(expected)});
  };
  auto raw = [&](std::string name, std::string body) {
    c.push_back({std::move(name), "POST", "/tasks", std::move(body)});
  };
  // Broken JSON.
  for (const char* b : {"", "{", "}", "[", "{\"executors\":", "{\"executors\": [}", "nul",
                        "{'executors': []}", "{\"a\":1,}", "\xff\xfe{}", "{\"executors\":[{]}",
                        "123", "\"task\"", "true", "null", "[]", "{\"executors\":[] ]"}) {
    raw(std::string("broken json: ") + b, b);
  }
  // Wrong top-level and field types.
  post("executors missing", Without("/executors"));
  post("executors empty", With("/executors", json::array()));
  post("executors object", With("/executors", json::object()));
  post("executors string", With("/executors", "echo"));
  post("executor not object", With("/executors/0", "echo hi"));
  post("image missing", Without("/executors/0/image"));
  post("image empty", With("/executors/0/image", ""));
  post("image number", With("/executors/0/image", 7));
  post("image unknown", With("/executors/0/image", "evil/miner:latest"));
  post("command missing", Without("/executors/0/command"));
  post("command empty", With("/executors/0/command", json::array()));
  post("command string", With("/executors/0/command", "echo hi"));
  post("command mixed", With("/executors/0/command", {"echo", 1}));
  post("command null entry", With("/executors/0/command", {"echo", nullptr}));
  post("env not map", With("/executors/0/env", {"A=1"}));
  post("env value number", With("/executors/0/env", {{"A", 1}}));
  post("workdir relative", With("/executors/0/workdir", "work"));
  post("workdir traversal", With("/executors/0/workdir", "/work/../etc"));
  post("workdir number", With("/executors/0/workdir", 5));
  post("workdir system", With("/executors/0/workdir", "/usr/lib"));
  post("stdin relative", With("/executors/0/stdin", "in.txt"));
  post("stdout traversal", With("/executors/0/stdout", "/out/../../x"));
  post("stderr in /proc", With("/executors/0/stderr", "/proc/self/fd/1"));
  post("ignore_error string", With("/executors/0/ignore_error", "yes"));
  post("name number", With("/name", 42));
  post("description object", With("/description", json::object()));
  post("tags array", With("/tags", {"a", "b"}));
  post("tags value number", With("/tags", {{"a", 1}}));
  post("volumes not array", With("/volumes", "/data"));
  post("volume relative", With("/volumes", {"data"}));
  post("volume /etc", With("/volumes", {"/etc/secret"}));
  // Inputs.
  post("inputs object", With("/inputs", json::object()));
  post("input not object", With("/inputs", {"file:///x"}));
  post("input no path", With("/inputs", {{{"url", "file://" + in_root + "/a"}}}));
  post("input no url no content", With("/inputs", {{{"path", "/data/a"}}}));
  post("input url and content",
       With("/inputs",
            {{{"path", "/data/a"}, {"url", "file://" + in_root + "/a"}, {"content", "x"}}}));
  post("input path relative", With("/inputs", {{{"path", "data/a"}, {"content", "x"}}}));
  post("input path traversal",
       With("/inputs", {{{"path", "/data/../../etc/passwd"}, {"content", "x"}}}));
  post("input path dot", With("/inputs", {{{"path", "/data/./a"}, {"content", "x"}}}));
  post("input path double slash", With("/inputs", {{{"path", "/data//a"}, {"content", "x"}}}));
  post("input path trailing slash", With("/inputs", {{{"path", "/data/a/"}, {"content", "x"}}}));
  post("input path nul",
       With("/inputs", {{{"path", std::string("/data/a\0b", 9)}, {"content", "x"}}}));
  post("input path in /usr", With("/inputs", {{{"path", "/usr/bin/ls"}, {"content", "x"}}}));
  post("input path /", With("/inputs", {{{"path", "/"}, {"content", "x"}}}));
  post("input type bad", With("/inputs", {{{"path", "/a"}, {"content", "x"}, {"type", "LINK"}}}));
  post("input type lowercase",
       With("/inputs", {{{"path", "/a"}, {"content", "x"}, {"type", "file"}}}));
  post("input streamable string",
       With("/inputs", {{{"path", "/a"}, {"content", "x"}, {"streamable", "no"}}}));
  post("input content number", With("/inputs", {{{"path", "/a"}, {"content", 5}}}));
  post("input content too big",
       With("/inputs", {{{"path", "/a"}, {"content", std::string(2 * 1024 * 1024, 'x')}}}),
       {400, 413});
  post("input url no scheme", With("/inputs", {{{"path", "/a"}, {"url", "just-a-name"}}}));
  post("input url whitespace", With("/inputs", {{{"path", "/a"}, {"url", "file:///tmp/a b"}}}));
  post("input url traversal",
       With("/inputs", {{{"path", "/a"}, {"url", "file://" + in_root + "/../../etc/passwd"}}}),
       {400, 403});
  post("input url encoded traversal",
       With("/inputs",
            {{{"path", "/a"}, {"url", "file://" + in_root + "/%2e%2e/%2e%2e/etc/passwd"}}}),
       {400, 403});
  post("input url outside roots",
       With("/inputs", {{{"path", "/a"}, {"url", "file:///etc/shadow"}}}), {400, 403});
  post("input url relative file", With("/inputs", {{{"path", "/a"}, {"url", "file://relative/x"}}}),
       {400, 403});
  post("input url unknown scheme", With("/inputs", {{{"path", "/a"}, {"url", "gopher://x/y"}}}),
       {400, 403});
  post("input url http not allowed",
       With("/inputs", {{{"path", "/a"}, {"url", "http://169.254.169.254/latest/meta-data"}}}),
       {400, 403});
  post("input url s3 unconfigured", With("/inputs", {{{"path", "/a"}, {"url", "s3://bucket/key"}}}),
       {400, 403});
  post("input url ftp", With("/inputs", {{{"path", "/a"}, {"url", "ftp://example.org/x"}}}),
       {400, 403});
  post("input url control char", With("/inputs", {{{"path", "/a"}, {"url", "file:///tmp/a\nb"}}}));
  // Outputs.
  post("outputs object", With("/outputs", json::object()));
  post("output no url", With("/outputs", {{{"path", "/out/a"}}}));
  post("output no path", With("/outputs", {{{"url", "file://" + out_root + "/a"}}}));
  post("output path relative",
       With("/outputs", {{{"path", "out/a"}, {"url", "file://" + out_root + "/a"}}}));
  post("output path traversal",
       With("/outputs", {{{"path", "/out/../../root/x"}, {"url", "file://" + out_root + "/a"}}}));
  post("output url outside roots",
       With("/outputs", {{{"path", "/out/a"}, {"url", "file:///etc/cron.d/evil"}}}), {400, 403});
  post("output url traversal",
       With("/outputs", {{{"path", "/out/a"}, {"url", "file://" + out_root + "/../escape"}}}),
       {400, 403});
  post("output url http",
       With("/outputs", {{{"path", "/out/a"}, {"url", "http://example.org/upload"}}}), {400, 403});
  post("output path_prefix not prefix", With("/outputs", {{{"path", "/out/*.txt"},
                                                           {"path_prefix", "/other"},
                                                           {"url", "file://" + out_root + "/w"}}}));
  post("output path_prefix relative", With("/outputs", {{{"path", "/out/*.txt"},
                                                         {"path_prefix", "out"},
                                                         {"url", "file://" + out_root + "/w"}}}));
  post("output type bad",
       With("/outputs",
            {{{"path", "/out/a"}, {"url", "file://" + out_root + "/a"}, {"type", "DIR"}}}));
  post("output path in /etc",
       With("/outputs", {{{"path", "/etc/passwd"}, {"url", "file://" + out_root + "/a"}}}));
  // Resources.
  post("resources array", With("/resources", json::array()));
  post("cpu_cores zero", With("/resources", {{"cpu_cores", 0}}));
  post("cpu_cores negative", With("/resources", {{"cpu_cores", -2}}));
  post("cpu_cores string", With("/resources", {{"cpu_cores", "2"}}));
  post("cpu_cores fraction", With("/resources", {{"cpu_cores", 1.5}}));
  post("cpu_cores too many", With("/resources", {{"cpu_cores", 100000}}));
  post("ram_gb negative", With("/resources", {{"ram_gb", -1}}));
  post("ram_gb zero", With("/resources", {{"ram_gb", 0}}));
  post("ram_gb string", With("/resources", {{"ram_gb", "lots"}}));
  post("ram_gb too much", With("/resources", {{"ram_gb", 100000}}));
  post("disk_gb negative", With("/resources", {{"disk_gb", -0.5}}));
  post("disk_gb too much", With("/resources", {{"disk_gb", 1e9}}));
  post("preemptible string", With("/resources", {{"preemptible", "true"}}));
  post("zones string", With("/resources", {{"zones", "eu"}}));
  post("backend_parameters array", With("/resources", {{"backend_parameters", {"a"}}}));
  post("backend_parameters value number", With("/resources", {{"backend_parameters", {{"a", 1}}}}));
  post("backend_parameters_strict string",
       With("/resources", {{"backend_parameters_strict", "yes"}}));
  post("strict unknown parameter", With("/resources", {{"backend_parameters", {{"gpu", "a100"}}},
                                                       {"backend_parameters_strict", true}}));
  post("unknown backend",
       With("/resources", {{"backend_parameters", {{"backend", "kubernetes"}}}}));
  // Limits.
  {
    json many = Good();
    for (int i = 0; i < 100; ++i) many["executors"].push_back(Good()["executors"][0]);
    post("too many executors", many);
    post("huge name", With("/name", std::string(100 * 1024, 'n')));
  }
  // Content types, sizes, methods, ids.
  c.push_back(
      {"text/plain body", "POST", "/tasks", Good().dump(), {"Content-Type: text/plain"}, {415}});
  c.push_back({"form body",
               "POST",
               "/tasks",
               "executors=1",
               {"Content-Type: application/x-www-form-urlencoded"},
               {415}});
  c.push_back({"xml body", "POST", "/tasks", "<task/>", {"Content-Type: application/xml"}, {415}});
  c.push_back({"oversize body",
               "POST",
               "/tasks",
               std::string(20 * 1024 * 1024, ' '),
               {"Content-Type: application/json"},
               {413}});
  c.push_back({"unknown task id", "GET", "/tasks/does-not-exist", "", {}, {404}});
  c.push_back({"unknown id with view", "GET", "/tasks/nope?view=FULL", "", {}, {404}});
  c.push_back({"id traversal", "GET", "/tasks/..%2F..%2Fetc", "", {}, {404}});
  c.push_back({"cancel unknown", "POST", "/tasks/nope:cancel", "", {}, {404}});
  c.push_back({"bad view", "GET", "/tasks?view=ALL", "", {}, {400}});
  c.push_back({"delete tasks", "DELETE", "/tasks", "", {}, {405}});
  c.push_back({"put task", "PUT", "/tasks/abc", "{}", {}, {405}});
  c.push_back({"unknown endpoint", "GET", "/taskz", "", {}, {404}});
  c.push_back({"bad page token", "GET", "/tasks?page_token=%00%01", "", {}, {400}});
  c.push_back({"negative page size", "GET", "/tasks?page_size=-1", "", {}, {400}});
  c.push_back({"bad state filter", "GET", "/tasks?state=queued", "", {}, {400}});
  return c;
}

TEST(TesMalformedTest, EveryMalformedRequestGetsA4xxWithAMessage) {
  TesServer server;
  ASSERT_TRUE(server.Start()) << server.process->log();
  std::vector<Case> corpus = Corpus(server.in_root, server.out_root);
  ASSERT_GE(corpus.size(), 100u);
  for (const Case& c : corpus) {
    SCOPED_TRACE(c.name);
    HttpResult r = HttpCall(c.method, server.client->base() + c.path, c.body, c.headers, 30000);
    EXPECT_TRUE(c.expected.contains(r.status)) << c.name << ": got " << r.status << " " << r.body;
    json body = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << c.name << ": " << r.body;
    EXPECT_TRUE(body["msg"].is_string() && !body["msg"].get<std::string>().empty()) << r.body;
    EXPECT_EQ(body["status_code"], r.status) << r.body;
  }
  EXPECT_EQ(HttpGet(server.process->url() + "/readyz").status, 200);
  HttpResult list = server.client->List("");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(json::parse(list.body)["tasks"].size(), 0u) << "a malformed request created a task";
  EXPECT_TRUE(server.process->running());
  EXPECT_EQ(server.process->Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace safeflow::testing
